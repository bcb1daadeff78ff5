//! The relying party: the HTTP client and the discovery and key caches,
//! shared by every application (keys are cached per `jwks_uri`, documents
//! per issuer).

use std::sync::Arc;
use std::time::Duration;

use gatehouse_core::sso::IssuerUrl;
use serde_json::{Map, Value};

use crate::checks::Check;
use crate::discovery::{self, IssuerMatch, ProviderMetadata};
use crate::flight::{FlightCache, Policy};
use crate::http::HttpClient;
use crate::jwks::{JwksCache, KeySet};
use crate::validate::{Jwt, SignatureFailure, verify_signature};
use crate::{OidcError, providers};

/// How long a discovery document is used before it is fetched again.
pub const DISCOVERY_TTL: Duration = Duration::from_secs(3600);

/// A verified JWT: its claims and header, and the algorithm it was signed with.
#[derive(Debug, Clone)]
pub struct Verified {
    /// Claims.
    pub claims: Map<String, Value>,
    /// Header.
    pub header: Map<String, Value>,
    /// Algorithm.
    pub alg: jsonwebtoken::Algorithm,
}

/// Where the keys that verify a token come from.
#[derive(Debug, Clone, Copy)]
pub enum KeySource<'a> {
    /// A JWK Set URL (cached, refreshed for unknown key ids).
    Jwks(&'a str),
    /// Keys held in memory (a configured PEM public key).
    Static(&'a Arc<KeySet>),
}

/// Gatehouse's OpenID Connect client.
#[derive(Debug)]
pub struct RelyingParty {
    http: HttpClient,
    discovery: FlightCache<ProviderMetadata>,
    jwks: JwksCache,
}

impl RelyingParty {
    /// A relying party with empty caches and the default fetch policy.
    pub fn new() -> Result<Self, OidcError> {
        Self::with_policy(Policy::default())
    }

    /// A relying party whose discovery and JWKS fetches follow `policy`
    /// (how long the last good keys are served while the IdP fails, ...).
    pub fn with_policy(policy: Policy) -> Result<Self, OidcError> {
        Ok(Self {
            http: HttpClient::new()?,
            discovery: FlightCache::new("discovery document", policy),
            jwks: JwksCache::new(policy),
        })
    }

    /// The HTTP client.
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    fn matching(issuer: &IssuerUrl) -> IssuerMatch {
        if providers::entra::is_template(issuer.as_str()) {
            IssuerMatch::EntraTemplate
        } else {
            IssuerMatch::Exact
        }
    }

    /// The provider's metadata: cached for an hour (refreshed in the
    /// background after that); while re-fetching fails, the last good
    /// document is used (see [`crate::flight`]).
    pub async fn metadata(&self, issuer: &IssuerUrl) -> Result<Arc<ProviderMetadata>, OidcError> {
        self.discovery
            .get(issuer.as_str(), || {
                // Owned copies only when a fetch starts, never on a hit.
                let (http, issuer, matching) =
                    (self.http.clone(), issuer.clone(), Self::matching(issuer));
                async move {
                    discovery::discover(&http, &issuer, matching)
                        .await
                        .map(|m| (m, DISCOVERY_TTL))
                }
            })
            .await
    }

    /// Forget the cached document of `issuer` (after its settings changed).
    pub fn forget(&self, issuer: &str) {
        self.discovery.forget(issuer);
    }

    /// Fetch the document now, without the cache (for "Test connection").
    pub async fn discover_fresh(&self, issuer: &IssuerUrl) -> Result<ProviderMetadata, OidcError> {
        discovery::discover(&self.http, issuer, Self::matching(issuer)).await
    }

    /// The keys at `jwks_uri`.
    pub async fn keys(&self, jwks_uri: &str) -> Result<Arc<KeySet>, OidcError> {
        self.jwks.get(&self.http, jwks_uri).await
    }

    /// Parse a JWT and verify its signature with the IdP's keys (refreshing
    /// them once if the token names an unknown key) or, for HS*, with `hmac_secret`.
    pub async fn verify(
        &self,
        token: &str,
        jwks_uri: &str,
        hmac_secret: Option<&[u8]>,
        what: &'static str,
    ) -> Result<Verified, OidcError> {
        let jwt = Jwt::parse(token).map_err(|c| OidcError::Invalid {
            token: what,
            checks: vec![c],
        })?;
        self.verify_parsed(jwt, KeySource::Jwks(jwks_uri), hmac_secret, what)
            .await
    }

    /// Verify the signature of a parsed JWT with keys from `source`.
    pub async fn verify_parsed(
        &self,
        jwt: Jwt<'_>,
        source: KeySource<'_>,
        hmac_secret: Option<&[u8]>,
        what: &'static str,
    ) -> Result<Verified, OidcError> {
        let invalid = |check: Check| OidcError::Invalid {
            token: what,
            checks: vec![check],
        };
        let keys = match source {
            KeySource::Jwks(uri) => self.keys(uri).await?,
            KeySource::Static(set) => set.clone(),
        };
        let alg = match verify_signature(&jwt, &keys, hmac_secret) {
            Ok(alg) => alg,
            Err(SignatureFailure::Failed(c)) => return Err(invalid(c)),
            Err(SignatureFailure::UnknownKid(kid)) => {
                let unknown = || {
                    invalid(Check::failed(
                        "kid",
                        format!("the IdP publishes no key {kid:?}"),
                    ))
                };
                let KeySource::Jwks(jwks_uri) = source else {
                    return Err(unknown());
                };
                let Some(fresh) = self
                    .jwks
                    .refresh_for_unknown_kid(&self.http, jwks_uri, &kid)
                    .await?
                else {
                    return Err(unknown());
                };
                match verify_signature(&jwt, &fresh, hmac_secret) {
                    Ok(alg) => alg,
                    Err(SignatureFailure::Failed(c)) => return Err(invalid(c)),
                    Err(SignatureFailure::UnknownKid(_)) => return Err(unknown()),
                }
            }
        };
        Ok(Verified {
            claims: jwt.claims,
            header: jwt.header,
            alg,
        })
    }

    /// Read userinfo with the access token: a JSON object, or a signed JWT
    /// (`application/jwt`) that must come from `issuer` and be for `client_id`.
    pub async fn userinfo(
        &self,
        meta: &ProviderMetadata,
        access_token: &str,
        client_id: &str,
        hmac_secret: Option<&[u8]>,
    ) -> Result<Option<Map<String, Value>>, OidcError> {
        let Some(endpoint) = &meta.userinfo_endpoint else {
            return Ok(None);
        };
        let body = self
            .http
            .get_bearer(endpoint, access_token, "userinfo")
            .await?;
        if body.status != 200 {
            return Err(OidcError::BadStatus {
                what: "userinfo",
                status: body.status,
                detail: body.oauth_error().map(|e| e.0),
            });
        }
        if body.content_type == "application/jwt" {
            let text = String::from_utf8(body.bytes).map_err(|_| OidcError::BadResponse {
                what: "userinfo",
                detail: "not UTF-8".into(),
            })?;
            let v = self
                .verify(text.trim(), &meta.jwks_uri, hmac_secret, "userinfo")
                .await?;
            let mut checks = Vec::new();
            if v.claims.contains_key("iss") {
                checks.push(crate::validate::claims::iss(&v.claims, &meta.issuer));
            }
            if v.claims.contains_key("aud") {
                checks.push(crate::validate::claims::aud(&v.claims, client_id));
            }
            if checks.iter().any(Check::is_failed) {
                return Err(OidcError::Invalid {
                    token: "userinfo",
                    checks,
                });
            }
            return Ok(Some(v.claims));
        }
        body.json_object("userinfo").map(Some)
    }
}
