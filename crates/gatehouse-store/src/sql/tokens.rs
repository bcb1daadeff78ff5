use async_trait::async_trait;
use gatehouse_core::ids::TokenId;
use gatehouse_core::{AuditEvent, TokenHash};
use sqlx::Row;
use time::OffsetDateTime;

use super::{AuditedTx, Backend, from_ms, from_ms_opt, ms, parse_id, parse_token_hash};
use crate::StoreError;
use crate::tokens::{AdminTokenRecord, TokenStore};

#[async_trait]
impl TokenStore for Backend {
    async fn create_admin_token(
        &self,
        t: &AdminTokenRecord,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = AuditedTx::begin(self).await?;
        sqlx::query(
            "INSERT INTO admin_tokens (id, name, token_hash, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(t.id.to_string())
        .bind(&t.name)
        .bind(t.token_hash.as_str())
        .bind(ms(t.created_at))
        .execute(tx.conn())
        .await?;
        tx.commit(audit).await?;
        Ok(())
    }

    async fn find_admin_token(
        &self,
        token_hash: &TokenHash,
    ) -> Result<Option<AdminTokenRecord>, StoreError> {
        let Some(row) = sqlx::query(
            "SELECT id, name, token_hash, created_at, last_used_at, revoked_at FROM admin_tokens
             WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .bind(token_hash.as_str())
        .fetch_optional(&mut *self.exec().await?)
        .await?
        else {
            return Ok(None);
        };
        Ok(Some(AdminTokenRecord {
            id: parse_id(row.try_get::<&str, _>("id")?)?,
            name: row.try_get("name")?,
            token_hash: parse_token_hash(row.try_get("token_hash")?)?,
            created_at: from_ms(row.try_get("created_at")?)?,
            last_used_at: from_ms_opt(row.try_get("last_used_at")?)?,
            revoked_at: from_ms_opt(row.try_get("revoked_at")?)?,
        }))
    }

    async fn touch_admin_token(&self, id: TokenId, at: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query("UPDATE admin_tokens SET last_used_at = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(ms(at))
            .execute(&mut *self.exec().await?)
            .await?;
        Ok(())
    }
}
