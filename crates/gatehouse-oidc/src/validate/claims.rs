//! Claim checks shared by every token: issuer, audience, times.

use std::time::Duration;

use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::checks::Check;

fn number(claims: &Map<String, Value>, name: &str) -> Option<i64> {
    let v = claims.get(name)?;
    v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))
}

/// `iss` equals `expected` exactly.
pub fn iss(claims: &Map<String, Value>, expected: &str) -> Check {
    match claims.get("iss").and_then(Value::as_str) {
        Some(found) if found == expected => Check::ok("iss"),
        Some(found) => Check::failed(
            "iss",
            format!("the token was issued by {found:?}, not {expected:?}"),
        ),
        None => Check::failed("iss", "the token has no issuer (iss)"),
    }
}

/// The audiences of a token.
pub fn audiences(claims: &Map<String, Value>) -> Option<Vec<&str>> {
    match claims.get("aud")? {
        Value::String(s) => Some(vec![s.as_str()]),
        Value::Array(a) => a.iter().map(Value::as_str).collect(),
        _ => None,
    }
}

/// `aud` contains `client_id`.
pub fn aud(claims: &Map<String, Value>, client_id: &str) -> Check {
    match audiences(claims) {
        Some(auds) if auds.contains(&client_id) => Check::ok("aud"),
        Some(auds) => Check::failed(
            "aud",
            format!("the token is for {auds:?}, not for {client_id:?}"),
        ),
        None => Check::failed("aud", "the token has no valid audience (aud)"),
    }
}

/// With several audiences, `azp` must be present; whenever present it must be `client_id`.
pub fn azp(claims: &Map<String, Value>, client_id: &str) -> Check {
    let several = audiences(claims).is_some_and(|a| a.len() > 1);
    match claims.get("azp").and_then(Value::as_str) {
        Some(a) if a == client_id => Check::ok("azp"),
        Some(a) => Check::failed(
            "azp",
            format!("the token was issued to {a:?} (azp), not to {client_id:?}"),
        ),
        None if several => Check::failed(
            "azp",
            "the token has several audiences but no authorized party (azp)",
        ),
        None => Check::skipped("azp", "one audience, no azp"),
    }
}

/// `exp` is in the future (with `skew`).
pub fn exp(
    claims: &Map<String, Value>,
    now: OffsetDateTime,
    skew: Duration,
    required: bool,
) -> Check {
    match number(claims, "exp") {
        Some(e) if now.unix_timestamp() < e.saturating_add(skew.as_secs() as i64) => {
            Check::ok("exp")
        }
        Some(e) => Check::failed(
            "exp",
            format!("the token expired {}s ago", now.unix_timestamp() - e),
        ),
        None if required => Check::failed("exp", "the token has no expiry (exp)"),
        None => Check::skipped("exp", "no exp"),
    }
}

/// `iat` is not in the future (with `skew`) and, when `max_age` is given, not older than that.
pub fn iat(
    claims: &Map<String, Value>,
    now: OffsetDateTime,
    skew: Duration,
    max_age: Option<Duration>,
) -> Check {
    let now = now.unix_timestamp();
    let skew = skew.as_secs() as i64;
    match number(claims, "iat") {
        Some(i) if i > now + skew => Check::failed(
            "iat",
            format!("the token was issued {}s in the future", i - now),
        ),
        Some(i) if max_age.is_some_and(|m| i < now - m.as_secs() as i64 - skew) => Check::failed(
            "iat",
            format!("the token was issued {}s ago, too long ago", now - i),
        ),
        Some(_) => Check::ok("iat"),
        None => Check::failed("iat", "the token has no issue time (iat)"),
    }
}

/// `nbf`, when present, is not in the future (with `skew`).
pub fn nbf(claims: &Map<String, Value>, now: OffsetDateTime, skew: Duration) -> Check {
    match number(claims, "nbf") {
        Some(n) if n > now.unix_timestamp() + skew.as_secs() as i64 => Check::failed(
            "nbf",
            format!(
                "the token is not valid for another {}s",
                n - now.unix_timestamp()
            ),
        ),
        Some(_) => Check::ok("nbf"),
        None => Check::skipped("nbf", "no nbf"),
    }
}

/// `sub` is a non-empty string of at most 255 characters.
pub fn sub(claims: &Map<String, Value>) -> Check {
    match claims.get("sub").and_then(Value::as_str) {
        Some(s) if !s.is_empty() && s.len() <= 255 => Check::ok("sub"),
        Some(_) => Check::failed(
            "sub",
            "the subject (sub) is empty or longer than 255 characters",
        ),
        None => Check::failed("sub", "the token has no subject (sub)"),
    }
}

/// The token was signed with the algorithm registered for the client
/// (`id_token_signed_response_alg`), never another the keys would allow.
pub fn alg(actual: jsonwebtoken::Algorithm, expected: gatehouse_core::sso::SigningAlg) -> Check {
    if format!("{actual:?}") == expected.as_str() {
        Check::ok("alg")
    } else {
        Check::failed(
            "alg",
            format!(
                "signed with {actual:?}, but the application expects {} (its ID token signing algorithm)",
                expected.as_str()
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn time_checks_honour_the_skew() {
        let now =
            OffsetDateTime::from_unix_timestamp(1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let skew = Duration::from_secs(30);
        assert!(!exp(&m(json!({"exp": 999_980})), now, skew, true).is_failed());
        assert!(exp(&m(json!({"exp": 999_970})), now, skew, true).is_failed());
        assert!(exp(&m(json!({})), now, skew, true).is_failed());
        assert!(!iat(&m(json!({"iat": 1_000_020})), now, skew, None).is_failed());
        assert!(iat(&m(json!({"iat": 1_000_031})), now, skew, None).is_failed());
        assert!(
            iat(
                &m(json!({"iat": 990_000})),
                now,
                skew,
                Some(Duration::from_secs(600))
            )
            .is_failed()
        );
        assert!(nbf(&m(json!({"nbf": 1_000_031})), now, skew).is_failed());
        assert!(!nbf(&m(json!({})), now, skew).is_failed());
    }

    #[test]
    fn audience_rules() {
        assert!(!aud(&m(json!({"aud": "c"})), "c").is_failed());
        assert!(!aud(&m(json!({"aud": ["x", "c"]})), "c").is_failed());
        assert!(aud(&m(json!({"aud": ["x"]})), "c").is_failed());
        assert!(aud(&m(json!({"aud": 5})), "c").is_failed());
        assert!(azp(&m(json!({"aud": ["x", "c"]})), "c").is_failed());
        assert!(!azp(&m(json!({"aud": ["x", "c"], "azp": "c"})), "c").is_failed());
        assert!(azp(&m(json!({"aud": "c", "azp": "x"})), "c").is_failed());
    }
}
