//! ID token claims (OpenID Connect Core §3.1.3.7): iss, aud, azp, exp, iat,
//! nbf, nonce, at_hash, sub, and Entra ID's tenant template.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::claims;
use crate::checks::Check;

/// What the ID token must say.
#[derive(Debug, Clone)]
pub struct IdTokenRules<'a> {
    /// The issuer, or with `entra_template` the `{tenantid}` template.
    pub issuer: &'a str,
    /// Whether `issuer` is an Entra ID multi-tenant template.
    pub entra_template: bool,
    /// The client id.
    pub client_id: &'a str,
    /// The nonce sent (none when refreshing).
    pub nonce: Option<&'a str>,
    /// The access token issued with it (for `at_hash`).
    pub access_token: Option<&'a str>,
    /// Now.
    pub now: OffsetDateTime,
    /// Allowed clock difference.
    pub skew: Duration,
}

/// `at_hash`: the left half of the access token's hash with the hash of the
/// signature algorithm, base64url.
pub fn at_hash(alg: Algorithm, access_token: &str) -> String {
    use gatehouse_crypto::signing::{sha256, sha384, sha512};
    let digest = match alg {
        Algorithm::RS384 | Algorithm::PS384 | Algorithm::ES384 | Algorithm::HS384 => {
            sha384(access_token.as_bytes())
        }
        Algorithm::RS512 | Algorithm::PS512 | Algorithm::HS512 | Algorithm::EdDSA => {
            sha512(access_token.as_bytes())
        }
        _ => sha256(access_token.as_bytes()),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

fn is_tenant_id(tid: &str) -> bool {
    tid.len() == 36 && tid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

/// Every claim check of an ID token whose signature (with `alg`) verified.
pub fn check(claims: &Map<String, Value>, alg: Algorithm, rules: &IdTokenRules<'_>) -> Vec<Check> {
    let mut out = Vec::new();
    if rules.entra_template {
        match claims.get("tid").and_then(Value::as_str) {
            Some(tid) if is_tenant_id(tid) => {
                out.push(Check::ok("tid"));
                out.push(claims::iss(
                    claims,
                    &rules.issuer.replace("{tenantid}", tid),
                ));
            }
            _ => {
                out.push(Check::failed(
                    "tid",
                    "a multi-tenant Entra ID token must carry the tenant id (tid)",
                ));
                out.push(Check::failed(
                    "iss",
                    "cannot check the issuer without a tenant id",
                ));
            }
        }
    } else {
        out.push(claims::iss(claims, rules.issuer));
    }
    out.push(claims::sub(claims));
    out.push(claims::aud(claims, rules.client_id));
    out.push(claims::azp(claims, rules.client_id));
    out.push(claims::exp(claims, rules.now, rules.skew, true));
    out.push(claims::iat(claims, rules.now, rules.skew, None));
    out.push(claims::nbf(claims, rules.now, rules.skew));
    out.push(
        match (rules.nonce, claims.get("nonce").and_then(Value::as_str)) {
            (Some(sent), Some(got))
                if gatehouse_crypto::token::secrets_equal(&sent.to_owned().into(), got) =>
            {
                Check::ok("nonce")
            }
            (Some(_), Some(_)) => Check::failed(
                "nonce",
                "the nonce does not match the one sent with this sign-in",
            ),
            (Some(_), None) => Check::failed("nonce", "the token has no nonce, but one was sent"),
            (None, _) => Check::skipped("nonce", "no nonce was sent"),
        },
    );
    out.push(
        match (
            claims.get("at_hash").and_then(Value::as_str),
            rules.access_token,
        ) {
            (Some(h), Some(at)) if h == at_hash(alg, at) => Check::ok("at_hash"),
            (Some(_), Some(_)) => {
                Check::failed("at_hash", "at_hash does not match the access token")
            }
            (Some(_), None) => Check::skipped("at_hash", "no access token to compare"),
            (None, _) => Check::skipped("at_hash", "no at_hash"),
        },
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn at_hash_follows_the_algorithm() {
        // From OpenID Connect Core, A.3/A.4 style: SHA-256 left half.
        let h = at_hash(
            Algorithm::RS256,
            "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y",
        );
        assert_eq!(h, "77QmUPtjPfzWtF2AnpK9RQ");
    }

    #[test]
    fn entra_template_needs_a_tenant() {
        let now = OffsetDateTime::from_unix_timestamp(1_000).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let rules = IdTokenRules {
            issuer: "https://login.microsoftonline.com/{tenantid}/v2.0",
            entra_template: true,
            client_id: "c",
            nonce: Some("n"),
            access_token: None,
            now,
            skew: Duration::from_secs(30),
        };
        let tid = "9188040d-6c67-4c5b-b112-36a304b66dad";
        let good = json!({"iss": format!("https://login.microsoftonline.com/{tid}/v2.0"), "tid": tid, "sub": "s",
                          "aud": "c", "exp": 2_000, "iat": 1_000, "nonce": "n"});
        let checks = check(
            good.as_object().unwrap_or(&Map::new()),
            Algorithm::RS256,
            &rules,
        );
        assert!(checks.iter().all(|c| !c.is_failed()), "{checks:?}");
        let other = json!({"iss": "https://login.microsoftonline.com/other/v2.0", "tid": tid, "sub": "s",
                           "aud": "c", "exp": 2_000, "iat": 1_000, "nonce": "n"});
        let checks = check(
            other.as_object().unwrap_or(&Map::new()),
            Algorithm::RS256,
            &rules,
        );
        assert!(checks.iter().any(|c| c.name == "iss" && c.is_failed()));
    }
}
