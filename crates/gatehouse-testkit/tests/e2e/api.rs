use gatehouse_testkit::TestApp;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_refuses_a_missing_or_wrong_admin_token() {
    let app = TestApp::spawn().await;
    for token in [
        None,
        Some("wrong-token-wrong-token"),
        Some("gha_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
    ] {
        let r = app.api_with_token(token).get("/api/v1/apps").await;
        assert_eq!(r.status, 401, "{token:?}");
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
        assert_eq!(r.json["type"], "urn:gatehouse:problem:unauthorized");
    }
    let basic = app.api_with_token(None);
    let r = basic
        .send(
            basic
                .raw(reqwest::Method::GET, "/api/v1/apps")
                .basic_auth("admin", Some("x")),
        )
        .await;
    assert_eq!(r.status, 401);
    // A token made by the CLI's code path works, and is audited by name.
    let (_, token) = app
        .gh
        .admin()
        .create_token("ci", &gatehouse_service::Context::cli())
        .await
        .unwrap();
    use secrecy::ExposeSecret;
    let ci = app.api_with_token(Some(token.expose_secret()));
    let r = ci
        .post(
            "/api/v1/apps",
            &json!({"name": "By CI", "hosts": ["ci.localhost"]}),
        )
        .await;
    assert_eq!(r.status, 201);
    let id = r.json["id"].as_str().unwrap();
    let audit = ci.get(&format!("/api/v1/apps/{id}/audit")).await;
    assert_eq!(audit.json[0]["actor_name"], "admin-token:ci");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_errors_name_the_field_at_fault() {
    let app = TestApp::spawn().await;
    let api = app.api();
    let cases = [
        (json!({"hosts": ["a.localhost"]}), "name"),
        (json!({"name": "A", "hosts": []}), "hosts"),
        (
            json!({"name": "A", "hosts": ["ok.localhost", "https://bad/"]}),
            "hosts[1]",
        ),
        (
            json!({"name": "A", "hosts": ["ok.localhost", "ok.localhost"]}),
            "hosts[1]",
        ),
        (json!({"name": "A", "hosts": ["localhost"]}), "hosts[0]"),
        (
            json!({"name": "A", "hosts": ["a.localhost"], "upstream_url": "ftp://x"}),
            "upstream_url",
        ),
        (
            json!({"name": "A", "hosts": ["a.localhost"], "scheme": "gopher"}),
            "scheme",
        ),
        (
            json!({"name": "A", "hosts": ["a.localhost"], "slug": "Not A Slug"}),
            "slug",
        ),
        (json!({"name": "A", "hosts": "a.localhost"}), "hosts"),
        (
            json!({"name": "A", "hosts": ["a.localhost"], "colour": "red"}),
            "colour",
        ),
    ];
    for (body, field) in cases {
        let r = api.post("/api/v1/apps", &body).await;
        assert_eq!(r.status, 422, "{body}: {}", r.text);
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
        assert_eq!(r.json["field"], field, "{body}: {}", r.text);
        assert_eq!(r.json["errors"][0]["field"], field);
        assert!(r.json["correlation_id"].is_string());
    }
    let malformed = api
        .send(
            api.raw(reqwest::Method::POST, "/api/v1/apps")
                .header("content-type", "application/json")
                .body("{nope"),
        )
        .await;
    assert_eq!(malformed.status, 400);
    let not_json = api
        .send(
            api.raw(reqwest::Method::POST, "/api/v1/apps")
                .body("name=x"),
        )
        .await;
    assert_eq!(not_json.status, 415);

    let id = app.create_app("shop", None).await;
    let sso = format!("/api/v1/apps/{id}/sso/oidc");
    let cases = [
        (
            json!({"enabled": true, "client_id": "c", "client_secret": "s"}),
            "issuer_url",
        ),
        (json!({"issuer_url": "not a url"}), "issuer_url"),
        (
            json!({"issuer_url": "http://idp.example.com"}),
            "issuer_url",
        ),
        (json!({"scopes": "profile email"}), "scopes"),
        (
            json!({"claim_mappings": {"email": ""}}),
            "claim_mappings.email",
        ),
        (
            json!({"claim_mappings": {"first_name": "a..b"}}),
            "claim_mappings.first_name",
        ),
        (
            json!({"claim_mappings": {"other": [{"claim": "dept", "tag": "bad tag"}]}}),
            "claim_mappings.other[0].tag",
        ),
        (
            json!({"enabled": true, "issuer_url": "https://idp.example.com", "client_id": "c"}),
            "client_secret",
        ),
        (
            json!({"token_endpoint_auth_method": "magic"}),
            "token_endpoint_auth_method",
        ),
        (
            json!({"extra": {"auth_params": {"redirect_uri": "https://evil"}}}),
            "extra.auth_params.redirect_uri",
        ),
        (json!({"extra": {"bogus": 1}}), "extra.bogus"),
        (json!({"enabled": "yes"}), "enabled"),
    ];
    for (body, field) in cases {
        let r = api.put(&sso, &body).await;
        assert_eq!(r.status, 422, "{body}: {}", r.text);
        assert_eq!(r.json["field"], field, "{body}: {}", r.text);
    }
    let r = api
        .post(
            &format!("/api/v1/apps/{id}/users"),
            &json!({"email": "nope", "first_name": "", "password": "short"}),
        )
        .await;
    assert_eq!(r.status, 422);
    let fields: Vec<&str> = r.json["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["email", "first_name", "password"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_secret_is_write_only_and_not_in_the_database_file() {
    let app = TestApp::spawn().await;
    let id = app.create_app("shop", None).await;
    let secret = "s3cr3t-Value-that-must-never-leak-7f2c";
    let sso = format!("/api/v1/apps/{id}/sso/oidc");
    let body = json!({
        "enabled": true,
        "issuer_url": "https://idp.example.com/",
        "client_id": "gatehouse-shop",
        "client_secret": secret,
        "claim_mappings": {"other": [{"claim": "department", "tag": "dept"}]},
    });
    let r = app.api().put(&sso, &body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(!r.text.contains(secret));
    assert_eq!(r.json["client_secret_set"], true);
    assert!(r.json.get("client_secret").is_none());
    let got = app.api().get(&sso).await;
    assert!(!got.text.contains(secret));
    assert_eq!(got.json["client_secret_set"], true);
    assert_eq!(got.json["issuer_url"], "https://idp.example.com/");
    assert_eq!(got.json["scopes"], "openid profile email");
    assert_eq!(
        got.json["claim_mappings"],
        json!({"email": "email", "first_name": "given_name", "last_name": "family_name", "other": [{"claim": "department", "tag": "dept"}]})
    );
    assert_eq!(
        got.json["callback_urls"],
        json!([format!(
            "http://shop.localhost:{}/auth/callback",
            app.port()
        )])
    );
    assert_eq!(
        got.json["logout_redirect_urls"],
        json!([format!(
            "http://shop.localhost:{}/auth/logged-out",
            app.port()
        )])
    );
    assert_eq!(
        got.json["backchannel_logout_urls"],
        json!([format!(
            "http://shop.localhost:{}/auth/backchannel-logout",
            app.port()
        )])
    );

    // Saving without a secret keeps it; "" removes it.
    let mut keep = body.clone();
    keep.as_object_mut().unwrap().remove("client_secret");
    assert_eq!(
        app.api().put(&sso, &keep).await.json["client_secret_set"],
        true
    );

    // Nowhere in the database files, nor in the audit log.
    for (name, bytes) in app.data_files() {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the secret is in {name}"
        );
    }
    let audit = app
        .api()
        .get(&format!("/api/v1/apps/{id}/audit?action=sso"))
        .await;
    assert!(!audit.text.contains(secret));
    assert_eq!(audit.json[1]["details"]["client_secret"], "replaced");
    assert_eq!(audit.json[0]["details"]["client_secret"], "unchanged");

    let mut remove = body.clone();
    remove["enabled"] = json!(false);
    remove["client_secret"] = json!("");
    assert_eq!(
        app.api().put(&sso, &remove).await.json["client_secret_set"],
        false
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apps_users_and_audit_round_trip() {
    let app = TestApp::spawn().await;
    let api = app.api();
    let r = api.post("/api/v1/apps", &json!({"name": "Billing EU", "hosts": ["billing.example.com", "billing.localhost:8443"], "upstream_url": "http://127.0.0.1:9"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json["id"].as_str().unwrap().to_owned();
    assert_eq!(r.json["slug"], "billing-eu");
    assert_eq!(r.json["scheme"], "https", "not all hosts are local: https");
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v1/apps/{id}").as_str())
    );

    let conflict = api
        .post(
            "/api/v1/apps",
            &json!({"name": "Billing EU", "hosts": ["other.example.com"]}),
        )
        .await;
    assert_eq!(
        (conflict.status, conflict.json["field"].as_str()),
        (409, Some("slug"))
    );
    let conflict = api
        .post(
            "/api/v1/apps",
            &json!({"name": "X", "hosts": ["billing.example.com"]}),
        )
        .await;
    assert_eq!(
        (conflict.status, conflict.json["field"].as_str()),
        (409, Some("hosts"))
    );

    let r = api
        .patch(
            &format!("/api/v1/apps/{id}"),
            &json!({"name": "Billing", "upstream_url": null}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (r.json["name"].as_str(), r.json["upstream_url"].is_null()),
        (Some("Billing"), true)
    );
    assert_eq!(
        api.get(&format!("/api/v1/apps/{id}")).await.json["name"],
        "Billing"
    );
    assert_eq!(
        api.get("/api/v1/apps").await.json.as_array().unwrap().len(),
        1
    );

    let users = format!("/api/v1/apps/{id}/users");
    let u = api.post(&users, &json!({"email": "Ana@Example.com", "first_name": "Ana", "tags": [{"key": "dept", "value": "R&D"}], "groups": ["eng"]})).await;
    assert_eq!(u.status, 201, "{}", u.text);
    assert_eq!(u.json["has_password"], false);
    assert!(u.json.get("password").is_none());
    let uid = u.json["id"].as_str().unwrap().to_owned();
    assert_eq!(
        api.post(
            &users,
            &json!({"email": "ana@example.com", "first_name": "Twin"})
        )
        .await
        .status,
        409
    );
    api.post(
        &users,
        &json!({"email": "bruno@example.com", "first_name": "Bruno"}),
    )
    .await;
    assert_eq!(
        api.get(&format!("{users}?q=dept%3Dr%26d"))
            .await
            .json
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        api.get(&format!("{users}?q=eng")).await.json[0]["email"],
        "Ana@Example.com"
    );
    let page = api.get(&format!("{users}?limit=1")).await;
    assert_eq!(page.json.as_array().unwrap().len(), 1);
    assert!(page.header("link").unwrap().contains("offset=1"));

    let r = api
        .patch(
            &format!("{users}/{uid}"),
            &json!({"last_name": "Silva", "password": "a-new-password"}),
        )
        .await;
    assert_eq!(
        (
            r.json["last_name"].as_str(),
            r.json["has_password"].as_bool()
        ),
        (Some("Silva"), Some(true))
    );
    assert_eq!(
        api.get(&format!("{users}/{uid}")).await.json["tags"],
        json!([{"key": "dept", "value": "R&D", "source": "admin"}])
    );
    assert_eq!(api.delete(&format!("{users}/{uid}")).await.status, 204);
    assert_eq!(api.get(&format!("{users}/{uid}")).await.status, 404);
    assert_eq!(api.get(&format!("{users}/not-a-uuid")).await.status, 404);

    let audit = api.get(&format!("/api/v1/apps/{id}/audit?limit=3")).await;
    let actions: Vec<&str> = audit
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec!["user.deleted", "user.updated", "user.created"]
    );
    let next = audit.header("link").unwrap();
    let next_path = next.trim_start_matches('<').split('>').next().unwrap();
    let older = api.get(next_path).await;
    let actions: Vec<&str> = older
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, vec!["user.created", "app.updated", "app.created"]);
    assert_eq!(
        api.get(&format!("/api/v1/apps/{id}/audit?since=yesterday"))
            .await
            .json["field"],
        "since"
    );

    assert_eq!(api.delete(&format!("/api/v1/apps/{id}")).await.status, 204);
    assert_eq!(api.get(&format!("/api/v1/apps/{id}")).await.status, 404);
    assert_eq!(api.get("/api/v1/nope").await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_metrics_and_the_openapi_document_answer() {
    let app = TestApp::spawn().await;
    let api = app.api_with_token(None);
    assert_eq!(api.get("/healthz").await.status, 200);
    assert_eq!(api.get("/readyz").await.status, 200);
    // Load balancers probing by address get health too.
    let by_ip = reqwest::get(format!("http://{}/readyz", app.addr))
        .await
        .unwrap();
    assert_eq!(by_ip.status(), 200);

    app.client("nobody.localhost").get("/").await;
    let id = app.create_app("shop", None).await;
    app.create_user(&id, "ana@example.com", "correct-horse-battery")
        .await;
    app.client("shop.localhost")
        .sign_in("ana@example.com", "correct-horse-battery")
        .await;
    let metrics = api.get("/metrics").await;
    assert_eq!(metrics.status, 200);
    for needle in [
        "gatehouse_http_requests_total{route=\"unknown_host\",status=\"404\"} 1",
        "gatehouse_active_sessions 1",
        "gatehouse_proxy_upstream_duration_seconds",
        "gatehouse_signins_total{method=\"password\",outcome=\"succeeded\"} 1",
        "gatehouse_signins_total{method=\"password\",outcome=\"invalid_credentials\"} 0",
    ] {
        assert!(
            metrics.text.contains(needle),
            "metrics lack {needle}:\n{}",
            metrics.text
        );
    }

    let doc = api.get("/api/v1/openapi.json").await;
    assert_eq!(doc.status, 200);
    assert!(doc.json["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc.json["paths"].as_object().unwrap();
    for p in [
        "/api/v1/apps",
        "/api/v1/apps/{id}",
        "/api/v1/apps/{id}/sso/oidc",
        "/api/v1/apps/{id}/users",
        "/api/v1/apps/{id}/users/{user_id}",
        "/api/v1/apps/{id}/sessions",
        "/api/v1/apps/{id}/sessions/{session_id}",
        "/api/v1/apps/{id}/audit",
    ] {
        assert!(paths.contains_key(p), "openapi lacks {p}");
    }
    let schemas = doc.json["components"]["schemas"].as_object().unwrap();
    assert!(
        schemas["OidcSettingsInput"]["properties"]["client_secret"]["writeOnly"]
            .as_bool()
            .unwrap_or(false)
    );
    assert!(
        !schemas["SsoOidcView"]["properties"]
            .as_object()
            .unwrap()
            .contains_key("client_secret")
    );
}
