//! The IdP's signing keys: parsed from its JWK Set, cached per `jwks_uri`,
//! re-fetched when a token names a key id the cache does not know (once per
//! unknown key id), and kept when the IdP fails so signed-in users and
//! bearer tokens keep working through an outage ([`crate::flight`]).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, jwk::Jwk};
use serde_json::Value;

use crate::OidcError;
use crate::flight::{Fetched, FlightCache, Policy};
use crate::http::HttpClient;

/// How long keys are used before they are fetched again (unless the IdP says less).
pub const TTL: Duration = Duration::from_secs(600);
/// The shortest freshness an IdP's `Cache-Control` can ask for.
pub const MIN_TTL: Duration = Duration::from_secs(10);

/// The kind of key a JWK holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// RSA (RS*, PS*).
    Rsa,
    /// EC P-256 (ES256).
    P256,
    /// EC P-384 (ES384).
    P384,
    /// Ed25519 (EdDSA).
    Ed25519,
    /// EC of a curve not stated (a PEM key): ES256 or ES384, the signature decides.
    Ec,
}

impl KeyKind {
    /// Whether a token signed with `alg` can be checked with a key of this kind.
    pub fn fits(self, alg: Algorithm) -> bool {
        use Algorithm::*;
        matches!(
            (self, alg),
            (Self::Rsa, RS256 | RS384 | RS512 | PS256 | PS384 | PS512)
                | (Self::P256, ES256)
                | (Self::P384, ES384)
                | (Self::Ed25519, EdDSA)
                | (Self::Ec, ES256 | ES384)
        )
    }
}

/// One usable verification key.
#[derive(Clone)]
pub struct Key {
    /// Its id.
    pub kid: Option<String>,
    /// The only algorithm it may be used with, if the JWK says.
    pub alg: Option<Algorithm>,
    /// Its kind.
    pub kind: KeyKind,
    /// The key.
    pub key: DecodingKey,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("kind", &self.kind)
            .finish()
    }
}

/// A parsed JWK Set.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    /// Usable signature keys.
    pub keys: Vec<Key>,
    /// Keys left out (encryption keys, symmetric keys, unsupported types).
    pub skipped: usize,
}

impl KeySet {
    /// Parse a JWK Set document. Unusable keys are skipped, not fatal.
    pub fn parse(bytes: &[u8]) -> Result<Self, OidcError> {
        let bad = |detail: String| OidcError::BadResponse {
            what: "JWK Set",
            detail,
        };
        let doc: Value =
            serde_json::from_slice(bytes).map_err(|e| bad(format!("not JSON ({e})")))?;
        let keys = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("no \"keys\" array".into()))?;
        let mut set = KeySet::default();
        for raw in keys {
            match parse_key(raw) {
                Some(k) => set.keys.push(k),
                None => set.skipped += 1,
            }
        }
        Ok(set)
    }

    /// The keys a token with `alg` and `kid` may be checked with.
    pub fn candidates(&self, alg: Algorithm, kid: Option<&str>) -> Vec<&Key> {
        self.keys
            .iter()
            .filter(|k| k.kind.fits(alg) && k.alg.is_none_or(|a| a == alg))
            .filter(|k| kid.is_none() || k.kid.as_deref() == kid)
            .collect()
    }

    /// Whether a key with this id is present.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }
}

fn parse_key(raw: &Value) -> Option<Key> {
    let s = |name: &str| raw.get(name).and_then(Value::as_str);
    if s("use").is_some_and(|u| u != "sig") {
        return None;
    }
    if let Some(ops) = raw.get("key_ops").and_then(Value::as_array)
        && !ops.iter().any(|o| o.as_str() == Some("verify"))
    {
        return None;
    }
    let kind = match (s("kty")?, s("crv")) {
        ("RSA", _) => KeyKind::Rsa,
        ("EC", Some("P-256")) => KeyKind::P256,
        ("EC", Some("P-384")) => KeyKind::P384,
        ("OKP", Some("Ed25519")) => KeyKind::Ed25519,
        _ => return None, // "oct" keys never come from a JWKS we trust; others are unsupported
    };
    let alg = match s("alg") {
        Some(a) => Some(Algorithm::from_str(a).ok()?),
        None => None,
    };
    if alg.is_some_and(|a| !kind.fits(a)) {
        return None;
    }
    let jwk: Jwk = serde_json::from_value(raw.clone()).ok()?;
    let key = DecodingKey::from_jwk(&jwk).ok()?;
    Some(Key {
        kid: s("kid").map(str::to_owned),
        alg,
        kind,
        key,
    })
}

/// Key sets by `jwks_uri`, fetched one at a time per URI with backoff and
/// the last good keys kept (see [`crate::flight`]).
#[derive(Debug)]
pub struct JwksCache {
    sets: FlightCache<KeySet>,
}

impl Default for JwksCache {
    fn default() -> Self {
        Self::new(Policy::default())
    }
}

impl JwksCache {
    /// An empty cache fetching by `policy`.
    pub fn new(policy: Policy) -> Self {
        Self {
            sets: FlightCache::new("JWKS", policy),
        }
    }

    /// The keys at `uri`: cached while fresh (refreshed in the background
    /// once stale, the stale keys served meanwhile for up to the policy's
    /// `max_stale`), else fetched, waiting at most the policy's `wait`.
    pub async fn get(&self, http: &HttpClient, uri: &str) -> Result<Arc<KeySet>, OidcError> {
        // Owned copies are made only when a fetch starts, never on a hit.
        self.sets
            .get(uri, || fetch(http.clone(), uri.to_owned()))
            .await
    }

    /// Fetch again because a token named the key id `kid`, which the cached
    /// set lacks: once per unknown key id (and at most once a second for the
    /// set), so a key rotated in at every sign-in is found while random key
    /// ids cost the IdP little. `Ok(None)`: not fetched (this key id was
    /// looked for a moment ago). Fails fast while the IdP's keys cannot be
    /// fetched.
    pub async fn refresh_for_unknown_kid(
        &self,
        http: &HttpClient,
        uri: &str,
        kid: &str,
    ) -> Result<Option<Arc<KeySet>>, OidcError> {
        self.sets
            .refresh_for(
                uri,
                kid,
                |set| set.has_kid(kid),
                || fetch(http.clone(), uri.to_owned()),
            )
            .await
    }
}

async fn fetch(http: HttpClient, uri: String) -> Fetched<KeySet> {
    let body = http
        .get(&uri, "JWKS", "application/json, application/jwk-set+json")
        .await?;
    if body.status != 200 {
        return Err(OidcError::BadStatus {
            what: "JWKS",
            status: body.status,
            detail: None,
        });
    }
    let set = KeySet::parse(&body.bytes)?;
    if set.keys.is_empty() {
        return Err(OidcError::BadResponse {
            what: "JWK Set",
            detail: "no usable signature keys".into(),
        });
    }
    let ttl = body.max_age.map_or(TTL, |m| m.clamp(MIN_TTL, TTL));
    Ok((set, ttl))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_keys_are_skipped() {
        let doc = serde_json::json!({"keys": [
            {"kty": "RSA", "kid": "r1", "alg": "RS256", "use": "sig",
             "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw",
             "e": "AQAB"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": "x", "e": "AQAB"},
            {"kty": "oct", "k": "c2VjcmV0"},
            {"kty": "EC", "crv": "P-521", "x": "x", "y": "y"},
            {"kty": "EC", "crv": "P-256", "alg": "RS256", "x": "x", "y": "y"},
        ]});
        let set = KeySet::parse(doc.to_string().as_bytes()).unwrap_or_default();
        assert_eq!(set.keys.len(), 1);
        assert_eq!(set.skipped, 4);
        assert_eq!(set.candidates(Algorithm::RS256, Some("r1")).len(), 1);
        assert_eq!(
            set.candidates(Algorithm::PS256, Some("r1")).len(),
            0,
            "the JWK's alg binds the key"
        );
        assert_eq!(set.candidates(Algorithm::ES256, None).len(), 0);
        assert!(KeySet::parse(b"{}").is_err());
    }
}
