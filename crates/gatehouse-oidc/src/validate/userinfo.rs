//! Userinfo responses: `sub` must be the ID token's `sub` (OpenID Connect
//! Core §5.3.2); a signed (JWT) response must also come from the issuer and
//! be meant for this client.

use serde_json::{Map, Value};

use crate::checks::Check;

/// Checks of userinfo claims against the ID token's subject.
pub fn check_sub(claims: &Map<String, Value>, id_token_sub: &str) -> Check {
    match claims.get("sub").and_then(Value::as_str) {
        Some(s) if s == id_token_sub => Check::ok("userinfo_sub"),
        Some(s) => Check::failed(
            "userinfo_sub",
            format!("userinfo describes {s:?}, but the ID token is for {id_token_sub:?}"),
        ),
        None => Check::failed("userinfo_sub", "the userinfo response has no subject (sub)"),
    }
}

/// Claims that belong to the token, not to the user: never taken from userinfo.
pub const PROTOCOL_CLAIMS: &[&str] = &[
    "iss",
    "aud",
    "exp",
    "iat",
    "nbf",
    "nonce",
    "azp",
    "at_hash",
    "c_hash",
    "auth_time",
    "jti",
    "sid",
];

/// Merge userinfo claims over ID token claims (userinfo is fresher), keeping
/// the ID token's protocol claims.
pub fn merge(id_claims: &Map<String, Value>, userinfo: &Map<String, Value>) -> Map<String, Value> {
    let mut out = id_claims.clone();
    for (k, v) in userinfo {
        if !PROTOCOL_CLAIMS.contains(&k.as_str()) {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}
