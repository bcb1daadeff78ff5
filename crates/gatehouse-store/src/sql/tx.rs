//! The one way a mutation is written, compiled once per backend like the
//! queries: an [`AuditedTx`] is a write transaction that can only be
//! committed with the audit event that describes it, and that writes the
//! change-log rows of everything it touched in the same commit. A change is
//! never stored without its audit event, and every node's caches hear of it.

use gatehouse_core::{AuditEvent, TokenHash};

use super::unit::{Held, Unit};
use super::{Backend, Conn, Db, ms, write_change};
use crate::{Changed, StoreError};

/// A statement being built on this backend (for helpers that bind the
/// columns several statements share).
pub(crate) type Query<'q> = sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments>;

/// A write transaction whose commit takes its audit event (see the module).
/// Dropped without a commit, it rolls back. On a store that belongs to a
/// unit of work ([`super::unit`]) it is a part of the unit's transaction:
/// its commit writes the audit event and change rows there, and dropping
/// it without a commit fails the whole unit.
pub(crate) struct AuditedTx {
    tx: Tx,
    changed: Vec<Changed>,
}

enum Tx {
    Own(sqlx::Transaction<'static, Db>),
    Unit(UnitPart),
}

/// A mutation's share of a unit of work; dropped before its commit, it
/// fails the unit.
struct UnitPart {
    held: Held,
    unit: std::sync::Arc<Unit>,
    done: bool,
}

impl Drop for UnitPart {
    fn drop(&mut self) {
        if !self.done {
            self.unit.fail();
        }
    }
}

impl AuditedTx {
    /// Begin a write transaction (or a part of the store's unit of work).
    pub(crate) async fn begin(store: &Backend) -> Result<Self, StoreError> {
        let tx = match store.unit() {
            None => Tx::Own(store.begin_write().await?),
            Some(unit) => Tx::Unit(UnitPart {
                held: Held::take(unit).await?,
                unit: unit.clone(),
                done: false,
            }),
        };
        Ok(Self {
            tx,
            changed: Vec::new(),
        })
    }

    /// The connection the statements run on.
    pub(crate) fn conn(&mut self) -> &mut Conn {
        match &mut self.tx {
            Tx::Own(t) => t,
            Tx::Unit(part) => part.held.conn(),
        }
    }

    /// Note what this transaction changed (one change-log row each).
    pub(crate) fn changed(&mut self, what: Changed) {
        self.changed.push(what);
    }

    /// Note a session this transaction ended (every node drops it).
    pub(crate) fn session_ended(&mut self, hash: &TokenHash) {
        self.changed.push(Changed::Session(hash.clone()));
    }

    /// Note the sessions this transaction ended, from the token hashes
    /// its statement returned; hands them back parsed.
    pub(crate) fn sessions_ended(
        &mut self,
        raw: Vec<String>,
    ) -> Result<Vec<TokenHash>, StoreError> {
        let hashes = token_hashes(raw)?;
        self.changed
            .extend(hashes.iter().cloned().map(Changed::Session));
        Ok(hashes)
    }

    /// Note what changed and commit with `audit`.
    pub(crate) async fn commit_with(mut self, what: Changed, audit: &AuditEvent) -> Result<(), StoreError> {
        self.changed(what);
        self.commit(audit).await
    }

    /// `NotFound` unless application `app` exists (checked inside the
    /// transaction, so it cannot vanish before the commit).
    pub(crate) async fn require_app(&mut self, app: gatehouse_core::AppId) -> Result<(), StoreError> {
        let exists: Option<String> = sqlx::query_scalar("SELECT id FROM apps WHERE id = $1")
            .bind(app.to_string())
            .fetch_optional(self.conn())
            .await?;
        exists.map(|_| ()).ok_or(StoreError::NotFound)
    }

    /// Run `sql`, a `DELETE` of one row of application `app` keyed by
    /// `id` (`$1` the id, `$2` the application); `NotFound` if there was none.
    pub(crate) async fn delete_one(
        &mut self,
        sql: &'static str,
        id: String,
        app: gatehouse_core::AppId,
    ) -> Result<(), StoreError> {
        let res = sqlx::query(sql)
            .bind(id)
            .bind(app.to_string())
            .execute(self.conn())
            .await?;
        if res.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Note the sessions its statement ended (the token hashes it returned)
    /// and commit with `audit`; hands the hashes back parsed.
    pub(crate) async fn commit_ending_sessions(
        mut self,
        raw: Vec<String>,
        audit: &AuditEvent,
    ) -> Result<Vec<TokenHash>, StoreError> {
        let hashes = self.sessions_ended(raw)?;
        self.commit(audit).await?;
        Ok(hashes)
    }

    /// Write the audit event and the change-log rows, then commit. In a
    /// unit of work the audit event goes into the unit's transaction and the
    /// change rows wait for the unit's commit, so that their sequence
    /// numbers are taken just before it (other nodes wait only a few seconds
    /// for a number that was taken but not yet committed).
    pub(crate) async fn commit(mut self, audit: &AuditEvent) -> Result<(), StoreError> {
        write_audit(self.conn(), audit).await?;
        let changed = std::mem::take(&mut self.changed);
        match self.tx {
            Tx::Own(mut t) => {
                for what in &changed {
                    write_change(&mut t, what, audit.at).await?;
                }
                t.commit().await?;
            }
            Tx::Unit(mut part) => {
                part.unit.defer_changes(changed, audit.at);
                part.done = true;
            }
        }
        Ok(())
    }

    /// End a mutation that turned out to change nothing (and so writes no
    /// audit event): rolled back, or in a unit of work left as it is
    /// without failing the unit.
    pub(crate) fn unchanged(self) {
        if let Tx::Unit(mut part) = self.tx {
            part.done = true;
        }
    }
}

/// Append an audit event on a connection (inside a transaction, or alone
/// for an event that records no change: a refused sign-in).
pub(crate) async fn write_audit(conn: &mut Conn, e: &AuditEvent) -> Result<(), StoreError> {
    let actor = serde_json::to_string(&e.actor).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let details =
        serde_json::to_string(&e.details).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    sqlx::query(
        "INSERT INTO audit_events (app_id, at, actor, action, target, details, correlation_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(e.app_id.map(|a| a.to_string()))
    .bind(ms(e.at))
    .bind(actor)
    .bind(&e.action)
    .bind(&e.target)
    .bind(details)
    .bind(&e.correlation_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Session token hashes read back from the database.
pub(crate) fn token_hashes(raw: Vec<String>) -> Result<Vec<TokenHash>, StoreError> {
    raw.iter().map(|h| parse_token_hash(h)).collect()
}

/// One token hash read back from the database.
pub(crate) fn parse_token_hash(raw: &str) -> Result<TokenHash, StoreError> {
    TokenHash::parse(raw).map_err(|_| StoreError::Corrupt(format!("token hash {raw:?}")))
}
