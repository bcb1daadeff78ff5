//! Aggregated and distributed claims (OpenID Connect Core §5.6.2): claims
//! an IdP does not put in the ID token or userinfo itself but points to, by
//! `_claim_names` (claim → source name) and `_claim_sources` (source name →
//! `{"JWT": ...}` for aggregated claims, `{"endpoint", "access_token"?}` for
//! distributed ones).
//!
//! - An aggregated JWT must verify with the issuer's keys (and name the
//!   issuer, when it names any issuer).
//! - A distributed endpoint is fetched only over https (http on loopback),
//!   from the issuer's host or a host the SSO settings allow, with the
//!   source's access token (or, on the issuer's own host only, the
//!   sign-in's access token), bounded in size and time like every IdP
//!   request. Its answer is a JWT (verified as above) or a JSON object.
//! - Only the claims `_claim_names` assigns to a source are taken from it;
//!   a source may not set protocol claims or `sub`. At most
//!   [`MAX_SOURCES`] sources are resolved.
//!
//! A source that cannot be used leaves its claims out; sign-in goes on, and
//! the report says which source and why (Try sign-in, the audit log).

use serde::Serialize;
use serde_json::{Map, Value};

use crate::RelyingParty;
use crate::validate::userinfo::PROTOCOL_CLAIMS;

/// The most sources resolved for one sign-in.
pub const MAX_SOURCES: usize = 4;

/// What happened to one source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceReport {
    /// The source's name in `_claim_sources`.
    pub name: String,
    /// `aggregated` or `distributed`.
    pub kind: &'static str,
    /// The endpoint, for distributed claims.
    pub endpoint: Option<String>,
    /// The claims it was to provide.
    pub claims: Vec<String>,
    /// `None`: resolved; else why not.
    pub skipped: Option<String>,
}

/// Where sources may be fetched from.
#[derive(Debug, Clone, Copy)]
pub struct SourceRules<'a> {
    /// The issuer (its host may always serve distributed claims).
    pub issuer: &'a str,
    /// The JWKS that verifies aggregated and JWT answers.
    pub jwks_uri: &'a str,
    /// Other hosts allowed to serve distributed claims.
    pub allowed_hosts: &'a [String],
    /// The sign-in's access token, offered to the issuer's own host only.
    pub access_token: Option<&'a str>,
}

fn host_of(url: &url::Url) -> Option<String> {
    url.host_str().map(|h| match url.port() {
        Some(p) => format!("{}:{p}", h.to_ascii_lowercase()),
        None => h.to_ascii_lowercase(),
    })
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost" || d.ends_with(".localhost"),
        None => false,
    }
}

impl RelyingParty {
    /// Resolve the aggregated and distributed claims `claims` points to,
    /// into `claims` (the pointers removed). Returns a report per source.
    pub async fn resolve_claim_sources(
        &self,
        claims: &mut Map<String, Value>,
        rules: SourceRules<'_>,
    ) -> Vec<SourceReport> {
        let names = claims.remove("_claim_names");
        let sources = claims.remove("_claim_sources");
        let (Some(Value::Object(names)), Some(Value::Object(sources))) = (names, sources) else {
            return Vec::new();
        };
        let mut reports = Vec::new();
        for (name, source) in sources.iter() {
            let wanted: Vec<String> = names
                .iter()
                .filter(|(_, s)| s.as_str() == Some(name))
                .map(|(c, _)| c.clone())
                .collect();
            let kind = if source.get("JWT").is_some() {
                "aggregated"
            } else {
                "distributed"
            };
            let endpoint = source
                .get("endpoint")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let mut report = SourceReport {
                name: name.chars().take(64).collect(),
                kind,
                endpoint: endpoint.clone().map(|e| e.chars().take(256).collect()),
                claims: wanted.iter().take(32).cloned().collect(),
                skipped: None,
            };
            if reports.len() >= MAX_SOURCES {
                report.skipped = Some(format!(
                    "more than {MAX_SOURCES} claim sources: this one and any after it are left out"
                ));
                reports.push(report);
                break;
            }
            let got = match kind {
                "aggregated" => match source.get("JWT").and_then(Value::as_str) {
                    Some(jwt) => self.source_jwt(jwt, rules).await,
                    None => Err("the JWT is not a string".to_owned()),
                },
                _ => self.distributed(endpoint.as_deref(), source, rules).await,
            };
            match got {
                Ok(found) => {
                    for c in &wanted {
                        if c == "sub" || PROTOCOL_CLAIMS.contains(&c.as_str()) {
                            continue;
                        }
                        if let Some(v) = found.get(c) {
                            claims.insert(c.clone(), v.clone());
                        }
                    }
                }
                Err(why) => {
                    tracing::warn!(source = %report.name, kind, reason = %why, "claims from a claim source left out");
                    report.skipped = Some(why);
                }
            }
            reports.push(report);
        }
        reports
    }

    async fn source_jwt(
        &self,
        jwt: &str,
        rules: SourceRules<'_>,
    ) -> Result<Map<String, Value>, String> {
        let v = self
            .verify(jwt.trim(), rules.jwks_uri, None, "claim source")
            .await
            .map_err(|e| e.to_string())?;
        match v.claims.get("iss").and_then(Value::as_str) {
            Some(iss) if iss != rules.issuer => {
                Err(format!("signed by {iss:?}, not by the identity provider"))
            }
            _ => Ok(v.claims),
        }
    }

    async fn distributed(
        &self,
        endpoint: Option<&str>,
        source: &Value,
        rules: SourceRules<'_>,
    ) -> Result<Map<String, Value>, String> {
        let endpoint = endpoint.ok_or("the source has neither JWT nor endpoint")?;
        let url = url::Url::parse(endpoint).map_err(|_| "the endpoint is not a URL".to_owned())?;
        if !(url.scheme() == "https" || (url.scheme() == "http" && is_loopback(&url))) {
            return Err("the endpoint is not https".into());
        }
        let issuer_host = url::Url::parse(rules.issuer)
            .ok()
            .as_ref()
            .and_then(host_of);
        let host = host_of(&url).ok_or("the endpoint has no host")?;
        let own = issuer_host.as_deref() == Some(host.as_str());
        if !own
            && !rules
                .allowed_hosts
                .iter()
                .any(|h| h.eq_ignore_ascii_case(&host))
        {
            return Err(format!(
                "the host {host} is neither the identity provider's nor allowed in the SSO settings (claim_source_hosts)"
            ));
        }
        let token = match source.get("access_token").and_then(Value::as_str) {
            Some(t) => t,
            None if own => rules.access_token.ok_or("the source has no access token")?,
            None => return Err("the source has no access token".into()),
        };
        let body = self
            .http()
            .get_bearer(url.as_str(), token, "claim source")
            .await
            .map_err(|e| e.to_string())?;
        if body.status != 200 {
            return Err(format!("the endpoint answered {}", body.status));
        }
        if body.content_type == "application/jwt" {
            let text = String::from_utf8(body.bytes).map_err(|_| "not UTF-8".to_owned())?;
            return self.source_jwt(&text, rules).await;
        }
        body.json_object("claim source").map_err(|e| e.to_string())
    }
}
