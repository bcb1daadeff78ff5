//! OpenID Connect Back-Channel Logout 1.0: the IdP posts a logout token;
//! once verified (signature, iss, aud, iat, events, sub and/or sid, no
//! nonce) and its `jti` not seen before, the sessions it names end on every
//! node.

use std::time::Duration;

use gatehouse_core::Actor;
use gatehouse_oidc::validate::logout_token;
use gatehouse_oidc::{Check, OidcError};
use serde_json::Value;

use super::SignIn;
use super::sign_in::{hmac, sso_config};
use crate::Context;
use crate::routing::AppRuntime;

/// Why a logout token was refused (answered 400 `invalid_request`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackchannelError {
    /// SSO is not set up.
    #[error("SSO OIDC is not set up for this application")]
    NotConfigured,
    /// The token failed a check.
    #[error("{0}")]
    Invalid(OidcError),
    /// The token's `jti` was used before.
    #[error("this logout token was already used (jti replayed)")]
    Replayed,
    /// Storage failed.
    #[error("{0}")]
    Service(#[from] crate::ServiceError),
}

impl SignIn<'_> {
    /// Verify a logout token and end the sessions it names. Returns how many ended.
    #[tracing::instrument(level = "info", skip_all, fields(app = %rt.app.slug), err(level = "debug"))]
    pub async fn backchannel(
        &self,
        rt: &AppRuntime,
        token: &str,
        correlation_id: Option<String>,
    ) -> Result<usize, BackchannelError> {
        let app = &rt.app;
        let (issuer, client_id) = sso_config(rt).map_err(|_| BackchannelError::NotConfigured)?;
        let meta = self
            .rp
            .metadata(issuer)
            .await
            .map_err(BackchannelError::Invalid)?;
        let verified = self
            .rp
            .verify(token, &meta.jwks_uri, hmac(rt), "logout token")
            .await
            .map_err(BackchannelError::Invalid)?;
        let expected_iss = if rt.oidc.extra.entra_multi_tenant {
            let tid = verified
                .claims
                .get("tid")
                .and_then(Value::as_str)
                .unwrap_or("{tenantid}");
            issuer.as_str().replace("{tenantid}", tid)
        } else {
            meta.issuer.clone()
        };
        let skew = Duration::from_secs(u64::from(rt.oidc.extra.clock_skew_seconds));
        let now = self.shared.now();
        let (mut checks, parsed) = logout_token::check(
            &verified.claims,
            &verified.header,
            &expected_iss,
            client_id,
            now,
            skew,
        );
        let alg = gatehouse_oidc::validate::claims::alg(
            verified.alg,
            rt.oidc.extra.id_token_signed_response_alg,
        );
        let alg_failed = alg.is_failed();
        checks.insert(0, alg);
        checks.insert(0, Check::ok("signature"));
        let parsed = parsed.filter(|_| !alg_failed);
        let Some(claims) = parsed else {
            return Err(BackchannelError::Invalid(OidcError::Invalid {
                token: "logout token",
                checks,
            }));
        };
        let until = time::OffsetDateTime::from_unix_timestamp(claims.exp).unwrap_or(now) + skew;
        let jti_key = gatehouse_crypto::token::lookup_hash(&format!(
            "{}:{expected_iss}:{}",
            app.id, claims.jti
        ));
        if !self
            .shared
            .store
            .mark_used(
                "logout_jti",
                jti_key.as_str(),
                until.max(now + logout_token::MAX_AGE),
            )
            .await
            .map_err(crate::ServiceError::from)?
        {
            return Err(BackchannelError::Replayed);
        }
        let user = match &claims.sub {
            Some(sub) => match self
                .shared
                .store
                .find_user_by_identity(app.id, &expected_iss, sub)
                .await
                .map_err(crate::ServiceError::from)?
            {
                Some(u) => Some(u.id),
                // An unknown user has no sessions to end, unless the sid names one.
                None if claims.sid.is_none() => return Ok(0),
                None => None,
            },
            None => None,
        };
        let ctx = Context {
            actor: Actor::System,
            correlation_id,
        };
        let audit = ctx
            .event(Some(app.id), now, "session.backchannel_logout")
            .target(claims.sub.clone().unwrap_or_default())
            .detail("issuer", expected_iss.as_str())
            .detail("sid", claims.sid.clone())
            .detail("jti", claims.jti.as_str());
        let hashes = self
            .shared
            .store
            .revoke_idp_sessions(
                app.id,
                &expected_iss,
                claims.sid.as_deref(),
                user,
                now,
                &audit,
            )
            .await
            .map_err(crate::ServiceError::from)?;
        for h in &hashes {
            self.caches.forget_session(h, now);
        }
        tracing::info!(app = %app.slug, sessions = hashes.len(), "back-channel logout");
        Ok(hashes.len())
    }
}
