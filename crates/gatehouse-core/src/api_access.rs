//! API access with bearer tokens: an application may accept
//! `Authorization: Bearer <JWT>` issued by its IdP (or signed by a key the
//! operator configures) instead of a session. These are the settings; the
//! checks themselves live in `gatehouse-oidc`.

use serde::{Deserialize, Serialize};

use crate::sso::IssuerUrl;
use crate::validation::{Collector, Invalid};

/// The signature algorithms an operator may allow for bearer tokens: the
/// asymmetric JOSE algorithms. `none` and the HMAC family are never allowed
/// (a shared secret would let every holder mint tokens).
pub const ALGORITHMS: [&str; 9] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// Bearer-token settings of one application, validated
/// ([`ApiAccessInput::validate`] makes them; stored and read back as they are).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiAccess {
    /// Whether bearer tokens are accepted.
    pub enabled: bool,
    /// The audience (`aud`) a token must carry; empty: the SSO Client ID.
    pub audience: Option<String>,
    /// The issuer (`iss`) a token must carry; `None`: the SSO Issuer URL.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub issuer: Option<IssuerUrl>,
    /// Where the verification keys are; empty: the IdP's `jwks_uri`.
    pub jwks_url: Option<String>,
    /// A PEM public key (SPKI) to verify with instead of a JWK Set.
    pub public_key_pem: Option<String>,
    /// The accepted signature algorithms.
    pub algorithms: Vec<String>,
}

/// Bearer-token settings as sent (`PUT /api/v1/apps/{id}/api-access`, the
/// console form): the same fields, not yet checked.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiAccessInput {
    /// Whether bearer tokens are accepted.
    pub enabled: bool,
    /// The audience (`aud`) a token must carry; empty: the SSO Client ID.
    pub audience: Option<String>,
    /// The issuer (`iss`) a token must carry; empty: the SSO Issuer URL.
    pub issuer: Option<String>,
    /// Where the verification keys are; empty: the IdP's `jwks_uri`.
    pub jwks_url: Option<String>,
    /// A PEM public key (SPKI) to verify with instead of a JWK Set.
    pub public_key_pem: Option<String>,
    /// The accepted signature algorithms (default: all of [`ALGORITHMS`]).
    pub algorithms: Vec<String>,
}

impl Default for ApiAccessInput {
    fn default() -> Self {
        ApiAccess::default().into()
    }
}

impl From<ApiAccess> for ApiAccessInput {
    /// The input that validates to `a` again.
    fn from(a: ApiAccess) -> Self {
        Self {
            enabled: a.enabled,
            audience: a.audience,
            issuer: a.issuer.map(|i| i.as_str().to_owned()),
            jwks_url: a.jwks_url,
            public_key_pem: a.public_key_pem,
            algorithms: a.algorithms,
        }
    }
}

impl Default for ApiAccess {
    fn default() -> Self {
        Self {
            enabled: false,
            audience: None,
            issuer: None,
            jwks_url: None,
            public_key_pem: None,
            algorithms: ALGORITHMS.iter().map(|a| (*a).to_owned()).collect(),
        }
    }
}

fn blank_to_none(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

impl ApiAccessInput {
    /// Validate the settings as sent. `sso_issuer` and `sso_client_id` are
    /// the application's SSO settings, the defaults of `issuer` and `audience`.
    pub fn validate(self, sso_issuer: &str, sso_client_id: &str) -> Result<ApiAccess, Invalid> {
        let mut c = Collector::new();
        let audience = blank_to_none(self.audience);
        let issuer_given = blank_to_none(self.issuer);
        let jwks_url = blank_to_none(self.jwks_url);
        let public_key_pem = blank_to_none(self.public_key_pem);
        if let Some(a) = &audience
            && (a.len() > 512 || a.chars().any(char::is_control))
        {
            c.push(
                "audience",
                "must be at most 512 characters, without control characters",
            );
        }
        let issuer = issuer_given
            .as_deref()
            .and_then(|i| c.check(IssuerUrl::parse(i, "issuer")));
        if let Some(u) = &jwks_url {
            c.check(IssuerUrl::parse(u, "jwks_url"));
        }
        if let Some(p) = &public_key_pem {
            if !p.starts_with("-----BEGIN PUBLIC KEY-----") {
                c.push(
                    "public_key_pem",
                    "must be a PEM public key (-----BEGIN PUBLIC KEY-----)",
                );
            } else if p.len() > 16 * 1024 {
                c.push("public_key_pem", "is longer than 16 KiB");
            }
            if jwks_url.is_some() {
                c.push(
                    "public_key_pem",
                    "give either a JWKS URL or a public key, not both",
                );
            }
        }
        let mut algorithms = Vec::new();
        for (i, a) in self.algorithms.iter().enumerate() {
            let a = a.trim();
            match ALGORITHMS.iter().find(|known| known.eq_ignore_ascii_case(a)) {
                Some(known) if !algorithms.iter().any(|x: &String| x == known) => {
                    algorithms.push((*known).to_owned());
                }
                Some(_) => {}
                None if a.eq_ignore_ascii_case("none") => c.push(
                    format!("algorithms[{i}]"),
                    "unsigned tokens (none) are never accepted",
                ),
                None if a.to_ascii_uppercase().starts_with("HS") => c.push(
                    format!("algorithms[{i}]"),
                    "HMAC algorithms are not accepted for bearer tokens: anyone holding the secret could mint tokens",
                ),
                None => c.push(
                    format!("algorithms[{i}]"),
                    format!("unknown algorithm; use one of {}", ALGORITHMS.join(", ")),
                ),
            }
        }
        if self.enabled {
            if algorithms.is_empty() && c.is_empty() {
                c.push("algorithms", "allow at least one algorithm");
            }
            if issuer_given.is_none() && sso_issuer.trim().is_empty() {
                c.push(
                    "issuer",
                    "set the token issuer, or configure SSO OIDC whose Issuer URL is the default",
                );
            }
            if audience.is_none() && sso_client_id.trim().is_empty() {
                c.push(
                    "audience",
                    "set the API audience, or configure SSO OIDC whose Client ID is the default",
                );
            }
        }
        c.finish()?;
        Ok(ApiAccess {
            enabled: self.enabled,
            audience,
            issuer,
            jwks_url,
            public_key_pem,
            algorithms,
        })
    }
}

impl ApiAccess {
    /// The issuer tokens must carry.
    pub fn effective_issuer<'a>(&'a self, sso_issuer: &'a str) -> &'a str {
        self.issuer.as_ref().map_or(sso_issuer, IssuerUrl::as_str)
    }

    /// The audience tokens must carry.
    pub fn effective_audience<'a>(&'a self, sso_client_id: &'a str) -> &'a str {
        self.audience.as_deref().unwrap_or(sso_client_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(r: Result<ApiAccess, Invalid>) -> Vec<String> {
        match r {
            Ok(_) => Vec::new(),
            Err(e) => e.errors.into_iter().map(|e| e.field).collect(),
        }
    }

    #[test]
    fn defaults_come_from_the_sso_settings() {
        let a = ApiAccessInput {
            enabled: true,
            ..ApiAccessInput::default()
        }
        .validate("https://idp.example", "shop")
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            a.effective_issuer("https://idp.example"),
            "https://idp.example"
        );
        assert_eq!(a.effective_audience("shop"), "shop");
        assert_eq!(a.algorithms.len(), ALGORITHMS.len());
    }

    #[test]
    fn none_and_hmac_are_refused() {
        let a = ApiAccessInput {
            enabled: true,
            algorithms: vec!["none".into(), "HS256".into(), "XX1".into(), "rs256".into()],
            ..ApiAccessInput::default()
        };
        assert_eq!(
            fields(a.validate("https://idp.example", "shop")),
            vec!["algorithms[0]", "algorithms[1]", "algorithms[2]"]
        );
    }

    #[test]
    fn enabled_without_an_issuer_or_audience_is_refused() {
        let a = ApiAccessInput {
            enabled: true,
            ..ApiAccessInput::default()
        };
        assert_eq!(fields(a.validate("", "")), vec!["issuer", "audience"]);
        let off = ApiAccessInput::default().validate("", "");
        assert!(off.is_ok());
    }

    #[test]
    fn key_sources_are_checked() {
        let a = ApiAccessInput {
            enabled: true,
            jwks_url: Some("http://keys.example/jwks".into()),
            public_key_pem: Some("not a key".into()),
            ..ApiAccessInput::default()
        };
        assert_eq!(
            fields(a.validate("https://idp.example", "shop")),
            vec!["jwks_url", "public_key_pem", "public_key_pem"]
        );
    }
}
