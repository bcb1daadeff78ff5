//! "Test connection": fetch the discovery document and the keys now and
//! report each check with ok / failed / warning and the reason, so an
//! operator sees what to fix before a user hits it.

use gatehouse_core::AppId;
use gatehouse_core::sso::ClientAuthMethod;
use gatehouse_oidc::providers::ProviderKind;
use gatehouse_oidc::validate::{ASYMMETRIC, HMAC};
use gatehouse_oidc::{Check, OidcError};
use serde::Serialize;

use crate::ServiceError;
use crate::apps::Apps;

/// The result of "Test connection".
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionReport {
    /// No check failed.
    pub ok: bool,
    /// Every check, in order.
    pub checks: Vec<Check>,
}

impl Apps<'_> {
    /// Test the saved SSO OIDC settings of an application against its IdP,
    /// and record that `ctx` did (audit `sso.connection_tested`).
    pub async fn test_sso(
        &self,
        app: AppId,
        ctx: &crate::Context,
    ) -> Result<ConnectionReport, ServiceError> {
        let application = self.shared.app(app).await?;
        let report = self.run_connection_test(app).await?;
        let audit = ctx
            .event(Some(app), self.shared.now(), "sso.connection_tested")
            .target(application.slug.as_str())
            .detail("ok", report.ok)
            .detail(
                "failed",
                report
                    .checks
                    .iter()
                    .filter(|c| c.is_failed())
                    .map(|c| c.name)
                    .collect::<Vec<_>>(),
            );
        self.shared.store.append_audit(&audit).await?;
        Ok(report)
    }

    async fn run_connection_test(&self, app: AppId) -> Result<ConnectionReport, ServiceError> {
        let rt = self
            .router
            .current()
            .get(app)
            .cloned()
            .ok_or(ServiceError::NotFound("application"))?;
        let s = &rt.oidc;
        let mut checks = Vec::new();
        let report = |checks: Vec<Check>| {
            Ok(ConnectionReport {
                ok: !checks.iter().any(Check::is_failed),
                checks,
            })
        };
        let Some(issuer) = s.issuer_url.as_ref() else {
            checks.push(Check::failed("settings", "no Issuer URL is set"));
            return report(checks);
        };
        if s.client_id.is_empty() {
            checks.push(Check::failed("settings", "no Client ID is set"));
        } else {
            checks.push(Check::ok("settings"));
        }
        let meta = match self.rp.discover_fresh(issuer).await {
            Ok(m) => {
                checks.push(Check::ok("discovery"));
                checks.push(Check::ok("issuer"));
                m
            }
            Err(e @ OidcError::IssuerMismatch { .. }) => {
                checks.push(Check::ok("discovery"));
                checks.push(Check::failed("issuer", e.to_string()));
                return report(checks);
            }
            Err(e) => {
                checks.push(Check::failed(
                    "discovery",
                    format!("{} ({})", e, issuer.discovery_url()),
                ));
                return report(checks);
            }
        };
        self.rp.forget(issuer.as_str());
        checks.push(Check::ok("endpoints"));
        match self.rp.keys(&meta.jwks_uri).await {
            Ok(set) => {
                checks.push(Check::ok("jwks"));
                if set.skipped > 0 {
                    checks.push(Check::warning(
                        "jwks_keys",
                        format!(
                            "{} usable signing key(s); {} other key(s) ignored",
                            set.keys.len(),
                            set.skipped
                        ),
                    ));
                }
            }
            Err(e) => checks.push(Check::failed("jwks", e.to_string())),
        }
        let offered = &meta.id_token_signing_alg_values_supported;
        if !offered.is_empty() {
            let usable = offered.iter().any(|a| {
                ASYMMETRIC.iter().any(|x| format!("{x:?}") == *a)
                    || (rt.client_secret.is_some() && HMAC.iter().any(|x| format!("{x:?}") == *a))
            });
            checks.push(if usable {
                Check::ok("algorithms")
            } else {
                Check::failed(
                    "algorithms",
                    format!(
                        "the IdP signs ID tokens with {offered:?}, none of which Gatehouse accepts"
                    ),
                )
            });
        }
        checks.push(match &meta.code_challenge_methods_supported {
            Some(m) if m.iter().any(|x| x == "S256") => Check::ok("pkce"),
            Some(m) => Check::failed(
                "pkce",
                format!("the IdP does not offer PKCE S256 (offers {m:?})"),
            ),
            None => Check::warning(
                "pkce",
                "the IdP does not say whether it supports PKCE; Gatehouse always sends S256",
            ),
        });
        let method = s.token_endpoint_auth_method.as_str();
        checks.push(match &meta.token_endpoint_auth_methods_supported {
            Some(m) if m.iter().any(|x| x == method) => Check::ok("token_endpoint_auth_method"),
            Some(m) => Check::failed(
                "token_endpoint_auth_method",
                format!("the IdP does not offer {method} (offers {m:?})"),
            ),
            None if method == "client_secret_basic" => Check::ok("token_endpoint_auth_method"),
            None => Check::warning(
                "token_endpoint_auth_method",
                format!("the IdP does not list its methods; {method} may not work"),
            ),
        });
        checks.push(match s.token_endpoint_auth_method {
            ClientAuthMethod::PrivateKeyJwt if rt.client_key.is_some() => {
                Check::ok("client_credentials")
            }
            ClientAuthMethod::PrivateKeyJwt => Check::failed(
                "client_credentials",
                "no client key; save the settings again to create one",
            ),
            _ if rt.client_secret.is_some() => Check::ok("client_credentials"),
            _ => Check::failed("client_credentials", "no Client Secret is stored"),
        });
        checks.push(match &meta.userinfo_endpoint {
            Some(_) => Check::ok("userinfo"),
            None => Check::skipped(
                "userinfo",
                "the IdP has no userinfo endpoint; claims come from the ID token only",
            ),
        });
        let kind = ProviderKind::detect(issuer.as_str(), Some(&meta));
        checks.push(match (&meta.end_session_endpoint, kind) {
            (Some(_), _) => Check::ok("logout"),
            (None, ProviderKind::Cognito | ProviderKind::Auth0) => Check::ok("logout"),
            (None, _) => Check::warning(
                "logout",
                "the IdP has no end_session_endpoint: logout ends the Gatehouse session only",
            ),
        });
        checks.push(if meta.backchannel_logout_supported {
            Check::ok("backchannel_logout")
        } else {
            Check::warning(
                "backchannel_logout",
                "the IdP does not advertise back-channel logout",
            )
        });
        if let Some(supported) = &meta.scopes_supported {
            let missing: Vec<&str> = s
                .scopes
                .split(' ')
                .filter(|sc| !supported.iter().any(|x| x == sc))
                .collect();
            checks.push(if missing.is_empty() {
                Check::ok("scopes")
            } else {
                Check::warning(
                    "scopes",
                    format!("the IdP does not list the scope(s) {missing:?}"),
                )
            });
        }
        report(checks)
    }
}
