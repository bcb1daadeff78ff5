use async_trait::async_trait;
use gatehouse_core::ids::AdminId;
use gatehouse_core::{AuditEvent, TokenHash};
use sqlx::Row;
use time::OffsetDateTime;

use super::{AuditedTx, Backend, DbRow, from_ms, from_ms_opt, ms, parse_id, sealed};
use gatehouse_core::Sealed;
use crate::StoreError;
use crate::admins::{AdminRecord, AdminSessionRecord, AdminStore};
use crate::changes::Changed;

macro_rules! select_admins {
    ($tail:literal) => {
        concat!(
            "SELECT id, email, name, password_hash, status, created_at, last_login_at FROM admins ",
            $tail
        )
    };
}

fn admin_from_row(row: &DbRow) -> Result<AdminRecord, StoreError> {
    Ok(AdminRecord {
        id: parse_id(row.try_get::<&str, _>("id")?)?,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        password_hash: row.try_get("password_hash")?,
        active: row.try_get::<&str, _>("status")? == "active",
        created_at: from_ms(row.try_get("created_at")?)?,
        last_login_at: from_ms_opt(row.try_get("last_login_at")?)?,
    })
}

fn session_from_row(row: &DbRow) -> Result<AdminSessionRecord, StoreError> {
    Ok(AdminSessionRecord {
        base: super::sessions::base_from_row(row)?,
        admin_id: parse_id(row.try_get::<&str, _>("admin_id")?)?,
    })
}

#[async_trait]
impl AdminStore for Backend {
    async fn count_admins(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM admins")
            .fetch_one(&mut *self.exec().await?)
            .await?)
    }

    async fn create_admin(&self, a: &AdminRecord, audit: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = AuditedTx::begin(self).await?;
        let res = sqlx::query(
            "INSERT INTO admins (id, email, email_lower, name, password_hash, status, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(a.id.to_string())
        .bind(&a.email)
        .bind(a.email.to_lowercase())
        .bind(&a.name)
        .bind(&a.password_hash)
        .bind(if a.active { "active" } else { "disabled" })
        .bind(ms(a.created_at))
        .execute(tx.conn())
        .await;
        match res {
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                return Err(StoreError::Conflict { field: "email" });
            }
            other => {
                other?;
            }
        }
        tx.commit(audit).await?;
        Ok(())
    }

    async fn get_admin(&self, id: AdminId) -> Result<Option<AdminRecord>, StoreError> {
        sqlx::query(select_admins!("WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(&mut *self.exec().await?)
            .await?
            .as_ref()
            .map(admin_from_row)
            .transpose()
    }

    async fn find_admin_by_email(
        &self,
        email_lower: &str,
    ) -> Result<Option<AdminRecord>, StoreError> {
        sqlx::query(select_admins!("WHERE email_lower = $1"))
            .bind(email_lower)
            .fetch_optional(&mut *self.exec().await?)
            .await?
            .as_ref()
            .map(admin_from_row)
            .transpose()
    }

    async fn find_admin_by_identity(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<AdminRecord>, StoreError> {
        sqlx::query(select_admins!(
            "WHERE id = (SELECT admin_id FROM admin_identities WHERE issuer = $1 AND subject = $2)"
        ))
        .bind(issuer)
        .bind(subject)
        .fetch_optional(&mut *self.exec().await?)
        .await?
        .as_ref()
        .map(admin_from_row)
        .transpose()
    }

    async fn link_admin_identity(
        &self,
        admin: AdminId,
        issuer: &str,
        subject: &str,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = AuditedTx::begin(self).await?;
        sqlx::query("INSERT INTO admin_identities (issuer, subject, admin_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(issuer)
            .bind(subject)
            .bind(admin.to_string())
            .execute(tx.conn())
            .await?;
        tx.commit(audit).await?;
        Ok(())
    }

    async fn list_admins(&self) -> Result<Vec<AdminRecord>, StoreError> {
        let rows = sqlx::query(select_admins!("ORDER BY email_lower"))
            .fetch_all(&mut *self.exec().await?)
            .await?;
        rows.iter().map(admin_from_row).collect()
    }

    async fn create_admin_session(
        &self,
        s: &AdminSessionRecord,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = AuditedTx::begin(self).await?;
        super::sessions::bind_base(
            sqlx::query(
                "INSERT INTO admin_sessions (id, token_hash, method, created_at, last_seen_at, expires_at, ip, user_agent, admin_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            ),
            &s.base,
        )
        .bind(s.admin_id.to_string())
        .execute(tx.conn())
        .await?;
        super::sessions::note_sign_in(
            &mut tx,
            "UPDATE admins SET last_login_at = $2 WHERE id = $1",
            s.admin_id.to_string(),
            s.base.created_at,
        )
        .await?;
        tx.commit(audit).await?;
        Ok(())
    }

    async fn get_admin_session(
        &self,
        token_hash: &TokenHash,
    ) -> Result<Option<AdminSessionRecord>, StoreError> {
        sqlx::query(
            "SELECT id, token_hash, admin_id, method, created_at, last_seen_at, expires_at, revoked_at, ip, user_agent
             FROM admin_sessions WHERE token_hash = $1",
        )
        .bind(token_hash.as_str())
        .fetch_optional(&mut *self.exec().await?)
        .await?
        .as_ref()
        .map(session_from_row)
        .transpose()
    }

    async fn touch_admin_session(
        &self,
        token_hash: &TokenHash,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE admin_sessions SET last_seen_at = CASE WHEN last_seen_at < $2 THEN $2 ELSE last_seen_at END WHERE token_hash = $1",
        )
        .bind(token_hash.as_str())
        .bind(ms(at))
        .execute(&mut *self.exec().await?)
        .await?;
        Ok(())
    }

    async fn revoke_admin_session(
        &self,
        token_hash: &TokenHash,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = AuditedTx::begin(self).await?;
        let revoked = super::sessions::end_by_hash(
            &mut tx,
            "UPDATE admin_sessions SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL",
            token_hash,
            at,
        )
        .await?;
        if revoked {
            tx.commit(audit).await?;
        } else {
            tx.unchanged();
        }
        Ok(revoked)
    }

    async fn get_setting(
        &self,
        key: &str,
    ) -> Result<Option<(serde_json::Value, Option<Sealed>)>, StoreError> {
        let Some(row) = sqlx::query("SELECT value, sealed FROM instance_settings WHERE key = $1")
            .bind(key)
            .fetch_optional(&mut *self.exec().await?)
            .await?
        else {
            return Ok(None);
        };
        let value = serde_json::from_str(row.try_get::<&str, _>("value")?)
            .map_err(|e| StoreError::Corrupt(format!("setting {key}: {e}")))?;
        Ok(Some((value, sealed(row.try_get("sealed")?, key)?)))
    }

    async fn put_setting(
        &self,
        key: &str,
        value: &serde_json::Value,
        sealed: Option<Option<&Sealed>>,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = AuditedTx::begin(self).await?;
        let (set_sealed, sealed_value) = match sealed {
            None => (false, None),
            Some(v) => (true, v.map(Sealed::as_str)),
        };
        sqlx::query(
            "INSERT INTO instance_settings (key, value, sealed, updated_at) VALUES ($1, $2, $4, $5)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value,
                sealed = CASE WHEN $3 THEN excluded.sealed ELSE instance_settings.sealed END,
                updated_at = excluded.updated_at",
        )
        .bind(key)
        .bind(value.to_string())
        .bind(set_sealed)
        .bind(sealed_value)
        .bind(ms(at))
        .execute(tx.conn())
        .await?;
        tx.commit_with(Changed::Instance, audit).await
    }
}
