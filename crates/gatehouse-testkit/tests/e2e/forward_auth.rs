//! Forward-auth behind real reverse proxies: nginx (`auth_request`) and
//! Caddy (`forward_auth`) from Debian packages, as private instances on
//! loopback ports, running the examples of `docs/forward-auth/` as written.

use std::net::SocketAddr;

use gatehouse_testkit::proxies::FrontProxy;
use gatehouse_testkit::{AppClient, EchoUpstream, TestApp};
use serde_json::json;

const PW: &str = "correct-horse-battery";

/// Gatehouse with an application `shop` (host `shop.localhost`, any port,
/// no upstream: the proxy in front reaches the application), where
/// ana@example.com is a member, /admin needs `admin`, and bo@example.com has
/// no role.
async fn gatehouse() -> (TestApp, String) {
    let app = TestApp::spawn().await;
    let r = app
        .api()
        .post(
            "/api/v1/apps",
            &json!({"name": "Shop", "slug": "shop", "hosts": ["shop.localhost"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json["id"].as_str().unwrap().to_owned();
    for email in ["ana@example.com", "bo@example.com"] {
        let r = app
            .api()
            .post(
                &format!("/api/v1/apps/{id}/users"),
                &json!({"email": email, "first_name": "Ana", "last_name": "Silva", "password": PW, "groups": ["eng"]}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let r = app
        .api()
        .post(
            &format!("/api/v1/apps/{id}/grants"),
            &json!({"role": "member", "subject": {"email": "ana@example.com"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = app
        .api()
        .put(
            &format!("/api/v1/apps/{id}/access"),
            &json!({"routes": [{"prefix": "/admin", "roles": ["admin"]}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    (app, id)
}

/// What a browser sees through the proxy on `port`. `redirect_from_gatehouse`:
/// whether the proxy hands Gatehouse's redirect through (Caddy) or builds
/// it from `X-Gatehouse-Login-Url` (nginx); the browser sees the same.
async fn browse_through(port: u16, gatehouse_port: u16) {
    let base = format!("http://shop.localhost:{port}");
    let c = AppClient::new(SocketAddr::from(([127, 0, 0, 1], port)), "shop.localhost");

    // Not signed in: to the sign-in page on the application's host, coming back after.
    let r = c.get("/orders?tab=open").await;
    assert_eq!(r.status, 302, "{}", r.text);
    assert_eq!(
        r.header("location"),
        Some(format!("{base}/auth/login?rd=%2Forders%3Ftab%3Dopen").as_str())
    );
    // The sign-in page itself comes through the proxy.
    let page = c.get("/auth/login?rd=%2Forders%3Ftab%3Dopen").await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.text.contains("password"));

    let r = c
        .post_form(
            "/auth/login",
            &[
                ("email", "ana@example.com"),
                ("password", PW),
                ("rd", "/orders?tab=open"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(r.header("location"), Some("/orders?tab=open"));

    let r = c
        .get_with(
            "/orders?tab=open",
            &[
                ("accept", "text/html"),
                ("x-auth-request-email", "boss@evil.example"),
                ("x-auth-request-roles", "admin"),
                ("x-gatehouse-assertion", "forged"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let h = &r.json["headers"];
    assert_eq!(r.json["path"], "/orders");
    assert_eq!(h["x-auth-request-email"], json!(["ana@example.com"]), "{h}");
    assert_eq!(h["x-auth-request-roles"], json!(["member"]));
    assert_eq!(h["x-auth-request-groups"], json!(["eng"]));
    assert_eq!(h["x-auth-request-first-name"], json!(["Ana"]));
    let assertion = h["x-gatehouse-assertion"][0].as_str().unwrap().to_owned();
    assert_ne!(assertion, "forged");
    let verified = gatehouse_testkit::jose::verify(
        &format!("http://127.0.0.1:{gatehouse_port}/.well-known/jwks.json"),
        &format!("http://localhost:{gatehouse_port}"),
        "shop.localhost",
        &[&assertion],
    )
    .await;
    assert_eq!(verified[0]["ok"], true, "{}", verified[0]);
    assert_eq!(verified[0]["payload"]["email"], "ana@example.com");

    // The per-route rule applies to the path the browser asked for.
    let r = c.get("/admin/settings").await;
    assert_eq!(r.status, 403, "{}", r.text);

    // Signed out: back to the sign-in redirect.
    let r = c.get("/auth/logout").await;
    assert!(r.status == 303 || r.status == 302, "{}", r.text);
    let r = c.get("/orders").await;
    assert_eq!(r.status, 302, "{}", r.text);

    // Someone with no role is refused.
    let bo = AppClient::new(SocketAddr::from(([127, 0, 0, 1], port)), "shop.localhost");
    let r = bo
        .post_form(
            "/auth/login",
            &[("email", "bo@example.com"), ("password", PW), ("rd", "/")],
        )
        .await;
    assert_eq!(r.status, 403, "no role, no session: {}", r.text);
    assert!(bo.session_cookie().is_none());
}

/// A member signed in through the proxy on `port` tries what an attacker
/// would, as bytes on the wire: other spellings of `/admin`, a spoofed
/// original URI, another application's host, identity headers of every
/// family. Nothing reaches the upstream as `/admin`, and no spoofed header
/// reaches it at all.
async fn hostile_through(app: &TestApp, id: &str, port: u16) {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let host = format!("shop.localhost:{port}");
    // The client's own X-Forwarded-For never reaches Gatehouse, which
    // rate-limits and audits by the address the proxy saw.
    let r = gatehouse_testkit::raw::post_form(
        addr,
        "/auth/login",
        &host,
        &[
            "X-Forwarded-For: 203.0.113.77",
            "X-Real-IP: 203.0.113.77",
            "Forwarded: for=203.0.113.77",
        ],
        "email=ana%40example.com&password=wrong&rd=%2F",
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.text());
    let audit = app
        .api()
        .get(&format!("/api/v1/apps/{id}/audit?action=signin.failed"))
        .await;
    assert!(audit.text.contains("127.0.0.1"), "{}", audit.text);
    assert!(
        !audit.text.contains("203.0.113.77"),
        "the client chose its address: {}",
        audit.text
    );

    let c = AppClient::new(addr, "shop.localhost");
    let r = c
        .post_form(
            "/auth/login",
            &[("email", "ana@example.com"), ("password", PW), ("rd", "/")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let cookie = format!("Cookie: {}", c.cookie_header().unwrap());

    for target in [
        "/admin",
        "/%61dmin",
        "/%61dmin/x",
        "/ADMIN",
        "/%41dmin/x",
        "/admin.json",
        "/x/../admin",
        "//admin",
        "/./admin",
        "/admin%2Fsettings",
        "/admin;x=1",
        "/x/%2e%2e/admin",
        "/%2561dmin",
        "/admin%00.png",
        "/%c0%ae%c0%ae/admin",
    ] {
        let r = gatehouse_testkit::raw::get(addr, target, &host, &[&cookie]).await;
        assert!(
            r.status != 200 && r.json()["path"].is_null(),
            "{target}: {} {}",
            r.status,
            r.text()
        );
    }
    // The original URI is the proxy's, never the client's.
    for spoof in [
        "X-Original-URI: /orders",
        "X-Forwarded-Uri: /orders",
        "X-Forwarded-Host: evil.localhost",
    ] {
        let r = gatehouse_testkit::raw::get(addr, "/admin", &host, &[&cookie, spoof]).await;
        assert!(r.status == 403 || r.status >= 500, "{spoof}: {}", r.status);
        assert!(r.json()["path"].is_null(), "{spoof} reached the upstream");
    }
    // A session for another application is not checked here, whatever
    // Host the client sends: the proxy pins the application's host.
    let other = app.create_app("other", None).await;
    app.create_user(&other, "eve@example.com", PW).await;
    let eve = app.client("other.localhost");
    eve.sign_in("eve@example.com", PW).await;
    let eve_cookie = format!("Cookie: {}", eve.cookie_header().unwrap());
    for h in [
        "other.localhost",
        &format!("other.localhost:{}", app.port()),
    ] {
        let r = gatehouse_testkit::raw::get(addr, "/orders", h, &[&eve_cookie]).await;
        assert!(
            r.json()["headers"]["x-auth-request-email"].is_null(),
            "Host {h}: {} {}",
            r.status,
            r.text()
        );
    }

    let r = gatehouse_testkit::raw::get(
        addr,
        "/orders",
        &host,
        &[
            &cookie,
            "Remote-User: boss",
            "X-Forwarded-User: boss",
            "X-Webauth-User: boss",
            "X-Ms-Client-Principal-Name: boss",
            "X-Auth-Request-Roles: admin",
            "X_Auth_Request_Roles: admin",
            "X-Auth-Request-Groups-Omitted: 1",
            "Upgrade: h2c",
            "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA",
            "X-Forwarded-For: 203.0.113.77",
            "X-Real-IP: 203.0.113.77",
            "Forwarded: for=203.0.113.77",
            "CF-Connecting-IP: 203.0.113.77",
            "X-Auth-Request-Preferred-Username: boss",
            "X-Auth-Request-Access-Token: forged",
            "X-Ms-Client-Principal-Idp: aad",
            "X-Amzn-Oidc-Identity: boss",
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let h = &r.json()["headers"];
    for name in [
        "remote-user",
        "x-forwarded-user",
        "x-webauth-user",
        "x-ms-client-principal-name",
        "x_auth_request_roles",
        "upgrade",
        "http2-settings",
        "forwarded",
        "cf-connecting-ip",
        "x-auth-request-preferred-username",
        "x-auth-request-access-token",
        "x-ms-client-principal-idp",
        "x-amzn-oidc-identity",
    ] {
        assert!(h[name].is_null(), "{name} reached the upstream: {h}");
    }
    for name in ["x-forwarded-for", "x-real-ip"] {
        assert!(
            !h[name].to_string().contains("203.0.113.77"),
            "the client's {name} reached the upstream: {h}"
        );
    }
    assert_eq!(h["x-auth-request-roles"], json!(["member"]));
    // Caddy 2.6 sends a header missing from Gatehouse's answer as its
    // placeholder text; either way the client's "1" does not arrive.
    assert_ne!(h["x-auth-request-groups-omitted"], json!(["1"]), "{h}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_refuses_what_an_attacker_sends() {
    let (app, id) = gatehouse().await;
    let up = EchoUpstream::start().await;
    let nginx = FrontProxy::nginx(app.addr, up.addr, "shop.localhost").await;
    hostile_through(&app, &id, nginx.port).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caddy_refuses_what_an_attacker_sends() {
    let (app, id) = gatehouse().await;
    let up = EchoUpstream::start().await;
    let caddy = FrontProxy::caddy(app.addr, up.addr, "shop.localhost").await;
    hostile_through(&app, &id, caddy.port).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_refuses_an_original_uri_it_cannot_believe() {
    let (app, _) = gatehouse().await;
    let c = app.client("shop.localhost");
    c.sign_in("ana@example.com", PW).await;
    let cookie = c.cookie_header().unwrap();
    let check = |headers: Vec<(&'static str, String)>| {
        let c = &c;
        let cookie = cookie.clone();
        async move {
            let mut h: Vec<(&'static str, &str)> = vec![("cookie", cookie.as_str())];
            for (k, v) in &headers {
                h.push((k, v.as_str()));
            }
            c.get_with("/auth/verify", &h).await
        }
    };
    // The canonical form is what is checked.
    for uri in ["/x/../admin", "//admin", "/%61dmin", "/./admin/x"] {
        let r = check(vec![("x-original-uri", uri.to_owned())]).await;
        assert_eq!(r.status, 403, "{uri}: {}", r.text);
    }
    let r = check(vec![("x-original-uri", "/orders".to_owned())]).await;
    assert_eq!(r.status, 200);
    // Ambiguous, conflicting, repeated or missing: refused (400), never a guess.
    for uri in [
        "/admin%2f",
        "/admin;x",
        "/%2e%2e/admin",
        "/admin%00",
        "http://evil/admin",
    ] {
        let r = check(vec![("x-original-uri", uri.to_owned())]).await;
        assert_eq!(r.status, 400, "{uri}: {}", r.text);
    }
    let r = check(vec![
        ("x-original-uri", "/orders".to_owned()),
        ("x-forwarded-uri", "/admin".to_owned()),
    ])
    .await;
    assert_eq!(r.status, 400, "conflicting: {}", r.text);
    let r = check(vec![]).await;
    assert_eq!(r.status, 400, "none while route rules exist: {}", r.text);
    let r = gatehouse_testkit::raw::get(
        app.addr,
        "/auth/verify",
        "shop.localhost",
        &[
            &format!("Cookie: {cookie}"),
            "X-Original-URI: /orders",
            "X-Original-URI: /admin",
        ],
    )
    .await;
    assert_eq!(r.status, 400, "repeated: {}", r.text());
    assert!(r.header("x-request-id").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_headers_count_only_from_trusted_proxies() {
    let app = TestApp::builder()
        .trusted_proxies(&["10.9.9.9"])
        .spawn()
        .await;
    let id = app.create_app("shop", None).await;
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
    let cookie = c.cookie_header().unwrap();
    // Loopback is not trusted here: the URI header is not believed, and
    // with route rules a check without a believable URI is refused.
    let r = c
        .get_with(
            "/auth/verify",
            &[("cookie", &cookie), ("x-original-uri", "/orders")],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    // Nor does X-Forwarded-Host steer a check sent to Gatehouse's address.
    let r = gatehouse_testkit::raw::get(
        app.addr,
        "/auth/verify",
        &format!("127.0.0.1:{}", app.port()),
        &[
            &format!("Cookie: {cookie}"),
            "X-Forwarded-Host: shop.localhost",
        ],
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_auth_request_lets_in_whom_gatehouse_says() {
    let (app, _) = gatehouse().await;
    let up = EchoUpstream::start().await;
    let nginx = FrontProxy::nginx(app.addr, up.addr, "shop.localhost").await;
    browse_through(nginx.port, app.port()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caddy_forward_auth_lets_in_whom_gatehouse_says() {
    let (app, _) = gatehouse().await;
    let up = EchoUpstream::start().await;
    let caddy = FrontProxy::caddy(app.addr, up.addr, "shop.localhost").await;
    browse_through(caddy.port, app.port()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_answers_401_with_the_login_url_403_and_200_with_identity() {
    let (app, _) = gatehouse().await;
    let c = app.client("shop.localhost");
    let base = format!("http://shop.localhost:{}", app.port());

    let r = c
        .get_with("/auth/verify", &[("x-original-uri", "/reports?m=5")])
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("x-gatehouse-login-url"),
        Some(format!("{base}/auth/login?rd=%2Freports%3Fm%3D5").as_str())
    );
    // Redirect mode: browsers get a 302, API callers still 401.
    let r = c
        .get_with(
            "/auth/verify?redirect=1",
            &[("x-forwarded-uri", "/reports"), ("accept", "text/html")],
        )
        .await;
    assert_eq!(r.status, 302);
    let r = c
        .get_with(
            "/auth/verify?redirect=1",
            &[
                ("x-forwarded-uri", "/reports"),
                ("accept", "application/json"),
            ],
        )
        .await;
    assert_eq!(r.status, 401);

    c.sign_in("ana@example.com", PW).await;
    let r = c
        .get_with("/auth/verify", &[("x-original-uri", "/reports")])
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("x-auth-request-email"), Some("ana@example.com"));
    assert_eq!(r.header("x-auth-request-roles"), Some("member"));
    assert!(r.header("x-gatehouse-assertion").is_some());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let r = c
        .get_with("/auth/verify", &[("x-original-uri", "/admin/users")])
        .await;
    assert_eq!(r.status, 403, "{}", r.text);

    // A proxy that calls Gatehouse by its address (Traefik) names the
    // application in X-Forwarded-Host.
    let by_address = app.client("127.0.0.1");
    let cookie = c.cookie_header().unwrap();
    let r = by_address
        .get_with(
            "/auth/verify",
            &[
                (
                    "x-forwarded-host",
                    &format!("shop.localhost:{}", app.port()),
                ),
                ("x-forwarded-uri", "/reports"),
                ("cookie", &cookie),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("x-auth-request-email"), Some("ana@example.com"));
}
