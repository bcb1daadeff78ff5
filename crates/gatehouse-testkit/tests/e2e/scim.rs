//! Provisioning (SCIM 2.0) against the real server: an independent SCIM
//! client library (PyPI `scim2-client`, `tests/scim/`) drives users,
//! groups, filters, PATCH forms, pages and error documents; a user
//! provisioned by SCIM signs in through the real IdP and becomes that user,
//! granted through a SCIM group; deactivation ends the session, the open
//! WebSocket and the next sign-in, on every node within a second.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use gatehouse_store::testing::TestDatabase;
use gatehouse_testkit::balancer::Balancer;
use gatehouse_testkit::client::Resp;
use gatehouse_testkit::node::Node;
use gatehouse_testkit::sso::{SECRET, Sso};
use gatehouse_testkit::{AppClient, TestApp, TestIdp};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const BIN: &str = env!("CARGO_BIN_EXE_gatehouse-node");

/// A SCIM token of application `app`, made through the admin API.
async fn scim_token(api: &gatehouse_testkit::ApiClient, app: &str) -> String {
    let r = api
        .post(
            &format!("/api/v1/apps/{app}/scim/tokens"),
            &json!({"name": "okta"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let token = r.json["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("ghscim_"));
    let listed = api.get(&format!("/api/v1/apps/{app}/scim/tokens")).await;
    assert!(
        !listed.text.contains(&token),
        "a listed token never shows the secret"
    );
    token
}

/// A SCIM request through `c` (the application's host).
async fn scim(c: &AppClient, token: &str, method: &str, path: &str, body: Option<Value>) -> Resp {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = c
        .http()
        .request(method, format!("{}/auth/scim/v2{path}", c.base))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req
            .header("content-type", "application/scim+json")
            .body(b.to_string());
    }
    let resp = req.send().await.expect("SCIM request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    Resp::from_parts(status, headers, text)
}

fn deactivate() -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
           "Operations": [{"op": "Replace", "path": "active", "value": "False"}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provisioned_user_signs_in_as_herself_granted_by_a_scim_group_until_deactivated() {
    let sso = Sso::start().await;
    let api = sso.app.api();
    // Nobody has access but through the SCIM group `staff`.
    let r = api
        .put(
            &format!("/api/v1/apps/{}/access", sso.app_id),
            &json!({"default_role": null}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = api
        .post(
            &format!("/api/v1/apps/{}/grants", sso.app_id),
            &json!({"role": "member", "subject": {"group": "staff"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let token = scim_token(&api, &sso.app_id).await;
    let c = sso.client();

    // The IdP provisions Alice (externalId = her subject at the IdP) and
    // the group `staff` with her as a member.
    let made = scim(
        &c,
        &token,
        "POST",
        "/Users",
        Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "alice.l", "externalId": "alice",
            "name": {"givenName": "Alice", "familyName": "Liddell"},
            "emails": [{"value": "alice@example.com", "primary": true}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Wonderland"}
        })),
    )
    .await;
    assert_eq!(made.status, 201, "{}", made.text);
    assert_eq!(made.header("content-type"), Some("application/scim+json"));
    let alice = made.json["id"].as_str().unwrap().to_owned();
    assert!(made.header("location").unwrap().ends_with(&alice));
    let g = scim(
        &c,
        &token,
        "POST",
        "/Groups",
        Some(json!({"displayName": "staff", "members": [{"value": alice}]})),
    )
    .await;
    assert_eq!(g.status, 201, "{}", g.text);

    // Her IdP sign-in becomes that user (one user, never two), with the
    // claim's groups beside the SCIM group, and the grant lets her in.
    let (browser, r) = sso.sign_in("alice").await;
    assert_eq!(r.status, 303, "{}", r.text);
    let home = browser.get("/home").await;
    assert_eq!(home.status, 200, "{}", home.text);
    let users = sso.users().await;
    assert_eq!(users.len(), 1, "{users:?}");
    let u = &users[0];
    assert_eq!(u["id"], alice.as_str());
    assert_eq!(u["provisioned"], true);
    assert_eq!(u["identities"].as_array().map(Vec::len), Some(1));
    let memberships: Vec<(String, String)> = u["memberships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["group"].as_str().unwrap().to_owned(),
                m["source"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for want in [("staff", "scim"), ("eng", "claim"), ("admins", "claim")] {
        assert!(
            memberships.contains(&(want.0.to_owned(), want.1.to_owned())),
            "{memberships:?}"
        );
    }
    assert!(
        u["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["key"] == "department"
                && t["value"] == "Wonderland"
                && t["source"] == "scim"),
        "{u}"
    );
    // What the upstream receives names both groups.
    let echoed: Value = serde_json::from_str(&home.text).unwrap();
    let groups = echoed["headers"]["x-auth-request-groups"][0]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        groups.contains("staff") && groups.contains("eng"),
        "{groups}"
    );

    // An open WebSocket of hers.
    let mut req = format!("ws://shop.localhost:{}/ws", sso.app.port())
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("cookie", browser.cookie_header().unwrap().parse().unwrap());
    let tcp = tokio::net::TcpStream::connect(sso.app.addr).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(req, tcp)
        .await
        .expect("upgrade");
    let _hello = ws.next().await;
    ws.send(tokio_tungstenite::tungstenite::Message::Text("ping".into()))
        .await
        .unwrap();
    assert!(ws.next().await.is_some());

    // Deactivated over SCIM (Entra ID's request shape): the session, the
    // WebSocket and the next sign-in are refused.
    let r = scim(
        &c,
        &token,
        "PATCH",
        &format!("/Users/{alice}"),
        Some(deactivate()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["active"], false);
    let closed = tokio::time::timeout(Duration::from_secs(1), async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) => return,
                Some(Ok(m)) if m.is_close() => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the WebSocket closes within a second");
    let after = browser.get("/home").await;
    assert_eq!(after.status, 303, "signed out: {}", after.text);
    let (_, refused) = sso.sign_in("alice").await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert!(
        refused.text.contains("deactivated"),
        "the page says so: {}",
        refused.text
    );

    // Re-activation lets her in again.
    let r = scim(
        &c,
        &token,
        "PATCH",
        &format!("/Users/{alice}"),
        Some(
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "value": {"active": true}}]}),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (again, r) = sso.sign_in("alice").await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(again.get("/home").await.status, 200);

    // DELETE leaves a tombstone: the next sign-in is refused, not a new user.
    let r = scim(&c, &token, "DELETE", &format!("/Users/{alice}"), None).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(again.get("/home").await.status, 303);
    let (_, refused) = sso.sign_in("alice").await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert_eq!(sso.users().await.len(), 1);

    // Every change is audited, naming the token, never holding it.
    let audit = sso.audit("scim.").await;
    assert!(audit.len() >= 5, "{audit:?}");
    assert!(
        audit
            .iter()
            .all(|e| e["actor"]["kind"] == "scim_token" && e["actor"]["name"] == "okta")
    );
    let all = api
        .get(&format!("/api/v1/apps/{}/audit?limit=500", sso.app_id))
        .await;
    assert!(!all.text.contains(&token));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_deactivated_over_scim_on_one_node_is_refused_on_another_within_a_second() {
    Node::check_binary(BIN);
    let db = TestDatabase::create()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let n1 = Node::start(BIN, &db.url, &[]).await;
    let n2 = Node::start(BIN, &db.url, &[]).await;
    let lb = Balancer::start(vec![n1.addr, n2.addr]).await;
    let public = format!("shop.localhost:{}", lb.addr.port());
    // The public host (for the IdP's redirect) and the host on any port
    // (to ask each node directly).
    let r = n1
        .api()
        .post(
            "/api/v1/apps",
            &json!({"name": "Shop", "slug": "shop", "hosts": [public, "shop.localhost"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let app = r.json["id"].as_str().unwrap().to_owned();
    let r = n1
        .api()
        .put(
            &format!("/api/v1/apps/{app}/access"),
            &json!({"default_role": "member"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
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
    let token = scim_token(&n1.api(), &app).await;

    // Alice signs in through the IdP on node 1 (the balancer sends her there).
    lb.route_to(0);
    let browser = AppClient::without_keepalive(lb.addr, "shop.localhost");
    let start = browser.get("/auth/login?rd=/orders").await;
    assert_eq!(start.status, 303, "{}", start.text);
    let callback = idp
        .browser()
        .authorize(start.header("location").unwrap(), Some("alice"))
        .await;
    let done = browser.get(callback.strip_prefix(&base).unwrap()).await;
    assert_eq!(done.status, 303, "{}", done.text);
    let cookie = browser.cookie_header().unwrap();
    let on = |node: &Node| {
        let c = node.client("shop.localhost");
        let cookie = cookie.clone();
        async move {
            c.get_with("/orders", &[("cookie", &cookie), ("accept", "text/html")])
                .await
                .status
        }
    };
    // Node 2 knows her session (and caches it).
    let deadline = Instant::now() + Duration::from_secs(10);
    while on(&n2).await != 200 {
        assert!(Instant::now() < deadline, "node 2 never served her");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The IdP finds her by userName (Okta's lookup) and deactivates her on node 1.
    let s1 = n1.client("shop.localhost");
    let found = scim(
        &s1,
        &token,
        "GET",
        "/Users?filter=userName%20eq%20%22alice%40example.com%22&startIndex=1&count=100",
        None,
    )
    .await;
    assert_eq!(found.status, 200, "{}", found.text);
    assert_eq!(found.json["totalResults"], 1, "{}", found.text);
    let id = found.json["Resources"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = scim(
        &s1,
        &token,
        "PATCH",
        &format!("/Users/{id}"),
        Some(deactivate()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let at = Instant::now();
    while on(&n2).await == 200 {
        assert!(
            at.elapsed() < Duration::from_secs(1),
            "node 2 still serves her after a second"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = at.elapsed();
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert_eq!(on(&n1).await, 303);

    // Her next sign-in, finished on node 2, is refused.
    lb.route_to(1);
    let b2 = AppClient::without_keepalive(lb.addr, "shop.localhost");
    let start = b2.get("/auth/login?rd=/orders").await;
    let callback = idp
        .browser()
        .authorize(start.header("location").unwrap(), Some("alice"))
        .await;
    // The callback shows the refusal on a clean URL.
    let back = b2.get(callback.strip_prefix(&base).unwrap()).await;
    assert_eq!(back.status, 303, "{}", back.text);
    assert_eq!(back.header("location"), Some("/auth/refused"));
    let refused = b2.get("/auth/refused").await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert!(refused.text.contains("deactivated"), "{}", refused.text);
    drop((n1, n2));
    db.drop_now().await.unwrap();
}

/// The independent SCIM client suite (`tests/scim/test_scim.py`, PyPI
/// `scim2-client` in `tests/scim/.venv`, installed by `./scripts/test`):
/// discovery, users and groups CRUD, every filter operator, PATCH forms,
/// pages, projections, error documents, Entra ID's and Okta's request
/// shapes, isolation between applications.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_independent_scim_client_library_drives_the_service_provider() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/scim");
    let python = dir.join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: ./scripts/test installs tests/scim/requirements.txt into it",
        python.display()
    );
    let app = TestApp::spawn().await;
    let alpha = app.create_app("alpha", None).await;
    let beta = app.create_app("beta", None).await;
    let ta = scim_token(&app.api(), &alpha).await;
    let tb = scim_token(&app.api(), &beta).await;
    let port = app.port();
    let mut cmd = tokio::process::Command::new(&python);
    cmd.arg(dir.join("test_scim.py"))
        .env(
            "SCIM_BASE_URL",
            format!("http://alpha.localhost:{port}/auth/scim/v2"),
        )
        .env(
            "SCIM_OTHER_BASE_URL",
            format!("http://beta.localhost:{port}/auth/scim/v2"),
        )
        .env("SCIM_TOKEN", &ta)
        .env("SCIM_OTHER_TOKEN", &tb)
        .env("SCIM_CONNECT", format!("127.0.0.1:{port}"))
        .kill_on_drop(true);
    gatehouse_testkit::process::dies_with_us(&mut cmd);
    let out = tokio::time::timeout(Duration::from_secs(180), cmd.output())
        .await
        .expect("the SCIM suite finishes within 3 minutes")
        .expect("run the SCIM suite");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary = stdout.lines().last().unwrap_or_default().to_owned();
    assert!(
        out.status.success(),
        "the SCIM client suite failed: {summary}\n{stdout}\n{stderr}"
    );
    assert!(summary.contains(" 0 failed"), "{summary}");
    // Tokens never reach the log or the audit.
    let audit = app
        .api()
        .get(&format!("/api/v1/apps/{alpha}/audit?limit=500"))
        .await;
    assert!(!audit.text.contains(&ta));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scim_requests_need_a_token_of_their_own_application() {
    let app = TestApp::spawn().await;
    let a = app.create_app("alpha", None).await;
    let b = app.create_app("beta", None).await;
    let ta = scim_token(&app.api(), &a).await;
    let tb = scim_token(&app.api(), &b).await;
    let alpha = app.client("alpha.localhost");
    for (token, want) in [
        (ta.as_str(), 200),
        (tb.as_str(), 401),
        ("", 401),
        ("gha_an-admin-token", 401),
    ] {
        let r = scim(&alpha, token, "GET", "/Users", None).await;
        assert_eq!(r.status, want, "{}", r.text);
        assert_eq!(r.header("content-type"), Some("application/scim+json"));
        if want == 401 {
            assert_eq!(
                r.json["schemas"][0],
                "urn:ietf:params:scim:api:messages:2.0:Error"
            );
            assert_eq!(r.json["status"], "401");
            assert!(r.header("www-authenticate").is_some());
        }
    }
    // A SCIM token is no admin token.
    let r = app.api_with_token(Some(&ta)).get("/api/v1/apps").await;
    assert_eq!(r.status, 401, "{}", r.text);
    // The base URLs, one per host.
    let r = app.api().get(&format!("/api/v1/apps/{a}/scim")).await;
    assert_eq!(
        r.json["base_urls"][0],
        format!("http://alpha.localhost:{}/auth/scim/v2", app.port())
    );
    // A revoked token is refused at once.
    let listed = app
        .api()
        .get(&format!("/api/v1/apps/{a}/scim/tokens"))
        .await;
    let tid = listed.json[0]["id"].as_str().unwrap().to_owned();
    let r = app
        .api()
        .delete(&format!("/api/v1/apps/{a}/scim/tokens/{tid}"))
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(scim(&alpha, &ta, "GET", "/Users", None).await.status, 401);
}

/// Requests an HTTP client library would tidy up, or that try to make one
/// request cost much: each answered with a SCIM error document, none
/// changing anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_scim_requests_get_scim_errors_and_change_nothing() {
    let app = TestApp::spawn().await;
    let a = app.create_app("alpha", None).await;
    let b = app.create_app("beta", None).await;
    let ta = scim_token(&app.api(), &a).await;
    let tb = scim_token(&app.api(), &b).await;
    let host = format!("alpha.localhost:{}", app.port());
    // Two Authorization headers (a valid one among them): refused.
    for pair in [[&ta, &tb], [&tb, &ta], [&ta, &ta]] {
        let r = gatehouse_testkit::raw::send(
            app.addr,
            format!(
                "GET /auth/scim/v2/Users HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
                pair[0], pair[1]
            )
            .as_bytes(),
        )
        .await;
        assert_eq!(r.status, 401, "{}", r.text());
    }
    let c = app.client("alpha.localhost");
    // A parameter given twice, after authentication: invalidValue.
    let r = scim(&c, &ta, "GET", "/Users?count=1&count=2", None).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.json["scimType"], "invalidValue");
    let r = scim(&c, "", "GET", "/Users?count=1&count=2", None).await;
    assert_eq!(r.status, 401, "authentication first: {}", r.text);
    // A method the endpoint does not take: a SCIM error, not an empty 405.
    let r = scim(&c, &ta, "DELETE", "/Users", None).await;
    assert_eq!(r.status, 405, "{}", r.text);
    assert_eq!(r.header("content-type"), Some("application/scim+json"));
    assert_eq!(r.json["status"], "405");
    // A list for a one-valued attribute (a tag bomb): refused whole.
    let many: Vec<String> = (0..5000).map(|i| format!("d{i}")).collect();
    let r = scim(
        &c,
        &ta,
        "POST",
        "/Users",
        Some(json!({"userName": "bomb@example.com",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": many}})),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.json["scimType"], "invalidValue");
    // Too many PATCH operations: refused before anything is read.
    let made = scim(
        &c,
        &ta,
        "POST",
        "/Users",
        Some(json!({"userName": "ok@example.com"})),
    )
    .await;
    assert_eq!(made.status, 201, "{}", made.text);
    let id = made.json["id"].as_str().unwrap().to_owned();
    let ops: Vec<Value> = (0..1001)
        .map(|i| json!({"op": "replace", "path": "title", "value": format!("t{i}")}))
        .collect();
    let r = scim(
        &c,
        &ta,
        "PATCH",
        &format!("/Users/{id}"),
        Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    // A body over 1 MiB: 413, as a SCIM error.
    let big = "x".repeat(1024 * 1024 + 1);
    let r = scim(&c, &ta, "POST", "/Users", Some(json!({"userName": big}))).await;
    assert_eq!(r.status, 413, "{}", r.text);
    assert_eq!(r.json["status"], "413");
    // Nothing of it made a user but the one.
    let users = app.api().get(&format!("/api/v1/apps/{a}/users")).await;
    assert_eq!(
        users.json.as_array().map(Vec::len),
        Some(1),
        "{}",
        users.text
    );
}

/// A bearer token of a user deprovisioned over SCIM is refused from the
/// next request on, though the token itself is still valid and cached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivated_users_bearer_tokens_are_refused_at_once() {
    let sso = crate::bearer::setup().await;
    let r = crate::bearer::put_api(
        &sso,
        json!({"enabled": true, "audience": crate::bearer::API}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let bearer = sso
        .idp
        .client_credentials("ci-bot", crate::bearer::CLI_SECRET, crate::bearer::API)
        .await;
    let c = sso.client();
    let call = || async {
        c.get_with(
            "/api/orders",
            &[
                ("authorization", &format!("Bearer {bearer}")),
                ("accept", "application/json"),
            ],
        )
        .await
    };
    assert_eq!(call().await.status, 200);
    let token = scim_token(&sso.app.api(), &sso.app_id).await;
    let found = scim(
        &c,
        &token,
        "GET",
        "/Users?filter=userName%20eq%20%22ci-bot%40example.com%22",
        None,
    )
    .await;
    assert_eq!(found.json["totalResults"], 1, "{}", found.text);
    let id = found.json["Resources"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = scim(
        &c,
        &token,
        "PATCH",
        &format!("/Users/{id}"),
        Some(deactivate()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let refused = call().await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert!(refused.text.contains("deactivated"), "{}", refused.text);
    let r = scim(
        &c,
        &token,
        "PATCH",
        &format!("/Users/{id}"),
        Some(
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "path": "active", "value": true}]}),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(call().await.status, 200);
}
