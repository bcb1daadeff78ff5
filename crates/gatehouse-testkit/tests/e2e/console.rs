//! The admin console in a real headless Chromium: the operator's whole path.

use gatehouse_testkit::browser::Browser;
use gatehouse_testkit::idp::client_for;
use gatehouse_testkit::sso::SECRET;
use gatehouse_testkit::{EchoUpstream, TestApp, TestIdp};
use serde_json::json;

/// Every page the test visits must not contain the client secret.
async fn no_secret(b: &Browser) {
    let html = b.source().await;
    assert!(
        !html.contains(SECRET),
        "the client secret is in the page at {}",
        b.url().await
    );
}

async fn wait_for_path(b: &Browser, path: &str) {
    for _ in 0..100 {
        if b.url().await.path() == path {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("expected {path}, at {}", b.url().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_sets_up_sso_in_the_console_and_follows_a_user_through_it() {
    let app = TestApp::spawn().await;
    let up = EchoUpstream::start().await;
    let port = app.port();
    let shop_base = format!("http://shop.localhost:{port}");
    let idp = TestIdp::start(
        json!({"clients": [client_for("shop", SECRET, &shop_base, "client_secret_basic")]}),
    )
    .await;
    let console = format!("http://localhost:{port}");
    let b = Browser::start().await;

    // First run: the setup link creates the first administrator.
    let token = app
        .gh
        .admin()
        .setup_token()
        .await
        .unwrap()
        .expect("a setup token while there is no admin");
    use secrecy::ExposeSecret;
    b.goto(&format!(
        "{console}/admin/setup?token={}",
        token.expose_secret()
    ))
    .await;
    b.screenshot("console-01-setup").await;
    b.fill("#name", "Olga Operator").await;
    b.fill("#email", "olga@example.com").await;
    b.fill("#password", "a-long-admin-password").await;
    b.click_and_load("#submit").await;
    wait_for_path(&b, "/admin/apps").await;
    assert!(b.text().await.contains("No applications yet"));
    b.screenshot("console-02-apps-empty").await;

    // Create an application.
    b.click("a[href='/admin/apps/new']").await;
    b.fill("#name", "Shop").await;
    b.fill("#hosts", &format!("shop.localhost:{port}")).await;
    b.fill("#upstream_url", &up.url()).await;
    b.screenshot("console-03-new-app").await;
    b.click_and_load("#save-app").await;
    b.wait("#sso-form").await;
    assert!(b.url().await.path().ends_with("/sso"));
    assert!(b.text().await.contains("Application created"));
    let app_path = b.url().await.path().trim_end_matches("/sso").to_owned();
    let app_id = app_path.rsplit('/').next().unwrap().to_owned();

    // The SSO OIDC page: the callback URLs are there to copy.
    let text = b.text().await;
    assert!(
        b.source()
            .await
            .contains(&format!("{shop_base}/auth/callback"))
    );
    assert!(
        text.contains("Callback URLs")
            && text.contains("Logout Redirect URLs")
            && text.contains("Claim Mappings")
    );
    b.screenshot("console-04-sso-empty").await;

    // A validation error is shown next to its field, and the input is kept.
    b.click("#enabled").await;
    b.fill("#issuer_url", "not a url").await;
    b.fill("#client_id", "shop").await;
    b.click_and_load("#save").await;
    let err = b.wait("#issuer_url-error").await.text().await.unwrap();
    assert!(err.contains("absolute URL"), "{err}");
    assert_eq!(
        b.wait("#client_id")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("shop")
    );
    b.screenshot("console-05-sso-validation").await;

    // Fill it in properly, with an other-claim mapping.
    b.fill("#issuer_url", &idp.issuer).await;
    b.fill("#client_secret", SECRET).await;
    b.fill("#scopes", "openid profile email groups custom")
        .await;
    b.click("#other-mappings summary").await;
    b.fill(
        "#other-rows tr:nth-child(1) input[name=other_claim]",
        "department",
    )
    .await;
    b.fill("#other-rows tr:nth-child(1) input[name=other_tag]", "dept")
        .await;
    b.click_and_load("#save").await;
    b.wait(".notice.ok").await;
    assert!(b.text().await.contains("Saved."));
    assert_eq!(b.wait("#secret-status").await.text().await.unwrap(), "Set");
    no_secret(&b).await;
    b.screenshot("console-06-sso-saved").await;
    b.screenshot_phone("console-06-sso-saved-phone").await;

    // Add another mapping with the "Add a row" button (the section stays open once it has mappings).
    assert!(
        b.wait("#other-mappings")
            .await
            .attr("open")
            .await
            .unwrap()
            .is_some()
    );
    b.click("#add-row").await;
    let rows = b
        .client
        .find_all(fantoccini::Locator::Css("#other-rows tr"))
        .await
        .unwrap()
        .len();
    assert!(rows >= 3);
    b.fill(
        &format!("#other-rows tr:nth-child({rows}) input[name=other_claim]"),
        "level",
    )
    .await;
    b.fill(
        &format!("#other-rows tr:nth-child({rows}) input[name=other_tag]"),
        "level",
    )
    .await;
    b.click_and_load("#save").await;
    b.wait(".notice.ok").await;
    let sso = app
        .api()
        .get(&format!("/api/v1/apps/{app_id}/sso/oidc"))
        .await;
    assert_eq!(sso.json["enabled"], true);
    assert_eq!(
        sso.json["claim_mappings"]["other"],
        json!([{"claim": "department", "tag": "dept"}, {"claim": "level", "tag": "level"}])
    );

    // Test connection.
    b.click_and_load("#test-connection").await;
    let result = b.wait("#test-result").await.text().await.unwrap();
    assert_eq!(result, "The connection works.");
    assert!(b.text().await.contains("discovery"));
    no_secret(&b).await;
    b.screenshot("console-07-test-connection").await;

    // Access: nobody may use the application until a role is granted; grant it to the group eng.
    b.goto(&format!("{console}/admin/apps/{app_id}/access"))
        .await;
    assert!(b.text().await.contains("No grants yet"));
    b.fill("#role", "member").await;
    b.client
        .find(fantoccini::Locator::Css("#kind"))
        .await
        .unwrap()
        .select_by_value("group")
        .await
        .unwrap();
    b.fill("#value", "eng").await;
    b.click_and_load("#grant").await;
    assert!(
        b.wait("#grants")
            .await
            .text()
            .await
            .unwrap()
            .contains("group eng")
    );
    b.screenshot("console-07b-access").await;

    // Bearer tokens: a bad issuer is named next to its field, then saved.
    b.client
        .find(fantoccini::Locator::Css("#api-enabled"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.fill("#api-audience", "https://api.shop.example").await;
    b.fill("#api-issuer", "ftp://nope").await;
    b.click_and_load("#save-api").await;
    let text = b.text().await;
    assert!(text.contains("Not saved"), "{text}");
    assert!(text.contains("must be an https URL"), "{text}");
    b.screenshot("console-07c-api-access-error").await;
    b.fill("#api-issuer", "").await;
    b.click_and_load("#save-api").await;
    assert!(b.text().await.contains("Bearer-token settings saved."));
    let api = app
        .api()
        .get(&format!("/api/v1/apps/{app_id}/api-access"))
        .await;
    assert_eq!(api.json["enabled"], true, "{}", api.text);
    assert_eq!(api.json["audience"], "https://api.shop.example");
    b.screenshot("console-07c-api-access").await;
    b.goto(&format!("{console}/admin/apps/{app_id}/sso")).await;

    // Try sign-in: opens the IdP in a new tab and shows the claims and mappings, without a session.
    // alice's userinfo also points to an aggregated claim and to distributed
    // claims on a host the settings do not allow.
    let idp_port = idp.issuer.rsplit(':').next().unwrap().to_owned();
    idp.claim_sources(
        "alice",
        json!({"aggregated": {"clearance": "secret"}, "distributed": {"team": "blue"},
               "host": format!("localhost:{idp_port}")}),
    )
    .await;
    let main_window = b.client.window().await.unwrap();
    b.click("#try-sign-in").await;
    let mut windows = Vec::new();
    for _ in 0..50 {
        windows = b.client.windows().await.unwrap();
        if windows.len() > 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let try_window = windows
        .into_iter()
        .find(|w| *w != main_window)
        .expect("a new tab");
    b.client.switch_to_window(try_window).await.unwrap();
    b.fill("#login", "alice").await;
    b.fill("#password", "any").await;
    b.click_and_load("#submit").await;
    let mapped = b.wait("#mapped").await.text().await.unwrap();
    assert!(
        mapped.contains("alice@example.com")
            && mapped.contains("tag dept")
            && mapped.contains("R&D"),
        "{mapped}"
    );
    assert!(
        mapped.contains("tag level") && mapped.contains('3'),
        "{mapped}"
    );
    assert_eq!(
        b.wait("#roles").await.text().await.unwrap(),
        "member",
        "the roles alice would have"
    );
    assert!(
        b.wait("#claims")
            .await
            .text()
            .await
            .unwrap()
            .contains("\"department\"")
    );
    let sources = b.wait("#claim-sources").await.text().await.unwrap();
    assert!(
        sources.contains("src1") && sources.contains("resolved"),
        "{sources}"
    );
    assert!(
        sources.contains("src2")
            && sources.contains("left out")
            && sources.contains("claim_source_hosts"),
        "{sources}"
    );
    no_secret(&b).await;
    b.screenshot("console-08-try-sign-in").await;
    b.client.close_window().await.unwrap();
    b.client.switch_to_window(main_window).await.unwrap();
    let users = app.api().get(&format!("/api/v1/apps/{app_id}/users")).await;
    assert_eq!(users.json, json!([]), "Try sign-in creates no user");
    let sessions = app
        .api()
        .get(&format!("/api/v1/apps/{app_id}/sessions"))
        .await;
    assert_eq!(sessions.json, json!([]), "and no session");

    // A user signs in to the application (alice's IdP session lets her straight through).
    b.goto(&format!("{shop_base}/welcome")).await;
    wait_for_path(&b, "/welcome").await;
    assert!(b.source().await.contains("alice@example.com"));

    // The Users page finds her with her tags; her page shows the session, which the operator revokes.
    b.goto(&format!(
        "{console}/admin/apps/{app_id}/users?q=dept%3DR%26D"
    ))
    .await;
    let table = b.wait("#users").await.text().await.unwrap();
    assert!(
        table.contains("alice@example.com") && table.contains("dept=R&D"),
        "{table}"
    );
    no_secret(&b).await;
    b.screenshot("console-09-users").await;
    b.click_and_load("#users a").await;
    let tags = b.wait("#tags").await.text().await.unwrap();
    assert!(
        tags.contains("dept") && tags.contains("R&D") && tags.contains("idp"),
        "{tags}"
    );
    assert!(
        b.wait("#user-sessions")
            .await
            .text()
            .await
            .unwrap()
            .contains("oidc")
    );
    b.screenshot("console-10-user").await;
    b.click_and_load("#revoke-all").await;
    assert!(b.text().await.contains("Sessions revoked."));
    let sessions = app
        .api()
        .get(&format!("/api/v1/apps/{app_id}/sessions"))
        .await;
    assert_eq!(sessions.json, json!([]), "revoked");
    no_secret(&b).await;

    // Every step is in the audit log.
    b.goto(&format!("{console}/admin/apps/{app_id}/audit"))
        .await;
    let audit = b.wait("#audit").await.text().await.unwrap();
    for action in [
        "app.created",
        "sso.updated",
        "sso.connection_tested",
        "grant.created",
        "sso.try_signin",
        "user.created",
        "signin.succeeded",
        "user.sessions_revoked",
    ] {
        assert!(
            audit.contains(action),
            "{action} missing from the audit log:\n{audit}"
        );
    }
    assert!(audit.contains("admin:olga@example.com"));
    no_secret(&b).await;
    b.screenshot("console-11-audit").await;
    // Filtered by type.
    b.goto(&format!(
        "{console}/admin/apps/{app_id}/audit?action=signin"
    ))
    .await;
    let signins = b.wait("#audit").await.text().await.unwrap();
    assert!(
        signins.contains("signin.succeeded") && !signins.contains("sso.updated"),
        "{signins}"
    );

    // The application list shows it with SSO on.
    b.goto(&format!("{console}/admin/apps")).await;
    assert!(b.text().await.contains("SSO OIDC"));
    b.screenshot("console-12-apps").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_forms_refuse_cross_site_posts_and_need_a_session() {
    let app = TestApp::spawn().await;
    app.gh
        .admin()
        .create(
            "olga@example.com",
            "Olga",
            Some("a-long-admin-password".to_owned().into()),
            &gatehouse_service::Context::cli(),
        )
        .await
        .unwrap();
    let c = app.client("localhost");
    // Without a session: sent to sign in.
    let r = c.get("/admin/apps").await;
    assert_eq!(r.status, 303);
    assert_eq!(
        r.header("location"),
        Some("/admin/login?rd=%2Fadmin%2Fapps")
    );
    // Wrong password: the same message as an unknown e-mail.
    let r = c
        .post_form(
            "/admin/login",
            &[("email", "olga@example.com"), ("password", "wrong-wrong")],
        )
        .await;
    assert_eq!(r.status, 401);
    assert!(r.text.contains("not correct"));
    let r = c
        .post_form(
            "/admin/login",
            &[
                ("email", "olga@example.com"),
                ("password", "a-long-admin-password"),
                ("rd", "/admin/apps/new"),
            ],
        )
        .await;
    assert_eq!(
        (r.status, r.header("location")),
        (303, Some("/admin/apps/new"))
    );
    let cookie = r.header("set-cookie").unwrap();
    assert!(
        cookie.contains("gatehouse_admin=")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Lax")
    );
    assert_eq!(c.get("/admin/apps").await.status, 200);
    // A cross-site form post is refused, and nothing is created.
    let r = c
        .http()
        .post(format!("{}/admin/apps/new", c.base))
        .header("origin", "https://evil.example")
        .header("sec-fetch-site", "cross-site")
        .header("accept", "text/html")
        .form(&[("name", "Evil"), ("hosts", "evil.localhost")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("sent from another site"));
    assert_eq!(app.api().get("/api/v1/apps").await.json, json!([]));
    // The same post from the console itself works.
    let r = c
        .post_form(
            "/admin/apps/new",
            &[("name", "Good"), ("hosts", "good.localhost")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    // Signing out ends the console session.
    let r = c.post_form("/admin/logout", &[]).await;
    assert_eq!(r.status, 303);
    assert_eq!(c.get("/admin/apps").await.status, 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administrators_sign_in_to_the_console_through_sso_and_the_password_stays_as_break_glass() {
    let app = TestApp::spawn().await;
    let console = format!("http://localhost:{}", app.port());
    let client = json!({
        "client_id": "console", "client_secret": SECRET,
        "redirect_uris": [format!("{console}/admin/auth/callback")],
        "grant_types": ["authorization_code"],
    });
    let idp = TestIdp::start(json!({"clients": [client]})).await;
    app.gh
        .admin()
        .create(
            "alice@example.com",
            "Alice",
            Some("break-glass-password".to_owned().into()),
            &gatehouse_service::Context::cli(),
        )
        .await
        .unwrap();
    let r = app
        .api()
        .put("/api/v1/admin/sso/oidc", &json!({"enabled": true, "issuer_url": idp.issuer, "client_id": "console", "client_secret": SECRET}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json["callback_urls"],
        json!([format!("{console}/admin/auth/callback")])
    );
    assert_eq!(r.json["client_secret_set"], true);

    // alice (an administrator, e-mail verified at the IdP) signs in through the IdP.
    let c = app.client("localhost");
    let page = c.get("/admin/login?rd=%2Fadmin%2Fsettings%2Fsso").await;
    assert!(page.text.contains("Sign in with your organisation"));
    let start = c
        .get("/admin/auth/login?rd=%2Fadmin%2Fsettings%2Fsso")
        .await;
    assert_eq!(start.status, 303);
    let back = idp
        .browser()
        .authorize(start.header("location").unwrap(), Some("alice"))
        .await;
    let r = c.get(back.strip_prefix(&console).unwrap()).await;
    assert_eq!(
        (r.status, r.header("location")),
        (303, Some("/admin/settings/sso")),
        "{}",
        r.text
    );
    assert_eq!(c.get("/admin/settings/sso").await.status, 200);
    let audit = app
        .gh
        .admin()
        .all_audit(gatehouse_store::AuditQuery {
            limit: 20,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(audit.iter().any(|e| e.action == "admin.identity_linked"));
    assert!(
        audit
            .iter()
            .any(|e| e.action == "admin.signin" && e.details["method"] == "oidc")
    );

    // dave signs in at the IdP but is no administrator: refused.
    let b = app.client("localhost");
    let start = b.get("/admin/auth/login").await;
    let back = idp
        .browser()
        .authorize(start.header("location").unwrap(), Some("dave"))
        .await;
    let r = b.get(back.strip_prefix(&console).unwrap()).await;
    assert_eq!(r.status, 403);
    assert!(r.text.contains("not an administrator"));
    assert_eq!(b.get("/admin/apps").await.status, 303);

    // Break-glass: the password still works.
    let g = app.client("localhost");
    let r = g
        .post_form(
            "/admin/login",
            &[
                ("email", "alice@example.com"),
                ("password", "break-glass-password"),
            ],
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(g.get("/admin/apps").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_sets_up_provisioning_and_sees_where_each_group_came_from() {
    let app = TestApp::spawn().await;
    let port = app.port();
    let app_id = app.create_app("shop", None).await;
    app.gh
        .admin()
        .create(
            "olga@example.com",
            "Olga",
            Some("a-long-admin-password".to_owned().into()),
            &gatehouse_service::Context::cli(),
        )
        .await
        .unwrap();
    let console = format!("http://localhost:{port}");
    let b = Browser::start().await;
    b.goto(&format!(
        "{console}/admin/login?rd=/admin/apps/{app_id}/provisioning"
    ))
    .await;
    b.fill("#email", "olga@example.com").await;
    b.fill("#password", "a-long-admin-password").await;
    b.click_and_load("#submit").await;
    wait_for_path(&b, &format!("/admin/apps/{app_id}/provisioning")).await;
    let base = format!("http://shop.localhost:{port}/auth/scim/v2");
    assert!(b.source().await.contains(&base), "the base URL to copy");
    assert!(b.text().await.contains("No SCIM tokens yet"));
    b.screenshot("console-20-provisioning-empty").await;

    // A token, shown once.
    b.fill("#token-name", "okta").await;
    b.click_and_load("#create-token").await;
    let token = b
        .wait("#token-value")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(token.starts_with("ghscim_"), "{token}");
    b.screenshot("console-21-provisioning-new-token").await;
    b.goto(&format!("{console}/admin/apps/{app_id}/provisioning"))
        .await;
    assert!(
        !b.source().await.contains(&token),
        "the token is shown only once"
    );

    // A mapping that cannot be: named at its field, the input kept.
    b.fill(
        "#attribute-rows tr:last-child input[name=attribute]",
        "shoeSize",
    )
    .await;
    b.fill("#attribute-rows tr:last-child input[name=tag]", "shoe")
        .await;
    b.click_and_load("#save-provisioning").await;
    assert!(
        b.text().await.contains("is not an attribute"),
        "{}",
        b.text().await
    );
    b.screenshot("console-22-provisioning-mapping-error").await;
    b.fill(
        "#attribute-rows tr:nth-last-child(2) input[name=attribute]",
        "",
    )
    .await;
    b.fill("#attribute-rows tr:nth-last-child(2) input[name=tag]", "")
        .await;
    b.fill(
        "#attribute-rows tr:nth-child(1) input[name=tag]",
        "job-title",
    )
    .await;
    b.fill("#link_claim", "oid").await;
    b.click_and_load("#save-provisioning").await;
    assert!(b.text().await.contains("Saved"), "{}", b.text().await);
    let settings = app
        .api()
        .get(&format!("/api/v1/apps/{app_id}/scim/settings"))
        .await;
    assert_eq!(settings.json["link_claim"], "oid");
    assert_eq!(settings.json["attribute_tags"][0]["tag"], "job-title");
    assert_eq!(
        settings.json["attribute_tags"].as_array().map(Vec::len),
        Some(11)
    );

    // The IdP provisions a user into a group; an administrator adds another group.
    let c = app.client("shop.localhost");
    let send = |method: reqwest::Method, path: &str, body: serde_json::Value| {
        c.http()
            .request(method, format!("{}/auth/scim/v2{path}", c.base))
            .bearer_auth(&token)
            .header("content-type", "application/scim+json")
            .body(body.to_string())
            .send()
    };
    let made: serde_json::Value = send(
        reqwest::Method::POST,
        "/Users",
        json!({"userName": "pia@example.com", "name": {"givenName": "Pia", "familyName": "Lund"},
               "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Ops"}}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let uid = made["id"].as_str().unwrap().to_owned();
    let g = send(
        reqwest::Method::POST,
        "/Groups",
        json!({"displayName": "ops-team", "members": [{"value": uid}]}),
    )
    .await
    .unwrap();
    assert_eq!(g.status(), 201);
    let r = app
        .api()
        .patch(
            &format!("/api/v1/apps/{app_id}/users/{uid}"),
            &json!({"groups": ["reviewers"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    b.goto(&format!("{console}/admin/apps/{app_id}/users/{uid}"))
        .await;
    let text = b.text().await;
    assert!(
        text.contains("ops-team scim") && text.contains("reviewers admin"),
        "{text}"
    );
    assert!(
        text.contains("provisioned (SCIM userName pia@example.com"),
        "{text}"
    );
    b.screenshot("console-23-user-provisioned").await;

    // Deactivated by provisioning: the user page says so.
    let r = send(
        reqwest::Method::PATCH,
        &format!("/Users/{uid}"),
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
               "Operations": [{"op": "replace", "path": "active", "value": false}]}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    b.goto(&format!("{console}/admin/apps/{app_id}/users/{uid}"))
        .await;
    assert!(b.text().await.contains("deactivated by provisioning"));
    b.screenshot("console-25-user-deactivated").await;

    // Revoking the token refuses it.
    b.goto(&format!("{console}/admin/apps/{app_id}/provisioning"))
        .await;
    b.click_and_load("#tokens button[type=submit]").await;
    assert!(b.text().await.contains("Token revoked"));
    b.screenshot("console-24-provisioning-revoked").await;
    let r = send(reqwest::Method::GET, "/Users", json!({}))
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}
