//! Persistence for Gatehouse. The rest of Gatehouse speaks to storage only
//! through the narrow traits here ([`AppStore`], [`UserStore`], ...), which
//! speak the business (`create_session`, `revoke_sessions_of_user`), not SQL.
//! [`Store`] is all of them together; one module per database implements it
//! ([`sqlite`], the embedded default, and [`postgres`], for several nodes),
//! both with the same queries (`src/sql/`) and migrations kept in step.
//!
//! Every mutating call takes the [`AuditEvent`] that describes it and goes
//! through one `AuditedTx` (`src/sql/tx.rs`), whose commit writes the event
//! and a typed row in the change log ([`changes`], [`Changed`]) in the same
//! transaction as the change itself: a change is never stored without its
//! audit event, and every node's caches hear about it. A unit of work
//! ([`Store::begin_unit`], [`StoreUnit`]) lets several such mutations share
//! one transaction. `tests/schema.rs` checks that the two backends'
//! migrations define the same schema.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

/// The shared queries (`src/sql/`), compiled into a backend's module: each
/// backend invokes this once, after naming its `Backend`, `Db`, `Conn` and
/// `DbRow` types and its `ids_in!` fragment.
macro_rules! queries {
    () => {
        #[path = "../sql/admins.rs"]
        mod admins;
        #[path = "../sql/apps.rs"]
        mod apps;
        #[path = "../sql/audit.rs"]
        mod audit;
        #[path = "../sql/changes.rs"]
        mod changes;
        #[path = "../sql/grants.rs"]
        mod grants;
        #[path = "../sql/groups.rs"]
        mod groups;
        #[path = "../sql/replay.rs"]
        mod replay;
        #[path = "../sql/scim.rs"]
        mod scim;
        #[path = "../sql/sessions.rs"]
        mod sessions;
        #[path = "../sql/store.rs"]
        mod store;
        #[path = "../sql/tokens.rs"]
        mod tokens;
        #[path = "../sql/tx.rs"]
        mod tx;
        #[path = "../sql/unit.rs"]
        mod unit;
        #[path = "../sql/users.rs"]
        mod users;
        pub(crate) use tx::{AuditedTx, parse_token_hash, write_audit};
    };
}

pub mod admins;
pub mod apps;
pub mod audit;
pub mod changes;
mod common;
pub mod error;
pub mod grants;
pub mod postgres;
pub mod replay;
pub mod scim;
pub mod sessions;
pub mod sqlite;
pub mod testing;
pub mod tokens;
pub mod users;

pub use admins::{AdminRecord, AdminSessionRecord, AdminStore};
pub use apps::{AppStore, SealedSecretChange, StoredOidc};
pub use audit::{AuditQuery, AuditStore};
pub use changes::{Change, ChangeStore, Changed};
pub use error::StoreError;
pub use gatehouse_core::AuditEvent;
pub use grants::GrantStore;
pub use replay::ReplayStore;
pub use scim::{MemberChange, ScimStore, ScimTokenRecord};
pub use sessions::{NewSession, SessionBase, SessionRecord, SessionStore};
pub use tokens::{AdminTokenRecord, TokenStore};
pub use users::{PasswordChange, UserQuery, UserStore};

use async_trait::async_trait;

/// All of Gatehouse's storage.
#[async_trait]
pub trait Store:
    AppStore
    + UserStore
    + SessionStore
    + AuditStore
    + TokenStore
    + ChangeStore
    + ReplayStore
    + AdminStore
    + GrantStore
    + ScimStore
    + Send
    + Sync
    + 'static
{
    /// Check that the database answers (readiness).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Bring the schema up to date.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// A short name of the backend for logs: `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// Woken when another node may have written to the change log (the
    /// feed reads it at once instead of at its next poll). `None`: the
    /// backend has no notifications; the feed polls.
    fn change_signal(&self) -> Option<std::sync::Arc<tokio::sync::Notify>> {
        None
    }

    /// Begin a unit of work: one transaction that several mutations share
    /// (see [`StoreUnit`]).
    async fn begin_unit(&self) -> Result<Box<dyn StoreUnit>, StoreError>;
}

/// A unit of work: every read and write made through [`StoreUnit::store`]
/// runs in one transaction, each mutation still with its audit event and
/// change rows; nothing is visible to others before [`StoreUnit::commit`].
/// Dropped without a commit it rolls back, and its commit refuses (rolling
/// back) if any mutation in it failed. Applications as code apply a whole
/// file this way.
#[async_trait]
pub trait StoreUnit: Send + Sync {
    /// The store whose reads and writes go through this unit.
    fn store(&self) -> std::sync::Arc<dyn Store>;
    /// Commit everything the unit wrote.
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

/// Connection pool settings (from the configuration).
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Most connections open at once.
    pub max_connections: u32,
    /// Connections kept open when idle.
    pub min_connections: u32,
    /// How long a query waits for a connection before it fails (then the
    /// request gets a 503 rather than hanging while the database is down).
    pub acquire_timeout: std::time::Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 16,
            min_connections: 1,
            acquire_timeout: std::time::Duration::from_secs(3),
        }
    }
}

/// Open the store a database URL names: `sqlite://path` (or
/// `sqlite::memory:`), or `postgres://user@host/db`.
pub async fn connect(
    url: &str,
    pool: &PoolSettings,
) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(std::sync::Arc::new(
            sqlite::SqliteStore::connect(url, pool).await?,
        ))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(std::sync::Arc::new(
            postgres::PostgresStore::connect(url, pool).await?,
        ))
    } else {
        Err(StoreError::Config(format!(
            "database_url must start with sqlite:// or postgres:// (got a URL starting with {:?})",
            url.split(':').next().unwrap_or("")
        )))
    }
}
