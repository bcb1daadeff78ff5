//! The change feed: what one node changes, another node on the same
//! database applies when it reads the change log — grants, disabled
//! users, revoked sessions — without anyone signing out.

use gatehouse_core::access::GrantInput;
use serde_json::json;

use super::{Harness, ctx};
use crate::Settings;

async fn two_nodes() -> (Harness, Harness) {
    let a = Harness::new().await;
    let b = Harness::on(a.store.clone(), a.keys_b64.clone(), Settings::default()).await;
    (a, b)
}

#[tokio::test]
async fn an_application_made_on_one_node_is_routed_by_the_other_after_a_poll() {
    let (a, b) = two_nodes().await;
    let app = a.app("alpha").await;
    assert!(b.gh.routes().get(app.id).is_none());
    let applied = b.gh.poll_changes().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(applied > 0);
    assert!(b.gh.routes().get(app.id).is_some());
}

#[tokio::test]
async fn a_grant_made_on_one_node_reaches_the_other() {
    let (a, b) = two_nodes().await;
    let app = a.app("alpha").await;
    b.gh.poll_changes().await.unwrap_or_else(|e| panic!("{e}"));
    a.gh.access()
        .create_grant(
            app.id,
            GrantInput {
                role: "member".into(),
                subject: json!({"group": "eng"}),
            }
            .validate()
            .unwrap_or_else(|e| panic!("{e}")),
            &ctx(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(b.rt(app.id).grants.is_empty(), "not before the poll");
    b.gh.poll_changes().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(b.rt(app.id).grants.len(), 1);
}

#[tokio::test]
async fn a_user_disabled_on_one_node_is_signed_out_on_the_other() {
    let (a, b) = two_nodes().await;
    let app = a.app("alpha").await;
    let user = a.user(app.id, "ana@example.com", None).await;
    let (cookie, _) = a.session_for(&app, &user).await;
    b.gh.poll_changes().await.unwrap_or_else(|e| panic!("{e}"));
    // Node b caches the session and the user.
    assert!(b.live(app.id, &cookie).await);
    a.disable(app.id, user.id).await;
    b.gh.poll_changes().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(!b.live(app.id, &cookie).await);
}

#[tokio::test]
async fn a_session_revoked_on_one_node_ends_on_the_other() {
    let (a, b) = two_nodes().await;
    let app = a.app("alpha").await;
    let user = a.user(app.id, "ana@example.com", None).await;
    let (cookie, session) = a.session_for(&app, &user).await;
    b.gh.poll_changes().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(b.live(app.id, &cookie).await);
    a.gh.sessions()
        .revoke(app.id, session, &ctx())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    b.gh.poll_changes().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(!b.live(app.id, &cookie).await);
}
