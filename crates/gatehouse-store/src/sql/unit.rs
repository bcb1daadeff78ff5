//! A unit of work, compiled once per backend like the queries: one write
//! transaction that several mutations share, each still an [`AuditedTx`]
//! with its own audit event and change-log rows. Every read and write made
//! through the unit's store goes through that transaction (so a use case
//! sees what an earlier one in the unit wrote), and nothing of it is
//! visible to anyone else until [`StoreUnit::commit`]; dropped without a
//! commit, or committed after one of its mutations failed, it rolls back
//! whole.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use tokio::sync::{Mutex, OwnedMappedMutexGuard, OwnedMutexGuard};

use super::{Backend, Conn, Db, write_change};
use crate::{Changed, Store, StoreError, StoreUnit};
use time::OffsetDateTime;

type Tx = sqlx::Transaction<'static, Db>;

/// The shared transaction of a unit of work (`None` once it has ended).
pub(crate) struct Unit {
    tx: Arc<Mutex<Option<Tx>>>,
    /// Set when a mutation in the unit was dropped without its commit.
    failed: AtomicBool,
    /// Change-log rows of the unit's mutations, written at its commit.
    changes: std::sync::Mutex<Vec<(Changed, OffsetDateTime)>>,
}

impl std::fmt::Debug for Unit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unit")
            .field("failed", &self.failed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// The unit's transaction, held by one statement or mutation at a time.
pub(crate) struct Held {
    guard: OwnedMappedMutexGuard<Option<Tx>, Tx>,
}

impl Held {
    /// Take the unit's transaction for a while: `Aborted` once it ended or
    /// one of its changes failed (PostgreSQL refuses every statement after
    /// a failed one; SQLite is held to the same rule).
    pub(crate) async fn take(unit: &Unit) -> Result<Self, StoreError> {
        if unit.failed.load(Ordering::Relaxed) {
            return Err(StoreError::Aborted(
                "a change in the unit of work failed; it takes no more".into(),
            ));
        }
        let guard: OwnedMutexGuard<Option<Tx>> = unit.tx.clone().lock_owned().await;
        OwnedMutexGuard::try_map(guard, Option::as_mut)
            .map(|guard| Self { guard })
            .map_err(|_| StoreError::Aborted("the unit of work has ended".into()))
    }

    /// Its connection.
    pub(crate) fn conn(&mut self) -> &mut Conn {
        &mut self.guard
    }
}

impl Unit {
    /// Note that a mutation of the unit failed: its commit will refuse.
    pub(crate) fn fail(&self) {
        self.failed.store(true, Ordering::Relaxed);
    }

    /// Keep a mutation's change rows for the unit's commit.
    pub(crate) fn defer_changes(&self, changed: Vec<Changed>, at: OffsetDateTime) {
        self.changes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(changed.into_iter().map(|c| (c, at)));
    }
}

/// Where a statement outside a mutation runs: a pooled connection, or the
/// unit's transaction when the store belongs to a unit of work.
pub(crate) enum Reader {
    Pool(sqlx::pool::PoolConnection<Db>),
    Unit(Held),
}

impl std::ops::Deref for Reader {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        match self {
            Self::Pool(c) => c,
            Self::Unit(h) => &h.guard,
        }
    }
}

impl std::ops::DerefMut for Reader {
    fn deref_mut(&mut self) -> &mut Conn {
        match self {
            Self::Pool(c) => c,
            Self::Unit(h) => h.conn(),
        }
    }
}

impl Backend {
    /// The connection a statement outside a mutation runs on.
    pub(crate) async fn exec(&self) -> Result<Reader, StoreError> {
        match &self.unit {
            None => Ok(Reader::Pool(self.pool.acquire().await?)),
            Some(u) => Ok(Reader::Unit(Held::take(u).await?)),
        }
    }

    /// The unit this store belongs to, if any.
    pub(crate) fn unit(&self) -> Option<&Arc<Unit>> {
        self.unit.as_ref()
    }

    /// Begin a unit of work on this store.
    pub(crate) async fn begin_unit_of_work(&self) -> Result<Box<dyn StoreUnit>, StoreError> {
        if self.unit.is_some() {
            return Err(StoreError::Aborted(
                "a unit of work cannot hold another".into(),
            ));
        }
        let mut tx = self.begin_write().await?;
        // Units run one at a time (applications as code: two applies never
        // interleave). SQLite's write transaction already excludes every
        // other writer; PostgreSQL takes a transaction-scoped advisory lock.
        super::lock_units(&mut tx).await?;
        let unit = Arc::new(Unit {
            tx: Arc::new(Mutex::new(Some(tx))),
            failed: AtomicBool::new(false),
            changes: std::sync::Mutex::new(Vec::new()),
        });
        let store: Arc<dyn Store> = Arc::new(self.in_unit(unit.clone()));
        Ok(Box::new(UnitOfWork { unit, store }))
    }
}

struct UnitOfWork {
    unit: Arc<Unit>,
    store: Arc<dyn Store>,
}

#[async_trait]
impl StoreUnit for UnitOfWork {
    fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        let tx = self.unit.tx.lock().await.take();
        let Some(mut tx) = tx else {
            return Err(StoreError::Aborted("the unit of work has ended".into()));
        };
        // A statement that failed outside a mutation (a read) leaves a
        // PostgreSQL transaction aborted, and COMMIT would then roll back
        // without an error: ask the transaction first.
        let usable = sqlx::query("SELECT 1").execute(&mut *tx).await.is_ok();
        if !usable || self.unit.failed.load(Ordering::Relaxed) {
            tx.rollback().await?;
            return Err(StoreError::Aborted(
                "a change in the unit of work failed; nothing was written".into(),
            ));
        }
        let changes = std::mem::take(
            &mut *self
                .unit
                .changes
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for (what, at) in &changes {
            write_change(&mut tx, what, *at).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

impl Drop for UnitOfWork {
    /// Dropped without its commit: roll back now, even while a copy of the
    /// unit's store is still held somewhere.
    fn drop(&mut self) {
        self.unit.fail();
        if let Ok(mut slot) = self.unit.tx.try_lock() {
            drop(slot.take());
        }
    }
}
