//! Administrators of the console and their sessions.

use async_trait::async_trait;
use gatehouse_core::Sealed;
use gatehouse_core::ids::AdminId;
use gatehouse_core::{AuditEvent, TokenHash};
use time::OffsetDateTime;

use crate::StoreError;

/// An administrator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminRecord {
    /// Id.
    pub id: AdminId,
    /// E-mail (sign-in name).
    pub email: String,
    /// Display name.
    pub name: String,
    /// argon2id hash of the local (break-glass) password.
    pub password_hash: Option<String>,
    /// `active` or `disabled`.
    pub active: bool,
    /// When created.
    pub created_at: OffsetDateTime,
    /// Last sign-in.
    pub last_login_at: Option<OffsetDateTime>,
}

/// An administrator's console session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSessionRecord {
    /// What every session has.
    pub base: crate::SessionBase,
    /// The administrator.
    pub admin_id: AdminId,
}

/// Administrators, their identities and sessions; instance settings.
#[async_trait]
pub trait AdminStore {
    /// How many administrators exist.
    async fn count_admins(&self) -> Result<i64, StoreError>;
    /// Store a new administrator. `Conflict { email }` if taken.
    async fn create_admin(&self, admin: &AdminRecord, audit: &AuditEvent)
    -> Result<(), StoreError>;
    /// One administrator.
    async fn get_admin(&self, id: AdminId) -> Result<Option<AdminRecord>, StoreError>;
    /// One administrator by e-mail (case-insensitive).
    async fn find_admin_by_email(
        &self,
        email_lower: &str,
    ) -> Result<Option<AdminRecord>, StoreError>;
    /// The administrator linked to an IdP identity.
    async fn find_admin_by_identity(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<AdminRecord>, StoreError>;
    /// Link an IdP identity to an administrator.
    async fn link_admin_identity(
        &self,
        admin: AdminId,
        issuer: &str,
        subject: &str,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// All administrators, by e-mail.
    async fn list_admins(&self) -> Result<Vec<AdminRecord>, StoreError>;
    /// Store a session (and the sign-in audit event).
    async fn create_admin_session(
        &self,
        s: &AdminSessionRecord,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// The session behind a cookie hash.
    async fn get_admin_session(
        &self,
        token_hash: &TokenHash,
    ) -> Result<Option<AdminSessionRecord>, StoreError>;
    /// Note a use.
    async fn touch_admin_session(
        &self,
        token_hash: &TokenHash,
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Revoke a session; `false` if there was none.
    async fn revoke_admin_session(
        &self,
        token_hash: &TokenHash,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError>;
    /// An instance setting (JSON value and sealed secret).
    async fn get_setting(
        &self,
        key: &str,
    ) -> Result<Option<(serde_json::Value, Option<Sealed>)>, StoreError>;
    /// Save an instance setting; `sealed: None` keeps the stored secret, `Some(None)` removes it.
    async fn put_setting(
        &self,
        key: &str,
        value: &serde_json::Value,
        sealed: Option<Option<&Sealed>>,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
}
