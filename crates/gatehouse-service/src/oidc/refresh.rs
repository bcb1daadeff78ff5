//! Silent refresh: when an application asks for it, a session that outlives
//! its ID token is refreshed with the refresh token on the next request. A
//! refresh the IdP refuses ends the session; an IdP that is down does not
//! (the session is tried again a minute later).

use gatehouse_crypto::SealContext;
use std::sync::atomic::Ordering;
use std::time::Duration;

use gatehouse_core::Actor;
use gatehouse_oidc::token;
use secrecy::ExposeSecret;
use serde_json::Value;

use super::SignInError;
use super::sign_in::{client_auth, sso_config};
use crate::cache::{LiveSession, millis};
use crate::routing::AppRuntime;
use crate::sessions::Sessions;
use crate::{Context, ServiceError};

/// How long to wait before retrying a refresh that failed because the IdP was unavailable.
const RETRY: Duration = Duration::from_secs(60);

impl Sessions<'_> {
    /// Refresh the IdP tokens of a live session whose tokens expired.
    /// `Ok(false)` when the session ended because the IdP refused.
    #[tracing::instrument(level = "debug", skip_all, fields(app = %rt.app.slug), err(level = "debug"))]
    pub(crate) async fn refresh_session(
        &self,
        rt: &AppRuntime,
        live: &LiveSession,
    ) -> Result<bool, ServiceError> {
        if live.refreshing.swap(true, Ordering::AcqRel) {
            return Ok(true); // another request is refreshing this session
        }
        let result = self.do_refresh(rt, live).await;
        live.refreshing.store(false, Ordering::Release);
        let now = self.shared.now();
        match result {
            Ok(()) => Ok(true),
            Err(SignInError::TokenRefused(e) | SignInError::InvalidToken(e)) => {
                tracing::info!(app = %rt.app.slug, error = %e, "the IdP refused to refresh a session; ending it");
                let ctx = Context {
                    actor: Actor::System,
                    correlation_id: None,
                };
                let audit = ctx
                    .event(Some(rt.app.id), now, "session.refresh_refused")
                    .target(live.record.base.id.to_string())
                    .detail("reason", e.to_string());
                self.shared
                    .store
                    .revoke_session_by_hash(&live.record.base.token_hash, now, &audit)
                    .await?;
                self.caches
                    .forget_session(&live.record.base.token_hash, now);
                Ok(false)
            }
            Err(e) => {
                tracing::warn!(app = %rt.app.slug, error = %e, "cannot refresh a session now; trying again later");
                live.token_expires_ms
                    .store(millis(now + RETRY), Ordering::Relaxed);
                Ok(true)
            }
        }
    }

    async fn do_refresh(&self, rt: &AppRuntime, live: &LiveSession) -> Result<(), SignInError> {
        let app = &rt.app;
        let current = live
            .refresh_token_sealed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let sealed = current.as_ref().ok_or_else(|| {
            SignInError::TokenRefused(gatehouse_oidc::OidcError::TokenRefused {
                error: "no_refresh_token".into(),
                description: Some("the IdP gave no refresh token at sign-in".into()),
            })
        })?;
        let refresh = self
            .shared
            .keys
            .open_secret(sealed, SealContext::RefreshToken(app.id))
            .map_err(ServiceError::from)?;
        let (issuer, client_id) = sso_config(rt)?;
        let meta = self.rp.metadata(issuer).await?;
        let now = self.shared.now();
        let tokens = token::request(
            self.rp.http(),
            &meta.token_endpoint,
            client_id,
            client_auth(rt)?,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh.expose_secret()),
            ],
            now.unix_timestamp(),
        )
        .await?;
        let mut expires = tokens.expires_in.map(|s| now + Duration::from_secs(s));
        let mut id_token_sealed = None;
        if let Some(id_token) = &tokens.id_token {
            // OpenID Connect Core §12.2: same iss, sub and aud; no nonce to check.
            let (claims, _) = super::sign_in::validate_id_token(
                self.rp,
                self.shared.now(),
                rt,
                &meta,
                id_token,
                None,
                Some(tokens.access_token.expose_secret()),
            )
            .await?;
            let sub = claims.get("sub").and_then(Value::as_str);
            let original = self
                .shared
                .store
                .get_user(app.id, live.record.user_id)
                .await
                .map_err(ServiceError::from)?;
            let same = original
                .is_some_and(|u| u.identities.iter().any(|i| Some(i.subject.as_str()) == sub));
            if !same {
                return Err(SignInError::InvalidToken(
                    gatehouse_oidc::OidcError::Invalid {
                        token: "ID token",
                        checks: vec![gatehouse_oidc::Check::failed(
                            "sub",
                            "the refreshed ID token is for another subject",
                        )],
                    },
                ));
            }
            if let Some(exp) = claims
                .get("exp")
                .and_then(Value::as_i64)
                .and_then(|e| time::OffsetDateTime::from_unix_timestamp(e).ok())
            {
                expires = Some(exp);
            }
            id_token_sealed = self
                .shared
                .keys
                .seal(id_token.as_bytes(), SealContext::IdToken(app.id))
                .ok();
        }
        let refresh_sealed = tokens.refresh_token.as_ref().and_then(|r| {
            self.shared
                .keys
                .seal(
                    r.expose_secret().as_bytes(),
                    SealContext::RefreshToken(app.id),
                )
                .ok()
        });
        let expires = expires.unwrap_or(now + Duration::from_secs(300));
        self.shared
            .store
            .update_session_tokens(
                &live.record.base.token_hash,
                id_token_sealed.as_ref(),
                refresh_sealed.as_ref(),
                Some(expires),
            )
            .await
            .map_err(ServiceError::from)?;
        live.token_expires_ms
            .store(millis(expires), Ordering::Relaxed);
        if let Some(r) = refresh_sealed {
            *live
                .refresh_token_sealed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(r);
        }
        tracing::debug!(app = %app.slug, "session refreshed");
        Ok(())
    }
}
