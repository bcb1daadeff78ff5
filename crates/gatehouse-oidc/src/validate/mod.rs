//! One validation path for every JWT Gatehouse accepts (ID tokens, logout
//! tokens, signed userinfo, bearer tokens): parse the compact form, check
//! the algorithm against an allow-list (`none` never), find the key (by
//! `kid`; without one only when the IdP publishes a single key), verify the
//! signature with `jsonwebtoken`, then check claims with an injected time.
//! Every step is a named [`Check`](crate::Check).

pub mod claims;
pub mod id_token;
pub mod logout_token;
pub mod userinfo;

use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};

use crate::checks::Check;
use crate::jwks::KeySet;

/// The asymmetric algorithms accepted for signatures from an IdP.
pub const ASYMMETRIC: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// The HMAC algorithms, accepted only with the client secret as the key.
pub const HMAC: &[Algorithm] = &[Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];

/// A parsed (not yet verified) compact JWS.
#[derive(Debug, Clone)]
pub struct Jwt<'t> {
    /// The protected header.
    pub header: Map<String, Value>,
    /// The claims.
    pub claims: Map<String, Value>,
    signing_input: &'t str,
    signature: &'t str,
}

impl<'t> Jwt<'t> {
    /// Split and decode a compact JWS. Nothing is trusted yet.
    pub fn parse(token: &'t str) -> Result<Self, Check> {
        let bad = |why: &str| Check::failed("format", why.to_owned());
        if token.len() > 64 * 1024 {
            return Err(bad("the token is larger than 64 KiB"));
        }
        let (signing_input, signature) = token
            .rsplit_once('.')
            .ok_or_else(|| bad("not a JWT (expected three parts)"))?;
        let (h, c) = signing_input
            .split_once('.')
            .ok_or_else(|| bad("not a JWT (expected three parts)"))?;
        if c.contains('.') {
            return Err(bad(
                "not a signed JWT (five parts: encrypted tokens are not supported)",
            ));
        }
        let decode = |part: &str, what: &str| -> Result<Map<String, Value>, Check> {
            let bytes = URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| bad(&format!("the {what} is not base64url")))?;
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(m)) => Ok(m),
                _ => Err(bad(&format!("the {what} is not a JSON object"))),
            }
        };
        Ok(Self {
            header: decode(h, "header")?,
            claims: decode(c, "payload")?,
            signing_input,
            signature,
        })
    }

    /// The header's `alg` as written.
    pub fn alg_name(&self) -> Option<&str> {
        self.header.get("alg").and_then(Value::as_str)
    }

    /// The header's `kid`.
    pub fn kid(&self) -> Option<&str> {
        self.header.get("kid").and_then(Value::as_str)
    }

    /// A string claim.
    pub fn str_claim(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }
}

/// The most keys tried for a token without `kid`.
pub const MAX_KEYS_WITHOUT_KID: usize = 4;

/// Why a signature could not be verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureFailure {
    /// The token names a key id the key set does not have (worth one refresh).
    UnknownKid(String),
    /// Anything else.
    Failed(Check),
}

/// Check the algorithm and the signature. `hmac_secret` enables HS* with
/// that secret as the key (the client secret, for ID tokens).
pub fn verify_signature(
    jwt: &Jwt<'_>,
    keys: &KeySet,
    hmac_secret: Option<&[u8]>,
) -> Result<Algorithm, SignatureFailure> {
    let fail = |name: &'static str, why: String| SignatureFailure::Failed(Check::failed(name, why));
    let alg_name = jwt
        .alg_name()
        .ok_or_else(|| fail("alg", "the header has no alg".into()))?;
    if alg_name.eq_ignore_ascii_case("none") {
        return Err(fail(
            "alg",
            "the token is not signed (alg \"none\" is never accepted)".into(),
        ));
    }
    let alg = Algorithm::from_str(alg_name).map_err(|_| {
        fail(
            "alg",
            format!("the algorithm {alg_name:?} is not supported"),
        )
    })?;
    if HMAC.contains(&alg) {
        let secret = hmac_secret.ok_or_else(|| {
            fail("alg", format!("{alg_name} is accepted only when a client secret is configured to check it with"))
        })?;
        let key = DecodingKey::from_secret(secret);
        return match jsonwebtoken::crypto::verify(
            jwt.signature,
            jwt.signing_input.as_bytes(),
            &key,
            alg,
        ) {
            Ok(true) => Ok(alg),
            _ => Err(fail(
                "signature",
                "the HMAC signature does not match the client secret".into(),
            )),
        };
    }
    if !ASYMMETRIC.contains(&alg) {
        return Err(fail(
            "alg",
            format!("the algorithm {alg_name} is not allowed"),
        ));
    }
    let candidates = match jwt.kid() {
        Some(kid) => {
            let c = keys.candidates(alg, Some(kid));
            if c.is_empty() {
                return Err(if keys.has_kid(kid) {
                    fail(
                        "kid",
                        format!("the key {kid:?} cannot be used with {alg_name}"),
                    )
                } else {
                    SignatureFailure::UnknownKid(kid.to_owned())
                });
            }
            c
        }
        None => {
            // No kid: the keys whose type, algorithm and use fit, each tried
            // in turn (OpenID Connect Core §10.1 lets a token omit the kid
            // when the key is unambiguous; certification also sends one
            // beside keys of other types).
            let c = keys.candidates(alg, None);
            if c.is_empty() {
                return Err(fail(
                    "kid",
                    format!("the IdP publishes no key for {alg_name}"),
                ));
            }
            if c.len() > MAX_KEYS_WITHOUT_KID {
                return Err(fail(
                    "kid",
                    format!(
                        "the token names no key (kid) and the IdP publishes {} keys for {alg_name}; at most {MAX_KEYS_WITHOUT_KID} are tried",
                        c.len()
                    ),
                ));
            }
            c
        }
    };
    for k in candidates {
        if let Ok(true) =
            jsonwebtoken::crypto::verify(jwt.signature, jwt.signing_input.as_bytes(), &k.key, alg)
        {
            return Ok(alg);
        }
    }
    Err(fail(
        "signature",
        "the signature does not verify with the IdP's key".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_tokens_are_refused() {
        for bad in [
            "",
            "a",
            "a.b",
            "a.b.c.d.e",
            "!!.e30.x",
            "e30.!!.x",
            "W10.e30.x",
        ] {
            assert!(Jwt::parse(bad).is_err(), "{bad:?}");
        }
        let ok = Jwt::parse("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
            .map(|j| j.str_claim("sub").map(str::to_owned));
        assert_eq!(ok.ok().flatten().as_deref(), Some("x"));
    }

    #[test]
    fn alg_none_is_never_accepted() {
        let jwt =
            Jwt::parse("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.").unwrap_or_else(|c| panic!("{c:?}"));
        let r = verify_signature(&jwt, &KeySet::default(), Some(b"secret"));
        assert!(matches!(r, Err(SignatureFailure::Failed(c)) if c.name == "alg"));
    }
}
