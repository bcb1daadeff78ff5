//! API access with bearer tokens issued by the test IdP: accepted and
//! proxied with identity headers, no session made; expired, wrong-audience,
//! wrong-issuer, `alg: none`, tampered and foreign-key tokens refused with
//! 401; the algorithm allow-list and a configured PEM key honoured.

use gatehouse_testkit::idp::client_for;
use gatehouse_testkit::sso::{SECRET, Sso};
use gatehouse_testkit::{AppClient, TestApp, TestIdp};
use serde_json::{Value, json};

pub(crate) const API: &str = "https://api.shop.example";
pub(crate) const CLI_SECRET: &str = "cli-client-secret-0123456789abcdef";

/// SSO for `shop`, plus a client-credentials client `ci-bot` whose JWT
/// access tokens for [`API`] carry an e-mail, a name and groups.
pub(crate) async fn setup() -> Sso {
    let app = TestApp::spawn().await;
    let base = format!("http://shop.localhost:{}", app.port());
    let idp = json!({
        "resource": API,
        "clients": [
            client_for("shop", SECRET, &base, "client_secret_basic"),
            {
                "client_id": "ci-bot", "client_secret": CLI_SECRET,
                "grant_types": ["client_credentials"], "redirect_uris": [], "response_types": [],
            },
        ],
        "tokenClaims": {"ci-bot": {"email": "ci-bot@example.com", "given_name": "CI", "groups": ["eng"]}},
    });
    Sso::with_app(app, idp, json!({}), json!({})).await
}

pub(crate) async fn put_api(sso: &Sso, body: Value) -> gatehouse_testkit::client::Resp {
    sso.app
        .api()
        .put(&format!("/api/v1/apps/{}/api-access", sso.app_id), &body)
        .await
}

async fn call(c: &AppClient, token: &str) -> gatehouse_testkit::client::Resp {
    c.get_with(
        "/api/orders",
        &[
            ("authorization", &format!("Bearer {token}")),
            ("accept", "application/json"),
        ],
    )
    .await
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_tokens_from_the_idp_are_accepted_without_a_session() {
    let sso = setup().await;
    let r = put_api(&sso, json!({"enabled": true, "audience": API})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let token = sso.idp.client_credentials("ci-bot", CLI_SECRET, API).await;
    let c = sso.client();

    let r = call(&c, &token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let h = &r.json["headers"];
    assert_eq!(h["x-auth-request-email"], json!(["ci-bot@example.com"]));
    assert_eq!(h["x-auth-request-first-name"], json!(["CI"]));
    assert_eq!(h["x-auth-request-groups"], json!(["eng"]));
    assert_eq!(h["x-auth-request-roles"], json!(["member"]));
    assert!(h["x-gatehouse-assertion"][0].as_str().is_some());
    assert!(r.header("set-cookie").is_none(), "no session cookie");
    // Again (from the cache), then the user is listed but has no session.
    assert_eq!(call(&c, &token).await.status, 200);
    let users = sso.users().await;
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["email"], "ci-bot@example.com");
    assert_eq!(users[0]["identities"][0]["subject"], "ci-bot");
    let sessions = sso
        .app
        .api()
        .get(&format!("/api/v1/apps/{}/sessions", sso.app_id))
        .await;
    assert_eq!(
        sessions.json.as_array().map(Vec::len),
        Some(0),
        "{}",
        sessions.text
    );

    // Forward-auth answers bearer callers too.
    let v = c
        .get_with(
            "/auth/verify",
            &[("authorization", &format!("Bearer {token}"))],
        )
        .await;
    assert_eq!(v.status, 200, "{}", v.text);
    assert_eq!(v.header("x-auth-request-email"), Some("ci-bot@example.com"));

    // Grants decide for bearer callers as for sessions: take the default role away.
    let r = sso
        .app
        .api()
        .put(&format!("/api/v1/apps/{}/access", sso.app_id), &json!({}))
        .await;
    assert_eq!(r.status, 200);
    let r = call(&c, &token).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.json["type"], "urn:gatehouse:problem:no_access");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_are_refused_with_401() {
    let sso = setup().await;
    let r = put_api(&sso, json!({"enabled": true, "audience": API})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let idp: &TestIdp = &sso.idp;
    let c = sso.client();
    let good = json!({"sub": "svc-1", "aud": API, "email": "svc@example.com", "given_name": "Svc"});
    let sign = |claims: Value, tamper: Option<&'static str>| {
        let mut all = good.clone();
        for (k, v) in claims.as_object().unwrap() {
            all[k] = v.clone();
        }
        async move { idp.sign_token(all, tamper).await }
    };

    let ok = sign(json!({}), None).await;
    assert_eq!(call(&c, &ok).await.status, 200, "the control token passes");

    let cases = [
        (
            "expired",
            sign(json!({"iat": now() - 7200, "exp": now() - 3600}), None).await,
            "exp",
        ),
        (
            "not yet valid",
            sign(json!({"nbf": now() + 3600}), None).await,
            "nbf",
        ),
        ("no expiry", sign(json!({"exp": null}), None).await, "exp"),
        (
            "wrong audience",
            sign(json!({"aud": "https://other.example"}), None).await,
            "aud",
        ),
        (
            "the client id as audience",
            sign(json!({"aud": "shop"}), None).await,
            "aud",
        ),
        (
            "wrong issuer",
            sign(json!({"iss": "https://evil.example"}), None).await,
            "iss",
        ),
        ("alg none", sign(json!({}), Some("alg_none")).await, "alg"),
        ("HS256", sign(json!({}), Some("hs256")).await, "alg"),
        (
            "tampered",
            sign(json!({}), Some("bad_signature")).await,
            "signature",
        ),
        (
            "foreign key",
            sign(json!({}), Some("foreign_key")).await,
            "signature",
        ),
        ("not a JWT", "abc.def".to_owned(), "format"),
    ];
    for (what, token, check) in &cases {
        let r = call(&c, token).await;
        assert_eq!(r.status, 401, "{what}: {}", r.text);
        let challenge = r.header("www-authenticate").unwrap_or_default();
        assert!(
            challenge.starts_with("Bearer error=\"invalid_token\""),
            "{what}: {challenge}"
        );
        let detail = r.json["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(&format!("{check}:")), "{what}: {detail}");
        assert!(r.json["headers"].is_null(), "{what}: never proxied");
    }
    let users = sso.users().await;
    assert_eq!(users.len(), 1, "only the control token made a user");

    // The allow-list: RS256 tokens refused once only ES256 is allowed.
    let r = put_api(
        &sso,
        json!({"enabled": true, "audience": API, "algorithms": ["ES256"]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = call(&c, &ok).await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(r.json["detail"].as_str().unwrap().contains("allow-list"));

    // Turned off: the token is not looked at; the caller is simply not signed in.
    let r = put_api(&sso, json!({"enabled": false})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = call(&c, &ok).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json["type"], "urn:gatehouse:problem:unauthenticated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_are_validated_and_a_pem_key_can_replace_the_jwks() {
    let sso = setup().await;
    for (body, field) in [
        (
            json!({"enabled": true, "algorithms": ["none"]}),
            "algorithms[0]",
        ),
        (
            json!({"enabled": true, "algorithms": ["HS256"]}),
            "algorithms[0]",
        ),
        (json!({"enabled": true, "issuer": "not a url"}), "issuer"),
        (
            json!({"enabled": true, "public_key_pem": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"}),
            "public_key_pem",
        ),
        (json!({"enabled": true, "surprise": 1}), ""),
    ] {
        let r = put_api(&sso, body.clone()).await;
        assert!(
            r.status == 422 || r.status == 400,
            "{body}: {} {}",
            r.status,
            r.text
        );
        if !field.is_empty() {
            assert_eq!(r.json["errors"][0]["field"], field, "{}", r.text);
        }
    }
    let pem = sso.idp.pem_key().await;
    let r = put_api(
        &sso,
        json!({"enabled": true, "audience": API, "public_key_pem": pem, "algorithms": ["ES256"]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["public_key_pem"], pem.trim());
    let c = sso.client();
    let claims =
        json!({"sub": "svc-2", "aud": API, "email": "svc2@example.com", "given_name": "Two"});
    let with_pem = sso.idp.sign_token_with_pem_key(claims.clone()).await;
    let r = call(&c, &with_pem).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json["headers"]["x-auth-request-email"],
        json!(["svc2@example.com"])
    );
    // The IdP's own keys are not the configured key.
    let with_jwks = sso.idp.sign_token(claims, None).await;
    assert_eq!(call(&c, &with_jwks).await.status, 401);
    let audit = sso.audit("api_access").await;
    assert!(!audit.is_empty(), "changes are audited");
    assert!(!audit[0].to_string().contains("BEGIN PUBLIC KEY"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_without_identity_claims_name_users_who_signed_in_before() {
    let sso = setup().await;
    let r = put_api(&sso, json!({"enabled": true, "audience": API})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let c = sso.client();
    // An access token with only a subject: alice has not signed in yet.
    let token = sso
        .idp
        .sign_token(json!({"sub": "alice", "aud": API}), None)
        .await;
    let r = call(&c, &token).await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(
        r.json["detail"].as_str().unwrap().contains("email"),
        "{}",
        r.text
    );
    // After she signs in through the browser once, her tokens work.
    let (_browser, signed_in) = sso.sign_in("alice").await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.text);
    let token = sso
        .idp
        .sign_token(json!({"sub": "alice", "aud": API}), None)
        .await;
    let r = call(&c, &token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json["headers"]["x-auth-request-email"],
        json!(["alice@example.com"])
    );
    assert_eq!(
        r.json["headers"]["x-auth-request-groups"],
        json!(["admins,eng"])
    );
}
