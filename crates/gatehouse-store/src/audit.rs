//! The audit log: append-only, newest first when read.

use async_trait::async_trait;
use gatehouse_core::{AppId, AuditEvent};
use time::OffsetDateTime;

use crate::StoreError;

/// Which events to read.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only this application's events.
    pub app_id: Option<AppId>,
    /// Only actions starting with this (`signin.` or `signin.failed`).
    pub action_prefix: Option<String>,
    /// Only events whose target or actor contains this text.
    pub subject: Option<String>,
    /// Only events after this time.
    pub since: Option<OffsetDateTime>,
    /// Only events before this time.
    pub until: Option<OffsetDateTime>,
    /// Only events older than this id (paging cursor).
    pub before_id: Option<i64>,
    /// At most this many (1-500).
    pub limit: u32,
}

/// The audit log.
#[async_trait]
pub trait AuditStore {
    /// Append one event that is not part of another change (e.g. a failed sign-in).
    async fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError>;
    /// Events, newest first.
    async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError>;
}
