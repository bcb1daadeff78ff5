//! Sign-in through the real test IdP (npm oidc-provider).

use gatehouse_testkit::sso::Sso;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_through_the_idp_creates_the_user_with_tags_and_groups() {
    let sso = Sso::start().await;
    let (c, r) = sso.sign_in("alice").await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(r.header("location"), Some("/home"));
    assert!(c.session_cookie().is_some());

    let proxied = c.get("/home").await;
    assert_eq!(proxied.status, 200, "{}", proxied.text);
    let h = &proxied.json["headers"];
    assert_eq!(h["x-auth-request-email"], json!(["alice@example.com"]));
    assert_eq!(h["x-auth-request-first-name"], json!(["Alice"]));
    assert_eq!(h["x-auth-request-groups"], json!(["admins,eng"]));

    let users = sso.users().await;
    assert_eq!(users.len(), 1);
    let u = &users[0];
    assert_eq!(u["email"], "alice@example.com");
    assert_eq!(u["last_name"], "Liddell");
    assert_eq!(u["groups"], json!(["admins", "eng"]));
    assert_eq!(
        u["identities"],
        json!([{"issuer": sso.idp.issuer, "subject": "alice"}])
    );
    let tags: Vec<(String, String)> = u["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["key"].as_str().unwrap().to_owned(),
                t["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expect: Vec<(String, String)> = [
        ("admin", "true"),
        ("city", "Porto"),
        ("dept", "R&D"),
        ("level", "3"),
        ("project", "apollo"),
        ("project", "gemini"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    assert_eq!(tags, expect);
    let audit = sso.audit("signin").await;
    assert_eq!(audit[0]["action"], "signin.succeeded");
    assert_eq!(audit[0]["details"]["method"], "oidc");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_required_claim_names_the_claim_and_mapping_and_creates_no_session() {
    let sso = Sso::start().await;
    // bob has no given_name.
    let (c, r) = sso.sign_in("bob").await;
    assert_eq!(r.status, 403);
    assert!(
        r.text.contains("given_name") && r.text.contains("First Name"),
        "{}",
        r.text
    );
    assert!(r.text.contains("Claim Mappings"));
    assert!(r.text.contains(r.header("x-request-id").unwrap()));
    assert!(c.session_cookie().is_none());
    assert!(sso.users().await.is_empty());
    let audit = sso.audit("signin.failed").await;
    assert_eq!(audit[0]["details"]["reason"], "missing_claim");
    assert_eq!(audit[0]["details"]["claim"], "given_name");
    assert_eq!(audit[0]["details"]["mapping"], "First Name");
    // Fixing the mapping lets bob in.
    let body = json!({"enabled": true, "issuer_url": sso.idp.issuer, "client_id": "shop",
                      "scopes": "openid profile email", "claim_mappings": {"first_name": "family_name"}});
    assert_eq!(
        sso.app
            .api()
            .put(&format!("/api/v1/apps/{}/sso/oidc", sso.app_id), &body)
            .await
            .status,
        200
    );
    let (_, r) = sso.sign_in("bob").await;
    assert_eq!(r.status, 303, "{}", r.text);
}

/// Sign in while the IdP misbehaves once; the sign-in must be refused with no session.
async fn refused(sso: &Sso, mode: &str) -> (u16, String) {
    sso.idp.misbehave(mode, Some("shop")).await;
    let (c, r) = sso.sign_in("alice").await;
    assert!(
        c.session_cookie().is_none(),
        "{mode}: a session was created"
    );
    assert_eq!(
        c.get("/home").await.status,
        303,
        "{mode}: the app is reachable"
    );
    (r.status, r.text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_misbehaviour_of_the_idp_ends_in_a_refused_sign_in() {
    let sso = Sso::start().await;
    let cases = [
        ("wrong_iss", "iss"),
        ("wrong_aud", "aud"),
        ("multi_aud_no_azp", "azp"),
        ("azp_mismatch", "azp"),
        ("expired", "exp"),
        ("future", "iat"),
        ("no_iat", "iat"),
        ("no_sub", "sub"),
        ("bad_signature", "signature"),
        ("alg_none", "alg"),
        ("wrong_nonce", "nonce"),
        ("bad_at_hash", "at_hash"),
        ("hs256_wrong_secret", "signature"),
        ("unknown_kid", "kid"),
        ("userinfo_sub_mismatch", "userinfo_sub"),
    ];
    for (mode, check) in cases {
        let (status, text) = refused(&sso, mode).await;
        assert_eq!(status, 502, "{mode}: {text}");
        assert!(text.contains("refused it because"), "{mode}: {text}");
        assert!(
            text.contains(check),
            "{mode} should fail the {check} check: {text}"
        );
    }
    // One audit event per source, reason and failed check a minute (the
    // two azp cases and the two signature cases share theirs).
    let audit = sso.audit("signin.failed").await;
    let mut checks: Vec<&str> = cases.iter().map(|(_, c)| *c).collect();
    checks.sort_unstable();
    checks.dedup();
    assert_eq!(audit.len(), checks.len(), "{audit:?}");
    for check in checks {
        assert!(
            audit.iter().any(|e| e["details"]["check"] == check),
            "{check} has its event"
        );
    }
    assert!(
        audit
            .iter()
            .all(|e| e["details"]["reason"] == "invalid_token")
    );
    assert!(
        sso.users().await.is_empty(),
        "no user was created by a refused sign-in"
    );
    // And the IdP behaving again: accepted.
    let (_, r) = sso.sign_in("alice").await;
    assert_eq!(r.status, 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_variations_are_accepted() {
    let sso = Sso::start().await;
    // at_hash present and right; no kid with a single key; a rotated key.
    // (HS256 with the client secret: certification.rs, it must be registered.)
    for mode in ["good_at_hash", "missing_kid"] {
        sso.idp.misbehave(mode, Some("shop")).await;
        let (_, r) = sso.sign_in("alice").await;
        assert_eq!(r.status, 303, "{mode}: {}", r.text);
    }
    let kid = sso.idp.rotate(true).await;
    assert!(kid.starts_with("rotated"));
    let (_, r) = sso.sign_in("alice").await;
    assert_eq!(
        r.status, 303,
        "a token signed with a new key is accepted after one JWKS refresh: {}",
        r.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_and_protected_parameters_as_seen_by_the_idp() {
    let sso = Sso::start().await;
    let c = sso.client();
    let q = "?rd=%2Fx&invite=INV-42&login_hint=alice%40example.com&ui_locales=pt&prompt=login\
             &redirect_uri=https%3A%2F%2Fevil.example%2Fcb&client_id=evil&scope=admin&state=s&nonce=n\
             &response_type=token&response_mode=form_post&code_challenge=x&code_challenge_method=plain\
             &request=eyJ&request_uri=urn%3Aevil";
    let r = gatehouse_testkit::idp::sign_in(&c, &sso.idp_browser(), q, Some("alice")).await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(r.header("location"), Some("/x"));
    let seen = sso.idp.requests().await;
    let auth = seen
        .iter()
        .find(|r| r["path"] == "/auth")
        .expect("the IdP saw the authorization request");
    let q = &auth["query"];
    assert_eq!(q["invite"], "INV-42");
    assert_eq!(q["login_hint"], "alice@example.com");
    assert_eq!(q["ui_locales"], "pt");
    assert_eq!(q["prompt"], "login");
    assert_eq!(q["redirect_uri"], format!("{}/auth/callback", sso.base));
    assert_eq!(q["client_id"], "shop");
    assert_eq!(q["scope"], "openid profile email groups custom");
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_ne!(q["state"], "s");
    assert_ne!(q["nonce"], "n");
    assert_ne!(q["code_challenge"], "x");
    for absent in ["response_mode", "request", "request_uri", "rd"] {
        assert!(q.get(absent).is_none(), "{absent} must not reach the IdP");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_sign_ins_in_two_tabs_both_complete() {
    let sso = Sso::start().await;
    let c = sso.client();
    let idp = sso.idp_browser();
    let a = c.get("/auth/login?rd=/tab-a").await;
    let b = c.get("/auth/login?rd=/tab-b").await;
    assert_eq!((a.status, b.status), (303, 303));
    let back_a = idp
        .authorize(a.header("location").unwrap(), Some("alice"))
        .await;
    let back_b = idp
        .authorize(b.header("location").unwrap(), Some("alice"))
        .await;
    // Finish the second tab first.
    let rb = c.get(back_b.strip_prefix(&c.base).unwrap()).await;
    let ra = c.get(back_a.strip_prefix(&c.base).unwrap()).await;
    assert_eq!(
        (rb.status, rb.header("location")),
        (303, Some("/tab-b")),
        "{}",
        rb.text
    );
    assert_eq!(
        (ra.status, ra.header("location")),
        (303, Some("/tab-a")),
        "{}",
        ra.text
    );
    assert_eq!(c.get("/tab-a").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_replayed_and_cancelled_callbacks_are_refused() {
    let sso = Sso::start().await;
    let c = sso.client();
    let start = c.get("/auth/login").await;
    let back = sso
        .idp_browser()
        .authorize(start.header("location").unwrap(), Some("alice"))
        .await;
    let path = back.strip_prefix(&c.base).unwrap().to_owned();
    let flow_cookie = c.cookie_header_for("/auth/callback").unwrap();

    // Another browser (no flow cookie) cannot use the code.
    let other = sso.client();
    let r = other.get(&path).await;
    assert_eq!(r.status, 400);
    assert!(r.text.contains("not started in this browser"));

    // The right browser can, once.
    let r = c.get(&path).await;
    assert_eq!(r.status, 303, "{}", r.text);
    let replay = sso.client();
    let r = replay
        .get_with(&path, &[("cookie", &flow_cookie), ("accept", "text/html")])
        .await;
    assert_eq!(r.status, 400);
    assert!(r.text.contains("already completed"), "{}", r.text);

    // Cancelling at the IdP.
    let c2 = sso.client();
    let r = gatehouse_testkit::idp::sign_in(&c2, &sso.idp_browser(), "", None).await;
    assert_eq!(r.status, 403);
    assert!(
        r.text.contains("Sign-in was cancelled") && r.text.contains("Try again"),
        "{}",
        r.text
    );
    assert!(c2.session_cookie().is_none());
    let reasons: Vec<String> = sso
        .audit("signin.failed")
        .await
        .iter()
        .map(|e| e["details"]["reason"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(reasons, vec!["idp_error", "replayed", "state_mismatch"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_reaches_end_session_with_the_right_parameters() {
    let sso = Sso::start().await;
    let (c, _) = sso.sign_in("alice").await;
    let r = c.get("/auth/logout").await;
    assert_eq!(r.status, 303);
    let location = r.header("location").unwrap().to_owned();
    assert!(
        location.starts_with(&format!("{}/session/end?", sso.idp.issuer)),
        "{location}"
    );
    let url = url::Url::parse(&location).unwrap();
    let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(
        q["post_logout_redirect_uri"],
        format!("{}/auth/logged-out", sso.base)
    );
    assert_eq!(q["client_id"], "shop");
    assert!(q["id_token_hint"].split('.').count() == 3);
    assert!(q["state"].len() >= 16);
    assert_eq!(c.get("/home").await.status, 303, "the local session ended");
    // The IdP accepts the request (an invalid hint or redirect would be an error page) ...
    let idp = sso.idp_browser();
    let done = idp.end_session(&location).await;
    assert!(done.status < 400, "{}: {}", done.status, done.text);
    // ... and sends the browser back to the Logout Redirect URL.
    let back = done.header("location").unwrap_or_default();
    assert!(
        back.starts_with(&format!("{}/auth/logged-out", sso.base)),
        "{back}"
    );
    let page = c.get(back.strip_prefix(&c.base).unwrap()).await;
    assert!(page.text.contains("You are signed out"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_channel_logout_revokes_the_session_while_forged_or_replayed_tokens_do_not() {
    let sso = Sso::start().await;
    let (c, _) = sso.sign_in("alice").await;
    assert_eq!(c.get("/home").await.status, 200);
    let post = |token: String| {
        let sso = &sso;
        async move { sso.post_logout_token(&token).await }
    };
    for tamper in [
        "forged",
        "alg_none",
        "nonce",
        "no_events",
        "wrong_aud",
        "wrong_iss",
        "old_iat",
        "no_sub_no_sid",
    ] {
        let token = sso
            .idp
            .logout_token(json!({"client_id": "shop", "sub": "alice", "tamper": tamper}))
            .await;
        let r = post(token).await;
        assert_eq!(r.status(), 400, "{tamper}");
        assert_eq!(r.headers()["cache-control"], "no-store");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{tamper}");
        assert_eq!(
            c.get("/home").await.status,
            200,
            "{tamper} must not end the session"
        );
    }
    let token = sso
        .idp
        .logout_token(json!({"client_id": "shop", "sub": "alice"}))
        .await;
    assert_eq!(post(token.clone()).await.status(), 200);
    assert_eq!(c.get("/home").await.status, 303, "the session ended");
    let replay = post(token).await;
    assert_eq!(replay.status(), 400, "a replayed jti is refused");
    let audit = sso.audit("session.backchannel_logout").await;
    assert_eq!(audit.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logging_out_at_the_idp_ends_the_gatehouse_session_through_the_back_channel() {
    let sso = Sso::start().await;
    let c = sso.client();
    let idp = sso.idp_browser();
    let r = gatehouse_testkit::idp::sign_in(&c, &idp, "", Some("alice")).await;
    assert_eq!(r.status, 303);
    assert_eq!(c.get("/").await.status, 200);
    // The user signs out at the IdP itself (same IdP browser session): the IdP
    // posts a logout token with the session's sid to Gatehouse.
    let done = idp
        .end_session(&format!("{}/session/end", sso.idp.issuer))
        .await;
    assert!(done.status < 400, "{}", done.text);
    let mut ended = false;
    for _ in 0..50 {
        if c.get("/").await.status == 303 {
            ended = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ended, "the back-channel logout ended the session");
    let audit = sso.audit("session.backchannel_logout").await;
    assert!(audit[0]["details"]["sid"].is_string(), "{:?}", audit[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_and_groups_follow_the_claims_at_the_next_sign_in() {
    let sso = Sso::start().await;
    sso.sign_in("alice").await;
    let uid = sso.users().await[0]["id"].as_str().unwrap().to_owned();
    // An administrator's tag stays through sign-ins.
    sso.app
        .api()
        .patch(
            &format!("/api/v1/apps/{}/users/{uid}", sso.app_id),
            &json!({"tags": [{"key": "vip", "value": "yes"}]}),
        )
        .await;
    sso.idp
        .set_claims(
            "alice",
            json!({"email": "alice@example.com", "email_verified": true, "given_name": "Alicia",
                                      "family_name": "Liddell", "groups": ["ops"], "level": 4}),
        )
        .await;
    let (_, r) = sso.sign_in("alice").await;
    assert_eq!(r.status, 303);
    let u = &sso.users().await[0];
    assert_eq!(
        u["id"],
        uid.as_str(),
        "the same user, found by (issuer, sub)"
    );
    assert_eq!(u["first_name"], "Alicia");
    assert_eq!(u["groups"], json!(["ops"]));
    assert_eq!(
        u["tags"],
        json!([{"key": "level", "value": "4", "source": "idp"}, {"key": "vip", "value": "yes", "source": "admin"}]),
        "dept, project, city and admin are gone with their claims"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_user_is_linked_by_email_only_when_the_idp_verified_it() {
    let sso = Sso::start().await;
    let users = format!("/api/v1/apps/{}/users", sso.app_id);
    for email in ["carol@example.com", "dave@example.com"] {
        let r = sso
            .app
            .api()
            .post(&users, &json!({"email": email, "first_name": "Local"}))
            .await;
        assert_eq!(r.status, 201);
    }
    // carol's e-mail is not verified at the IdP.
    let (c, r) = sso.sign_in("carol").await;
    assert_eq!(r.status, 403);
    assert!(r.text.contains("not verified"), "{}", r.text);
    assert!(c.session_cookie().is_none());
    // dave's is: linked to the existing user.
    let before = sso
        .users()
        .await
        .iter()
        .find(|u| u["email"] == "dave@example.com")
        .unwrap()["id"]
        .clone();
    let (_, r) = sso.sign_in("dave").await;
    assert_eq!(r.status, 303, "{}", r.text);
    let dave = sso
        .users()
        .await
        .into_iter()
        .find(|u| u["email"] == "dave@example.com")
        .unwrap();
    assert_eq!(dave["id"], before);
    assert_eq!(dave["identities"][0]["subject"], "dave");
    assert_eq!(sso.users().await.len(), 2);
    assert_eq!(sso.audit("user.identity_linked").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_secret_post_and_private_key_jwt_clients_sign_in() {
    let post = Sso::with(
        json!({}),
        json!({"token_endpoint_auth_method": "client_secret_post"}),
        json!({}),
    )
    .await;
    let (_, r) = post.sign_in("alice").await;
    assert_eq!(r.status, 303, "client_secret_post: {}", r.text);

    // private_key_jwt: Gatehouse makes the key; the IdP learns the public half.
    let app = gatehouse_testkit::TestApp::spawn().await;
    let id = app.create_app("shop", None).await;
    let sso_path = format!("/api/v1/apps/{id}/sso/oidc");
    let r = app
        .api()
        .put(
            &sso_path,
            &json!({"token_endpoint_auth_method": "private_key_jwt"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let jwks = r.json["client_jwks"].clone();
    assert_eq!(jwks["keys"][0]["kty"], "EC");
    assert!(
        jwks["keys"][0].get("d").is_none(),
        "only the public key is shown"
    );
    assert_eq!(
        r.json["client_jwks_urls"][0],
        format!("http://shop.localhost:{}/auth/jwks.json", app.port())
    );
    let served = app.client("shop.localhost").get("/auth/jwks.json").await;
    assert_eq!(served.json, jwks);
    let base = format!("http://shop.localhost:{}", app.port());
    let mut client = gatehouse_testkit::idp::client_for(
        "shop",
        "unused-unused-unused-unused-0000",
        &base,
        "private_key_jwt",
    );
    client.as_object_mut().unwrap().remove("client_secret");
    client["jwks"] = jwks;
    client["token_endpoint_auth_signing_alg"] = json!("ES256");
    let idp = gatehouse_testkit::TestIdp::start(json!({"clients": [client]})).await;
    let r = app
        .api()
        .put(&sso_path, &json!({"enabled": true, "issuer_url": idp.issuer, "client_id": "shop", "token_endpoint_auth_method": "private_key_jwt"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let c = app.client("shop.localhost");
    let r = gatehouse_testkit::idp::sign_in(&c, &idp.browser(), "", Some("alice")).await;
    assert_eq!(r.status, 303, "private_key_jwt: {}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_or_failing_idp_gives_a_clear_page_and_signed_in_users_keep_working() {
    let sso = Sso::start().await;
    let (c, _) = sso.sign_in("alice").await;
    // The token endpoint fails: a clear page, no session.
    sso.idp.fail("/token", 503, 1).await;
    let (c2, r) = sso.sign_in("alice").await;
    assert_eq!(r.status, 502);
    assert!(
        r.text.contains("could not reach the identity provider")
            || r.text.contains("not reachable"),
        "{}",
        r.text
    );
    assert!(c2.session_cookie().is_none());
    // The IdP is gone entirely.
    let issuer = sso.idp.issuer.clone();
    let Sso {
        app,
        idp,
        up,
        app_id,
        ..
    } = sso;
    drop(idp);
    let fresh = app.client("shop.localhost");
    // Discovery is cached; the authorization request can still be built, and the browser is sent to the (dead) IdP.
    let r = fresh.get("/auth/login").await;
    assert!(r.status == 303 || r.status == 502, "{}", r.text);
    // Settings saved again drop the cached document: now the IdP is asked, and is unreachable.
    let body = json!({"enabled": true, "issuer_url": issuer, "client_id": "shop"});
    assert_eq!(
        app.api()
            .put(&format!("/api/v1/apps/{app_id}/sso/oidc"), &body)
            .await
            .status,
        200
    );
    let r = fresh.get("/auth/login").await;
    assert_eq!(r.status, 502, "{}", r.text);
    assert!(r.text.contains("not reachable"));
    // A signed-in user is not affected.
    assert_eq!(c.get("/home").await.status, 200);
    let failed = app
        .api()
        .get(&format!("/api/v1/apps/{app_id}/audit?action=signin.failed"))
        .await;
    assert_eq!(failed.json[0]["details"]["reason"], "idp_unreachable");
    drop(up);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_sso_off_brings_back_the_local_sign_in_page_at_once() {
    let sso = Sso::start().await;
    let c = sso.client();
    assert_eq!(
        c.get("/auth/login").await.status,
        303,
        "SSO: straight to the IdP"
    );
    let refused = c
        .post_form(
            "/auth/login",
            &[("email", "a@b.c"), ("password", "whatever-whatever")],
        )
        .await;
    assert_eq!(refused.status, 403, "no password sign-in with SSO on");
    let body = json!({"enabled": false, "issuer_url": sso.idp.issuer, "client_id": "shop"});
    assert_eq!(
        sso.app
            .api()
            .put(&format!("/api/v1/apps/{}/sso/oidc", sso.app_id), &body)
            .await
            .status,
        200
    );
    let page = c.get("/auth/login").await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("name=\"password\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_connection_reports_each_check() {
    let sso = Sso::start().await;
    let path = format!("/api/v1/apps/{}/sso/oidc/test", sso.app_id);
    let r = sso.app.api().post(&path, &json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["ok"], true, "{}", r.text);
    let names: Vec<&str> = r.json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for n in [
        "discovery",
        "issuer",
        "endpoints",
        "jwks",
        "pkce",
        "token_endpoint_auth_method",
        "client_credentials",
        "userinfo",
        "logout",
    ] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    // An issuer with a trailing slash is not the IdP's issuer.
    let body =
        json!({"enabled": true, "issuer_url": format!("{}/", sso.idp.issuer), "client_id": "shop"});
    sso.app
        .api()
        .put(&format!("/api/v1/apps/{}/sso/oidc", sso.app_id), &body)
        .await;
    let r = sso.app.api().post(&path, &json!({})).await;
    assert_eq!(r.json["ok"], false);
    let issuer = r.json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "issuer")
        .unwrap()
        .clone();
    assert_eq!(issuer["status"], "failed");
    assert!(
        issuer["message"]
            .as_str()
            .unwrap()
            .contains("not the configured Issuer URL")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_outliving_the_id_token_are_refreshed_and_a_refused_refresh_ends_them() {
    let sso = Sso::with(
        json!({"idTokenTtl": 5, "accessTokenTtl": 5}),
        json!({}),
        json!({"extra": {"refresh_sessions": true}}),
    )
    .await;
    let (c, r) = sso.sign_in("alice").await;
    assert_eq!(r.status, 303);
    // Past the ID token's expiry: refreshed silently.
    sso.app.clock.advance(std::time::Duration::from_secs(6));
    assert_eq!(c.get("/home").await.status, 200, "refreshed");
    assert_eq!(c.get("/home").await.status, 200);
    // The IdP refuses the next refresh: the session ends.
    sso.app.clock.advance(std::time::Duration::from_secs(6));
    sso.idp.fail("/token", 400, 1).await;
    assert_eq!(
        c.get("/home").await.status,
        303,
        "a refused refresh ends the session"
    );
    assert_eq!(sso.audit("session.refresh_refused").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_google_workspace_domain_restriction_refuses_other_accounts() {
    let sso = Sso::with(
        json!({}),
        json!({}),
        json!({"extra": {"hosted_domain": "example.com"}}),
    )
    .await;
    let (_, r) = sso.sign_in("alice").await;
    assert_eq!(r.status, 303, "alice's hd is example.com: {}", r.text);
    let (c, r) = sso.sign_in("dave").await;
    assert_eq!(r.status, 502);
    assert!(
        r.text.contains("hd") && r.text.contains("example.com"),
        "{}",
        r.text
    );
    assert!(c.session_cookie().is_none());
    let seen = sso.idp.requests().await;
    assert!(
        seen.iter()
            .filter(|r| r["path"] == "/auth")
            .all(|r| r["query"]["hd"] == "example.com"),
        "hd is sent as a hint"
    );
}

/// Deny by default, with e-mail grants for alice and carol.
async fn email_grants(sso: &Sso) {
    let id = &sso.app_id;
    let r = sso
        .app
        .api()
        .put(&format!("/api/v1/apps/{id}/access"), &json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    for email in ["alice@example.com", "carol@example.com"] {
        let r = sso
            .app
            .api()
            .post(
                &format!("/api/v1/apps/{id}/grants"),
                &json!({"role": "member", "subject": {"email": email}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_grant_needs_an_address_the_idp_verified() {
    let sso = Sso::start().await;
    email_grants(&sso).await;
    // carol's IdP sends her address with email_verified: false.
    let (c, r) = sso.sign_in("carol").await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(c.session_cookie().is_none());
    let (_, r) = sso.sign_in("alice").await;
    assert_eq!(r.status, 303, "{}", r.text);
    let users = sso.users().await;
    let flag = |email: &str| {
        users
            .iter()
            .find(|u| u["email"] == email)
            .map(|u| u["email_verified"].clone())
    };
    assert_eq!(flag("carol@example.com"), Some(json!(false)));
    assert_eq!(flag("alice@example.com"), Some(json!(true)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_email_counts_every_address_of_the_idp_as_verified() {
    let sso = Sso::with(json!({}), json!({}), json!({"trust_email": true})).await;
    let r = sso
        .app
        .api()
        .get(&format!("/api/v1/apps/{}/sso/oidc", sso.app_id))
        .await;
    assert_eq!(r.json["trust_email"], true, "{}", r.text);
    email_grants(&sso).await;
    let (c, r) = sso.sign_in("carol").await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert!(c.session_cookie().is_some());
    let carol = sso
        .users()
        .await
        .into_iter()
        .find(|u| u["email"] == "carol@example.com")
        .unwrap();
    assert_eq!(carol["email_verified"], true);
}
