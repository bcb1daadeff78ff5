use async_trait::async_trait;
use sqlx::Row;
use time::OffsetDateTime;

use super::{Backend, ms};
use crate::StoreError;
use crate::changes::{Change, ChangeStore, Changed};

#[async_trait]
impl ChangeStore for Backend {
    async fn latest_change(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT coalesce(max(seq), 0) FROM changes")
                .fetch_one(&mut *self.exec().await?)
                .await?,
        )
    }

    async fn changes_since(&self, seq: i64, limit: u32) -> Result<Vec<Change>, StoreError> {
        let rows =
            sqlx::query("SELECT seq, kind, key FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2")
                .bind(seq)
                .bind(i64::from(limit))
                .fetch_all(&mut *self.exec().await?)
                .await?;
        rows.iter()
            .map(|row| {
                Ok(Change {
                    seq: row.try_get("seq")?,
                    what: Changed::from_row(row.try_get("kind")?, row.try_get("key")?)?,
                })
            })
            .collect()
    }

    async fn prune_changes(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        // Keep the newest row so `latest_change` never goes back to 0.
        let res = sqlx::query(
            "DELETE FROM changes WHERE at < $1 AND seq < (SELECT max(seq) FROM changes)",
        )
        .bind(ms(before))
        .execute(&mut *self.exec().await?)
        .await?;
        Ok(res.rows_affected())
    }
}
