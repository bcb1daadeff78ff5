//! Per-application "SSO OIDC" settings: the form of Settings > Integrations >
//! SSO OIDC, validated. The client secret is not part of these settings: it
//! is write-only, sealed at rest by the service layer, and only "set / not
//! set" is ever shown.

use std::collections::BTreeMap;
use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::claims::ClaimPath;
use crate::user::TagKey;
use crate::validation::{Collector, Invalid};

/// Authorization request parameters that belong to the protocol and can never
/// be set by a forwarded query parameter or an extra parameter.
pub const PROTECTED_AUTH_PARAMS: &[&str] = &[
    "client_id",
    "redirect_uri",
    "response_type",
    "response_mode",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "request",
    "request_uri",
];

/// Whether an authorization parameter may be forwarded to the IdP.
pub fn is_forwardable_param(name: &str) -> bool {
    // IdPs differ in whether parameter names are case-sensitive; a
    // protocol parameter is protected in every letter case.
    !name.eq_ignore_ascii_case("rd")
        && !PROTECTED_AUTH_PARAMS
            .iter()
            .any(|p| p.eq_ignore_ascii_case(name.trim()))
}

/// The IdP's issuer identifier: an absolute `https` URL (plain `http` only for
/// loopback hosts, for development), without query, fragment or credentials.
/// Compared byte for byte with the discovery document's `issuer`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IssuerUrl(String);

impl IssuerUrl {
    /// Parse an issuer URL given for `field`.
    pub fn parse(raw: &str, field: &str) -> Result<Self, Invalid> {
        let raw = raw.trim();
        let err = |m: &str| Invalid::field(field, m.to_owned());
        let url = url::Url::parse(raw)
            .map_err(|_| err("must be an absolute URL such as https://dev-xxx.us.auth0.com/"))?;
        let host = url.host_str().unwrap_or("");
        let loopback = host == "localhost"
            || host.ends_with(".localhost")
            || host == "[::1]"
            || host.starts_with("127.");
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            "http" => {
                return Err(err(
                    "must use https (plain http is allowed only for localhost)",
                ));
            }
            _ => return Err(err("must be an https URL")),
        }
        if host.is_empty() {
            return Err(err("must name a host"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(err("must not have a query or fragment"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(err("must not contain credentials"));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The issuer exactly as configured.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `<issuer>/.well-known/openid-configuration` (one slash between).
    pub fn discovery_url(&self) -> String {
        format!(
            "{}/.well-known/openid-configuration",
            self.0.trim_end_matches('/')
        )
    }
}

impl fmt::Display for IssuerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for IssuerUrl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for IssuerUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        IssuerUrl::parse(&raw, "issuer_url").map_err(serde::de::Error::custom)
    }
}

/// How Gatehouse authenticates to the IdP's token endpoint.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    /// HTTP Basic with client id and secret (the default).
    #[default]
    ClientSecretBasic,
    /// Client id and secret in the form body.
    ClientSecretPost,
    /// A JWT signed with Gatehouse's key for this client (RFC 7523).
    PrivateKeyJwt,
    /// A JWT signed (HS256) with the client secret (OpenID Connect Core §9).
    ClientSecretJwt,
}

impl ClientAuthMethod {
    /// The registered name, e.g. `client_secret_basic`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::ClientSecretJwt => "client_secret_jwt",
        }
    }

    /// Whether this method needs the client secret.
    pub fn needs_secret(self) -> bool {
        !matches!(self, Self::PrivateKeyJwt)
    }
}

/// A custom claim stored as a tag ("Edit other claim mappings").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtherMapping {
    /// The IdP claim.
    pub claim: ClaimPath,
    /// The tag key it is stored under.
    pub tag: TagKey,
}

/// Which claims fill which user fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimMappings {
    /// E-mail (required).
    pub email: ClaimPath,
    /// First Name (required).
    pub first_name: ClaimPath,
    /// Last Name (optional).
    pub last_name: Option<ClaimPath>,
    /// Other claims stored as tags.
    pub other: Vec<OtherMapping>,
}

impl Default for ClaimMappings {
    fn default() -> Self {
        Self {
            email: ClaimPath::standard("email"),
            first_name: ClaimPath::standard("given_name"),
            last_name: Some(ClaimPath::standard("family_name")),
            other: Vec::new(),
        }
    }
}

/// Advanced options.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OidcExtra {
    /// Allowed clock difference with the IdP when checking `exp`, `iat`, `nbf`, in seconds (0-300).
    pub clock_skew_seconds: u32,
    /// Extra parameters added to every authorization request (not the protocol's own).
    pub auth_params: BTreeMap<String, String>,
    /// Keep sessions alive past the ID token's expiry by refreshing silently
    /// with the refresh token; a refresh the IdP refuses ends the session.
    pub refresh_sessions: bool,
    /// Google Workspace: only accounts of this domain (`hd`) may sign in.
    pub hosted_domain: Option<String>,
    /// Entra ID multi-tenant: accept the `{tenantid}` issuer template.
    pub entra_multi_tenant: bool,
    /// Entra ID multi-tenant: only these tenant ids (empty: any tenant).
    pub entra_allowed_tenants: Vec<String>,
    /// The algorithm the IdP signs ID tokens (and logout tokens) with, as
    /// registered for the client (`id_token_signed_response_alg`; OpenID
    /// Connect's default RS256). Tokens signed otherwise are refused.
    pub id_token_signed_response_alg: SigningAlg,
    /// Hosts (`host` or `host:port`) besides the issuer's that may serve
    /// distributed claims (OpenID Connect Core §5.6.2), e.g.
    /// `graph.microsoft.com`.
    pub claim_source_hosts: Vec<String>,
}

/// A JWS algorithm an IdP may sign ID tokens with.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (the default).
    #[default]
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// ECDSA P-384 with SHA-384.
    ES384,
    /// Ed25519.
    EdDSA,
    /// HMAC SHA-256 with the client secret.
    HS256,
    /// HMAC SHA-384 with the client secret.
    HS384,
    /// HMAC SHA-512 with the client secret.
    HS512,
}

impl SigningAlg {
    /// Every algorithm, for forms.
    pub const ALL: [Self; 12] = [
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::PS256,
        Self::PS384,
        Self::PS512,
        Self::ES256,
        Self::ES384,
        Self::EdDSA,
        Self::HS256,
        Self::HS384,
        Self::HS512,
    ];

    /// The JWA name, e.g. `RS256`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::EdDSA => "EdDSA",
            Self::HS256 => "HS256",
            Self::HS384 => "HS384",
            Self::HS512 => "HS512",
        }
    }

    /// The algorithm named `name` (JWA spelling).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name.trim())
    }
}

impl Default for OidcExtra {
    fn default() -> Self {
        Self {
            clock_skew_seconds: 30,
            auth_params: BTreeMap::new(),
            refresh_sessions: false,
            hosted_domain: None,
            entra_multi_tenant: false,
            entra_allowed_tenants: Vec::new(),
            id_token_signed_response_alg: SigningAlg::RS256,
            claim_source_hosts: Vec::new(),
        }
    }
}

/// The default scopes.
pub const DEFAULT_SCOPES: &str = "openid profile email";

/// Validated SSO OIDC settings of one application (without the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcSettings {
    /// The Enabled toggle: on, every sign-in goes to the IdP.
    pub enabled: bool,
    /// Issuer URL (may be empty while disabled).
    pub issuer_url: Option<IssuerUrl>,
    /// Client ID (may be empty while disabled).
    pub client_id: String,
    /// Space-separated scopes, always including `openid`.
    pub scopes: String,
    /// Claim mappings.
    pub claim_mappings: ClaimMappings,
    /// The claim holding the user's groups, if any.
    pub groups_claim: Option<ClaimPath>,
    /// Token endpoint authentication.
    pub token_endpoint_auth_method: ClientAuthMethod,
    /// Treat every e-mail address this IdP sends as verified (for IdPs such
    /// as Entra ID that send no `email_verified`). Off: only
    /// `email_verified: true` counts, for e-mail grants and e-mail linking.
    #[serde(default)]
    pub trust_email: bool,
    /// Advanced options.
    pub extra: OidcExtra,
}

impl Default for OidcSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            issuer_url: None,
            client_id: String::new(),
            scopes: DEFAULT_SCOPES.to_owned(),
            claim_mappings: ClaimMappings::default(),
            groups_claim: ClaimPath::parse("groups", "groups_claim").ok(),
            token_endpoint_auth_method: ClientAuthMethod::default(),
            trust_email: false,
            extra: OidcExtra::default(),
        }
    }
}

/// Claim mappings as sent by the API or the console form.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimMappingsInput {
    /// E-mail claim (default `email`).
    pub email: Option<String>,
    /// First Name claim (default `given_name`).
    pub first_name: Option<String>,
    /// Last Name claim (default `family_name`; empty for none).
    pub last_name: Option<String>,
    /// Other claim → tag rows.
    #[serde(default)]
    pub other: Vec<OtherMappingInput>,
}

/// One other-claim row as sent.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtherMappingInput {
    /// The claim.
    pub claim: String,
    /// The tag key.
    pub tag: String,
}

/// SSO OIDC settings as sent by `PUT /api/v1/apps/{id}/sso/oidc` or the console.
/// Missing fields take their defaults; `client_secret` absent keeps the stored
/// secret, an empty string removes it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSettingsInput {
    /// Enabled toggle.
    #[serde(default)]
    pub enabled: bool,
    /// Issuer URL.
    #[serde(default)]
    pub issuer_url: String,
    /// Client ID.
    #[serde(default)]
    pub client_id: String,
    /// Client Secret (write-only).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, write_only))]
    pub client_secret: Option<SecretString>,
    /// Scopes (default `openid profile email`).
    pub scopes: Option<String>,
    /// Claim mappings.
    #[serde(default)]
    pub claim_mappings: ClaimMappingsInput,
    /// Groups claim (default `groups`; empty for none).
    pub groups_claim: Option<String>,
    /// Token endpoint auth method.
    pub token_endpoint_auth_method: Option<ClientAuthMethod>,
    /// Treat the IdP's e-mail addresses as verified (default false).
    #[serde(default)]
    pub trust_email: bool,
    /// Advanced options.
    #[serde(default)]
    pub extra: OidcExtra,
}

/// What happens to the stored client secret on save.
#[derive(Debug)]
pub enum SecretChange {
    /// Keep what is stored.
    Keep,
    /// Remove it.
    Remove,
    /// Store this one.
    Set(SecretString),
}

impl OidcSettingsInput {
    /// Validate. `secret_stored` says whether a secret is stored now; the
    /// result says what to do with it.
    pub fn validate(self, secret_stored: bool) -> Result<(OidcSettings, SecretChange), Invalid> {
        let mut c = Collector::new();

        let issuer_url = match self.issuer_url.trim() {
            "" => None,
            raw => c.check(IssuerUrl::parse(raw, "issuer_url")),
        };
        let client_id = self.client_id.trim().to_owned();
        if client_id.len() > 512 || client_id.chars().any(char::is_control) {
            c.push(
                "client_id",
                "must be at most 512 characters without control characters",
            );
        }

        let secret = match self.client_secret {
            None => SecretChange::Keep,
            Some(s) if s.expose_secret().is_empty() => SecretChange::Remove,
            Some(s) => {
                let v = s.expose_secret();
                if v.len() > 4096 || v.chars().any(char::is_control) {
                    c.push(
                        "client_secret",
                        "must be at most 4096 characters without control characters",
                    );
                }
                SecretChange::Set(s)
            }
        };

        let scopes = match self.scopes.as_deref().map(str::trim) {
            None | Some("") => DEFAULT_SCOPES.to_owned(),
            Some(raw) => c.check(parse_scopes(raw)).unwrap_or_default(),
        };

        let claim_mappings = c.check(parse_mappings(self.claim_mappings));

        let groups_claim = match self.groups_claim.as_deref().map(str::trim) {
            None => ClaimPath::parse("groups", "groups_claim").ok(),
            Some("") => None,
            Some(raw) => c.check(ClaimPath::parse(raw, "groups_claim")),
        };

        let method = self.token_endpoint_auth_method.unwrap_or_default();

        if self.extra.clock_skew_seconds > 300 {
            c.push(
                "extra.clock_skew_seconds",
                "must be between 0 and 300 seconds",
            );
        }
        for (k, v) in &self.extra.auth_params {
            if !is_forwardable_param(k) {
                c.push(
                    format!("extra.auth_params.{k}"),
                    "is a protocol parameter Gatehouse sets itself and cannot be overridden",
                );
            } else if k.is_empty()
                || k.len() > 128
                || k.chars().any(|ch| ch.is_control() || ch.is_whitespace())
                || v.len() > 1024
            {
                c.push(
                    format!("extra.auth_params.{k}"),
                    "must be a short name without spaces and a value of at most 1024 characters",
                );
            }
        }

        if let Some(hd) = &self.extra.hosted_domain
            && (hd.is_empty()
                || hd.len() > 253
                || !hd
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'))
        {
            c.push(
                "extra.hosted_domain",
                "must be a domain name such as example.com",
            );
        }
        let template = self.issuer_url.contains("{tenantid}");
        if template && !self.extra.entra_multi_tenant {
            c.push(
                "issuer_url",
                "contains the Entra ID {tenantid} template; set extra.entra_multi_tenant to accept tokens from several tenants",
            );
        }
        if self.extra.entra_multi_tenant && !template {
            c.push("extra.entra_multi_tenant", "needs an Issuer URL with the {tenantid} template, e.g. https://login.microsoftonline.com/{tenantid}/v2.0");
        }
        for (i, t) in self.extra.entra_allowed_tenants.iter().enumerate() {
            if t.len() != 36 || !t.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
                c.push(
                    format!("extra.entra_allowed_tenants[{i}]"),
                    "must be a tenant id (a GUID)",
                );
            }
        }
        if self.extra.claim_source_hosts.len() > 16 {
            c.push("extra.claim_source_hosts", "at most 16 hosts");
        }
        for (i, h) in self.extra.claim_source_hosts.iter().enumerate() {
            if crate::HostPattern::parse(h).is_err() {
                c.push(
                    format!("extra.claim_source_hosts[{i}]"),
                    "must be a host name such as graph.microsoft.com (optionally with :port)",
                );
            }
        }

        if self.enabled {
            if self.issuer_url.trim().is_empty() {
                c.push("issuer_url", "is required when SSO OIDC is enabled");
            }
            if client_id.is_empty() {
                c.push("client_id", "is required when SSO OIDC is enabled");
            }
            let secret_after = match &secret {
                SecretChange::Keep => secret_stored,
                SecretChange::Remove => false,
                SecretChange::Set(_) => true,
            };
            if method.needs_secret() && !secret_after {
                c.push(
                    "client_secret",
                    format!(
                        "is required when SSO OIDC is enabled with {}",
                        method.as_str()
                    ),
                );
            }
        }

        c.finish()?;
        let claim_mappings =
            claim_mappings.ok_or_else(|| Invalid::field("claim_mappings", "invalid"))?;
        Ok((
            OidcSettings {
                enabled: self.enabled,
                issuer_url,
                client_id,
                scopes,
                claim_mappings,
                groups_claim,
                token_endpoint_auth_method: method,
                trust_email: self.trust_email,
                extra: self.extra,
            },
            secret,
        ))
    }
}

fn parse_scopes(raw: &str) -> Result<String, Invalid> {
    let tokens: Vec<&str> = raw.split_ascii_whitespace().collect();
    // RFC 6749 §3.3 scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
    let valid = tokens.iter().all(|t| {
        t.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
    });
    if !valid {
        return Err(Invalid::field(
            "scopes",
            "scopes are separated by spaces and may not contain quotes or backslashes",
        ));
    }
    if !tokens.contains(&"openid") {
        return Err(Invalid::field("scopes", "must include \"openid\""));
    }
    let mut out: Vec<&str> = Vec::new();
    for t in tokens {
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out.join(" "))
}

fn parse_mappings(input: ClaimMappingsInput) -> Result<ClaimMappings, Invalid> {
    let mut c = Collector::new();
    let required = |raw: Option<String>, default: &str, field: &str, c: &mut Collector| match raw
        .as_deref()
        .map(str::trim)
    {
        None => ClaimPath::parse(default, field).ok(),
        Some("") => {
            c.push(field, "is required");
            None
        }
        Some(v) => c.check(ClaimPath::parse(v, field)),
    };
    let email = required(input.email, "email", "claim_mappings.email", &mut c);
    let first_name = required(
        input.first_name,
        "given_name",
        "claim_mappings.first_name",
        &mut c,
    );
    let last_name = match input.last_name.as_deref().map(str::trim) {
        None => ClaimPath::parse("family_name", "claim_mappings.last_name").ok(),
        Some("") => None,
        Some(v) => c.check(ClaimPath::parse(v, "claim_mappings.last_name")),
    };
    let mut other = Vec::new();
    for (i, row) in input.other.into_iter().enumerate() {
        let field = format!("claim_mappings.other[{i}]");
        let claim = c.check(ClaimPath::parse(&row.claim, &format!("{field}.claim")));
        let Some(tag) = c.check(TagKey::parse(row.tag.trim(), &format!("{field}.tag"))) else {
            continue;
        };
        if other.iter().any(|o: &OtherMapping| o.tag == tag) {
            c.push(
                format!("{field}.tag"),
                format!("the tag \"{tag}\" is mapped twice"),
            );
            continue;
        }
        if let Some(claim) = claim {
            other.push(OtherMapping { claim, tag });
        }
    }
    c.finish()?;
    match (email, first_name) {
        (Some(email), Some(first_name)) => Ok(ClaimMappings {
            email,
            first_name,
            last_name,
            other,
        }),
        _ => Err(Invalid::field(
            "claim_mappings",
            "E-mail and First Name mappings are required",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(e: Invalid) -> Vec<String> {
        e.errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn defaults_fill_an_empty_form() {
        let (s, secret) = OidcSettingsInput::default()
            .validate(false)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s, OidcSettings::default());
        assert!(matches!(secret, SecretChange::Keep));
    }

    #[test]
    fn enabling_needs_issuer_client_and_secret() {
        let input = OidcSettingsInput {
            enabled: true,
            ..Default::default()
        };
        let err = input.validate(false).err().map(fields);
        assert_eq!(
            err,
            Some(vec![
                "issuer_url".into(),
                "client_id".into(),
                "client_secret".into()
            ])
        );
    }

    #[test]
    fn a_stored_secret_counts_and_private_key_jwt_needs_none() {
        let input = || OidcSettingsInput {
            enabled: true,
            issuer_url: "https://idp.example.com".into(),
            client_id: "c".into(),
            ..Default::default()
        };
        assert!(input().validate(true).is_ok());
        let mut pkj = input();
        pkj.token_endpoint_auth_method = Some(ClientAuthMethod::PrivateKeyJwt);
        assert!(pkj.validate(false).is_ok());
    }

    #[test]
    fn bad_fields_are_named() {
        let input = OidcSettingsInput {
            issuer_url: "http://idp.example.com".into(),
            scopes: Some("profile email".into()),
            claim_mappings: ClaimMappingsInput {
                email: Some("".into()),
                other: vec![
                    OtherMappingInput {
                        claim: "dept".into(),
                        tag: "department".into(),
                    },
                    OtherMappingInput {
                        claim: "x".into(),
                        tag: "department".into(),
                    },
                    OtherMappingInput {
                        claim: "a..b".into(),
                        tag: "bad tag".into(),
                    },
                ],
                ..Default::default()
            },
            extra: OidcExtra {
                clock_skew_seconds: 301,
                auth_params: [("state".to_owned(), "x".to_owned())].into(),
                ..OidcExtra::default()
            },
            ..Default::default()
        };
        let err = input.validate(false).err().map(fields).unwrap_or_default();
        assert_eq!(
            err,
            vec![
                "issuer_url",
                "scopes",
                "claim_mappings.email",
                "claim_mappings.other[1].tag",
                "claim_mappings.other[2].claim",
                "claim_mappings.other[2].tag",
                "extra.clock_skew_seconds",
                "extra.auth_params.state",
            ]
        );
    }

    #[test]
    fn loopback_issuers_may_use_http() {
        for ok in [
            "http://127.0.0.1:4000",
            "http://localhost:4000/",
            "http://idp.localhost/x",
        ] {
            assert!(IssuerUrl::parse(ok, "i").is_ok(), "{ok}");
        }
        assert_eq!(
            IssuerUrl::parse("https://idp.example.com/", "i")
                .map(|i| i.discovery_url())
                .ok(),
            Some("https://idp.example.com/.well-known/openid-configuration".into())
        );
    }

    #[test]
    fn protected_params_are_never_forwarded() {
        for p in PROTECTED_AUTH_PARAMS {
            assert!(!is_forwardable_param(p));
        }
        assert!(!is_forwardable_param("rd"));
        assert!(is_forwardable_param("invite"));
        assert!(is_forwardable_param("login_hint"));
    }
}
