//! The service handles driven directly, with no HTTP in between, against
//! the real test IdP and the node's manual clock: a session refreshed at
//! the IdP is kept, a refused refresh ends it, and no refresh outlives the
//! absolute lifetime; a back-channel logout token ends exactly the sessions
//! it names; bearer tokens are served from the cache until they expire, and
//! a token carrying only a subject names the user who signed in with it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_core::{AppId, AuditEvent, ReturnPath};
use gatehouse_service::api_access::BearerError;
use gatehouse_service::oidc::{CallbackParams, Purpose, SignInDone};
use gatehouse_service::{AppRuntime, ClientInfo};
use gatehouse_store::AuditQuery;
use gatehouse_testkit::TestApp;
use gatehouse_testkit::sso::Sso;
use secrecy::ExposeSecret;
use serde_json::json;

use crate::bearer::{API, CLI_SECRET, put_api, setup};

fn app_id(sso: &Sso) -> AppId {
    sso.app_id.parse().unwrap()
}

fn runtime(sso: &Sso) -> Arc<AppRuntime> {
    sso.app.gh.routes().get(app_id(sso)).cloned().unwrap()
}

/// Sign in as `account` through the sign-in handle: start, the IdP's form
/// (as a browser would fill it), the callback. Returns the session cookie.
async fn sign_in(sso: &Sso, account: &str) -> String {
    let gh = &sso.app.gh;
    let rt = runtime(sso);
    let host = rt.app.hosts[0].clone();
    let client = ClientInfo::default();
    let start = gh
        .sign_in()
        .start_oidc(
            &rt,
            &host,
            &ReturnPath::root(),
            &[],
            Purpose::SignIn,
            &client,
        )
        .await
        .unwrap();
    let back = sso
        .idp_browser()
        .authorize(&start.redirect, Some(account))
        .await;
    let url = reqwest::Url::parse(&back).unwrap();
    let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
    let params = CallbackParams {
        code: q.get("code").cloned(),
        state: q.get("state").cloned(),
        error: None,
        error_description: None,
    };
    let cookie = |name: &str| (name == start.cookie_name).then(|| start.cookie_value.clone());
    match gh
        .sign_in()
        .complete_oidc(&rt, &params, cookie, &client)
        .await
        .unwrap()
    {
        SignInDone::SignedIn { issued, .. } => issued.token.expose_secret().to_owned(),
        other => panic!("expected a signed-in user, got {other:?}"),
    }
}

/// Whether the session behind `cookie` is still valid.
async fn live(sso: &Sso, cookie: &str) -> bool {
    sso.app
        .gh
        .sessions()
        .lookup(app_id(sso), cookie)
        .await
        .unwrap()
        .is_some()
}

async fn audit(sso: &Sso, action: &str) -> Vec<AuditEvent> {
    let q = AuditQuery {
        action_prefix: Some(action.to_owned()),
        limit: 100,
        ..AuditQuery::default()
    };
    sso.app.gh.admin().audit(app_id(sso), q).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refreshes_keep_a_session_a_refused_one_ends_it_and_none_outlives_the_absolute_lifetime() {
    let app = TestApp::builder()
        .absolute_timeout(Duration::from_secs(30))
        .spawn()
        .await;
    let sso = Sso::with_app(
        app,
        json!({"idTokenTtl": 5, "accessTokenTtl": 5}),
        json!({}),
        json!({"extra": {"refresh_sessions": true}}),
    )
    .await;
    let alice = sign_in(&sso, "alice").await;
    assert!(live(&sso, &alice).await);

    // Past the ID token's expiry: refreshed at the IdP, and the session stays.
    let tokens = sso.idp.hits("/token").await.len();
    sso.app.clock.advance(Duration::from_secs(6));
    assert!(live(&sso, &alice).await, "refreshed");
    assert!(live(&sso, &alice).await);
    assert!(
        sso.idp.hits("/token").await.len() > tokens,
        "refreshed at the IdP"
    );

    // The IdP refuses the next refresh: the session ends, audited once.
    sso.app.clock.advance(Duration::from_secs(6));
    sso.idp.fail("/token", 400, 1).await;
    assert!(
        !live(&sso, &alice).await,
        "a refused refresh ends the session"
    );
    assert!(!live(&sso, &alice).await);
    assert_eq!(audit(&sso, "session.refresh_refused").await.len(), 1);

    // A session past its absolute lifetime ends without asking the IdP.
    let dave = sign_in(&sso, "dave").await;
    let tokens = sso.idp.hits("/token").await.len();
    sso.app.clock.advance(Duration::from_secs(31));
    assert!(!live(&sso, &dave).await, "the absolute lifetime holds");
    assert_eq!(
        sso.idp.hits("/token").await.len(),
        tokens,
        "no refresh tried"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_back_channel_logout_ends_the_sessions_it_names_once() {
    let sso = Sso::start().await;
    let alice = sign_in(&sso, "alice").await;
    let alice_again = sign_in(&sso, "alice").await;
    let dave = sign_in(&sso, "dave").await;
    let rt = runtime(&sso);
    let token = sso
        .idp
        .logout_token(json!({"client_id": "shop", "sub": "alice"}))
        .await;
    let ended = sso
        .app
        .gh
        .sign_in()
        .backchannel(&rt, &token, None)
        .await
        .unwrap();
    assert_eq!(ended, 2, "both of alice's sessions");
    assert!(!live(&sso, &alice).await);
    assert!(!live(&sso, &alice_again).await);
    assert!(live(&sso, &dave).await, "dave's session is not named");
    assert!(
        sso.app
            .gh
            .sign_in()
            .backchannel(&rt, &token, None)
            .await
            .is_err(),
        "a replayed token is refused"
    );
    assert_eq!(audit(&sso, "session.backchannel_logout").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_tokens_are_cached_until_they_expire_and_subject_only_tokens_need_a_sign_in() {
    let sso = setup().await;
    let r = put_api(&sso, json!({"enabled": true, "audience": API})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let rt = runtime(&sso);
    let bearer = sso.app.gh.bearer();

    // A token from the IdP: checked once, then served from the cache.
    let token = sso.idp.client_credentials("ci-bot", CLI_SECRET, API).await;
    let user = bearer.authenticate(&rt, &token).await.unwrap();
    assert_eq!(user.email.as_str(), "ci-bot@example.com");
    let jwks = sso.idp.hits("/jwks").await.len();
    for _ in 0..3 {
        let again = bearer.authenticate(&rt, &token).await.unwrap();
        assert_eq!(again.id, user.id);
    }
    assert_eq!(sso.idp.hits("/jwks").await.len(), jwks, "no key fetch");
    assert!(
        sso.app
            .gh
            .sessions()
            .list(app_id(&sso), None)
            .await
            .unwrap()
            .is_empty(),
        "no session is made"
    );

    // Only a subject: nobody until alice signs in once, then her.
    let sub_only = sso
        .idp
        .sign_token(json!({"sub": "alice", "aud": API}), None)
        .await;
    assert!(matches!(
        bearer.authenticate(&rt, &sub_only).await,
        Err(BearerError::Unidentified(_))
    ));
    sign_in(&sso, "alice").await;
    let alice = bearer.authenticate(&rt, &sub_only).await.unwrap();
    assert_eq!(alice.email.as_str(), "alice@example.com");

    // The cached token stops working when it expires (client-credentials tokens of the IdP live 600 s,
    // the skew allowed 30 s).
    sso.app.clock.advance(Duration::from_secs(631));
    match bearer.authenticate(&rt, &token).await {
        Err(BearerError::Invalid(why)) => assert!(why.contains("exp"), "{why}"),
        other => panic!("an expired token must be refused, got {other:?}"),
    }
}
