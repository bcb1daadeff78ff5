//! Admin API tokens: created by `gatehouse admin token create` (shown once,
//! stored as a SHA-256 hash) or given in the configuration; checked on every
//! API call.

use gatehouse_core::Actor;
use gatehouse_core::ids::TokenId;
use gatehouse_crypto::token;
use gatehouse_store::AdminTokenRecord;
use secrecy::{ExposeSecret, SecretString};

use crate::{Context, ServiceError};

/// The prefix of admin tokens, so they are recognisable in secret scanners.
pub const ADMIN_TOKEN_PREFIX: &str = "gha_";

/// Administrators: admin API tokens, console accounts and sessions, the
/// setup link, the console's own SSO sign-in and the audit log. Holds the
/// store, the routing snapshot (admin SSO settings live in it), the relying
/// party, the refusal ledger and the setup token.
pub struct Admin<'a> {
    pub(crate) shared: &'a crate::Shared,
    pub(crate) router: &'a crate::routing::Router,
    pub(crate) rp: &'a gatehouse_oidc::RelyingParty,
    pub(crate) refusals: &'a crate::refusals::Refusals,
    pub(crate) setup: &'a crate::console::SetupToken,
    pub(crate) limiter: &'a crate::local_login::LoginLimiter,
}

impl Admin<'_> {
    /// Create an admin token. The token is returned once and never stored.
    pub async fn create_token(
        &self,
        name: &str,
        ctx: &Context,
    ) -> Result<(AdminTokenRecord, SecretString), ServiceError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(
                gatehouse_core::Invalid::field("name", "must be 1 to 100 characters").into(),
            );
        }
        let secret = SecretString::from(format!(
            "{ADMIN_TOKEN_PREFIX}{}",
            token::random_token(32).expose_secret()
        ));
        let now = self.shared.now();
        let record = AdminTokenRecord {
            id: TokenId::new(),
            name: name.to_owned(),
            token_hash: token::lookup_hash(secret.expose_secret()),
            created_at: now,
            last_used_at: None,
            revoked_at: None,
        };
        let audit = ctx
            .event(None, now, "admin_token.created")
            .target(record.name.as_str())
            .detail("token_id", record.id.to_string());
        self.shared
            .store
            .create_admin_token(&record, &audit)
            .await?;
        Ok((record, secret))
    }

    /// Who an admin bearer token belongs to.
    pub async fn authenticate(&self, bearer: &str) -> Result<Actor, ServiceError> {
        if let Some(configured) = &self.shared.settings.admin_token
            && token::secrets_equal(configured, bearer)
        {
            return Ok(Actor::ConfigToken);
        }
        if !bearer.starts_with(ADMIN_TOKEN_PREFIX) {
            return Err(ServiceError::Unauthorized);
        }
        // Looked up by hash: the lookup reveals nothing about the token.
        let Some(rec) = self
            .shared
            .store
            .find_admin_token(&token::lookup_hash(bearer))
            .await?
        else {
            return Err(ServiceError::Unauthorized);
        };
        let now = self.shared.now();
        if rec
            .last_used_at
            .is_none_or(|t| now - t > time::Duration::minutes(1))
            && let Err(e) = self.shared.store.touch_admin_token(rec.id, now).await
        {
            tracing::warn!(error = %e, "could not record admin token use");
        }
        Ok(Actor::AdminToken {
            id: rec.id.to_string(),
            name: rec.name,
        })
    }

    /// A context for an admin call.
    pub fn context(&self, actor: Actor, correlation_id: Option<String>) -> Context {
        Context {
            actor,
            correlation_id,
        }
    }
}
