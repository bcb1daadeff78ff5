//! Several Gatehouse processes on one PostgreSQL database: sessions,
//! revocations and settings shared within a second; a sign-in started on
//! one node finishing on another; the database stopped and started under
//! the nodes; a node killed mid-traffic.

use std::time::{Duration, Instant};

use gatehouse_store::testing::TestDatabase;
use gatehouse_testkit::balancer::Balancer;
use gatehouse_testkit::client::Resp;
use gatehouse_testkit::node::Node;
use gatehouse_testkit::postgres::PrivatePostgres;
use gatehouse_testkit::sso::SECRET;
use gatehouse_testkit::{AppClient, TestIdp};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_gatehouse-node");
const PW: &str = "correct-horse-battery";

/// An application `shop` on `host` (no upstream: the signed-in page
/// answers) where everyone who signs in is a member; returns its id.
async fn shop(node: &Node, host: &str) -> String {
    let r = node
        .api()
        .post(
            "/api/v1/apps",
            &json!({"name": "Shop", "slug": "shop", "hosts": [host]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json["id"].as_str().unwrap().to_owned();
    let r = node
        .api()
        .put(
            &format!("/api/v1/apps/{id}/access"),
            &json!({"default_role": "member"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    id
}

async fn user(node: &Node, app: &str, email: &str) -> Resp {
    node.api()
        .post(
            &format!("/api/v1/apps/{app}/users"),
            &json!({"email": email, "first_name": "Ana", "password": PW,
                    "groups": ["g1", "g2"], "tags": [{"key": "k", "value": "v1"}, {"key": "k", "value": "v2"}]}),
        )
        .await
}

async fn page(node: &Node, cookie: &str, path: &str) -> u16 {
    node.client("shop.localhost")
        .get_with(path, &[("cookie", cookie), ("accept", "text/html")])
        .await
        .status
}

/// Poll until `f` gives `want`; how long it took.
async fn until<F, Fut>(limit: Duration, want: u16, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = u16>,
{
    let start = Instant::now();
    loop {
        let got = f().await;
        if got == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "still {got}, not {want}, after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn sign_in(node: &Node, email: &str) -> String {
    let c = node.client("shop.localhost");
    c.sign_in(email, PW).await;
    c.cookie_header().unwrap()
}

async fn session_ids(node: &Node, app: &str) -> Vec<String> {
    let r = node
        .api()
        .get(&format!("/api/v1/apps/{app}/sessions"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_sessions_and_ride_out_a_database_outage() {
    Node::check_binary(BIN);
    let mut pg = PrivatePostgres::start().await;
    let env = [("GATEHOUSE_DATABASE_OUTAGE_GRACE", "60s")];
    let n1 = Node::start(BIN, &pg.url(), &env).await;
    let n2 = Node::start(BIN, &pg.url(), &env).await;
    let app = shop(&n1, "shop.localhost").await;
    for email in ["ana@example.com", "bo@example.com", "cy@example.com"] {
        assert_eq!(user(&n1, &app, email).await.status, 201);
    }

    // Signed in through node 1, the session works on node 2.
    let ana = sign_in(&n1, "ana@example.com").await;
    assert_eq!(page(&n2, &ana, "/").await, 200);

    // Revoked on node 2, it is refused on node 1 within a second.
    let ids = session_ids(&n2, &app).await;
    assert_eq!(ids.len(), 1);
    assert_eq!(page(&n1, &ana, "/").await, 200, "cached on node 1");
    let r = n2
        .api()
        .delete(&format!("/api/v1/apps/{app}/sessions/{}", ids[0]))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let took = until(Duration::from_secs(1), 303, || page(&n1, &ana, "/")).await;
    eprintln!("revocation on node 2 reached node 1 in {took:?}");

    // A settings change on node 2 applies on node 1 within a second.
    let bo = sign_in(&n1, "bo@example.com").await;
    assert_eq!(page(&n1, &bo, "/admin/x").await, 200);
    assert_eq!(page(&n2, &bo, "/admin/x").await, 200);
    let r = n2
        .api()
        .put(
            &format!("/api/v1/apps/{app}/access"),
            &json!({"default_role": "member", "routes": [{"prefix": "/admin", "roles": ["admin"]}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let took = until(Duration::from_secs(1), 403, || page(&n1, &bo, "/admin/x")).await;
    eprintln!("a route rule saved on node 2 reached node 1 in {took:?}");

    // A grant made on node 2 opens /admin on node 1 within a second.
    let r = n2
        .api()
        .post(
            &format!("/api/v1/apps/{app}/grants"),
            &json!({"role": "admin", "subject": {"email": "bo@example.com"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let took = until(Duration::from_secs(1), 200, || page(&n1, &bo, "/admin/x")).await;
    eprintln!("a grant made on node 2 reached node 1 in {took:?}");

    // Signing out on node 1 ends the session on node 2 within a second.
    let dee = sign_in(&n2, "cy@example.com").await;
    assert_eq!(page(&n2, &dee, "/").await, 200, "cached on node 2");
    assert_eq!(page(&n1, &dee, "/").await, 200);
    let out = n1
        .client("shop.localhost")
        .get_with("/auth/logout", &[("cookie", &dee), ("accept", "text/html")])
        .await;
    assert!(
        (300..400).contains(&out.status),
        "logout redirects: {} {}",
        out.status,
        out.text
    );
    let took = until(Duration::from_secs(1), 303, || page(&n2, &dee, "/")).await;
    eprintln!("a sign-out on node 1 reached node 2 in {took:?}");

    // The database stops: cached sessions are served, /readyz fails, new sign-ins get a 503 page.
    pg.stop().await;
    assert_eq!(page(&n1, &bo, "/").await, 200, "cached session on node 1");
    assert_eq!(page(&n2, &bo, "/").await, 200, "cached session on node 2");
    until(Duration::from_secs(10), 503, || n1.ready()).await;
    until(Duration::from_secs(10), 503, || n2.ready()).await;
    let c = n2.client("shop.localhost");
    let r = c
        .post_form(
            "/auth/login",
            &[("email", "cy@example.com"), ("password", PW), ("rd", "/")],
        )
        .await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert!(r.text.contains("database"), "{}", r.text);
    assert!(c.session_cookie().is_none());
    assert_eq!(page(&n1, &bo, "/").await, 200, "still served");

    // The database returns: both nodes recover by themselves.
    pg.start_again().await;
    until(Duration::from_secs(15), 200, || n1.ready()).await;
    until(Duration::from_secs(15), 200, || n2.ready()).await;
    let cy = sign_in(&n2, "cy@example.com").await;
    assert_eq!(page(&n1, &cy, "/").await, 200);
    // And changes flow between them again.
    let ids = session_ids(&n1, &app).await;
    for id in ids {
        let r = n1
            .api()
            .delete(&format!("/api/v1/apps/{app}/sessions/{id}"))
            .await;
        assert_eq!(r.status, 204, "{}", r.text);
    }
    let took = until(Duration::from_secs(1), 303, || page(&n2, &cy, "/")).await;
    eprintln!("after the outage, a revocation on node 1 reached node 2 in {took:?}");
    // Each revocation travels on its own: bo's may arrive a moment after cy's.
    until(Duration::from_secs(1), 303, || page(&n2, &bo, "/")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_started_on_one_node_completes_on_another() {
    Node::check_binary(BIN);
    let db = TestDatabase::create()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let n1 = Node::start(BIN, &db.url, &[]).await;
    let n2 = Node::start(BIN, &db.url, &[]).await;
    let lb = Balancer::start(vec![n1.addr, n2.addr]).await;
    let public = format!("shop.localhost:{}", lb.addr.port());
    let app = shop(&n1, &public).await;
    let base = format!("http://{public}");
    let idp = TestIdp::start(json!({"clients": [
        gatehouse_testkit::idp::client_for("shop", SECRET, &base, "client_secret_basic")
    ]}))
    .await;
    let r = n1
        .api()
        .put(
            &format!("/api/v1/apps/{app}/sso/oidc"),
            &json!({"enabled": true, "issuer_url": idp.issuer, "client_id": "shop",
                    "client_secret": SECRET, "scopes": "openid profile email"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    let browser = AppClient::without_keepalive(lb.addr, "shop.localhost");
    // Node 2 must know the SSO settings saved on node 1 before it can finish
    // a sign-in: poll node 2 until its sign-in goes to the IdP.
    lb.route_to(1);
    let probe = AppClient::without_keepalive(lb.addr, "shop.localhost");
    until(Duration::from_secs(10), 303, || async {
        probe.get("/auth/login?rd=/").await.status
    })
    .await;
    lb.route_to(0);
    let start = browser.get("/auth/login?rd=/orders").await;
    assert_eq!(start.status, 303, "{}", start.text);
    let callback = idp
        .browser()
        .authorize(start.header("location").unwrap(), Some("alice"))
        .await;
    let path = callback
        .strip_prefix(&base)
        .unwrap_or_else(|| panic!("back to the application: {callback}"));
    lb.route_to(1);
    let done = browser.get(path).await;
    assert_eq!(
        done.status, 303,
        "node 2 finishes the sign-in: {}",
        done.text
    );
    assert_eq!(done.header("location"), Some("/orders"));
    for node in [0, 1] {
        lb.route_to(node);
        let r = browser.get("/orders").await;
        assert_eq!(r.status, 200, "node {}: {}", node + 1, r.text);
        assert!(r.text.contains("alice@example.com"));
    }
    drop((n1, n2));
    db.drop_now().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_traffic_loses_nothing_it_acknowledged() {
    Node::check_binary(BIN);
    let db = TestDatabase::create()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut n1 = Node::start(BIN, &db.url, &[]).await;
    let n2 = Node::start(BIN, &db.url, &[]).await;
    let app = shop(&n1, "shop.localhost").await;
    for w in 0..6 {
        let r = user(&n1, &app, &format!("signer{w}@example.com")).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }

    // Writers hammer node 1: new users (with groups and tags) and, now and
    // then (within the sign-in rate limits), sign-ins.
    let mut tasks = Vec::new();
    let acked_count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for w in 0..6 {
        let acked_count = acked_count.clone();
        let api = n1.api();
        let client_addr = n1.addr;
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked_users = Vec::new();
            let mut acked_sessions = Vec::new();
            for i in 0..1000 {
                let email = format!("w{w}-{i}@example.com");
                let send = api
                    .raw(reqwest::Method::POST, &format!("/api/v1/apps/{app}/users"))
                    .json(&json!({"email": email, "first_name": "W", "groups": ["g1", "g2"],
                                  "tags": [{"key": "k", "value": "v1"}, {"key": "k", "value": "v2"}]}))
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await;
                match send {
                    Ok(r) if r.status() == 201 => {
                        let v: serde_json::Value = r.json().await.unwrap_or_default();
                        if let Some(id) = v["id"].as_str() {
                            acked_users.push(id.to_owned());
                            acked_count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
                if i % 10 != 0 || acked_sessions.len() >= 4 {
                    continue;
                }
                let c = AppClient::new(client_addr, "shop.localhost");
                let signer = format!("signer{w}@example.com");
                let r = c
                    .http()
                    .post(format!("{}/auth/login", c.base))
                    .header("origin", &c.base)
                    .header("sec-fetch-site", "same-origin")
                    .form(&[("email", signer.as_str()), ("password", PW), ("rd", "/")])
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 303 => {
                        if let Some(cookie) = c.cookie_header() {
                            acked_sessions.push(cookie);
                        }
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            (acked_users, acked_sessions)
        }));
    }
    // Kill node 1 in the middle of the writes: once a good number are acknowledged.
    let start = Instant::now();
    while acked_count.load(std::sync::atomic::Ordering::Relaxed) < 60 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the writers got only {} users acknowledged",
            acked_count.load(std::sync::atomic::Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    n1.kill().await;
    let mut users = Vec::new();
    let mut sessions = Vec::new();
    for t in tasks {
        let (u, s) = t.await.unwrap();
        users.extend(u);
        sessions.extend(s);
    }
    assert!(
        users.len() > 10,
        "traffic was flowing: {} users",
        users.len()
    );
    eprintln!(
        "node 1 killed after acknowledging {} users and {} sign-ins",
        users.len(),
        sessions.len()
    );

    // Everything acknowledged is there, whole, on node 2.
    for id in &users {
        let r = n2
            .api()
            .get(&format!("/api/v1/apps/{app}/users/{id}"))
            .await;
        assert_eq!(
            r.status, 200,
            "acknowledged user {id} is missing: {}",
            r.text
        );
        assert_eq!(r.json["groups"], json!(["g1", "g2"]), "{}", r.text);
        assert_eq!(
            r.json["tags"].as_array().map(Vec::len),
            Some(2),
            "{}",
            r.text
        );
    }
    for cookie in &sessions {
        assert_eq!(
            page(&n2, cookie, "/").await,
            200,
            "acknowledged sign-in is valid"
        );
    }
    // And nothing half-written: every user in the database is whole.
    let all = n2
        .api()
        .get(&format!("/api/v1/apps/{app}/users?limit=500"))
        .await;
    for u in all.json.as_array().unwrap() {
        assert_eq!(u["groups"], json!(["g1", "g2"]), "{u}");
    }
    drop((n1, n2));
    db.drop_now().await.unwrap();
}
