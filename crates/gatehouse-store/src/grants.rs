//! Grants of roles, and per-application settings stored as JSON by key.

use async_trait::async_trait;
use gatehouse_core::access::Grant;
use gatehouse_core::ids::GrantId;
use gatehouse_core::{AppId, AuditEvent};
use time::OffsetDateTime;

use crate::StoreError;

/// Grants and application settings.
#[async_trait]
pub trait GrantStore {
    /// Grants of one application, oldest first.
    async fn list_grants(&self, app: AppId) -> Result<Vec<Grant>, StoreError>;
    /// Every grant of every application (for the routing snapshot).
    async fn list_all_grants(&self) -> Result<Vec<Grant>, StoreError>;
    /// Store a grant.
    async fn create_grant(&self, grant: &Grant, audit: &AuditEvent) -> Result<(), StoreError>;
    /// Delete a grant; `NotFound` if it is not there.
    async fn delete_grant(
        &self,
        app: AppId,
        id: GrantId,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// An application setting.
    async fn get_app_setting(
        &self,
        app: AppId,
        key: &str,
    ) -> Result<Option<serde_json::Value>, StoreError>;
    /// Every application's value of a setting.
    async fn list_app_settings(
        &self,
        key: &str,
    ) -> Result<Vec<(AppId, serde_json::Value)>, StoreError>;
    /// Save an application setting.
    async fn put_app_setting(
        &self,
        app: AppId,
        key: &str,
        value: &serde_json::Value,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
}
