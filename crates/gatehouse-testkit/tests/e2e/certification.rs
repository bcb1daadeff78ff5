//! The OpenID relying-party certification cases about keys, algorithms and
//! client authentication, and an IdP whose JWKS endpoint fails or hangs,
//! against the real test IdP (`tests/idp`).

use std::time::{Duration, Instant};

use gatehouse_testkit::AppClient;
use gatehouse_testkit::sso::Sso;
use serde_json::json;

const API: &str = "https://api.shop.example";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_without_kid_is_checked_with_the_keys_that_fit_its_algorithm() {
    // rp-id_token-kid-absent-single-jwks and -multiple-jwks: two RSA keys
    // and an EC key beside them; the token names none.
    let sso = Sso::with(json!({"keys": 2, "ec_key": true}), json!({}), json!({})).await;
    sso.idp.misbehave("missing_kid", Some("shop")).await;
    let (c, r) = sso.sign_in("alice").await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert!(c.session_cookie().is_some());
    // A bad signature without kid is still refused, whichever key is tried.
    sso.idp.misbehave("bad_signature", Some("shop")).await;
    let (c, r) = sso.sign_in("alice").await;
    assert_eq!(r.status, 502, "{}", r.text);
    assert!(c.session_cookie().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rolling_over_at_every_sign_in_are_followed() {
    // rp-key-rotation-op-sign-key: each ID token a new kid, old keys still
    // published. Three sign-ins in a row, then ten.
    let sso = Sso::start().await;
    let (_, r) = sso.sign_in("alice").await;
    assert_eq!(r.status, 303, "{}", r.text);
    sso.idp.rotate_every_login().await;
    let before = sso.idp.hits("/jwks").await.len();
    for round in [3, 10] {
        for i in 0..round {
            let (c, r) = sso.sign_in("alice").await;
            assert_eq!(r.status, 303, "sign-in {i} of {round}: {}", r.text);
            assert!(c.session_cookie().is_some());
        }
    }
    let fetches = sso.idp.hits("/jwks").await.len() - before;
    assert_eq!(fetches, 13, "one JWKS fetch per new key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_token_signed_with_another_algorithm_is_refused() {
    // The JWKS has an EC key; the ID token algorithm is RS256.
    let sso = Sso::with(json!({"ec_key": true}), json!({}), json!({})).await;
    let (c, r) = sso.sign_in("alice").await;
    assert_eq!(r.status, 303, "{}", r.text);
    let post = |token: String| {
        let sso = &sso;
        async move { sso.post_logout_token(&token).await.status().as_u16() }
    };
    let es256 = sso
        .idp
        .logout_token(json!({"client_id": "shop", "sub": "alice", "alg": "ES256"}))
        .await;
    assert_eq!(post(es256).await, 400);
    assert_eq!(c.get("/home").await.status, 200, "the session survives");
    let audit = sso.audit("session.backchannel_logout").await;
    assert!(audit.is_empty(), "{audit:?}");
    let rs256 = sso
        .idp
        .logout_token(json!({"client_id": "shop", "sub": "alice"}))
        .await;
    assert_eq!(post(rs256).await, 200);
    assert_eq!(c.get("/home").await.status, 303, "the session ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_tokens_must_use_the_registered_algorithm() {
    // rp-id_token-sig-hs256: HS256 with the client secret, when registered
    // (the test IdP re-signs its RS256 token with the secret).
    let hs = Sso::with(
        json!({}),
        json!({}),
        json!({"extra": {"id_token_signed_response_alg": "HS256"}}),
    )
    .await;
    hs.idp.misbehave("hs256_client_secret", Some("shop")).await;
    let (_, r) = hs.sign_in("alice").await;
    assert_eq!(r.status, 303, "{}", r.text);
    let r = hs
        .app
        .api()
        .get(&format!("/api/v1/apps/{}/sso/oidc", hs.app_id))
        .await;
    assert_eq!(r.json["extra"]["id_token_signed_response_alg"], "HS256");

    // The default is RS256: an HS256 token, even with the right secret, is refused.
    let rs = Sso::start().await;
    rs.idp.misbehave("hs256_client_secret", Some("shop")).await;
    let (c, r) = rs.sign_in("alice").await;
    assert_eq!(r.status, 502, "{}", r.text);
    assert!(r.text.contains("alg"), "{}", r.text);
    assert!(c.session_cookie().is_none());
    let r = rs
        .app
        .api()
        .put(
            &format!("/api/v1/apps/{}/sso/oidc", rs.app_id),
            &json!({"enabled": true, "issuer_url": rs.idp.issuer, "client_id": "shop",
                    "extra": {"id_token_signed_response_alg": "XS999"}}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_secret_jwt_authenticates_at_the_token_endpoint() {
    let sso = Sso::with(
        json!({}),
        json!({"token_endpoint_auth_method": "client_secret_jwt"}),
        json!({}),
    )
    .await;
    let (c, r) = sso.sign_in("alice").await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert!(c.session_cookie().is_some());
    let r = sso
        .app
        .api()
        .get(&format!("/api/v1/apps/{}/sso/oidc", sso.app_id))
        .await;
    assert_eq!(r.json["token_endpoint_auth_method"], "client_secret_jwt");
}

/// Bearer tokens for [`API`] signed by the IdP's current key.
async fn bearer(sso: &Sso, sub: &str) -> String {
    sso.idp
        .sign_token(
            json!({"sub": sub, "aud": API, "email": format!("{sub}@example.com"), "given_name": "Svc"}),
            None,
        )
        .await
}

/// A bearer call through a fresh client: status, `Retry-After`, time taken.
async fn call(sso: &Sso, token: &str) -> (u16, Option<String>, Duration) {
    call_with(&sso.client(), token).await
}

async fn call_with(c: &AppClient, token: &str) -> (u16, Option<String>, Duration) {
    let t = Instant::now();
    let r = c
        .get_with(
            "/api/orders",
            &[
                ("authorization", &format!("Bearer {token}")),
                ("accept", "application/json"),
            ],
        )
        .await;
    (
        r.status,
        r.header("retry-after").map(str::to_owned),
        t.elapsed(),
    )
}

/// Whether no two JWKS requests overlapped.
fn one_at_a_time(hits: &[(u64, Option<u64>)]) -> bool {
    hits.windows(2)
        .all(|w| w[0].1.is_some_and(|done| done <= w[1].0))
}

async fn failing_jwks(delay: Duration) {
    let sso = Sso::start().await;
    let r = sso
        .app
        .api()
        .put(
            &format!("/api/v1/apps/{}/api-access", sso.app_id),
            &json!({"enabled": true, "audience": API}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let held = bearer(&sso, "held").await;
    assert_eq!(call(&sso, &held).await.0, 200, "the keys are fetched");

    // The IdP rotates its key and its JWKS endpoint starts failing (or
    // hanging for `delay`) for the next three fetches.
    sso.idp.rotate(false).await;
    sso.idp.fail_slowly("/jwks", 500, 3, delay).await;
    // Past the floor between two fetches of one JWKS (1 s), which a
    // request for a new key id waits out.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let before = sso.idp.hits("/jwks").await.len();
    let mut tasks = Vec::new();
    for i in 0..6 {
        let token = bearer(&sso, &format!("new{i}")).await;
        let sso_c = sso.client();
        tasks.push(tokio::spawn(async move { call_with(&sso_c, &token).await }));
    }
    for t in tasks {
        let (status, retry, took) = t.await.unwrap();
        assert_eq!(status, 503, "a token with a new kid while the JWKS fails");
        assert!(retry.is_some(), "503 says when to retry");
        assert!(took < Duration::from_millis(1500), "answered in {took:?}");
    }
    // A browser whose ID token is signed with the new key gets the sign-in
    // error page (with its correlation id), not a hang.
    let t = Instant::now();
    let (c, r) = sso.sign_in("alice").await;
    assert!(r.status >= 500, "{} {}", r.status, r.text);
    assert!(r.text.contains(r.header("x-request-id").unwrap_or("none")));
    assert!(c.session_cookie().is_none());
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "sign-in took {:?}",
        t.elapsed()
    );
    // Tokens with held keys keep working, at full speed.
    for _ in 0..5 {
        let (status, _, took) = call(&sso, &held).await;
        assert_eq!(status, 200);
        assert!(
            took < Duration::from_millis(500),
            "held key answered in {took:?}"
        );
    }
    // Recovery: once the endpoint answers again, new tokens are accepted.
    let fresh = bearer(&sso, "after").await;
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let (status, _, _) = call(&sso, &fresh).await;
        if status == 200 {
            break;
        }
        assert_eq!(status, 503);
        assert!(Instant::now() < deadline, "no recovery");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let hits = sso.idp.hits("/jwks").await;
    let during = &hits[before..];
    assert!(one_at_a_time(during), "fetches overlapped: {during:?}");
    assert!(
        during.len() <= 5,
        "three failures and the recovery, not one fetch per token: {during:?}"
    );
    // The gaps between failed fetches grow (backoff).
    let gaps: Vec<u64> = during
        .windows(2)
        .map(|w| w[1].0 - w[0].1.unwrap_or(w[0].0))
        .collect();
    assert!(
        gaps.windows(2).take(2).all(|g| g[1] >= g[0]),
        "gaps {gaps:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_jwks_endpoint_costs_nobody_with_held_keys() {
    failing_jwks(Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_jwks_endpoint_is_answered_fast_and_fetched_once_at_a_time() {
    failing_jwks(Duration::from_secs(3)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregated_and_distributed_claims_are_resolved_from_allowed_sources_only() {
    // rp-claims-aggregated, rp-claims-distributed.
    let mappings = json!({"claim_mappings": {"other": [
        {"claim": "clearance", "tag": "clearance"},
        {"claim": "team", "tag": "team"},
    ]}});
    let sso = Sso::with(json!({}), json!({}), mappings.clone()).await;
    let tags = |u: &serde_json::Value| -> Vec<(String, String)> {
        u["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["key"].as_str().unwrap().to_owned(),
                    t["value"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    sso.idp
        .claim_sources(
            "alice",
            json!({"aggregated": {"clearance": "secret", "sub": "mallory"}, "distributed": {"team": "blue"}}),
        )
        .await;
    let (_, r) = sso.sign_in("alice").await;
    assert_eq!(r.status, 303, "{}", r.text);
    let users = sso.users().await;
    let t = tags(&users[0]);
    assert!(t.contains(&("clearance".into(), "secret".into())), "{t:?}");
    assert!(t.contains(&("team".into(), "blue".into())), "{t:?}");
    assert_eq!(
        users[0]["identities"][0]["subject"], "alice",
        "a source cannot change the subject"
    );

    // Distributed claims on a host the settings do not allow: left out,
    // sign-in goes on, and the audit log says so.
    let port = sso.idp.issuer.rsplit(':').next().unwrap().to_owned();
    let other = format!("localhost:{port}");
    sso.idp
        .claim_sources(
            "alice",
            json!({"distributed": {"team": "red"}, "host": other, "as_json": true}),
        )
        .await;
    let (_, r) = sso.sign_in("alice").await;
    assert_eq!(r.status, 303, "{}", r.text);
    let t = tags(&sso.users().await[0]);
    assert!(!t.iter().any(|(k, _)| k == "team"), "{t:?}");
    let audit = sso.audit("signin.claims_incomplete").await;
    assert_eq!(audit.len(), 1, "{audit:?}");
    let why = audit[0]["details"]["claim_sources_skipped"][0]["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(why.contains("claim_source_hosts"), "{why}");

    // Allowed in the SSO settings: resolved (a JSON answer).
    let mut body = json!({"enabled": true, "issuer_url": sso.idp.issuer, "client_id": "shop",
        "scopes": "openid profile email groups custom",
        "extra": {"claim_source_hosts": [other]}});
    body["claim_mappings"] = mappings["claim_mappings"].clone();
    let r = sso
        .app
        .api()
        .put(&format!("/api/v1/apps/{}/sso/oidc", sso.app_id), &body)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (_, r) = sso.sign_in("alice").await;
    assert_eq!(r.status, 303, "{}", r.text);
    let t = tags(&sso.users().await[0]);
    assert!(t.contains(&("team".into(), "red".into())), "{t:?}");
}
