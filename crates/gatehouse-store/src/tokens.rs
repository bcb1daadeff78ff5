//! Admin API tokens, stored as SHA-256 hashes.

use async_trait::async_trait;
use gatehouse_core::ids::TokenId;
use gatehouse_core::{AuditEvent, TokenHash};
use time::OffsetDateTime;

use crate::StoreError;

/// An admin token record (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminTokenRecord {
    /// Id.
    pub id: TokenId,
    /// A name for people ("ci", "terraform").
    pub name: String,
    /// SHA-256 (hex) of the token.
    pub token_hash: TokenHash,
    /// When created.
    pub created_at: OffsetDateTime,
    /// When last used.
    pub last_used_at: Option<OffsetDateTime>,
    /// When revoked.
    pub revoked_at: Option<OffsetDateTime>,
}

/// Admin tokens.
#[async_trait]
pub trait TokenStore {
    /// Store a new token record.
    async fn create_admin_token(
        &self,
        token: &AdminTokenRecord,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// The record for a token hash, if not revoked.
    async fn find_admin_token(
        &self,
        token_hash: &TokenHash,
    ) -> Result<Option<AdminTokenRecord>, StoreError>;
    /// Note a use (at most once a minute is enough; callers throttle).
    async fn touch_admin_token(&self, id: TokenId, at: OffsetDateTime) -> Result<(), StoreError>;
}
