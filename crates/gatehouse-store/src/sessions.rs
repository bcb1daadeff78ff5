//! Server-side sessions. The cookie holds a random secret; the store keeps
//! only its SHA-256 (`token_hash`) and a separate public id for the API.

use async_trait::async_trait;
use gatehouse_core::session::SignInMethod;
use gatehouse_core::{AppId, AuditEvent, Sealed, SessionId, TokenHash, UserId};
use time::OffsetDateTime;

use crate::StoreError;

/// What every session has, an application user's or an administrator's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionBase {
    /// Public id.
    pub id: SessionId,
    /// SHA-256 (hex) of the cookie secret.
    pub token_hash: TokenHash,
    /// How the user signed in.
    pub method: SignInMethod,
    /// When created.
    pub created_at: OffsetDateTime,
    /// When last used (as last flushed from memory).
    pub last_seen_at: OffsetDateTime,
    /// The absolute end.
    pub expires_at: OffsetDateTime,
    /// When revoked, if it was.
    pub revoked_at: Option<OffsetDateTime>,
    /// The client address at sign-in.
    pub ip: Option<String>,
    /// The browser at sign-in.
    pub user_agent: Option<String>,
}

impl SessionBase {
    /// A session starting `now` for the cookie hashed as `token_hash`,
    /// ending after `lifetime` at the latest.
    pub fn new(
        token_hash: TokenHash,
        method: SignInMethod,
        now: OffsetDateTime,
        lifetime: std::time::Duration,
        ip: Option<String>,
        user_agent: Option<String>,
    ) -> Self {
        Self {
            id: SessionId::new(),
            token_hash,
            method,
            created_at: now,
            last_seen_at: now,
            expires_at: now + lifetime,
            revoked_at: None,
            ip,
            user_agent,
        }
    }
}

/// A session of an application's user, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// What every session has.
    pub base: SessionBase,
    /// The application.
    pub app_id: AppId,
    /// The user.
    pub user_id: UserId,
    /// The IdP's issuer (OIDC sessions).
    pub idp_issuer: Option<String>,
    /// The IdP's session id `sid` (OIDC sessions; for back-channel logout).
    pub idp_sid: Option<String>,
    /// The ID token, sealed (for `id_token_hint` at logout).
    pub id_token_sealed: Option<Sealed>,
    /// The refresh token, sealed.
    pub refresh_token_sealed: Option<Sealed>,
    /// When the IdP's tokens expire.
    pub token_expires_at: Option<OffsetDateTime>,
}

/// A session to create (the same fields; `revoked_at` and `last_seen_at` are set by the store).
pub type NewSession = SessionRecord;

/// Sessions.
#[async_trait]
pub trait SessionStore {
    /// Store a new session (and the sign-in audit event).
    async fn create_session(
        &self,
        session: &NewSession,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// The session behind a cookie, revoked or not.
    async fn get_session_by_hash(
        &self,
        token_hash: &TokenHash,
    ) -> Result<Option<SessionRecord>, StoreError>;
    /// One session by public id.
    async fn get_session(
        &self,
        app: AppId,
        id: SessionId,
    ) -> Result<Option<SessionRecord>, StoreError>;
    /// Write last-use times kept in memory (batched; never moves a time backwards).
    async fn touch_sessions(&self, seen: &[(TokenHash, OffsetDateTime)]) -> Result<(), StoreError>;
    /// Sessions of an application (optionally one user) that are not revoked and not past their absolute end.
    async fn list_sessions(
        &self,
        app: AppId,
        user: Option<UserId>,
        now: OffsetDateTime,
    ) -> Result<Vec<SessionRecord>, StoreError>;
    /// Revoke one session; returns its token hash, or `NotFound`.
    async fn revoke_session(
        &self,
        app: AppId,
        id: SessionId,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<TokenHash, StoreError>;
    /// Revoke one session by token hash (sign-out); `false` if there was none to revoke.
    async fn revoke_session_by_hash(
        &self,
        token_hash: &TokenHash,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError>;
    /// Revoke every session of a user; returns the token hashes revoked.
    async fn revoke_sessions_of_user(
        &self,
        user: UserId,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<Vec<TokenHash>, StoreError>;
    /// Revoke the sessions an IdP's logout names: those of `app` from `issuer`
    /// with IdP session `sid` and/or of `user`. Returns the token hashes revoked.
    async fn revoke_idp_sessions(
        &self,
        app: AppId,
        issuer: &str,
        sid: Option<&str>,
        user: Option<UserId>,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<Vec<TokenHash>, StoreError>;
    /// Replace the IdP tokens of a session after a refresh.
    async fn update_session_tokens(
        &self,
        token_hash: &TokenHash,
        id_token_sealed: Option<&Sealed>,
        refresh_token_sealed: Option<&Sealed>,
        token_expires_at: Option<OffsetDateTime>,
    ) -> Result<(), StoreError>;
    /// Delete sessions that ended before `before` (expired or revoked). Returns how many.
    async fn purge_sessions(&self, before: OffsetDateTime) -> Result<u64, StoreError>;
    /// How many sessions are neither revoked nor past their absolute end.
    async fn count_active_sessions(&self, now: OffsetDateTime) -> Result<i64, StoreError>;
}
