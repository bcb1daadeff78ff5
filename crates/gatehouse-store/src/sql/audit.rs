use async_trait::async_trait;
use gatehouse_core::{Actor, AuditEvent};
use sqlx::Row;

use super::{Backend, from_ms, ms, parse_id, write_audit};
use crate::StoreError;
use crate::audit::{AuditQuery, AuditStore};

#[async_trait]
impl AuditStore for Backend {
    async fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        write_audit(&mut *self.exec().await?, event).await
    }

    async fn list_audit(&self, q: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
        let subject = q
            .subject
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| format!("%{}%", s.to_lowercase().replace(['%', '_'], "")));
        let rows = sqlx::query(
            "SELECT id, app_id, at, actor, action, target, details, correlation_id FROM audit_events
             WHERE ($1 IS NULL OR app_id = $1)
               AND ($2 IS NULL OR substr(action, 1, length($2)) = $2)
               AND ($3 IS NULL OR lower(coalesce(target, '')) LIKE $3 OR lower(actor) LIKE $3)
               AND ($4 IS NULL OR at >= $4)
               AND ($5 IS NULL OR at < $5)
               AND ($6 IS NULL OR id < $6)
             ORDER BY id DESC LIMIT $7",
        )
        .bind(q.app_id.map(|a| a.to_string()))
        .bind(q.action_prefix.as_deref().filter(|s| !s.is_empty()))
        .bind(subject)
        .bind(q.since.map(ms))
        .bind(q.until.map(ms))
        .bind(q.before_id)
        .bind(i64::from(q.limit.clamp(1, 500)))
        .fetch_all(&mut *self.exec().await?)
        .await?;
        rows.iter()
            .map(|row| {
                let actor: Actor = serde_json::from_str(row.try_get::<&str, _>("actor")?)
                    .map_err(|e| StoreError::Corrupt(format!("audit actor: {e}")))?;
                let details = serde_json::from_str(row.try_get::<&str, _>("details")?)
                    .map_err(|e| StoreError::Corrupt(format!("audit details: {e}")))?;
                let app: Option<String> = row.try_get("app_id")?;
                Ok(AuditEvent {
                    id: row.try_get("id")?,
                    app_id: app.as_deref().map(parse_id).transpose()?,
                    at: from_ms(row.try_get("at")?)?,
                    actor,
                    action: row.try_get("action")?,
                    target: row.try_get("target")?,
                    details,
                    correlation_id: row.try_get("correlation_id")?,
                })
            })
            .collect()
    }
}
