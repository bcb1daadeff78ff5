use std::time::Duration;

use gatehouse_testkit::{EchoUpstream, TestApp};

const PW: &str = "correct-horse-battery";

async fn setup(app: &TestApp) -> (String, gatehouse_testkit::AppClient, EchoUpstream) {
    let up = EchoUpstream::start().await;
    let id = app.create_app("shop", Some(&up.url())).await;
    app.create_user(&id, "ana@example.com", PW).await;
    let c = app.client("shop.localhost");
    c.sign_in("ana@example.com", PW).await;
    (id, c, up)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_idle_for_longer_than_the_idle_timeout_is_refused() {
    let app = TestApp::builder()
        .idle_timeout(Duration::from_secs(600))
        .absolute_timeout(Duration::from_secs(24 * 3600))
        .spawn()
        .await;
    let (_, c, _up) = setup(&app).await;
    // Used every 9 minutes: stays alive well past the idle timeout in total.
    for _ in 0..4 {
        app.clock.advance(Duration::from_secs(540));
        assert_eq!(c.get("/").await.status, 200);
    }
    app.clock.advance(Duration::from_secs(601));
    let r = c.get("/").await;
    assert_eq!(r.status, 303, "idle for more than 10 minutes");
    assert!(r.header("location").unwrap().starts_with("/auth/login"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_expiry_survives_a_restart_of_the_cache() {
    // Last-use times are flushed to the store; a node that never saw the
    // session used still honours them.
    let app = TestApp::builder()
        .idle_timeout(Duration::from_secs(600))
        .spawn()
        .await;
    let (_, c, _up) = setup(&app).await;
    app.clock.advance(Duration::from_secs(500));
    assert_eq!(c.get("/").await.status, 200);
    app.gh.sessions().flush().await;
    app.clock.advance(Duration::from_secs(500));
    assert_eq!(c.get("/").await.status, 200, "used 500s ago, not 1000s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_older_than_the_absolute_timeout_is_refused_even_when_used() {
    let app = TestApp::builder()
        .idle_timeout(Duration::from_secs(600))
        .absolute_timeout(Duration::from_secs(1800))
        .spawn()
        .await;
    let (id, c, _up) = setup(&app).await;
    for _ in 0..5 {
        app.clock.advance(Duration::from_secs(300));
        assert_eq!(c.get("/").await.status, 200);
    }
    app.clock.advance(Duration::from_secs(301));
    assert_eq!(c.get("/").await.status, 303, "past 30 minutes in total");
    let sessions = app.api().get(&format!("/api/v1/apps/{id}/sessions")).await;
    assert_eq!(
        sessions.json,
        serde_json::json!([]),
        "an ended session is not listed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_session_through_the_api_takes_effect_immediately() {
    let app = TestApp::spawn().await;
    let (id, c, _up) = setup(&app).await;
    app.clock.advance(Duration::from_secs(1));
    let other = app.client("shop.localhost");
    other.sign_in("ana@example.com", PW).await;
    assert_eq!(c.get("/").await.status, 200, "cached now");

    let list = app.api().get(&format!("/api/v1/apps/{id}/sessions")).await;
    let sessions = list.json.as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[0]["method"], "password");
    assert!(sessions[0].get("token_hash").is_none());
    // Newest first: `other` signed in last.
    let first_id = sessions[1]["id"].as_str().unwrap();
    let r = app
        .api()
        .delete(&format!("/api/v1/apps/{id}/sessions/{first_id}"))
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        c.get("/").await.status,
        303,
        "revoked: refused on the very next request"
    );
    assert_eq!(
        other.get("/").await.status,
        200,
        "the other session is untouched"
    );
    assert_eq!(
        app.api()
            .delete(&format!("/api/v1/apps/{id}/sessions/{first_id}"))
            .await
            .status,
        404
    );

    let audit = app
        .api()
        .get(&format!("/api/v1/apps/{id}/audit?action=session.revoked"))
        .await;
    assert_eq!(audit.json[0]["target"], first_id);
    assert_eq!(audit.json[0]["actor_name"], "admin-token:config");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_a_user_ends_their_sessions() {
    let app = TestApp::spawn().await;
    let (id, c, _up) = setup(&app).await;
    assert_eq!(c.get("/").await.status, 200);
    let users = app.api().get(&format!("/api/v1/apps/{id}/users")).await;
    let uid = users.json[0]["id"].as_str().unwrap();
    let r = app
        .api()
        .patch(
            &format!("/api/v1/apps/{id}/users/{uid}"),
            &serde_json::json!({"status": "disabled"}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(c.get("/").await.status, 303);
    let again = app.client("shop.localhost");
    let r = again
        .post_form(
            "/auth/login",
            &[("email", "ana@example.com"), ("password", PW)],
        )
        .await;
    assert_eq!(r.status, 401, "a disabled user cannot sign in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_valid_only_for_its_own_application() {
    let app = TestApp::spawn().await;
    let (_, c, up) = setup(&app).await;
    app.create_app("other", Some(&up.url())).await;
    let token = c.session_cookie().unwrap();
    let o = app.client("other.localhost");
    let r = o
        .get_with(
            "/",
            &[
                ("cookie", &format!("gatehouse_session_other={token}")),
                ("accept", "text/html"),
            ],
        )
        .await;
    assert_eq!(r.status, 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_cookie_is_refused() {
    let app = TestApp::spawn().await;
    let (_, _c, _up) = setup(&app).await;
    let o = app.client("shop.localhost");
    for forged in [
        "x",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "%00",
        "a=b",
    ] {
        let r = o
            .get_with(
                "/",
                &[
                    ("cookie", &format!("gatehouse_session_shop={forged}")),
                    ("accept", "text/html"),
                ],
            )
            .await;
        assert_eq!(r.status, 303, "{forged}");
    }
}
