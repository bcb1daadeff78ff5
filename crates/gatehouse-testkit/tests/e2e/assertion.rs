//! `X-Gatehouse-Assertion` checked by an independent JOSE library (npm
//! `jose`) against the published JWK Set, before and after a key rotation.

use gatehouse_testkit::{EchoUpstream, TestApp, jose};
use serde_json::json;

const PW: &str = "correct-horse-battery";

/// The assertion the upstream received for one request.
async fn assertion(c: &gatehouse_testkit::AppClient) -> String {
    let r = c.get("/whoami").await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json["headers"]["x-gatehouse-assertion"][0]
        .as_str()
        .expect("an assertion")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstreams_verify_the_assertion_with_the_published_keys_across_a_rotation() {
    let app = TestApp::spawn().await;
    let up = EchoUpstream::start().await;
    let id = app.create_app("shop", Some(&up.url())).await;
    let r = app
        .api()
        .post(
            &format!("/api/v1/apps/{id}/users"),
            &json!({"email": "ana@example.com", "first_name": "Ana", "last_name": "Silva",
                    "password": PW, "groups": ["eng"], "tags": [{"key": "dept", "value": "R&D"}, {"key": "dept", "value": "Ops"}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let user_id = r.json["id"].as_str().unwrap().to_owned();
    let c = app.client("shop.localhost");
    c.sign_in("ana@example.com", PW).await;

    let keys = app.api().get("/api/v1/keys").await;
    assert_eq!(keys.status, 200, "{}", keys.text);
    let issuer = keys.json["issuer"].as_str().unwrap().to_owned();
    assert_eq!(issuer, format!("http://localhost:{}", app.port()));
    let statuses: Vec<&str> = keys.json["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["active", "next"]);

    let jwks_url = format!("http://127.0.0.1:{}/.well-known/jwks.json", app.port());
    let aud = &format!("shop.localhost:{}", app.port());
    let before = assertion(&c).await;
    assert_eq!(assertion(&c).await, before, "signed once, then reused");

    // Tampered: the payload of another assertion under this signature.
    let parts: Vec<&str> = before.split('.').collect();
    let forged_payload = {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut claims: serde_json::Value =
            serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
        claims["roles"] = json!(["admin"]);
        b64.encode(claims.to_string())
    };
    let tampered = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);

    let results = jose::verify(&jwks_url, &issuer, aud, &[&before, &tampered]).await;
    assert_eq!(results[0]["ok"], true, "{}", results[0]);
    let p = &results[0]["payload"];
    assert_eq!(p["iss"], issuer.as_str());
    assert_eq!(p["aud"], aud.as_str());
    assert_eq!(p["sub"], user_id.as_str());
    assert_eq!(p["email"], "ana@example.com");
    assert_eq!(p["given_name"], "Ana");
    assert_eq!(p["family_name"], "Silva");
    assert_eq!(p["groups"], json!(["eng"]));
    assert_eq!(p["roles"], json!(["member"]));
    assert_eq!(p["tags"], json!({"dept": ["Ops", "R&D"]}));
    let ttl = p["exp"].as_i64().unwrap() - p["iat"].as_i64().unwrap();
    assert!((1..=300).contains(&ttl), "short-lived: {ttl}s");
    assert_eq!(results[1]["ok"], false, "a tampered assertion is refused");
    assert_eq!(results[1]["code"], "ERR_JWS_SIGNATURE_VERIFICATION_FAILED");
    // Another application's host is another audience.
    let other = jose::verify(&jwks_url, &issuer, "other.localhost", &[&before]).await;
    assert_eq!(other[0]["code"], "ERR_JWT_CLAIM_VALIDATION_FAILED");

    let old_kid = results[0]["kid"].as_str().unwrap().to_owned();
    let next_kid = keys.json["keys"][1]["kid"].as_str().unwrap().to_owned();
    let rotated = app.api().post("/api/v1/keys/rotate", &json!({})).await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let after = assertion(&c).await;
    assert_ne!(after, before, "a new key signs at once");

    let results = jose::verify(&jwks_url, &issuer, aud, &[&before, &after]).await;
    assert_eq!(
        results[0]["ok"], true,
        "the retired key stays published: {}",
        results[0]
    );
    assert_eq!(results[1]["ok"], true, "{}", results[1]);
    assert_eq!(
        results[1]["kid"],
        next_kid.as_str(),
        "the pre-published key signs now"
    );
    let states: Vec<(String, String)> = rotated.json["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["kid"].as_str().unwrap().to_owned(),
                k["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(states.contains(&(old_kid, "retired".into())), "{states:?}");
    assert!(states.contains(&(next_kid, "active".into())), "{states:?}");
    assert_eq!(states.iter().filter(|(_, s)| s == "next").count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jwks_is_published_on_the_admin_host_and_the_bare_address() {
    let app = TestApp::spawn().await;
    for host in ["localhost", "127.0.0.1"] {
        let c = app.client(host);
        let r = c.get_with("/.well-known/jwks.json", &[]).await;
        assert_eq!(r.status, 200, "{host}: {}", r.text);
        assert_eq!(r.header("content-type"), Some("application/jwk-set+json"));
        let keys = r.json["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 2, "the active and the next key");
        for k in keys {
            assert_eq!(k["kty"], "EC");
            assert_eq!(k["alg"], "ES256");
            assert!(k.get("d").is_none(), "never the private key");
        }
    }
}
