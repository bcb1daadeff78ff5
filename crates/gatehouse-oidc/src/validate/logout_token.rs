//! Logout tokens (OpenID Connect Back-Channel Logout 1.0 §2.6).

use std::time::Duration;

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::claims;
use crate::checks::Check;

/// The event a logout token must carry.
pub const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// How old a logout token may be.
pub const MAX_AGE: Duration = Duration::from_secs(300);

/// What a valid logout token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutClaims {
    /// The user at the IdP, if named.
    pub sub: Option<String>,
    /// The IdP session, if named.
    pub sid: Option<String>,
    /// The token's id (for replay detection).
    pub jti: String,
    /// When it expires (for keeping the replay record).
    pub exp: i64,
}

/// Check the claims of a logout token whose signature verified.
pub fn check(
    claims: &Map<String, Value>,
    header: &Map<String, Value>,
    issuer: &str,
    client_id: &str,
    now: OffsetDateTime,
    skew: Duration,
) -> (Vec<Check>, Option<LogoutClaims>) {
    let mut out = vec![
        claims::iss(claims, issuer),
        claims::aud(claims, client_id),
        claims::iat(claims, now, skew, Some(MAX_AGE)),
        claims::exp(claims, now, skew, false),
    ];
    if let Some(typ) = header.get("typ").and_then(Value::as_str) {
        out.push(
            if typ.eq_ignore_ascii_case("logout+jwt") || typ.eq_ignore_ascii_case("jwt") {
                Check::ok("typ")
            } else {
                Check::failed(
                    "typ",
                    format!("a logout token's typ is logout+jwt, not {typ:?}"),
                )
            },
        );
    }
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .filter(|j| !j.is_empty() && j.len() <= 255);
    out.push(match jti {
        Some(_) => Check::ok("jti"),
        None => Check::failed("jti", "the logout token has no id (jti)"),
    });
    let events_ok = claims
        .get("events")
        .and_then(Value::as_object)
        .and_then(|e| e.get(EVENT))
        .is_some_and(Value::is_object);
    out.push(if events_ok {
        Check::ok("events")
    } else {
        Check::failed("events", format!("the events claim must contain {EVENT:?}"))
    });
    let sub = claims.get("sub").and_then(Value::as_str).map(str::to_owned);
    let sid = claims.get("sid").and_then(Value::as_str).map(str::to_owned);
    out.push(if sub.is_some() || sid.is_some() {
        Check::ok("sub_or_sid")
    } else {
        Check::failed(
            "sub_or_sid",
            "a logout token names the user (sub) or the session (sid)",
        )
    });
    out.push(if claims.contains_key("nonce") {
        Check::failed("nonce", "a logout token must not contain a nonce")
    } else {
        Check::ok("nonce")
    });
    if out.iter().any(Check::is_failed) {
        return (out, None);
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .unwrap_or(now.unix_timestamp());
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .unwrap_or(iat + MAX_AGE.as_secs() as i64);
    let parsed = LogoutClaims {
        sub,
        sid,
        jti: jti.unwrap_or_default().to_owned(),
        exp,
    };
    (out, Some(parsed))
}
