//! The PostgreSQL backend, for several Gatehouse nodes sharing one database.
//! The queries are those of the SQLite backend (`src/sql/`); this module
//! gives them their connection types and adds what only PostgreSQL has:
//! every change-log row is announced with `NOTIFY gatehouse_changes` when
//! its transaction commits, and a listener task wakes this node's change
//! feed at once (the feed also polls, so a missed notification heals).

// The query modules are compiled once per backend, on purpose.
#![allow(clippy::duplicate_mod)]

pub(crate) type Backend = PostgresStore;
/// The backend's name in logs.
pub(crate) const NAME: &str = "postgres";
pub(crate) type DbRow = sqlx::postgres::PgRow;
pub(crate) type Db = sqlx::Postgres;
pub(crate) type Conn = PgConnection;

/// `IN (...)` over a JSON array of ids bound as `$1`.
macro_rules! ids_in {
    () => {
        "IN (SELECT json_array_elements_text(CAST($1 AS json)))"
    };
}

queries!();

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use tokio::sync::Notify;

use crate::StoreError;

pub(crate) use crate::common::{from_ms, from_ms_opt, ms, parse_id, sealed};

/// The channel change-log rows are announced on.
pub const CHANNEL: &str = "gatehouse_changes";

/// Gatehouse's storage in a PostgreSQL database.
#[derive(Debug)]
pub struct PostgresStore {
    pool: PgPool,
    signal: Arc<Notify>,
    _listener: Arc<Listener>,
    /// The unit of work this store belongs to, if any.
    unit: Option<Arc<unit::Unit>>,
}

/// The notification listener task, stopped with the last store using it.
#[derive(Debug)]
struct Listener(tokio::task::JoinHandle<()>);

impl Drop for Listener {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl PostgresStore {
    /// Connect to the database at a `postgres://` URL. The pool connects
    /// lazily, so a node starts (and answers `/readyz` with 503) while the
    /// database is down, and recovers by itself when it returns.
    pub async fn connect(url: &str, pool: &crate::PoolSettings) -> Result<Self, StoreError> {
        let opts = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("invalid postgres database_url: {e}")))?
            .application_name("gatehouse");
        let pool = PgPoolOptions::new()
            .max_connections(pool.max_connections)
            .min_connections(pool.min_connections)
            .acquire_timeout(pool.acquire_timeout)
            .idle_timeout(Some(Duration::from_secs(600)))
            .test_before_acquire(true)
            .connect_lazy_with(opts);
        let signal = Arc::new(Notify::new());
        let listener = tokio::spawn(listen(pool.clone(), signal.clone()));
        Ok(Self {
            pool,
            signal,
            _listener: Arc::new(Listener(listener)),
            unit: None,
        })
    }

    /// This store as a part of `unit`.
    fn in_unit(&self, unit: Arc<unit::Unit>) -> Self {
        Self {
            pool: self.pool.clone(),
            signal: self.signal.clone(),
            _listener: self._listener.clone(),
            unit: Some(unit),
        }
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, StoreError> {
        Ok(self.pool.begin().await?)
    }

    async fn run_migrations(&self) -> Result<(), StoreError> {
        sqlx::migrate!("./migrations/postgres")
            .run(&self.pool)
            .await?;
        Ok(())
    }

    fn signal(&self) -> Option<Arc<Notify>> {
        Some(self.signal.clone())
    }
}

/// The advisory lock units of work hold (one at a time, instance-wide).
const UNIT_LOCK: i64 = 0x6761_7465_756e_6974; // "gateunit"

/// Wait for the units-of-work lock, held until `tx` ends.
pub(crate) async fn lock_units(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(UNIT_LOCK)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Listen for change announcements until the store is dropped; wake the
/// feed for each, and once after every reconnection (notifications sent
/// while the connection was down are lost; the feed's read heals that).
async fn listen(pool: PgPool, signal: Arc<Notify>) {
    let mut failing = false;
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "cannot listen for database change notifications; retrying");
                    failing = true;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            if !failing {
                tracing::warn!(error = %e, "cannot LISTEN {CHANNEL}; retrying");
                failing = true;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        if failing {
            tracing::info!("listening for database change notifications again");
            failing = false;
        }
        signal.notify_one();
        loop {
            match listener.try_recv().await {
                Ok(Some(_)) => signal.notify_one(),
                // The connection was lost and re-established: catch up.
                Ok(None) => signal.notify_one(),
                Err(e) => {
                    tracing::warn!(error = %e, "database change notifications interrupted");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    break;
                }
            }
        }
    }
}

/// Append a change-log row inside a transaction, announced at commit.
pub(crate) async fn write_change(
    conn: &mut PgConnection,
    what: &crate::Changed,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    let (kind, key) = what.to_row();
    let seq: i64 =
        sqlx::query_scalar("INSERT INTO changes (at, kind, key) VALUES ($1, $2, $3) RETURNING seq")
            .bind(ms(at))
            .bind(kind)
            .bind(key)
            .fetch_one(&mut *conn)
            .await?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(seq.to_string())
        .execute(conn)
        .await?;
    Ok(())
}
