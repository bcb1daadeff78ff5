//! Discovery: `<issuer>/.well-known/openid-configuration`, whose `issuer`
//! must equal the configured Issuer URL byte for byte (Entra ID's
//! multi-tenant `{tenantid}` template is the one opt-in exception), and
//! whose endpoints must use https (plain http only when the issuer itself is
//! a loopback http URL, for development).

use gatehouse_core::sso::IssuerUrl;
use serde::{Deserialize, Serialize};

use crate::OidcError;
use crate::http::HttpClient;

/// The parts of the provider's metadata Gatehouse uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderMetadata {
    /// The issuer identifier.
    pub issuer: String,
    /// Where browsers are sent to sign in.
    pub authorization_endpoint: String,
    /// Where codes are exchanged.
    pub token_endpoint: String,
    /// Where claims are read with the access token.
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    /// The signing keys.
    pub jwks_uri: String,
    /// RP-initiated logout.
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
    /// Algorithms the IdP signs ID tokens with.
    #[serde(default)]
    pub id_token_signing_alg_values_supported: Vec<String>,
    /// Client authentication methods at the token endpoint.
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// PKCE methods.
    #[serde(default)]
    pub code_challenge_methods_supported: Option<Vec<String>>,
    /// Scopes.
    #[serde(default)]
    pub scopes_supported: Option<Vec<String>>,
    /// Back-channel logout support.
    #[serde(default)]
    pub backchannel_logout_supported: bool,
}

/// How the discovery document's `issuer` is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuerMatch {
    /// Byte for byte (the rule).
    Exact,
    /// Entra ID multi-tenant: the configured issuer contains `{tenantid}`,
    /// the document's issuer is the same template, and ID tokens carry the
    /// tenant in `tid`.
    EntraTemplate,
}

fn is_loopback_http(url: &url::Url) -> bool {
    url.scheme() == "http"
        && matches!(url.host_str(), Some(h) if h == "localhost" || h.ends_with(".localhost") || h.starts_with("127.") || h == "[::1]")
}

/// Check an endpoint URL from the document.
pub fn check_endpoint(
    raw: &str,
    name: &'static str,
    issuer: &url::Url,
) -> Result<url::Url, OidcError> {
    let url = url::Url::parse(raw).map_err(|e| OidcError::BadResponse {
        what: "discovery document",
        detail: format!("{name} is not a URL ({e})"),
    })?;
    let ok = url.scheme() == "https" || (is_loopback_http(&url) && is_loopback_http(issuer));
    if !ok {
        return Err(OidcError::BadResponse {
            what: "discovery document",
            detail: format!("{name} must use https: {raw}"),
        });
    }
    Ok(url)
}

/// Fetch and check the discovery document of `issuer`.
pub async fn discover(
    http: &HttpClient,
    issuer: &IssuerUrl,
    matching: IssuerMatch,
) -> Result<ProviderMetadata, OidcError> {
    let url = match matching {
        IssuerMatch::Exact => issuer.discovery_url(),
        // The template itself is not a URL one can fetch; Microsoft serves the
        // multi-tenant document under /common (or /organizations, /consumers).
        IssuerMatch::EntraTemplate => issuer.discovery_url().replace("{tenantid}", "common"),
    };
    let body = http.get(&url, "discovery", "application/json").await?;
    if body.status != 200 {
        return Err(OidcError::BadStatus {
            what: "discovery",
            status: body.status,
            detail: None,
        });
    }
    let meta: ProviderMetadata =
        serde_json::from_slice(&body.bytes).map_err(|e| OidcError::BadResponse {
            what: "discovery document",
            detail: e.to_string(),
        })?;
    // With the Entra template the configured issuer is the template itself,
    // exactly as Microsoft's multi-tenant document states it.
    let expected = issuer.as_str().to_owned();
    if meta.issuer != expected {
        return Err(OidcError::IssuerMismatch {
            expected,
            found: meta.issuer.chars().take(300).collect(),
        });
    }
    let issuer_url =
        url::Url::parse(issuer.as_str()).map_err(|e| OidcError::Config(e.to_string()))?;
    check_endpoint(
        &meta.authorization_endpoint,
        "authorization_endpoint",
        &issuer_url,
    )?;
    check_endpoint(&meta.token_endpoint, "token_endpoint", &issuer_url)?;
    check_endpoint(&meta.jwks_uri, "jwks_uri", &issuer_url)?;
    if let Some(u) = &meta.userinfo_endpoint {
        check_endpoint(u, "userinfo_endpoint", &issuer_url)?;
    }
    if let Some(u) = &meta.end_session_endpoint {
        check_endpoint(u, "end_session_endpoint", &issuer_url)?;
    }
    Ok(meta)
}
