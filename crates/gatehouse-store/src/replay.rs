//! Single-use values: a sign-in `state` or a logout token's `jti` is
//! recorded when used; using it again is refused. Shared by every node.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::StoreError;

/// Single-use values.
#[async_trait]
pub trait ReplayStore {
    /// Record `hash` of `kind` as used until `expires_at`. `false` when it was already used.
    async fn mark_used(
        &self,
        kind: &str,
        hash: &str,
        expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Forget records that expired before `now`.
    async fn purge_used(&self, now: OffsetDateTime) -> Result<u64, StoreError>;
}
