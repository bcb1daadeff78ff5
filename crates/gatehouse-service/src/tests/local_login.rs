//! Local sign-in with a password: a session for the right password, a
//! refusal written to the audit log for a wrong one, a limit per account,
//! and no session for someone with no role.

use gatehouse_core::access::GrantInput;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::{Harness, ctx};
use crate::sessions::ClientInfo;
use crate::{ServiceError, Settings};

const PW: &str = "correct horse battery staple";

async fn setup(h: &Harness) -> gatehouse_core::Application {
    let app = h.app("alpha").await;
    h.gh.access()
        .create_grant(
            app.id,
            GrantInput {
                role: "member".into(),
                subject: json!({"email": "ana@example.com"}),
            }
            .validate()
            .unwrap_or_else(|e| panic!("{e}")),
            &ctx(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    h.user(app.id, "ana@example.com", Some(PW)).await;
    app
}

async fn attempt(
    h: &Harness,
    app: &gatehouse_core::Application,
    email: &str,
    pw: &str,
) -> Result<crate::IssuedSession, ServiceError> {
    h.gh.sign_in()
        .with_password(
            app,
            email,
            SecretString::from(pw.to_owned()),
            None,
            &ClientInfo {
                ip: Some("192.0.2.1".into()),
                ..ClientInfo::default()
            },
            &ctx(),
        )
        .await
}

#[tokio::test]
async fn the_right_password_opens_a_session() {
    let h = Harness::new().await;
    let app = setup(&h).await;
    let issued = attempt(&h, &app, "Ana@Example.com", PW)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let s =
        h.gh.sessions()
            .lookup(app.id, issued.token.expose_secret())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        s.map(|s| s.method),
        Some(gatehouse_core::session::SignInMethod::Password)
    );
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_audited() {
    let h = Harness::new().await;
    let app = setup(&h).await;
    let r = attempt(&h, &app, "ana@example.com", "wrong password here").await;
    assert!(matches!(r, Err(ServiceError::InvalidCredentials)), "{r:?}");
    let r = attempt(&h, &app, "nobody@example.com", PW).await;
    assert!(
        matches!(r, Err(ServiceError::InvalidCredentials)),
        "an unknown account looks the same: {r:?}"
    );
    let ev = h.audit(app.id, "signin.failed").await;
    assert!(!ev.is_empty());
    assert!(
        ev.iter().any(|e| e.details["reason"] == "bad_password"),
        "{ev:?}"
    );
}

#[tokio::test]
async fn attempts_per_account_are_limited() {
    let h = Harness::with_settings(Settings {
        login_attempts_per_account: 3,
        ..Settings::default()
    })
    .await;
    let app = setup(&h).await;
    for _ in 0..3 {
        let r = attempt(&h, &app, "ana@example.com", "wrong password here").await;
        assert!(matches!(r, Err(ServiceError::InvalidCredentials)), "{r:?}");
    }
    let r = attempt(&h, &app, "ana@example.com", PW).await;
    assert!(
        matches!(r, Err(ServiceError::RateLimited { .. })),
        "even the right password waits: {r:?}"
    );
}

#[tokio::test]
async fn a_user_without_a_role_gets_no_session() {
    let h = Harness::new().await;
    let app = setup(&h).await;
    h.user(app.id, "eve@example.com", Some(PW)).await;
    let r = attempt(&h, &app, "eve@example.com", PW).await;
    assert!(matches!(r, Err(ServiceError::NoAccess { .. })), "{r:?}");
    assert!(
        h.gh.sessions()
            .list(app.id, None)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_empty()
    );
}
