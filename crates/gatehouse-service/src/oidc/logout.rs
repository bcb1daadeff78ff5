//! `/auth/logout`: end the local session, then (with SSO enabled) send the
//! browser to the IdP's logout with `id_token_hint`,
//! `post_logout_redirect_uri` and `state`.

use gatehouse_core::app::HostPattern;
use gatehouse_crypto::SealContext;
use gatehouse_oidc::logout::{self as oidc_logout, LogoutTarget as Target};
use gatehouse_oidc::providers::ProviderKind;
use secrecy::ExposeSecret;

use super::SignIn;
use super::sign_in::sso_config;
use crate::routing::AppRuntime;
use crate::{Context, ServiceError};

/// Where the browser goes after the local session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogoutTarget {
    /// The IdP's logout URL.
    Idp(String),
    /// The signed-out page; `idp_note` when SSO is on but the IdP has no logout to go to.
    LoggedOut {
        /// Whether to say the IdP session may still be active.
        idp_note: bool,
    },
}

/// The result of a logout.
#[derive(Debug)]
pub struct LogoutOutcome {
    /// Where to go.
    pub target: LogoutTarget,
    /// Whether a session was ended.
    pub ended: bool,
}

impl SignIn<'_> {
    /// End the session behind `cookie` and work out where to send the browser.
    #[tracing::instrument(level = "info", skip_all, fields(app = %rt.app.slug), err(level = "debug"))]
    pub async fn logout(
        &self,
        rt: &AppRuntime,
        host: &HostPattern,
        cookie: Option<&str>,
        ctx: &Context,
    ) -> Result<LogoutOutcome, ServiceError> {
        let app = &rt.app;
        let ended = match cookie {
            Some(c) => self.sessions().sign_out(app.id, c, ctx).await?,
            None => None,
        };
        let Some(record) = ended
            .as_ref()
            .filter(|r| r.base.method == gatehouse_core::session::SignInMethod::Oidc)
        else {
            return Ok(LogoutOutcome {
                target: LogoutTarget::LoggedOut { idp_note: false },
                ended: ended.is_some(),
            });
        };
        if !rt.oidc.enabled {
            return Ok(LogoutOutcome {
                target: LogoutTarget::LoggedOut { idp_note: false },
                ended: true,
            });
        }
        let Ok((issuer, client_id)) = sso_config(rt) else {
            return Ok(LogoutOutcome {
                target: LogoutTarget::LoggedOut { idp_note: true },
                ended: true,
            });
        };
        let meta = match self.rp.metadata(issuer).await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(app = %app.slug, error = %e, "cannot reach the IdP for logout; local logout only");
                return Ok(LogoutOutcome {
                    target: LogoutTarget::LoggedOut { idp_note: true },
                    ended: true,
                });
            }
        };
        let hint = record
            .id_token_sealed
            .as_ref()
            .and_then(|s| self.shared.keys.open(s, SealContext::IdToken(app.id)).ok())
            .and_then(|b| String::from_utf8(b).ok());
        let post_logout = format!("{}://{host}{}/logged-out", app.scheme, app.auth_prefix);
        let state = gatehouse_crypto::token::random_token(16);
        let kind = ProviderKind::detect(issuer.as_str(), Some(&meta));
        let target = match oidc_logout::target(
            kind,
            issuer.as_str(),
            &meta,
            client_id,
            hint.as_deref(),
            &post_logout,
            state.expose_secret(),
        ) {
            Target::Idp(url) => LogoutTarget::Idp(url.to_string()),
            Target::LocalOnly => LogoutTarget::LoggedOut { idp_note: true },
        };
        Ok(LogoutOutcome {
            target,
            ended: true,
        })
    }
}
