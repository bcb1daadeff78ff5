//! Bearer tokens for API access: a JWT the IdP issued (an access token in
//! JWT form, or an ID token sent as a bearer token by CLIs), checked
//! against an operator-chosen algorithm allow-list, the IdP's keys or a
//! configured PEM public key, the issuer, the API audience and the times.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::checks::Check;
use crate::jwks::{Key, KeyKind, KeySet};
use crate::validate::claims;

/// What a bearer token must satisfy.
#[derive(Debug, Clone, Copy)]
pub struct BearerRules<'a> {
    /// The issuer, exactly.
    pub issuer: &'a str,
    /// An audience the token must carry.
    pub audience: &'a str,
    /// The allowed signature algorithms.
    pub algorithms: &'a [Algorithm],
    /// Now.
    pub now: OffsetDateTime,
    /// Allowed clock skew.
    pub skew: Duration,
}

/// The algorithm names of an allow-list, parsed; unknown names are dropped
/// (settings are validated when saved).
pub fn algorithms(names: &[String]) -> Vec<Algorithm> {
    names
        .iter()
        .filter_map(|n| n.parse::<Algorithm>().ok())
        .filter(|a| crate::validate::ASYMMETRIC.contains(a))
        .collect()
}

/// Check a token's `alg` header against the allow-list before anything
/// else is looked at.
pub fn check_alg(header: &Map<String, Value>, allowed: &[Algorithm]) -> Check {
    match header.get("alg").and_then(Value::as_str) {
        None => Check::failed("alg", "the header has no alg"),
        Some(a) if a.eq_ignore_ascii_case("none") => Check::failed(
            "alg",
            "the token is not signed (alg \"none\" is never accepted)",
        ),
        Some(a) => match a.parse::<Algorithm>() {
            Ok(alg) if allowed.contains(&alg) => Check::ok("alg"),
            _ => Check::failed(
                "alg",
                format!("the algorithm {a:?} is not in this application's allow-list"),
            ),
        },
    }
}

/// The claim checks of a bearer token whose signature verified.
pub fn check(claims: &Map<String, Value>, rules: &BearerRules<'_>) -> Vec<Check> {
    vec![
        claims::iss(claims, rules.issuer),
        claims::aud(claims, rules.audience),
        claims::exp(claims, rules.now, rules.skew, true),
        claims::nbf(claims, rules.now, rules.skew),
        match claims.get("iat") {
            Some(_) => claims::iat(claims, rules.now, rules.skew, None),
            None => Check::skipped("iat", "no iat"),
        },
        claims::sub(claims),
    ]
}

/// The expiry of a token (`exp`), as Unix seconds.
pub fn expiry(claims: &Map<String, Value>) -> Option<i64> {
    let v = claims.get("exp")?;
    v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))
}

/// A key set holding one PEM public key (RSA, EC or Ed25519 SPKI).
pub fn pem_key_set(pem: &str) -> Result<KeySet, String> {
    let bytes = pem.trim().as_bytes();
    let (kind, key) = if let Ok(k) = DecodingKey::from_rsa_pem(bytes) {
        (KeyKind::Rsa, k)
    } else if let Ok(k) = DecodingKey::from_ec_pem(bytes) {
        (KeyKind::Ec, k)
    } else if let Ok(k) = DecodingKey::from_ed_pem(bytes) {
        (KeyKind::Ed25519, k)
    } else {
        return Err("not an RSA, EC or Ed25519 public key in PEM form".into());
    };
    Ok(KeySet {
        keys: vec![Key {
            kid: None,
            alg: None,
            kind,
            key,
        }],
        skipped: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn rules(now: i64) -> BearerRules<'static> {
        BearerRules {
            issuer: "https://idp.example",
            audience: "api",
            algorithms: &[Algorithm::RS256],
            now: OffsetDateTime::from_unix_timestamp(now).unwrap_or(OffsetDateTime::UNIX_EPOCH),
            skew: Duration::from_secs(30),
        }
    }

    fn failed(checks: &[Check]) -> Vec<&'static str> {
        checks
            .iter()
            .filter(|c| c.is_failed())
            .map(|c| c.name)
            .collect()
    }

    #[test]
    fn a_good_token_passes_every_check() {
        let c = m(
            json!({"iss": "https://idp.example", "aud": ["api", "other"], "exp": 2000, "iat": 1000, "sub": "u1"}),
        );
        assert!(failed(&check(&c, &rules(1500))).is_empty());
    }

    #[test]
    fn wrong_issuer_audience_and_expired_tokens_fail() {
        let c = m(json!({"iss": "https://evil.example", "aud": "web", "exp": 1000, "sub": "u1"}));
        assert_eq!(failed(&check(&c, &rules(1500))), vec!["iss", "aud", "exp"]);
        let no_exp = m(json!({"iss": "https://idp.example", "aud": "api", "sub": "u1"}));
        assert_eq!(failed(&check(&no_exp, &rules(1500))), vec!["exp"]);
        let early = m(
            json!({"iss": "https://idp.example", "aud": "api", "exp": 5000, "nbf": 3000, "sub": "u1"}),
        );
        assert_eq!(failed(&check(&early, &rules(1500))), vec!["nbf"]);
    }

    #[test]
    fn the_allow_list_decides_the_algorithm() {
        let allowed = [Algorithm::RS256, Algorithm::ES256];
        assert!(!check_alg(&m(json!({"alg": "RS256"})), &allowed).is_failed());
        assert!(check_alg(&m(json!({"alg": "PS256"})), &allowed).is_failed());
        assert!(check_alg(&m(json!({"alg": "none"})), &allowed).is_failed());
        assert!(check_alg(&m(json!({"alg": "HS256"})), &allowed).is_failed());
        assert!(check_alg(&m(json!({})), &allowed).is_failed());
        assert_eq!(
            algorithms(&["RS256".into(), "HS256".into(), "bogus".into()]),
            vec![Algorithm::RS256]
        );
    }

    #[test]
    fn pem_keys_are_recognised() {
        assert!(pem_key_set("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----").is_err());
        let ec = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEb7rgVfWCFMq3y8fHKio1EZBHh9g1
nsRUUn8LbMNsSByPdYN1Y8+6cS0b3oDoxBl0oLcGwOaBkgPOLqduJV+ZAg==
-----END PUBLIC KEY-----";
        let set = pem_key_set(ec).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(set.keys[0].kind, KeyKind::Ec);
    }
}
