use async_trait::async_trait;
use time::OffsetDateTime;

use super::{Backend, ms};
use crate::StoreError;
use crate::replay::ReplayStore;

#[async_trait]
impl ReplayStore for Backend {
    async fn mark_used(
        &self,
        kind: &str,
        hash: &str,
        expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let res = sqlx::query("INSERT INTO used_tokens (kind, hash, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(kind)
            .bind(hash)
            .bind(ms(expires_at))
            .execute(&mut *self.exec().await?)
            .await?;
        Ok(res.rows_affected() == 1)
    }

    async fn purge_used(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let res = sqlx::query("DELETE FROM used_tokens WHERE expires_at < $1")
            .bind(ms(now))
            .execute(&mut *self.exec().await?)
            .await?;
        Ok(res.rows_affected())
    }
}
