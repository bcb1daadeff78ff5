//! The SQLite backend: the embedded default. One file, WAL mode, foreign
//! keys on. Writes run in `BEGIN IMMEDIATE` transactions so concurrent
//! writers queue on the busy timeout instead of failing on lock upgrade.
//!
//! The queries are shared with the PostgreSQL backend (`src/sql/`, written
//! in the SQL both accept); this module gives them their connection types
//! and the few statements that differ.

// The query modules are compiled once per backend, on purpose.
#![allow(clippy::duplicate_mod)]

pub(crate) type Backend = SqliteStore;
/// The backend's name in logs.
pub(crate) const NAME: &str = "sqlite";
pub(crate) type DbRow = sqlx::sqlite::SqliteRow;
pub(crate) type Db = sqlx::Sqlite;
pub(crate) type Conn = SqliteConnection;

/// `IN (...)` over a JSON array of ids bound as `$1`.
macro_rules! ids_in {
    () => {
        "IN (SELECT value FROM json_each($1))"
    };
}

queries!();

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{SqliteConnection, SqlitePool};
use time::OffsetDateTime;

use crate::StoreError;

/// Gatehouse's storage in a SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// The unit of work this store belongs to, if any.
    unit: Option<Arc<unit::Unit>>,
}

impl SqliteStore {
    /// Open (creating if missing) the database at a `sqlite://` URL.
    pub async fn connect(url: &str, pool: &crate::PoolSettings) -> Result<Self, StoreError> {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("invalid sqlite database_url: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(pool.max_connections.min(16))
            .min_connections(pool.min_connections.clamp(1, 16))
            .acquire_timeout(pool.acquire_timeout.max(Duration::from_secs(10)))
            .connect_with(opts)
            .await?;
        Ok(Self { pool, unit: None })
    }

    /// This store as a part of `unit`.
    fn in_unit(&self, unit: Arc<unit::Unit>) -> Self {
        Self {
            pool: self.pool.clone(),
            unit: Some(unit),
        }
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    async fn run_migrations(&self) -> Result<(), StoreError> {
        sqlx::migrate!("./migrations/sqlite")
            .run(&self.pool)
            .await?;
        Ok(())
    }

    /// SQLite has one node: nobody else writes to announce.
    fn signal(&self) -> Option<Arc<tokio::sync::Notify>> {
        None
    }
}

/// SQLite: `BEGIN IMMEDIATE` already holds the database's one write lock.
#[allow(clippy::unused_async)]
pub(crate) async fn lock_units(
    _tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
) -> Result<(), StoreError> {
    Ok(())
}

pub(crate) use crate::common::{from_ms, from_ms_opt, ms, parse_id, sealed};

/// Append a change-log row inside a transaction.
pub(crate) async fn write_change(
    conn: &mut SqliteConnection,
    what: &crate::Changed,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    let (kind, key) = what.to_row();
    sqlx::query("INSERT INTO changes (at, kind, key) VALUES ($1, $2, $3)")
        .bind(ms(at))
        .bind(kind)
        .bind(key)
        .execute(conn)
        .await?;
    Ok(())
}
