//! Sessions: issued at sign-in, found from the cookie (memory first), ended
//! by idleness, by their absolute lifetime, by sign-out, by an
//! administrator, and by the user being disabled or deleted.

use std::time::Duration;

use secrecy::ExposeSecret;

use super::{Harness, ctx};
use crate::sessions::{ClientInfo, IdpSessionData};

async fn signed_in(
    h: &Harness,
    slug: &str,
) -> (
    gatehouse_core::Application,
    gatehouse_core::user::User,
    String,
) {
    let app = h.app(slug).await;
    let user = h.user(app.id, "ana@example.com", None).await;
    let issued =
        h.gh.sessions()
            .create(
                &app,
                &user,
                gatehouse_core::session::SignInMethod::Password,
                &ClientInfo {
                    ip: Some("192.0.2.7".into()),
                    user_agent: Some("test".into()),
                    correlation_id: None,
                },
                IdpSessionData::default(),
                &ctx(),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    (app, user, issued.token.expose_secret().to_owned())
}

#[tokio::test]
async fn a_session_is_found_from_its_cookie_and_only_in_its_application() {
    let h = Harness::new().await;
    let (app, user, cookie) = signed_in(&h, "alpha").await;
    let s =
        h.gh.sessions()
            .lookup(app.id, &cookie)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.map(|s| s.user.id), Some(user.id));
    let other = h.app("beta").await;
    assert!(!h.live(other.id, &cookie).await);
    assert!(
        h.gh.sessions()
            .lookup(app.id, "not-a-cookie")
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_none()
    );
    let listed =
        h.gh.sessions()
            .list(app.id, Some(user.id))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].base.ip.as_deref(), Some("192.0.2.7"));
    assert_ne!(
        listed[0].base.token_hash.as_str(),
        cookie,
        "only the hash is stored"
    );
}

#[tokio::test]
async fn an_idle_session_ends_and_a_used_one_lives_on() {
    let h = Harness::new().await;
    let (app, _, cookie) = signed_in(&h, "alpha").await;
    let idle = h.gh.settings().session_policy.idle;
    h.advance(idle - Duration::from_secs(60));
    assert!(h.live(app.id, &cookie).await);
    // Used a minute before its idle end, it lives another idle period.
    h.advance(idle - Duration::from_secs(60));
    assert!(h.live(app.id, &cookie).await);
    h.advance(idle + Duration::from_secs(60));
    assert!(!h.live(app.id, &cookie).await);
}

#[tokio::test]
async fn the_absolute_lifetime_ends_even_a_busy_session() {
    let h = Harness::new().await;
    let (app, _, cookie) = signed_in(&h, "alpha").await;
    let policy = h.gh.settings().session_policy;
    let step = policy.idle / 2;
    let mut lived = Duration::ZERO;
    while lived + step < policy.absolute {
        h.advance(step);
        lived += step;
        assert!(h.live(app.id, &cookie).await);
    }
    h.advance(step);
    assert!(!h.live(app.id, &cookie).await);
}

#[tokio::test]
async fn signing_out_ends_the_session_and_is_audited() {
    let h = Harness::new().await;
    let (app, _, cookie) = signed_in(&h, "alpha").await;
    let rec =
        h.gh.sessions()
            .sign_out(app.id, &cookie, &ctx())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    assert!(rec.is_some());
    assert!(!h.live(app.id, &cookie).await);
    let ev = h.audit(app.id, "signout").await;
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].target.as_deref(), Some("ana@example.com"));
    // A second sign-out finds nothing and writes nothing.
    assert!(
        h.gh.sessions()
            .sign_out(app.id, &cookie, &ctx())
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_none()
    );
    assert_eq!(h.audit(app.id, "signout").await.len(), 1);
}

#[tokio::test]
async fn an_administrator_revokes_one_session_or_all_of_a_user() {
    let h = Harness::new().await;
    let (app, user, cookie) = signed_in(&h, "alpha").await;
    let (second, second_id) = h.session_for(&app, &user).await;
    let listed =
        h.gh.sessions()
            .list(app.id, None)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(listed.len(), 2);
    h.gh.sessions()
        .revoke(app.id, second_id, &ctx())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!h.live(app.id, &second).await);
    assert!(h.live(app.id, &cookie).await);
    let n =
        h.gh.directory()
            .end_sessions(app.id, user.id, &ctx())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(n, 1);
    assert!(!h.live(app.id, &cookie).await);
    assert!(
        h.gh.sessions()
            .revoke(app.id, second_id, &ctx())
            .await
            .is_err(),
        "already revoked"
    );
}

#[tokio::test]
async fn disabling_a_user_ends_their_sessions_at_once() {
    let h = Harness::new().await;
    let (app, user, cookie) = signed_in(&h, "alpha").await;
    assert!(h.live(app.id, &cookie).await);
    h.disable(app.id, user.id).await;
    assert!(!h.live(app.id, &cookie).await);
}

#[tokio::test]
async fn deleting_a_user_ends_their_sessions_and_is_audited() {
    let h = Harness::new().await;
    let (app, user, cookie) = signed_in(&h, "alpha").await;
    h.gh.directory()
        .delete(app.id, user.id, &ctx())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!h.live(app.id, &cookie).await);
    assert_eq!(h.audit(app.id, "user.deleted").await.len(), 1);
    assert!(h.gh.directory().get(app.id, user.id).await.is_err());
}
