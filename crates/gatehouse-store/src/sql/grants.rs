use async_trait::async_trait;
use gatehouse_core::access::{Grant, Role, Subject};
use gatehouse_core::user::TagKey;
use gatehouse_core::ids::GrantId;
use gatehouse_core::{AppId, AuditEvent};
use sqlx::Row;
use time::OffsetDateTime;

use super::{AuditedTx, Backend, DbRow, from_ms, ms, parse_id};
use crate::StoreError;
use crate::changes::Changed;
use crate::grants::GrantStore;

fn grant_from_row(row: &DbRow) -> Result<Grant, StoreError> {
    let kind: String = row.try_get("kind")?;
    let value: String = row.try_get("value")?;
    let subject = match kind.as_str() {
        "email" => Subject::Email(value),
        "group" => Subject::Group(value),
        "tag" => Subject::Tag {
            key: TagKey::parse(&value, "key")
                .map_err(|_| StoreError::Corrupt("grant tag key".to_owned()))?,
            value: row
                .try_get::<Option<String>, _>("tag_value")?
                .unwrap_or_default(),
        },
        other => return Err(StoreError::Corrupt(format!("grant kind {other:?}"))),
    };
    Ok(Grant {
        id: parse_id(row.try_get::<&str, _>("id")?)?,
        app_id: parse_id(row.try_get::<&str, _>("app_id")?)?,
        role: Role::parse(row.try_get("role")?, "role")
            .map_err(|_| StoreError::Corrupt("grant role".to_owned()))?,
        subject,
        created_at: from_ms(row.try_get("created_at")?)?,
    })
}

#[async_trait]
impl GrantStore for Backend {
    async fn list_grants(&self, app: AppId) -> Result<Vec<Grant>, StoreError> {
        let rows = sqlx::query("SELECT id, app_id, role, kind, value, tag_value, created_at FROM grants WHERE app_id = $1 ORDER BY created_at, id")
            .bind(app.to_string())
            .fetch_all(&mut *self.exec().await?)
            .await?;
        rows.iter().map(grant_from_row).collect()
    }

    async fn list_all_grants(&self) -> Result<Vec<Grant>, StoreError> {
        let rows = sqlx::query("SELECT id, app_id, role, kind, value, tag_value, created_at FROM grants ORDER BY created_at, id")
            .fetch_all(&mut *self.exec().await?)
            .await?;
        rows.iter().map(grant_from_row).collect()
    }

    async fn create_grant(&self, g: &Grant, audit: &AuditEvent) -> Result<(), StoreError> {
        let (kind, value, tag_value) = match &g.subject {
            Subject::Email(e) => ("email", e.clone(), None),
            Subject::Group(n) => ("group", n.clone(), None),
            Subject::Tag { key, value } => ("tag", key.to_string(), Some(value.clone())),
        };
        let mut tx = AuditedTx::begin(self).await?;
        sqlx::query("INSERT INTO grants (id, app_id, role, kind, value, tag_value, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(g.id.to_string())
            .bind(g.app_id.to_string())
            .bind(g.role.as_str())
            .bind(kind)
            .bind(value)
            .bind(tag_value)
            .bind(ms(g.created_at))
            .execute(tx.conn())
            .await?;
        tx.commit_with(Changed::Grants(g.app_id), audit).await
    }

    async fn delete_grant(
        &self,
        app: AppId,
        id: GrantId,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = AuditedTx::begin(self).await?;
        tx.delete_one(
            "DELETE FROM grants WHERE id = $1 AND app_id = $2",
            id.to_string(),
            app,
        )
        .await?;
        tx.commit_with(Changed::Grants(app), audit).await
    }

    async fn get_app_setting(
        &self,
        app: AppId,
        key: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let v: Option<String> =
            sqlx::query_scalar("SELECT value FROM app_settings WHERE app_id = $1 AND key = $2")
                .bind(app.to_string())
                .bind(key)
                .fetch_optional(&mut *self.exec().await?)
                .await?;
        v.map(|s| {
            serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("setting {key}: {e}")))
        })
        .transpose()
    }

    async fn list_app_settings(
        &self,
        key: &str,
    ) -> Result<Vec<(AppId, serde_json::Value)>, StoreError> {
        let rows = sqlx::query("SELECT app_id, value FROM app_settings WHERE key = $1")
            .bind(key)
            .fetch_all(&mut *self.exec().await?)
            .await?;
        rows.iter()
            .map(|r| {
                let v = serde_json::from_str(r.try_get::<&str, _>("value")?)
                    .map_err(|e| StoreError::Corrupt(format!("setting {key}: {e}")))?;
                Ok((parse_id(r.try_get::<&str, _>("app_id")?)?, v))
            })
            .collect()
    }

    async fn put_app_setting(
        &self,
        app: AppId,
        key: &str,
        value: &serde_json::Value,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = AuditedTx::begin(self).await?;
        tx.require_app(app).await?;
        sqlx::query(
            "INSERT INTO app_settings (app_id, key, value, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (app_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(app.to_string())
        .bind(key)
        .bind(value.to_string())
        .bind(ms(at))
        .execute(tx.conn())
        .await?;
        tx.commit_with(Changed::App(app), audit).await
    }
}
