//! Applications, their hosts and their SSO OIDC settings.

use async_trait::async_trait;
use gatehouse_core::sso::OidcSettings;
use gatehouse_core::{AppId, Application, AuditEvent, Sealed, Slug, TokenHash};
use time::OffsetDateTime;

use crate::StoreError;

/// SSO OIDC settings as stored: the settings and the sealed client secret.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredOidc {
    /// The settings.
    pub settings: OidcSettings,
    /// The client secret, sealed under the master key (never plaintext).
    pub client_secret_sealed: Option<Sealed>,
    /// The application's private key for `private_key_jwt` (PKCS#8, sealed).
    pub client_key_sealed: Option<Sealed>,
    /// When last saved.
    pub updated_at: OffsetDateTime,
}

/// What to do with the sealed client secret when settings are saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealedSecretChange {
    /// Keep the stored one.
    Keep,
    /// Remove it.
    Remove,
    /// Store this sealed value.
    Set(Sealed),
}

/// Applications.
#[async_trait]
pub trait AppStore {
    /// Store a new application with its hosts. `Conflict { slug | hosts }` if taken.
    async fn create_app(&self, app: &Application, audit: &AuditEvent) -> Result<(), StoreError>;
    /// Replace an application's fields and hosts.
    async fn update_app(&self, app: &Application, audit: &AuditEvent) -> Result<(), StoreError>;
    /// Delete an application with everything it owns (users, sessions,
    /// settings). Returns the hashes of the sessions it ended.
    async fn delete_app(&self, id: AppId, audit: &AuditEvent)
    -> Result<Vec<TokenHash>, StoreError>;
    /// One application.
    async fn get_app(&self, id: AppId) -> Result<Option<Application>, StoreError>;
    /// One application by slug.
    async fn get_app_by_slug(&self, slug: &Slug) -> Result<Option<Application>, StoreError>;
    /// All applications, by name.
    async fn list_apps(&self) -> Result<Vec<Application>, StoreError>;
    /// The SSO OIDC settings of an application, if ever saved.
    async fn get_oidc(&self, app: AppId) -> Result<Option<StoredOidc>, StoreError>;
    /// Store the application's sealed client key (`private_key_jwt`), if it has none yet.
    /// Returns the key that is stored afterwards (an earlier one wins a race).
    async fn set_client_key(
        &self,
        app: AppId,
        sealed: &Sealed,
        audit: &AuditEvent,
    ) -> Result<Sealed, StoreError>;
    /// Save SSO OIDC settings.
    async fn put_oidc(
        &self,
        app: AppId,
        settings: &OidcSettings,
        secret: SealedSecretChange,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
}
