use super::tx::Query;
use std::collections::HashMap;

use async_trait::async_trait;
use gatehouse_core::sso::IssuerUrl;
use gatehouse_core::user::{
    Email, GroupSource, Identity, Membership, Tag, TagKey, TagSource, User, UserStatus,
};
use gatehouse_core::{AppId, AuditEvent, TokenHash, UserId};
use sqlx::Row;
use time::OffsetDateTime;

use super::{AuditedTx, Backend, Conn, DbRow, from_ms, from_ms_opt, ms, parse_id};
use crate::StoreError;
use crate::changes::Changed;
use crate::users::{PasswordChange, UserQuery, UserStore};

macro_rules! select_users {
    ($tail:literal) => {
        concat!(
            "SELECT id, app_id, email, email_verified, first_name, last_name, status, password_hash, created_at, updated_at, last_login_at,
                    user_name, external_id, display_name, scim_active, scim_version, provisioned, deprovisioned_at FROM users ",
            $tail
        )
    };
}

/// A user row before tags, groups and identities are attached.
pub(crate) fn base_user(row: &DbRow) -> Result<(User, Option<String>), StoreError> {
    let user = User {
        id: parse_id(row.try_get::<&str, _>("id")?)?,
        app_id: parse_id(row.try_get::<&str, _>("app_id")?)?,
        email: Email::parse(row.try_get::<&str, _>("email")?)
            .map_err(|e| StoreError::Corrupt(format!("email: {e}")))?,
        first_name: row.try_get("first_name")?,
        last_name: row.try_get("last_name")?,
        tags: Vec::new(),
        groups: Vec::new(),
        status: UserStatus::parse(row.try_get::<&str, _>("status")?)
            .map_err(|e| StoreError::Corrupt(format!("status: {e}")))?,
        identities: Vec::new(),
        email_verified: row.try_get("email_verified")?,
        has_password: false,
        created_at: from_ms(row.try_get("created_at")?)?,
        updated_at: from_ms(row.try_get("updated_at")?)?,
        last_login_at: from_ms_opt(row.try_get("last_login_at")?)?,
        user_name: row.try_get("user_name")?,
        external_id: row.try_get("external_id")?,
        display_name: row.try_get("display_name")?,
        scim_active: row.try_get("scim_active")?,
        scim_version: row.try_get("scim_version")?,
        provisioned: row.try_get("provisioned")?,
        deprovisioned_at: from_ms_opt(row.try_get("deprovisioned_at")?)?,
    };
    let hash: Option<String> = row.try_get("password_hash")?;
    Ok((
        User {
            has_password: hash.is_some(),
            ..user
        },
        hash,
    ))
}

/// Bind a user's fields as `$1`..`$10` (id, application, e-mail, its
/// normalized form, names, status, updated at, last sign-in, verified):
/// the insert and the update share them.
fn bind_user<'q>(q: Query<'q>, user: &'q User) -> Query<'q> {
    q.bind(user.id.to_string())
        .bind(user.app_id.to_string())
        .bind(user.email.as_str())
        .bind(user.email.normalized())
        .bind(&user.first_name)
        .bind(&user.last_name)
        .bind(user.status.as_str())
        .bind(ms(user.updated_at))
        .bind(user.last_login_at.map(ms))
        .bind(user.email_verified)
}

impl Backend {
    /// Attach tags, groups and identities to users read from `users`.
    pub(crate) async fn complete_users(&self, mut users: Vec<User>) -> Result<Vec<User>, StoreError> {
        if users.is_empty() {
            return Ok(users);
        }
        let ids =
            serde_json::to_string(&users.iter().map(|u| u.id.to_string()).collect::<Vec<_>>())
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut tags = self
            .children(
                concat!(
                    "SELECT user_id, key, value, source FROM user_tags WHERE user_id ",
                    ids_in!(),
                    " ORDER BY key, value"
                ),
                &ids,
                |row| {
                    let source = TagSource::parse(row.try_get::<&str, _>("source")?)
                        .ok_or_else(|| StoreError::Corrupt("tag source".to_owned()))?;
                    Ok(Tag {
                        key: TagKey::parse(row.try_get("key")?, "key")
                            .map_err(|_| StoreError::Corrupt("tag key".to_owned()))?,
                        value: row.try_get("value")?,
                        source,
                    })
                },
            )
            .await?;
        let mut groups = self
            .children(
                concat!(
                    "SELECT m.user_id, g.display_name, m.source FROM group_members m
                     JOIN app_groups g ON g.id = m.group_id WHERE m.user_id ",
                    ids_in!(),
                    " ORDER BY g.display_name, m.source"
                ),
                &ids,
                |row| {
                    let source = GroupSource::parse(row.try_get::<&str, _>("source")?)
                        .ok_or_else(|| StoreError::Corrupt("membership source".to_owned()))?;
                    Ok(Membership::new(
                        row.try_get::<String, _>("display_name")?,
                        source,
                    ))
                },
            )
            .await?;
        let mut idents = self
            .children(
                concat!(
                    "SELECT user_id, issuer, subject FROM identities WHERE user_id ",
                    ids_in!(),
                    " ORDER BY created_at, issuer, subject"
                ),
                &ids,
                |row| {
                    Ok(Identity {
                        issuer: IssuerUrl::parse(row.try_get("issuer")?, "issuer")
                            .map_err(|_| StoreError::Corrupt("identity issuer".to_owned()))?,
                        subject: row.try_get("subject")?,
                    })
                },
            )
            .await?;
        for u in &mut users {
            let id = u.id.to_string();
            u.tags = tags.remove(&id).unwrap_or_default();
            u.groups = groups.remove(&id).unwrap_or_default();
            u.groups.sort();
            u.identities = idents.remove(&id).unwrap_or_default();
        }
        Ok(users)
    }

    /// One user read from `users` (with its password hash), completed.
    async fn complete_one(
        &self,
        row: Option<DbRow>,
    ) -> Result<Option<(User, Option<String>)>, StoreError> {
        let Some(row) = row else {
            return Ok(None);
        };
        let (user, hash) = base_user(&row)?;
        Ok(self.complete_users(vec![user]).await?.pop().map(|u| (u, hash)))
    }

    /// Rows of a child table of `users` for the users `ids` (a JSON list),
    /// by user id, each made by `make`.
    async fn children<T>(
        &self,
        sql: &'static str,
        ids: &str,
        make: impl Fn(&DbRow) -> Result<T, StoreError>,
    ) -> Result<HashMap<String, Vec<T>>, StoreError> {
        let mut out: HashMap<String, Vec<T>> = HashMap::new();
        for row in sqlx::query(sql).bind(ids).fetch_all(&mut *self.exec().await?).await? {
            out.entry(row.try_get("user_id")?)
                .or_default()
                .push(make(&row)?);
        }
        Ok(out)
    }

    /// Write a user's tags, memberships and identities: with `scim`
    /// false, every source but SCIM's (sign-in, administrators) and the
    /// identities; with `scim` true, only SCIM's tags (its memberships are
    /// written by the group calls). Each writer replaces only its own, so a
    /// sign-in never undoes what provisioning did meanwhile.
    pub(crate) async fn write_user_children(
        conn: &mut Conn,
        user: &User,
        at: OffsetDateTime,
        scim: bool,
    ) -> Result<(), StoreError> {
        let id = user.id.to_string();
        let ours = |source: TagSource| (source == TagSource::Scim) == scim;
        let clear: &[&'static str] = if scim {
            &["DELETE FROM user_tags WHERE user_id = $1 AND source = 'scim'"]
        } else {
            &[
                "DELETE FROM user_tags WHERE user_id = $1 AND source <> 'scim'",
                "DELETE FROM group_members WHERE user_id = $1 AND source <> 'scim'",
                "DELETE FROM identities WHERE user_id = $1",
            ]
        };
        for sql in clear {
            sqlx::query(*sql).bind(&id).execute(&mut *conn).await?;
        }
        for t in user.tags.iter().filter(|t| ours(t.source)) {
            sqlx::query("INSERT INTO user_tags (user_id, key, value, source) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
                .bind(&id)
                .bind(t.key.as_str())
                .bind(&t.value)
                .bind(t.source.as_str())
                .execute(&mut *conn)
                .await?;
        }
        if scim {
            return Ok(());
        }
        for m in user.groups.iter().filter(|m| m.source != GroupSource::Scim) {
            super::groups::ensure_group(conn, user.app_id, &m.name, at).await?;
            sqlx::query(
                "INSERT INTO group_members (group_id, user_id, source)
                 SELECT id, $1, $2 FROM app_groups WHERE app_id = $3 AND display_name = $4
                 ON CONFLICT DO NOTHING",
            )
            .bind(&id)
            .bind(m.source.as_str())
            .bind(user.app_id.to_string())
            .bind(&m.name)
            .execute(&mut *conn)
            .await?;
        }
        for i in &user.identities {
            let res = sqlx::query(
                "INSERT INTO identities (app_id, issuer, subject, user_id, created_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(user.app_id.to_string())
            .bind(i.issuer.as_str())
            .bind(&i.subject)
            .bind(&id)
            .bind(ms(at))
            .execute(&mut *conn)
            .await;
            match res {
                Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                    return Err(StoreError::Conflict { field: "identity" });
                }
                other => {
                    other?;
                }
            }
        }
        Ok(())
    }
}

/// Insert a user row with every column (SCIM's included); a taken e-mail
/// or userName is `Conflict`.
pub(crate) async fn insert_user(
    conn: &mut Conn,
    user: &User,
    password_hash: Option<&str>,
) -> Result<(), StoreError> {
    // The e-mail is the conflict to name when both it and the userName are
    // taken (which index fires first differs between backends; PostgreSQL
    // reads nothing more in a transaction after a failed statement).
    let email_taken: Option<String> =
        sqlx::query_scalar("SELECT id FROM users WHERE app_id = $1 AND email_lower = $2")
            .bind(user.app_id.to_string())
            .bind(user.email.normalized())
            .fetch_optional(&mut *conn)
            .await?;
    if email_taken.is_some() {
        return Err(StoreError::Conflict { field: "email" });
    }
    let res = bind_user(
        sqlx::query(
            "INSERT INTO users (id, app_id, email, email_lower, first_name, last_name, status, updated_at, last_login_at, email_verified, password_hash, created_at,
                                user_name, user_name_lower, external_id, scim_active, provisioned, deprovisioned_at, display_name)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
        ),
        user,
    )
    .bind(password_hash)
    .bind(ms(user.created_at))
    .bind(&user.user_name)
    .bind(user.user_name.to_lowercase())
    .bind(&user.external_id)
    .bind(user.scim_active)
    .bind(user.provisioned)
    .bind(user.deprovisioned_at.map(ms))
    .bind(&user.display_name)
    .execute(&mut *conn)
    .await;
    res?;
    Ok(())
}

#[async_trait]
impl UserStore for Backend {
    async fn create_user(
        &self,
        user: &User,
        password_hash: Option<&str>,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = AuditedTx::begin(self).await?;
        insert_user(tx.conn(), user, password_hash).await?;
        Self::write_user_children(tx.conn(), user, user.created_at, false).await?;
        tx.commit_with(Changed::User(user.id), audit).await
    }

    async fn update_user(
        &self,
        user: &User,
        password: PasswordChange,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let (set_pw, pw) = match password {
            PasswordChange::Keep => (false, None),
            PasswordChange::Remove => (true, None),
            PasswordChange::Set(h) => (true, Some(h)),
        };
        let mut tx = AuditedTx::begin(self).await?;
        let res = bind_user(
            sqlx::query(
                "UPDATE users SET email = $3, email_lower = $4, first_name = $5, last_name = $6, status = $7,
                    updated_at = $8, last_login_at = $9, email_verified = $10, scim_version = scim_version + 1,
                    password_hash = CASE WHEN $11 THEN $12 ELSE password_hash END
                 WHERE id = $1 AND app_id = $2",
            ),
            user,
        )
        .bind(set_pw)
        .bind(pw)
        .execute(tx.conn())
        .await?;
        if res.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Self::write_user_children(tx.conn(), user, user.updated_at, false).await?;
        tx.commit_with(Changed::User(user.id), audit).await
    }

    async fn delete_user(
        &self,
        app: AppId,
        id: UserId,
        audit: &AuditEvent,
    ) -> Result<Vec<TokenHash>, StoreError> {
        let mut tx = AuditedTx::begin(self).await?;
        let raw: Vec<String> = sqlx::query_scalar(
            "SELECT token_hash FROM sessions WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(id.to_string())
        .fetch_all(tx.conn())
        .await?;
        tx.delete_one(
            "DELETE FROM users WHERE id = $1 AND app_id = $2",
            id.to_string(),
            app,
        )
        .await?;
        tx.changed(Changed::User(id));
        tx.commit_ending_sessions(raw, audit).await
    }

    async fn get_user(&self, app: AppId, id: UserId) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(select_users!("WHERE id = $1 AND app_id = $2"))
            .bind(id.to_string())
            .bind(app.to_string())
            .fetch_optional(&mut *self.exec().await?)
            .await?;
        Ok(self.complete_one(row).await?.map(|(u, _)| u))
    }

    async fn find_user_by_email(
        &self,
        app: AppId,
        email_lower: &str,
    ) -> Result<Option<(User, Option<String>)>, StoreError> {
        let row = sqlx::query(select_users!("WHERE app_id = $1 AND email_lower = $2"))
            .bind(app.to_string())
            .bind(email_lower)
            .fetch_optional(&mut *self.exec().await?)
            .await?;
        self.complete_one(row).await
    }

    async fn find_user_by_identity(
        &self,
        app: AppId,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(select_users!(
            "WHERE id = (SELECT user_id FROM identities WHERE app_id = $1 AND issuer = $2 AND subject = $3)"
        ))
        .bind(app.to_string())
        .bind(issuer)
        .bind(subject)
        .fetch_optional(&mut *self.exec().await?)
        .await?;
        Ok(self.complete_one(row).await?.map(|(u, _)| u))
    }

    async fn list_users(&self, app: AppId, query: &UserQuery) -> Result<Vec<User>, StoreError> {
        let pattern = query
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| format!("%{}%", escape_like(&s.to_lowercase())));
        let rows = sqlx::query(select_users!(
            "WHERE app_id = $1 AND ($2 IS NULL
                OR email_lower LIKE $2 ESCAPE '\\'
                OR lower(first_name) LIKE $2 ESCAPE '\\'
                OR lower(last_name) LIKE $2 ESCAPE '\\'
                OR lower(first_name || ' ' || last_name) LIKE $2 ESCAPE '\\'
                OR EXISTS (SELECT 1 FROM user_tags t WHERE t.user_id = users.id
                           AND (lower(t.value) LIKE $2 ESCAPE '\\' OR lower(t.key || '=' || t.value) LIKE $2 ESCAPE '\\'))
                OR EXISTS (SELECT 1 FROM group_members m JOIN app_groups g ON g.id = m.group_id
                           WHERE m.user_id = users.id AND lower(g.display_name) LIKE $2 ESCAPE '\\'))
             ORDER BY email_lower LIMIT $3 OFFSET $4"
        ))
        .bind(app.to_string())
        .bind(pattern)
        .bind(i64::from(query.limit.clamp(1, 500)))
        .bind(i64::from(query.offset))
        .fetch_all(&mut *self.exec().await?)
        .await?;
        let users = rows
            .iter()
            .map(|r| base_user(r).map(|(u, _)| u))
            .collect::<Result<Vec<_>, _>>()?;
        self.complete_users(users).await
    }

    async fn record_login(&self, id: UserId, at: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET last_login_at = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(ms(at))
            .execute(&mut *self.exec().await?)
            .await?;
        Ok(())
    }
}

fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
