use gatehouse_testkit::{EchoUpstream, TestApp};

const PW: &str = "correct-horse-battery";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_sets_an_httponly_lax_cookie_and_returns_to_rd() {
    let app = TestApp::spawn().await;
    let up = EchoUpstream::start().await;
    let id = app.create_app("shop", Some(&up.url())).await;
    app.create_user(&id, "ana@example.com", PW).await;
    let c = app.client("shop.localhost");

    let page = c.get("/auth/login?rd=/orders%3Fpage%3D2").await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("App shop") && page.text.contains("name=\"password\""));
    assert!(
        page.text.contains("value=\"/orders?page=2\""),
        "rd kept in the form"
    );

    let r = c
        .post_form(
            "/auth/login",
            &[
                ("email", "ANA@example.com"),
                ("password", PW),
                ("rd", "/orders?page=2"),
            ],
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/orders?page=2"));
    let cookie = r.header("set-cookie").unwrap();
    for part in [
        "gatehouse_session_shop=",
        "HttpOnly",
        "SameSite=Lax",
        "Path=/",
    ] {
        assert!(cookie.contains(part), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "http app: no Secure flag");
    let token = c.session_cookie().unwrap();
    assert_eq!(token.len(), 43, "256 random bits, base64url");

    let proxied = c.get("/orders?page=2").await;
    assert_eq!(proxied.status, 200);
    assert_eq!(proxied.json["path"], "/orders");

    // The store keeps only the hash of the cookie.
    for (name, bytes) in app.data_files() {
        assert!(
            !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
            "session token found in {name}"
        );
    }

    // Audit: the sign-in is recorded.
    let audit = app
        .api()
        .get(&format!("/api/v1/apps/{id}/audit?action=signin"))
        .await;
    assert_eq!(audit.json[0]["action"], "signin.succeeded");
    assert_eq!(audit.json[0]["target"], "ana@example.com");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_app_gets_a_secure_cookie() {
    let app = TestApp::spawn().await;
    let r = app
        .api()
        .post(
            "/api/v1/apps",
            &serde_json::json!({"name": "Secure", "hosts": [format!("secure.localhost:{}", app.port())], "scheme": "https"}),
        )
        .await;
    let id = r.json["id"].as_str().unwrap().to_owned();
    app.api()
        .put(
            &format!("/api/v1/apps/{id}/access"),
            &serde_json::json!({"default_role": "viewer"}),
        )
        .await;
    app.create_user(&id, "ana@example.com", PW).await;
    let c = app.client("secure.localhost");
    let r = c
        .post_form(
            "/auth/login",
            &[("email", "ana@example.com"), ("password", PW)],
        )
        .await;
    assert_eq!(r.status, 303);
    assert!(r.header("set-cookie").unwrap().contains("Secure"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_and_unknown_email_get_the_same_answer_and_are_audited() {
    let app = TestApp::spawn().await;
    let id = app.create_app("shop", None).await;
    app.create_user(&id, "ana@example.com", PW).await;
    let c = app.client("shop.localhost");

    let wrong_pw = c
        .post_form(
            "/auth/login",
            &[("email", "ana@example.com"), ("password", "nope-nope-nope")],
        )
        .await;
    let unknown = c
        .post_form(
            "/auth/login",
            &[("email", "bob@example.com"), ("password", "nope-nope-nope")],
        )
        .await;
    assert_eq!(wrong_pw.status, 401);
    assert_eq!(unknown.status, 401);
    let msg = "The e-mail or password is not correct.";
    assert!(wrong_pw.text.contains(msg) && unknown.text.contains(msg));
    assert!(wrong_pw.header("set-cookie").is_none());
    assert!(c.session_cookie().is_none());

    let audit = app
        .api()
        .get(&format!("/api/v1/apps/{id}/audit?action=signin.failed"))
        .await;
    let reasons: Vec<&str> = audit
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["details"]["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        vec!["unknown_user", "bad_password"],
        "newest first, each with its reason"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_sign_ins_are_rate_limited_per_account() {
    let app = TestApp::spawn().await;
    let id = app.create_app("shop", None).await;
    app.create_user(&id, "ana@example.com", PW).await;
    let c = app.client("shop.localhost");
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(
            c.post_form(
                "/auth/login",
                &[("email", "ana@example.com"), ("password", "guess-guess")],
            )
            .await
            .status,
        );
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        10,
        "{statuses:?}"
    );
    assert_eq!(statuses.last(), Some(&429));
    // Even the right password is refused while the account is limited.
    let r = c
        .post_form(
            "/auth/login",
            &[("email", "ana@example.com"), ("password", PW)],
        )
        .await;
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some());
    assert!(r.text.contains("Too many sign-in attempts"));
    let audit = app
        .api()
        .get(&format!("/api/v1/apps/{id}/audit?action=signin.failed"))
        .await;
    assert_eq!(audit.json[0]["details"]["reason"], "rate_limited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_ends_the_session() {
    let app = TestApp::spawn().await;
    let up = EchoUpstream::start().await;
    let id = app.create_app("shop", Some(&up.url())).await;
    app.create_user(&id, "ana@example.com", PW).await;
    let c = app.client("shop.localhost");
    c.sign_in("ana@example.com", PW).await;
    let token = c.session_cookie().unwrap();
    assert_eq!(c.get("/").await.status, 200);

    let out = c.get("/auth/logout").await;
    assert_eq!(out.status, 303);
    assert_eq!(out.header("location"), Some("/auth/logged-out"));
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    let page = c.get("/auth/logged-out").await;
    assert!(page.text.contains("You are signed out"));

    // The old cookie no longer works, even if a client kept it.
    let replay = app.client("shop.localhost");
    let r = replay
        .get_with(
            "/",
            &[
                ("cookie", &format!("gatehouse_session_shop={token}")),
                ("accept", "text/html"),
            ],
        )
        .await;
    assert_eq!(r.status, 303);
    let audit = app
        .api()
        .get(&format!("/api/v1/apps/{id}/audit?action=signout"))
        .await;
    assert_eq!(audit.json.as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cross_site_login_post_is_refused() {
    let app = TestApp::spawn().await;
    let id = app.create_app("shop", None).await;
    app.create_user(&id, "ana@example.com", PW).await;
    let c = app.client("shop.localhost");
    let r = c
        .http()
        .post(format!("{}/auth/login", c.base))
        .header("origin", "https://evil.example")
        .header("sec-fetch-site", "cross-site")
        .header("accept", "text/html")
        .form(&[("email", "ana@example.com"), ("password", PW)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("set-cookie").is_none());
    let text = r.text().await.unwrap();
    assert!(text.contains("sent from another site") && text.contains("Correlation id"));
}
