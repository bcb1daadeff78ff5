use super::tx::Query;
use async_trait::async_trait;
use gatehouse_core::session::SignInMethod;
use gatehouse_core::{AppId, AuditEvent, SessionId, TokenHash, UserId};
use sqlx::Row;
use time::OffsetDateTime;

use super::{
    AuditedTx, Backend, DbRow, from_ms, from_ms_opt, ms, parse_id, parse_token_hash, sealed,
};
use gatehouse_core::Sealed;
use crate::StoreError;
use crate::sessions::{NewSession, SessionBase, SessionRecord, SessionStore};

macro_rules! select_sessions {
    ($tail:literal) => {
        concat!(
            "SELECT id, token_hash, app_id, user_id, method, created_at, last_seen_at, expires_at, revoked_at, ip, user_agent,
                    idp_issuer, idp_sid, id_token_sealed, refresh_token_sealed, token_expires_at FROM sessions ",
            $tail
        )
    };
}

/// The columns every session table has, read from `row`.
pub(super) fn base_from_row(row: &DbRow) -> Result<SessionBase, StoreError> {
    Ok(SessionBase {
        id: parse_id(row.try_get::<&str, _>("id")?)?,
        token_hash: parse_token_hash(row.try_get("token_hash")?)?,
        method: SignInMethod::parse(row.try_get("method")?)
            .ok_or_else(|| StoreError::Corrupt("session sign-in method".to_owned()))?,
        created_at: from_ms(row.try_get("created_at")?)?,
        last_seen_at: from_ms(row.try_get("last_seen_at")?)?,
        expires_at: from_ms(row.try_get("expires_at")?)?,
        revoked_at: from_ms_opt(row.try_get("revoked_at")?)?,
        ip: row.try_get("ip")?,
        user_agent: row.try_get("user_agent")?,
    })
}

/// Bind the columns every session table has as `$1`..`$8` (id, token hash,
/// method, created, last seen, expires, address, browser).
pub(super) fn bind_base<'q>(q: Query<'q>, b: &'q SessionBase) -> Query<'q> {
    q.bind(b.id.to_string())
        .bind(b.token_hash.as_str())
        .bind(b.method.as_str())
        .bind(ms(b.created_at))
        .bind(ms(b.last_seen_at))
        .bind(ms(b.expires_at))
        .bind(&b.ip)
        .bind(&b.user_agent)
}

/// Mark the session behind `token_hash` ended at `at` with `sql` (an
/// `UPDATE` of its table: `$1` the hash, `$2` the time, only if it has not
/// ended). Returns whether it had not.
pub(super) async fn end_by_hash(
    tx: &mut AuditedTx,
    sql: &'static str,
    token_hash: &TokenHash,
    at: OffsetDateTime,
) -> Result<bool, StoreError> {
    let res = sqlx::query(sql)
        .bind(token_hash.as_str())
        .bind(ms(at))
        .execute(tx.conn())
        .await?;
    Ok(res.rows_affected() > 0)
}

/// Record a sign-in with `sql` (an `UPDATE` of the owner's last sign-in:
/// `$1` the owner's id, `$2` the time).
pub(super) async fn note_sign_in(
    tx: &mut AuditedTx,
    sql: &'static str,
    owner: String,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    sqlx::query(sql)
        .bind(owner)
        .bind(ms(at))
        .execute(tx.conn())
        .await?;
    Ok(())
}

fn session_from_row(row: &DbRow) -> Result<SessionRecord, StoreError> {
    Ok(SessionRecord {
        base: base_from_row(row)?,
        app_id: parse_id(row.try_get::<&str, _>("app_id")?)?,
        user_id: parse_id(row.try_get::<&str, _>("user_id")?)?,
        idp_issuer: row.try_get("idp_issuer")?,
        idp_sid: row.try_get("idp_sid")?,
        id_token_sealed: sealed(row.try_get("id_token_sealed")?, "ID token")?,
        refresh_token_sealed: sealed(row.try_get("refresh_token_sealed")?, "refresh token")?,
        token_expires_at: from_ms_opt(row.try_get("token_expires_at")?)?,
    })
}

#[async_trait]
impl SessionStore for Backend {
    async fn create_session(&self, s: &NewSession, audit: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = AuditedTx::begin(self).await?;
        bind_base(
            sqlx::query(
                "INSERT INTO sessions (id, token_hash, method, created_at, last_seen_at, expires_at, ip, user_agent,
                                       app_id, user_id, idp_issuer, idp_sid, id_token_sealed, refresh_token_sealed, token_expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
            ),
            &s.base,
        )
        .bind(s.app_id.to_string())
        .bind(s.user_id.to_string())
        .bind(&s.idp_issuer)
        .bind(&s.idp_sid)
        .bind(s.id_token_sealed.as_ref().map(Sealed::as_str))
        .bind(s.refresh_token_sealed.as_ref().map(Sealed::as_str))
        .bind(s.token_expires_at.map(ms))
        .execute(tx.conn())
        .await?;
        note_sign_in(
            &mut tx,
            "UPDATE users SET last_login_at = $2 WHERE id = $1",
            s.user_id.to_string(),
            s.base.created_at,
        )
        .await?;
        tx.commit(audit).await?;
        Ok(())
    }

    async fn get_session_by_hash(
        &self,
        token_hash: &TokenHash,
    ) -> Result<Option<SessionRecord>, StoreError> {
        sqlx::query(select_sessions!("WHERE token_hash = $1"))
            .bind(token_hash.as_str())
            .fetch_optional(&mut *self.exec().await?)
            .await?
            .as_ref()
            .map(session_from_row)
            .transpose()
    }

    async fn get_session(
        &self,
        app: AppId,
        id: SessionId,
    ) -> Result<Option<SessionRecord>, StoreError> {
        sqlx::query(select_sessions!("WHERE id = $1 AND app_id = $2"))
            .bind(id.to_string())
            .bind(app.to_string())
            .fetch_optional(&mut *self.exec().await?)
            .await?
            .as_ref()
            .map(session_from_row)
            .transpose()
    }

    async fn touch_sessions(&self, seen: &[(TokenHash, OffsetDateTime)]) -> Result<(), StoreError> {
        if seen.is_empty() {
            return Ok(());
        }
        // Last-use times only: no audit event, no change row.
        let mut tx = self.begin_write().await?;
        for (hash, at) in seen {
            sqlx::query(
                "UPDATE sessions SET last_seen_at = CASE WHEN last_seen_at < $2 THEN $2 ELSE last_seen_at END WHERE token_hash = $1",
            )
            .bind(hash.as_str())
            .bind(ms(*at))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn list_sessions(
        &self,
        app: AppId,
        user: Option<UserId>,
        now: OffsetDateTime,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let rows = sqlx::query(select_sessions!(
            "WHERE app_id = $1 AND ($2 IS NULL OR user_id = $2) AND revoked_at IS NULL AND expires_at > $3
             ORDER BY created_at DESC, id DESC LIMIT 1000"
        ))
        .bind(app.to_string())
        .bind(user.map(|u| u.to_string()))
        .bind(ms(now))
        .fetch_all(&mut *self.exec().await?)
        .await?;
        rows.iter().map(session_from_row).collect()
    }

    async fn revoke_session(
        &self,
        app: AppId,
        id: SessionId,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<TokenHash, StoreError> {
        let mut tx = AuditedTx::begin(self).await?;
        let hash: Option<String> = sqlx::query_scalar(
            "UPDATE sessions SET revoked_at = $3 WHERE id = $1 AND app_id = $2 AND revoked_at IS NULL RETURNING token_hash",
        )
        .bind(id.to_string())
        .bind(app.to_string())
        .bind(ms(at))
        .fetch_optional(tx.conn())
        .await?;
        let hash = parse_token_hash(&hash.ok_or(StoreError::NotFound)?)?;
        tx.session_ended(&hash);
        tx.commit(audit).await?;
        Ok(hash)
    }

    async fn revoke_session_by_hash(
        &self,
        token_hash: &TokenHash,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = AuditedTx::begin(self).await?;
        let revoked = end_by_hash(
            &mut tx,
            "UPDATE sessions SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL",
            token_hash,
            at,
        )
        .await?;
        if revoked {
            tx.session_ended(token_hash);
            tx.commit(audit).await?;
        } else {
            tx.unchanged();
        }
        Ok(revoked)
    }

    async fn revoke_sessions_of_user(
        &self,
        user: UserId,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<Vec<TokenHash>, StoreError> {
        let mut tx = AuditedTx::begin(self).await?;
        let raw: Vec<String> = sqlx::query_scalar(
            "UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL RETURNING token_hash",
        )
        .bind(user.to_string())
        .bind(ms(at))
        .fetch_all(tx.conn())
        .await?;
        tx.commit_ending_sessions(raw, audit).await
    }

    async fn revoke_idp_sessions(
        &self,
        app: AppId,
        issuer: &str,
        sid: Option<&str>,
        user: Option<UserId>,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<Vec<TokenHash>, StoreError> {
        if sid.is_none() && user.is_none() {
            return Ok(Vec::new());
        }
        let mut tx = AuditedTx::begin(self).await?;
        // Back-Channel Logout 1.0 §2.7: with both, a session must match both.
        let raw: Vec<String> = sqlx::query_scalar(
            "UPDATE sessions SET revoked_at = $5
             WHERE app_id = $1 AND idp_issuer = $2 AND revoked_at IS NULL
               AND ($3 IS NULL OR idp_sid = $3) AND ($4 IS NULL OR user_id = $4)
             RETURNING token_hash",
        )
        .bind(app.to_string())
        .bind(issuer)
        .bind(sid)
        .bind(user.map(|u| u.to_string()))
        .bind(ms(at))
        .fetch_all(tx.conn())
        .await?;
        tx.commit_ending_sessions(raw, audit).await
    }

    async fn update_session_tokens(
        &self,
        token_hash: &TokenHash,
        id_token_sealed: Option<&Sealed>,
        refresh_token_sealed: Option<&Sealed>,
        token_expires_at: Option<OffsetDateTime>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE sessions SET id_token_sealed = coalesce($2, id_token_sealed),
                refresh_token_sealed = coalesce($3, refresh_token_sealed), token_expires_at = $4
             WHERE token_hash = $1",
        )
        .bind(token_hash.as_str())
        .bind(id_token_sealed.map(Sealed::as_str))
        .bind(refresh_token_sealed.map(Sealed::as_str))
        .bind(token_expires_at.map(ms))
        .execute(&mut *self.exec().await?)
        .await?;
        Ok(())
    }

    async fn purge_sessions(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let res = sqlx::query("DELETE FROM sessions WHERE expires_at < $1 OR revoked_at < $1")
            .bind(ms(before))
            .execute(&mut *self.exec().await?)
            .await?;
        Ok(res.rows_affected())
    }

    async fn count_active_sessions(&self, now: OffsetDateTime) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT count(*) FROM sessions WHERE revoked_at IS NULL AND expires_at > $1",
        )
        .bind(ms(now))
        .fetch_one(&mut *self.exec().await?)
        .await?)
    }
}
