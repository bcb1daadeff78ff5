//! Requests are hostile: Gatehouse as the reverse proxy, attacked with the
//! bytes an attacker would send (raw TCP where a client library would tidy
//! them), asserting what the upstream received, not only the status.

use gatehouse_testkit::raw::{self, RawResponse};
use gatehouse_testkit::{EchoUpstream, TestApp};
use serde_json::json;

const PW: &str = "correct-horse-battery";

/// An application `shop` proxied to an echo upstream, where everyone is a
/// member and `/admin` needs `admin`; ana@example.com is signed in.
struct Shop {
    app: TestApp,
    _up: EchoUpstream,
    id: String,
    host: String,
    cookie: String,
}

impl Shop {
    async fn start(app: TestApp) -> Self {
        let up = EchoUpstream::start().await;
        let id = app.create_app("shop", Some(&up.url())).await;
        app.create_user(&id, "ana@example.com", PW).await;
        let r = app
            .api()
            .put(
                &format!("/api/v1/apps/{id}/access"),
                &json!({"default_role": "member", "routes": [{"prefix": "/admin", "roles": ["admin"]}]}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let c = app.client("shop.localhost");
        c.sign_in("ana@example.com", PW).await;
        let cookie = format!("Cookie: {}", c.cookie_header().unwrap());
        let host = format!("shop.localhost:{}", app.port());
        Self {
            app,
            _up: up,
            id,
            host,
            cookie,
        }
    }

    async fn get(&self, target: &str, extra: &[&str]) -> RawResponse {
        let mut lines = vec![self.cookie.as_str()];
        lines.extend_from_slice(extra);
        raw::get(self.app.addr, target, &self.host, &lines).await
    }
}

fn reached_upstream(r: &RawResponse) -> bool {
    !r.json()["path"].is_null()
}

/// The 400 page: HTML for people, with the correlation id.
fn is_error_page(r: &RawResponse, status: u16) -> bool {
    let id = r.header("x-request-id").unwrap_or("none");
    r.status == status && r.text().contains(id) && !reached_upstream(r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_spelling_of_a_path_gets_around_a_route_rule() {
    let shop = Shop::start(TestApp::spawn().await).await;
    // Spellings of /admin that resolve to it: checked as /admin.
    for target in [
        "/admin",
        "/%61dmin",
        "/%61%64%6d%69%6e/users",
        "/x/../admin",
        "/x/y/../../admin/",
        "//admin",
        "///admin//users",
        "/./admin",
        "/../admin",
        "/admin/.",
        // Read as /admin by upstreams that route case-insensitively
        // (Express, ASP.NET Core) or take a format suffix (Rails, Spring).
        "/ADMIN",
        "/Admin/users",
        "/%41dmin",
        "/admin.json",
        "/admin.",
        "/ADMIN.html/x",
    ] {
        let r = shop.get(target, &["Accept: text/html"]).await;
        assert_eq!(r.status, 403, "{target}: {}", r.text());
        assert!(!reached_upstream(&r), "{target}");
    }
    // Spellings whose meaning differs between readers: refused with 400.
    for target in [
        "/admin%2fusers",
        "/x%2F..%2Fadmin",
        "/admin%5cusers",
        "/x\\..\\admin",
        "/x/%2e%2e/admin",
        "/x/.%2E/admin",
        "/admin;jsessionid=1",
        "/admin%3bx",
        "/admin%00.png",
        "/%u0061dmin",
        "/%2561dmin",
        "/%25%36%31dmin",
        "/%c0%ae%c0%ae/admin",
        "/%ff",
    ] {
        let r = shop.get(target, &["Accept: text/html"]).await;
        assert!(
            is_error_page(&r, 400),
            "{target}: {} {}",
            r.status,
            r.text()
        );
    }
    for request in [
        "OPTIONS * HTTP/1.1\r\nHost: HOST\r\nConnection: close\r\n\r\n",
        "CONNECT shop.localhost:443 HTTP/1.1\r\nHost: HOST\r\nConnection: close\r\n\r\n",
    ] {
        let r = raw::send(
            shop.app.addr,
            request.replace("HOST", &shop.host).as_bytes(),
        )
        .await;
        assert_eq!(r.status, 400, "{request:?}: {}", r.text());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstream_receives_the_path_that_was_checked_and_the_query_as_sent() {
    let shop = Shop::start(TestApp::spawn().await).await;
    for (target, path) in [
        ("/%7euser/%41bc", "/~user/Abc"),
        ("/a//b/./c/../d", "/a/b/d"),
        ("/caf%c3%a9", "/caf%C3%A9"),
        ("/a%3Fb", "/a%3Fb"),
        ("/ADMINS", "/ADMINS"),
        ("/admin-panel", "/admin-panel"),
        ("/administrator", "/administrator"),
    ] {
        let r = shop.get(target, &[]).await;
        assert_eq!(r.status, 200, "{target}: {}", r.text());
        assert_eq!(r.json()["path"], path, "{target}");
    }
    let r = shop.get("/p/../q?a=%2F..%2Fadmin&b=;c&d=%zz", &[]).await;
    assert_eq!(r.json()["path"], "/q");
    assert_eq!(
        r.json()["query"],
        "a=%2F..%2Fadmin&b=;c&d=%zz",
        "never rewritten"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applications_can_pass_encoded_slashes_or_read_paths_as_windows_does() {
    let shop = Shop::start(TestApp::spawn().await).await;
    let r = shop
        .app
        .api()
        .put(
            &format!("/api/v1/apps/{}/access", shop.id),
            &json!({"default_role": "member", "pass_encoded_slashes": true, "windows_paths": true,
                    "routes": [{"prefix": "/Admin", "roles": ["admin"]}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = shop.get("/repo/a%2fb", &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["path"], "/repo/a%2Fb", "passed unchanged");
    for target in ["/ADMIN", "/admin.", "/Admin%20/x", "/aDmIn./x"] {
        let r = shop.get(target, &["Accept: text/html"]).await;
        assert_eq!(r.status, 403, "{target}: {}", r.text());
    }
    for target in ["/ADMINI~1/x", "/admin::$DATA", "/.../admin"] {
        let r = shop.get(target, &["Accept: text/html"]).await;
        assert!(is_error_page(&r, 400), "{target}: {}", r.status);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_prefixes_are_stored_canonical() {
    let shop = Shop::start(TestApp::spawn().await).await;
    let put = |routes: serde_json::Value| {
        let api = shop.app.api();
        let id = shop.id.clone();
        async move {
            api.put(
                &format!("/api/v1/apps/{id}/access"),
                &json!({"default_role": "member", "routes": routes}),
            )
            .await
        }
    };
    let r = put(json!([{"prefix": "//admin/", "roles": ["admin"]}, {"prefix": "/%61pi", "roles": ["admin"]}])).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["routes"][0]["prefix"], "/admin");
    assert_eq!(r.json["routes"][1]["prefix"], "/api");
    for bad in ["/admin%2f", "/a;b", "/%2e%2e/x", "admin", "/a?b"] {
        let r = put(json!([{"prefix": bad, "roles": ["admin"]}])).await;
        assert_eq!(r.status, 422, "{bad}: {}", r.text);
        assert!(r.text.contains("routes[0].prefix"), "{}", r.text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_client_sets_identity_or_proxy_headers_for_the_upstream() {
    let shop = Shop::start(TestApp::spawn().await).await;
    let r = shop
        .app
        .api()
        .put(
            &format!("/api/v1/apps/{}/access", shop.id),
            &json!({"default_role": "member", "strip_headers": ["X-Tenant"],
                    "routes": [{"prefix": "/admin", "roles": ["admin"]}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let spoofed = [
        "X_Auth_Request_Roles: admin",
        "x-auth-request-roles: admin",
        "X-AUTH-REQUEST-EMAIL: boss@evil.example",
        "X_Gatehouse_Assertion: forged",
        "X-Forwarded-User: boss",
        "X_Forwarded_Email: boss@evil.example",
        "X-Forwarded-Groups: admins",
        "X-Forwarded-Preferred-Username: boss",
        "X-Forwarded-Host: evil.example",
        "X-Forwarded-Proto: gopher",
        "Forwarded: for=6.6.6.6;host=evil",
        "X-Real-IP: 6.6.6.6",
        "X-Original-URL: /admin",
        "X-Rewrite-URL: /admin",
        "Remote-User: boss",
        "Remote_Groups: admins",
        "X-Webauth-User: boss",
        "X-Ms-Client-Principal: e30=",
        "X-Ms-Client-Principal-Name: boss",
        "X_MS_CLIENT_PRINCIPAL_ID: 1",
        "X-Tenant: other",
        "x_tenant: other",
        "X-Amzn-Oidc-Identity: boss",
        "Cf-Access-Authenticated-User-Email: boss@evil.example",
        "X_Goog_Authenticated_User_Email: boss@evil.example",
        "CF-Connecting-IP: 6.6.6.6",
        "Client-IP: 6.6.6.6",
        "X-Ssl-Client-DN: CN=boss",
        "X-Host: evil.example",
    ];
    let r = shop.get("/orders", &spoofed).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let h = r.json()["headers"].clone();
    let names: Vec<String> = h.as_object().unwrap().keys().cloned().collect();
    for line in spoofed {
        let name = line.split(':').next().unwrap().to_ascii_lowercase();
        let theirs = h[&name].as_array().cloned().unwrap_or_default();
        let forged = line.split(':').nth(1).unwrap().trim();
        assert!(
            !theirs.iter().any(|v| v == forged),
            "{line} reached the upstream: {names:?}"
        );
        assert!(
            !name.contains('_') || h[&name].is_null(),
            "{name} reached the upstream"
        );
    }
    assert_eq!(h["x-auth-request-email"], json!(["ana@example.com"]));
    assert_eq!(h["x-auth-request-roles"], json!(["member"]));
    assert_eq!(h["x-forwarded-host"], json!([shop.host]));
    assert_eq!(h["x-forwarded-proto"], json!(["http"]));
    assert!(h["x-tenant"].is_null() && h["forwarded"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_websocket_upgrades_pass() {
    let shop = Shop::start(TestApp::spawn().await).await;
    let r = shop
        .get(
            "/orders",
            &[
                "Connection: Upgrade, HTTP2-Settings",
                "Upgrade: h2c",
                "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA",
            ],
        )
        .await;
    assert_eq!(r.status, 200, "answered as HTTP/1.1: {}", r.text());
    let h = r.json()["headers"].clone();
    assert!(
        h["upgrade"].is_null() && h["http2-settings"].is_null(),
        "{h}"
    );
    // A WebSocket upgrade on POST is not one either.
    let r = raw::send(
        shop.app.addr,
        format!(
            "POST /ws HTTP/1.1\r\nHost: {}\r\n{}\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nContent-Length: 0\r\n\r\n",
            shop.host, shop.cookie
        )
        .as_bytes(),
    )
    .await;
    assert_ne!(r.status, 101);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_framing_is_refused() {
    let shop = Shop::start(TestApp::spawn().await).await;
    let r = shop.get("/orders", &["Host: other.localhost"]).await;
    assert!(is_error_page(&r, 400), "two Host headers: {}", r.status);
    let r = raw::send(
        shop.app.addr,
        format!(
            "GET http://other.localhost/orders HTTP/1.1\r\nHost: {}\r\n{}\r\nConnection: close\r\n\r\n",
            shop.host, shop.cookie
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(r.status, 400, "Host against the absolute-form target");
    assert!(!reached_upstream(&r));
    // Cleartext HTTP/2 is off: the preface is not HTTP/1.1, so no answer is
    // a 2xx and nothing reaches the upstream.
    let r = raw::send(shop.app.addr, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await;
    assert!(r.status == 0 || r.status >= 400, "{}", r.status);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_cookies_never_cost_the_session_and_ours_never_leak() {
    let shop = Shop::start(TestApp::spawn().await).await;
    let ours = shop.cookie.trim_start_matches("Cookie: ").to_owned();
    // Another site's cookie on the same host name, with bytes that are not
    // ASCII, before and after ours; a tossed cookie with our name first.
    let mut req = format!(
        "GET /orders HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nCookie: theme=",
        shop.host
    )
    .into_bytes();
    req.extend_from_slice(
        b"\xe9t\xe9; lang=\xff\xfe; gatehouse_session_shop=tossed-by-a-sibling; ",
    );
    req.extend_from_slice(ours.as_bytes());
    req.extend_from_slice(b"; other=\"q\"\r\n\r\n");
    let r = raw::send(shop.app.addr, &req).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let sent = r.json()["headers"]["cookie"][0]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(
        sent.contains("theme=") && sent.contains("other=\"q\""),
        "{sent}"
    );
    assert!(
        !sent.contains("gatehouse"),
        "our cookies reach the upstream: {sent}"
    );

    // Another application's session cookie on the same host name (cookies
    // ignore ports) is neither accepted here nor passed on.
    let other = shop
        .app
        .create_app("other", Some(&format!("http://{}", shop._up.addr)))
        .await;
    shop.app.create_user(&other, "ana@example.com", PW).await;
    let o = shop.app.client("other.localhost");
    o.sign_in("ana@example.com", PW).await;
    let theirs = o.cookie_header().unwrap();
    let r = shop.get("/orders", &[]).await;
    assert_eq!(r.status, 200);
    let r = raw::get(
        shop.app.addr,
        "/orders",
        &shop.host,
        &[&format!("Cookie: {theirs}"), "Accept: text/html"],
    )
    .await;
    assert_eq!(r.status, 303, "another application's session is not ours");
    let r = raw::get(
        shop.app.addr,
        "/orders",
        &shop.host,
        &[&format!("Cookie: {theirs}; {ours}")],
    )
    .await;
    let sent = r.json()["headers"]["cookie"].clone();
    assert!(sent.is_null(), "{sent}");

    // The upstream cannot set our cookies.
    let r = shop.get("/set-cookies", &[]).await;
    assert_eq!(r.status, 200);
    let set = r.headers_named("set-cookie");
    assert_eq!(set, vec!["theme=dark; Path=/"], "{set:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_are_encoded_exactly_and_never_truncated() {
    let shop = Shop::start(TestApp::spawn().await).await;
    let users = shop
        .app
        .api()
        .get(&format!("/api/v1/apps/{}/users", shop.id))
        .await;
    let user = users.json[0]["id"].as_str().unwrap().to_owned();
    let patch = |groups: serde_json::Value| {
        let api = shop.app.api();
        let url = format!("/api/v1/apps/{}/users/{user}", shop.id);
        async move { api.patch(&url, &json!({ "groups": groups })).await }
    };
    let r = patch(json!(["eng", "a,b", "100%"])).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = shop.get("/orders", &[]).await;
    let h = r.json()["headers"].clone();
    assert_eq!(
        h["x-auth-request-groups"],
        json!(["100%25,a%2Cb,eng"]),
        "sorted, each encoded"
    );
    assert!(h["x-auth-request-groups-omitted"].is_null());

    let many: Vec<String> = (0..600).map(|i| format!("team-{i:04}")).collect();
    let r = patch(json!(many)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = shop.get("/orders", &[]).await;
    let h = r.json()["headers"].clone();
    assert!(
        h["x-auth-request-groups"].is_null(),
        "left out, not truncated"
    );
    assert_eq!(h["x-auth-request-groups-omitted"], json!(["1"]));
    let jwt = h["x-gatehouse-assertion"][0].as_str().unwrap();
    let payload = jwt.split('.').nth(1).unwrap();
    use base64::Engine;
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["groups"].as_array().map(Vec::len), Some(600));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rejection_is_the_error_page_with_a_correlation_id() {
    let shop = Shop::start(TestApp::spawn().await).await;
    for target in [
        "/auth/callback?state=a&state=b&code=c",
        "/auth/logged-out?idp=1&idp=2",
    ] {
        let r = shop.get(target, &["Accept: text/html"]).await;
        assert!(
            is_error_page(&r, 400),
            "{target}: {} {}",
            r.status,
            r.text()
        );
        assert!(
            r.header("content-type")
                .unwrap_or("")
                .starts_with("text/html")
        );
    }
    let form = "email=a%40b.c&password=x&password=y&rd=%2F&rd=%2Fx";
    let r = raw::post_form(shop.app.addr, "/auth/login", &shop.host, &[], form).await;
    assert!(
        is_error_page(&r, 400),
        "malformed form: {} {}",
        r.status,
        r.text()
    );
    // A method a Gatehouse page does not serve: the page, not the
    // framework's empty 405, and the Allow header kept.
    let r = raw::send(
        shop.app.addr,
        format!(
            "PUT /auth/login HTTP/1.1\r\nHost: {}\r\nAccept: text/html\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            shop.host
        )
        .as_bytes(),
    )
    .await;
    assert!(
        is_error_page(&r, 405),
        "PUT /auth/login: {} {}",
        r.status,
        r.text()
    );
    assert!(
        r.header("allow").unwrap_or("").contains("POST"),
        "Allow: {:?}",
        r.header("allow")
    );
    let r = shop.app.api().delete("/api/v1/apps").await;
    assert_eq!(r.status, 405, "{}", r.text);
    assert_eq!(r.json["status"], 405, "a problem document: {}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_forms_are_refused_before_anything_is_stored() {
    let shop = Shop::start(TestApp::spawn().await).await;
    let before: usize = shop.app.data_files().iter().map(|(_, b)| b.len()).sum();
    let email = format!("{}@example.com", "a".repeat(1_500_000));
    for _ in 0..5 {
        let form = format!("email={email}&password=x&rd=%2F");
        let r = raw::post_form(shop.app.addr, "/auth/login", &shop.host, &[], &form).await;
        assert!(r.status == 413 || r.status == 0, "{}", r.status);
    }
    let after: usize = shop.app.data_files().iter().map(|(_, b)| b.len()).sum();
    assert!(
        after < before + 200_000,
        "the store grew from {before} to {after} bytes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_from_memory_on_the_admin_host_behind_their_token() {
    let app = TestApp::builder()
        .metrics_token("metrics-token-0123456789")
        .spawn()
        .await;
    let _shop = Shop::start(app).await;
    let app = &_shop.app;
    let r = raw::get(app.addr, "/metrics", &_shop.host, &[]).await;
    assert_ne!(r.status, 200, "not on an application host");
    let admin = format!("localhost:{}", app.port());
    let r = raw::get(app.addr, "/metrics", &admin, &[]).await;
    assert_eq!(r.status, 401, "{}", r.text());
    let r = raw::get(
        app.addr,
        "/metrics",
        &admin,
        &["Authorization: Bearer metrics-token-0123456789"],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.text().contains("gatehouse_active_sessions 1"),
        "{}",
        r.text()
    );
}

/// A password sign-in for ana from `source` (the address a trusted proxy
/// reports: loopback is trusted by default), with `cookie` if given.
async fn attempt(shop: &Shop, source: &str, password: &str, cookie: Option<&str>) -> RawResponse {
    let form = format!("email=ana%40example.com&password={password}&rd=%2F");
    let xff = format!("X-Forwarded-For: {source}");
    let cookie = cookie.map(|c| format!("Cookie: {c}"));
    let mut extra = vec![xff.as_str()];
    extra.extend(cookie.as_deref());
    raw::post_form(shop.app.addr, "/auth/login", &shop.host, &extra, &form).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_attempts_are_counted_not_stored_one_by_one() {
    let shop = Shop::start(TestApp::spawn().await).await;
    let audit = || async {
        shop.app
            .api()
            .get(&format!(
                "/api/v1/apps/{}/audit?action=signin.failed&limit=500",
                shop.id
            ))
            .await
            .json
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    for _ in 0..25 {
        let r = attempt(&shop, "203.0.113.9", "wrong", None).await;
        assert!(r.status == 401 || r.status == 429, "{}", r.status);
    }
    let events = audit().await;
    let reasons: Vec<&str> = events
        .iter()
        .filter_map(|e| e["details"]["reason"].as_str())
        .collect();
    assert_eq!(
        reasons.len(),
        2,
        "one event per reason and minute: {reasons:?}"
    );
    assert!(reasons.contains(&"bad_password") && reasons.contains(&"rate_limited"));

    // Junk callbacks: refused, and counted too.
    for _ in 0..20 {
        let r = shop
            .get("/auth/callback?state=x&code=y", &["Accept: text/html"])
            .await;
        assert!(r.status >= 400, "{}", r.status);
    }
    let after = audit().await.len();
    assert!(after <= 3, "{after} audit events after 45 refusals");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_locks_the_owner_out_of_their_account() {
    // One try per account and source a minute; ten per account (refilled
    // one every 6 s), so the test does not race the refill.
    let app = TestApp::builder()
        .login_attempts_per_account(1)
        .spawn()
        .await;
    let shop = Shop::start(app).await;
    // The owner signs in once from their browser and keeps its device cookie.
    let r = attempt(&shop, "198.51.100.7", "correct-horse-battery", None).await;
    assert_eq!(r.status, 303, "{}", r.text());
    let set = r.headers_named("set-cookie");
    let device = set
        .iter()
        .find(|c| c.starts_with("gatehouse_device_shop="))
        .expect("a device cookie");
    assert!(
        device.contains("Path=/auth") && device.contains("HttpOnly"),
        "{device}"
    );
    let device = device.split(';').next().unwrap_or("").to_owned();

    // One attacker: locked out after one try, the owner elsewhere is not.
    for _ in 0..5 {
        let _ = attempt(&shop, "203.0.113.9", "wrong", None).await;
    }
    assert_eq!(
        attempt(&shop, "203.0.113.9", "correct-horse-battery", None)
            .await
            .status,
        429
    );
    assert_eq!(
        attempt(&shop, "192.0.2.44", "correct-horse-battery", None)
            .await
            .status,
        303,
        "another source is not locked out by the attacker"
    );

    // Many attackers, one try each from 30 addresses: the account-wide
    // limit holds for browsers it does not know, and a forged device
    // cookie vouches for nothing ...
    for i in 0..30 {
        let _ = attempt(&shop, &format!("203.0.114.{i}"), "wrong", None).await;
    }
    let mut refused = 0;
    for i in 0..6 {
        let forged = (i % 2 == 0).then_some("gatehouse_device_shop=v1.forged.x");
        let r = attempt(
            &shop,
            &format!("192.0.2.{}", 100 + i),
            "correct-horse-battery",
            forged,
        )
        .await;
        if r.status == 429 {
            refused += 1;
        }
    }
    assert!(
        refused >= 4,
        "distributed guessing hits the account-wide limit: {refused}/6 refused"
    );
    // ... but not the owner's browser.
    assert_eq!(
        attempt(
            &shop,
            "198.51.100.8",
            "correct-horse-battery",
            Some(&device)
        )
        .await
        .status,
        303,
        "the device cookie vouches for the owner's browser"
    );
}

/// One HTTP/2 (prior knowledge) request; the status and the body as JSON.
async fn h2(
    send: &mut hyper::client::conn::http2::SendRequest<http_body_util::Empty<bytes::Bytes>>,
    uri: &str,
    headers: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    use http_body_util::BodyExt;
    let mut req = hyper::Request::get(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = send
        .send_request(req.body(http_body_util::Empty::new()).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleartext_http2_when_turned_on_is_held_to_the_same_rules() {
    let shop = Shop::start(TestApp::builder().http2_cleartext().spawn().await).await;
    let tcp = tokio::net::TcpStream::connect(shop.app.addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .expect("an HTTP/2 connection");
    tokio::spawn(conn);
    let base = format!("http://{}", shop.host);
    let ours = shop.cookie.trim_start_matches("Cookie: ").to_owned();

    // Cookies split over several fields (as HTTP/2 allows): the session is
    // found, ours are removed, the rest reach the upstream as one field.
    let (status, body) = h2(
        &mut send,
        &format!("{base}/x/../orders"),
        &[
            ("cookie", "theme=dark"),
            ("cookie", &ours),
            ("cookie", "lang=en"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["path"], "/orders");
    assert_eq!(body["headers"]["cookie"], json!(["theme=dark; lang=en"]));
    assert_eq!(
        body["headers"]["x-auth-request-email"],
        json!(["ana@example.com"])
    );

    let (status, body) = h2(
        &mut send,
        &format!("{base}/%61dmin"),
        &[("cookie", &ours), ("accept", "text/html")],
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = h2(&mut send, &format!("{base}/admin%2f"), &[("cookie", &ours)]).await;
    assert_eq!(status, 400);
    // :authority and host disagree.
    let (status, body) = h2(
        &mut send,
        &format!("{base}/orders"),
        &[("cookie", &ours), ("host", "other.localhost")],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (_, body) = h2(
        &mut send,
        &format!("{base}/orders"),
        &[
            ("cookie", &ours),
            ("x_auth_request_roles", "admin"),
            ("remote-user", "boss"),
        ],
    )
    .await;
    assert!(
        body["headers"]["x_auth_request_roles"].is_null()
            && body["headers"]["remote-user"].is_null()
    );
}

/// A client that trickles its headers, holds a connection open without a
/// request, or stops sending a body, is cut off after `header_read_timeout`
/// (slowloris).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_idle_or_stalled_connections_are_closed_after_the_header_read_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::builder()
        .header_read_timeout(std::time::Duration::from_secs(1))
        .spawn()
        .await;
    let mut trickle = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    trickle
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    let mut idle = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    // A body announced and never sent, where a form is read.
    let mut slow_body = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    slow_body
        .write_all(
            b"POST /admin/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 500\r\n\r\nemail=a",
        )
        .await
        .unwrap();
    let started = std::time::Instant::now();
    for conn in [&mut trickle, &mut idle, &mut slow_body] {
        let mut buf = Vec::new();
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            conn.read_to_end(&mut buf),
        )
        .await;
        assert!(read.is_ok(), "the connection is closed by the server");
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // A normal request still works.
    assert_eq!(app.client("localhost").get("/healthz").await.status, 200);
}
