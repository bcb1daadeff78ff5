//! Users of an application, with their tags, groups and identities.

use async_trait::async_trait;
use gatehouse_core::user::User;
use gatehouse_core::{AppId, AuditEvent, TokenHash, UserId};
use time::OffsetDateTime;

use crate::StoreError;

/// Which users to list.
#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    /// Case-insensitive text found in e-mail, names, a tag value or a group.
    pub search: Option<String>,
    /// At most this many (1-500).
    pub limit: u32,
    /// Skip this many.
    pub offset: u32,
}

/// What to do with a user's password hash on update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordChange {
    /// Keep it.
    Keep,
    /// Remove it (no local sign-in).
    Remove,
    /// Set this argon2id PHC hash.
    Set(String),
}

/// Users.
#[async_trait]
pub trait UserStore {
    /// Store a new user (with tags, groups, identities). `Conflict { email }` if taken in the app.
    async fn create_user(
        &self,
        user: &User,
        password_hash: Option<&str>,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Replace a user's fields, tags, groups and identities.
    async fn update_user(
        &self,
        user: &User,
        password: PasswordChange,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Delete a user and their sessions; returns the token hashes of the sessions ended.
    async fn delete_user(
        &self,
        app: AppId,
        id: UserId,
        audit: &AuditEvent,
    ) -> Result<Vec<TokenHash>, StoreError>;
    /// One user.
    async fn get_user(&self, app: AppId, id: UserId) -> Result<Option<User>, StoreError>;
    /// One user by e-mail (case-insensitive), with the password hash for local sign-in.
    async fn find_user_by_email(
        &self,
        app: AppId,
        email_lower: &str,
    ) -> Result<Option<(User, Option<String>)>, StoreError>;
    /// The user linked to an IdP identity.
    async fn find_user_by_identity(
        &self,
        app: AppId,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<User>, StoreError>;
    /// Users of an application, by e-mail.
    async fn list_users(&self, app: AppId, query: &UserQuery) -> Result<Vec<User>, StoreError>;
    /// Record a successful sign-in.
    async fn record_login(&self, id: UserId, at: OffsetDateTime) -> Result<(), StoreError>;
}
