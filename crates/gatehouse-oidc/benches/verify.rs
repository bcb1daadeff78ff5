//! Signature verification: the raw rate of the crypto library (jsonwebtoken
//! on aws-lc-rs) beside Gatehouse's whole bearer-token check (parse,
//! allow-list, key selection, signature, claims), the SHA-256 that keys the
//! cache of validated tokens, and ES256 signing (X-Gatehouse-Assertion).
//!
//! `cargo bench -p gatehouse-oidc --bench verify`. The keys in this
//! directory exist only for this benchmark.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use gatehouse_oidc::bearer::{self, BearerRules};
use gatehouse_oidc::jwks::{Key, KeyKind, KeySet};
use gatehouse_oidc::validate::{Jwt, verify_signature};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde_json::json;

const RSA_PRIVATE: &[u8] = include_bytes!("rsa-2048.pem");
const RSA_PUBLIC: &[u8] = include_bytes!("rsa-2048.pub.pem");
const EC_PRIVATE: &[u8] = include_bytes!("ec-p256.pem");
const EC_PUBLIC: &[u8] = include_bytes!("ec-p256.pub.pem");

fn claims() -> serde_json::Value {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    json!({
        "iss": "https://idp.example", "aud": "https://api.example", "sub": "user-1",
        "email": "ana@example.com", "given_name": "Ana", "groups": ["eng", "ops"],
        "iat": now, "exp": now + 3600, "scope": "api",
    })
}

fn token(alg: Algorithm, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = Some("k1".into());
    jsonwebtoken::encode(&header, &claims(), key).unwrap()
}

fn key_set(kind: KeyKind, key: DecodingKey) -> Arc<KeySet> {
    Arc::new(KeySet {
        keys: vec![Key {
            kid: Some("k1".into()),
            alg: None,
            kind,
            key,
        }],
        skipped: 0,
    })
}

fn bench(c: &mut Criterion) {
    let cases = [
        (
            "RS256",
            Algorithm::RS256,
            EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap(),
            DecodingKey::from_rsa_pem(RSA_PUBLIC).unwrap(),
            KeyKind::Rsa,
        ),
        (
            "ES256",
            Algorithm::ES256,
            EncodingKey::from_ec_pem(EC_PRIVATE).unwrap(),
            DecodingKey::from_ec_pem(EC_PUBLIC).unwrap(),
            KeyKind::P256,
        ),
    ];
    let mut g = c.benchmark_group("verify");
    for (name, alg, enc, dec, kind) in cases {
        let t = token(alg, &enc);
        let (input, sig) = t.rsplit_once('.').unwrap();
        g.bench_function(
            format!("{name}/raw signature (jsonwebtoken, aws-lc-rs)"),
            |b| {
                b.iter(|| {
                    assert!(
                        jsonwebtoken::crypto::verify(black_box(sig), input.as_bytes(), &dec, alg)
                            .unwrap()
                    )
                })
            },
        );
        let keys = key_set(kind, dec.clone());
        let rules = BearerRules {
            issuer: "https://idp.example",
            audience: "https://api.example",
            algorithms: &[Algorithm::RS256, Algorithm::ES256],
            now: time::OffsetDateTime::now_utc(),
            skew: Duration::from_secs(30),
        };
        g.bench_function(format!("{name}/Gatehouse bearer check, uncached"), |b| {
            b.iter(|| {
                let jwt = Jwt::parse(black_box(&t)).unwrap();
                assert!(!bearer::check_alg(&jwt.header, rules.algorithms).is_failed());
                verify_signature(&jwt, &keys, None).unwrap();
                let checks = bearer::check(&jwt.claims, &rules);
                assert!(checks.iter().all(|c| !c.is_failed()));
            })
        });
        g.bench_function(format!("{name}/cache key of a seen token (SHA-256)"), |b| {
            b.iter(|| gatehouse_crypto::token::lookup_key(black_box(&t)))
        });
    }
    g.finish();

    let signer = gatehouse_crypto::signing::EcKey::generate().unwrap();
    let header = r#"{"alg":"ES256","typ":"JWT","kid":"k"}"#;
    let payload = claims().to_string();
    c.bench_function("sign/ES256 assertion (aws-lc-rs)", |b| {
        b.iter(|| signer.sign_jws(header, black_box(&payload)).unwrap())
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
