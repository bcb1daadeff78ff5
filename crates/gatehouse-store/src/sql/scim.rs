use async_trait::async_trait;
use gatehouse_core::group::Group;
use gatehouse_core::user::User;
use gatehouse_core::{AppId, AuditEvent, GroupId, ScimTokenId, TokenHash, UserId};
use sqlx::Row;
use time::OffsetDateTime;

use super::groups::{member_ids, select_groups};
use super::users::{base_user, insert_user};
use super::{AuditedTx, Backend, Conn, DbRow, from_ms, from_ms_opt, ms, parse_id, parse_token_hash};
use crate::StoreError;
use crate::changes::Changed;
use crate::scim::{MemberChange, ScimStore, ScimTokenRecord};

macro_rules! select_tokens {
    ($tail:literal) => {
        concat!("SELECT id, app_id, name, token_hash, created_at, last_used_at, revoked_at FROM scim_tokens ", $tail)
    };
}

macro_rules! select_users {
    ($tail:literal) => {
        concat!(
            "SELECT id, app_id, email, email_verified, first_name, last_name, status, password_hash, created_at, updated_at, last_login_at,
                    user_name, external_id, display_name, scim_active, scim_version, provisioned, deprovisioned_at FROM users ",
            $tail
        )
    };
}

fn token_from_row(row: &DbRow) -> Result<ScimTokenRecord, StoreError> {
    Ok(ScimTokenRecord {
        id: parse_id(row.try_get::<&str, _>("id")?)?,
        app_id: parse_id(row.try_get::<&str, _>("app_id")?)?,
        name: row.try_get("name")?,
        token_hash: parse_token_hash(row.try_get("token_hash")?)?,
        created_at: from_ms(row.try_get("created_at")?)?,
        last_used_at: from_ms_opt(row.try_get("last_used_at")?)?,
        revoked_at: from_ms_opt(row.try_get("revoked_at")?)?,
    })
}

/// Make `users` SCIM members of group `id`: users of `app` that are not
/// tombstones only (others are silently not members: the service checks
/// them first and names the ones at fault).
async fn add_members(
    conn: &mut Conn,
    app: AppId,
    id: &str,
    users: &[UserId],
) -> Result<(), StoreError> {
    if users.is_empty() {
        return Ok(());
    }
    let ids = serde_json::to_string(&users.iter().map(ToString::to_string).collect::<Vec<_>>())
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    sqlx::query(concat!(
        "INSERT INTO group_members (group_id, user_id, source)
         SELECT $2, id, 'scim' FROM users WHERE app_id = $3 AND deprovisioned_at IS NULL AND id ",
        ids_in!(),
        " ON CONFLICT DO NOTHING"
    ))
    .bind(ids)
    .bind(id)
    .bind(app.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn remove_members(conn: &mut Conn, id: &str, users: &[UserId]) -> Result<(), StoreError> {
    if users.is_empty() {
        return Ok(());
    }
    let ids = serde_json::to_string(&users.iter().map(ToString::to_string).collect::<Vec<_>>())
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    sqlx::query(concat!(
        "DELETE FROM group_members WHERE source = 'scim' AND group_id = $2 AND user_id ",
        ids_in!()
    ))
    .bind(ids)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Note every user in `before` or `after` as changed (their groups did).
fn members_changed(tx: &mut AuditedTx, before: Vec<String>, after: Vec<String>) -> Result<(), StoreError> {
    let mut all = before;
    all.extend(after);
    all.sort_unstable();
    all.dedup();
    for u in all {
        tx.changed(Changed::User(parse_id(&u)?));
    }
    Ok(())
}

/// Note as changed the users who are members in `before` or `after` but
/// not in both (their groups changed; the others' did not).
fn membership_changed(tx: &mut AuditedTx, before: &[String], after: &[String]) -> Result<(), StoreError> {
    let b: std::collections::HashSet<&String> = before.iter().collect();
    let a: std::collections::HashSet<&String> = after.iter().collect();
    let diff: Vec<String> = b.symmetric_difference(&a).map(|s| (*s).clone()).collect();
    members_changed(tx, diff, Vec::new())
}

impl Backend {
    async fn users_where(&self, sql: &'static str, app: AppId, arg: Option<&str>) -> Result<Vec<User>, StoreError> {
        let mut q = sqlx::query(sql).bind(app.to_string());
        if let Some(a) = arg {
            q = q.bind(a);
        }
        let rows = q.fetch_all(&mut *self.exec().await?).await?;
        let users = rows
            .iter()
            .map(|r| base_user(r).map(|(u, _)| u))
            .collect::<Result<Vec<_>, _>>()?;
        self.complete_users(users).await
    }
}

#[async_trait]
impl ScimStore for Backend {
    async fn create_scim_token(&self, t: &ScimTokenRecord, audit: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = AuditedTx::begin(self).await?;
        tx.require_app(t.app_id).await?;
        sqlx::query("INSERT INTO scim_tokens (id, app_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(t.id.to_string())
            .bind(t.app_id.to_string())
            .bind(&t.name)
            .bind(t.token_hash.as_str())
            .bind(ms(t.created_at))
            .execute(tx.conn())
            .await?;
        tx.commit(audit).await
    }

    async fn list_scim_tokens(&self, app: AppId) -> Result<Vec<ScimTokenRecord>, StoreError> {
        let rows = sqlx::query(select_tokens!("WHERE app_id = $1 ORDER BY created_at DESC, id"))
            .bind(app.to_string())
            .fetch_all(&mut *self.exec().await?)
            .await?;
        rows.iter().map(token_from_row).collect()
    }

    async fn revoke_scim_token(
        &self,
        app: AppId,
        id: ScimTokenId,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = AuditedTx::begin(self).await?;
        let res = sqlx::query("UPDATE scim_tokens SET revoked_at = $3 WHERE id = $1 AND app_id = $2 AND revoked_at IS NULL")
            .bind(id.to_string())
            .bind(app.to_string())
            .bind(ms(at))
            .execute(tx.conn())
            .await?;
        if res.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit(audit).await
    }

    async fn find_scim_token(&self, token_hash: &TokenHash) -> Result<Option<ScimTokenRecord>, StoreError> {
        let row = sqlx::query(select_tokens!("WHERE token_hash = $1 AND revoked_at IS NULL"))
            .bind(token_hash.as_str())
            .fetch_optional(&mut *self.exec().await?)
            .await?;
        row.as_ref().map(token_from_row).transpose()
    }

    async fn touch_scim_token(&self, id: ScimTokenId, at: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query("UPDATE scim_tokens SET last_used_at = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(ms(at))
            .execute(&mut *self.exec().await?)
            .await?;
        Ok(())
    }

    async fn scim_users(&self, app: AppId) -> Result<Vec<User>, StoreError> {
        self.users_where(select_users!("WHERE app_id = $1 AND deprovisioned_at IS NULL ORDER BY created_at, id"), app, None)
            .await
    }

    async fn scim_users_page(&self, app: AppId, offset: u64, limit: u64) -> Result<(Vec<User>, u64), StoreError> {
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE app_id = $1 AND deprovisioned_at IS NULL")
            .bind(app.to_string())
            .fetch_one(&mut *self.exec().await?)
            .await?;
        let rows = sqlx::query(select_users!(
            "WHERE app_id = $1 AND deprovisioned_at IS NULL ORDER BY created_at, id LIMIT $2 OFFSET $3"
        ))
        .bind(app.to_string())
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(i64::try_from(offset).unwrap_or(i64::MAX))
        .fetch_all(&mut *self.exec().await?)
        .await?;
        let users = rows
            .iter()
            .map(|r| base_user(r).map(|(u, _)| u))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((self.complete_users(users).await?, u64::try_from(total).unwrap_or(0)))
    }

    async fn scim_user_names(&self, app: AppId) -> Result<Vec<(UserId, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, user_name FROM users WHERE app_id = $1 AND deprovisioned_at IS NULL",
        )
        .bind(app.to_string())
        .fetch_all(&mut *self.exec().await?)
        .await?;
        rows.iter()
            .map(|r| Ok((parse_id(r.try_get::<&str, _>("id")?)?, r.try_get("user_name")?)))
            .collect()
    }

    async fn group_ids_by_name(
        &self,
        app: AppId,
        names: &[String],
    ) -> Result<Vec<(GroupId, String)>, StoreError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let json = serde_json::to_string(names).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let rows = sqlx::query(concat!(
            "SELECT id, display_name FROM app_groups WHERE app_id = $2 AND provisioned = $3 AND display_name ",
            ids_in!()
        ))
        .bind(json)
        .bind(app.to_string())
        .bind(true)
        .fetch_all(&mut *self.exec().await?)
        .await?;
        rows.iter()
            .map(|r| Ok((parse_id(r.try_get::<&str, _>("id")?)?, r.try_get("display_name")?)))
            .collect()
    }

    async fn find_user_by_user_name(&self, app: AppId, user_name_lower: &str) -> Result<Option<User>, StoreError> {
        Ok(self
            .users_where(select_users!("WHERE app_id = $1 AND user_name_lower = $2"), app, Some(user_name_lower))
            .await?
            .pop())
    }

    async fn find_users_by_external_id(&self, app: AppId, external_id: &str) -> Result<Vec<User>, StoreError> {
        self.users_where(select_users!("WHERE app_id = $1 AND external_id = $2 ORDER BY created_at, id"), app, Some(external_id))
            .await
    }

    async fn provision_user(&self, user: &User, audit: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = AuditedTx::begin(self).await?;
        tx.require_app(user.app_id).await?;
        let gone: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM users WHERE app_id = $1 AND deprovisioned_at IS NOT NULL AND (user_name_lower = $2 OR email_lower = $3)",
        )
        .bind(user.app_id.to_string())
        .bind(user.user_name.to_lowercase())
        .bind(user.email.normalized())
        .fetch_all(tx.conn())
        .await?;
        for id in gone {
            sqlx::query("DELETE FROM users WHERE id = $1")
                .bind(&id)
                .execute(tx.conn())
                .await?;
            tx.changed(Changed::User(parse_id(&id)?));
        }
        insert_user(tx.conn(), user, None).await?;
        Self::write_user_children(tx.conn(), user, user.created_at, true).await?;
        tx.commit_with(Changed::User(user.id), audit).await
    }

    async fn update_provisioned_user(&self, user: &User, audit: &AuditEvent) -> Result<Vec<TokenHash>, StoreError> {
        let mut tx = AuditedTx::begin(self).await?;
        let res = sqlx::query(
            "UPDATE users SET email = $3, email_lower = $4, first_name = $5, last_name = $6, updated_at = $7,
                user_name = $8, user_name_lower = $9, external_id = $10, scim_active = $11, provisioned = $12,
                deprovisioned_at = $13, display_name = $14, email_verified = $16, scim_version = scim_version + 1
             WHERE id = $1 AND app_id = $2 AND scim_version = $15",
        )
        .bind(user.id.to_string())
        .bind(user.app_id.to_string())
        .bind(user.email.as_str())
        .bind(user.email.normalized())
        .bind(&user.first_name)
        .bind(&user.last_name)
        .bind(ms(user.updated_at))
        .bind(&user.user_name)
        .bind(user.user_name.to_lowercase())
        .bind(&user.external_id)
        .bind(user.scim_active)
        .bind(user.provisioned)
        .bind(user.deprovisioned_at.map(ms))
        .bind(&user.display_name)
        .bind(user.scim_version)
        .bind(user.email_verified)
        .execute(tx.conn())
        .await?;
        if res.rows_affected() == 0 {
            let exists: Option<String> = sqlx::query_scalar("SELECT id FROM users WHERE id = $1 AND app_id = $2")
                .bind(user.id.to_string())
                .bind(user.app_id.to_string())
                .fetch_optional(tx.conn())
                .await?;
            return Err(match exists {
                Some(_) => StoreError::Conflict { field: "version" },
                None => StoreError::NotFound,
            });
        }
        Self::write_user_children(tx.conn(), user, user.updated_at, true).await?;
        let id = user.id.to_string();
        if user.deprovisioned_at.is_some() {
            sqlx::query("DELETE FROM group_members WHERE user_id = $1 AND source = 'scim'")
                .bind(&id)
                .execute(tx.conn())
                .await?;
        }
        tx.changed(Changed::User(user.id));
        let mut ended = Vec::new();
        if !user.scim_active || user.deprovisioned_at.is_some() {
            ended = sqlx::query_scalar(
                "UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL RETURNING token_hash",
            )
            .bind(&id)
            .bind(ms(user.updated_at))
            .fetch_all(tx.conn())
            .await?;
        }
        tx.commit_ending_sessions(ended, audit).await
    }

    async fn list_groups(&self, app: AppId) -> Result<Vec<Group>, StoreError> {
        self.read_groups(select_groups!("WHERE app_id = $1 ORDER BY created_at, id"), app, None)
            .await
    }

    async fn get_group(&self, app: AppId, id: GroupId) -> Result<Option<Group>, StoreError> {
        let id = id.to_string();
        Ok(self
            .read_groups(select_groups!("WHERE app_id = $1 AND id = $2"), app, Some(&id))
            .await?
            .pop())
    }

    async fn find_group_by_name(&self, app: AppId, name: &str) -> Result<Option<Group>, StoreError> {
        Ok(self
            .read_groups(select_groups!("WHERE app_id = $1 AND display_name = $2"), app, Some(name))
            .await?
            .pop())
    }

    async fn group_names_by_external_id(
        &self,
        app: AppId,
        external_ids: &[String],
    ) -> Result<Vec<(String, String)>, StoreError> {
        if external_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = serde_json::to_string(external_ids).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let rows = sqlx::query(concat!(
            "SELECT external_id, display_name FROM app_groups WHERE app_id = $2 AND external_id ",
            ids_in!()
        ))
        .bind(ids)
        .bind(app.to_string())
        .fetch_all(&mut *self.exec().await?)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("external_id")?, r.try_get("display_name")?)))
            .collect()
    }

    async fn create_group(&self, group: &Group, audit: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = AuditedTx::begin(self).await?;
        tx.require_app(group.app_id).await?;
        let id = group.id.to_string();
        sqlx::query(
            "INSERT INTO app_groups (id, app_id, display_name, external_id, provisioned, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $7, $5, $6)",
        )
        .bind(&id)
        .bind(group.app_id.to_string())
        .bind(&group.display_name)
        .bind(&group.external_id)
        .bind(ms(group.created_at))
        .bind(ms(group.updated_at))
        .bind(group.provisioned)
        .execute(tx.conn())
        .await?;
        let users = group.member_ids();
        add_members(tx.conn(), group.app_id, &id, &users).await?;
        let after = member_ids(tx.conn(), &id).await?;
        members_changed(&mut tx, Vec::new(), after)?;
        tx.commit(audit).await
    }

    async fn update_group(&self, group: &Group, members: MemberChange<'_>, write_fields: bool, audit: &AuditEvent) -> Result<u64, StoreError> {
        let mut tx = AuditedTx::begin(self).await?;
        let id = group.id.to_string();
        let app = group.app_id.to_string();
        let old: Option<String> = sqlx::query_scalar("SELECT display_name FROM app_groups WHERE id = $1 AND app_id = $2")
            .bind(&id)
            .bind(&app)
            .fetch_optional(tx.conn())
            .await?;
        let Some(old) = old else {
            return Err(StoreError::NotFound);
        };
        let before = member_ids(tx.conn(), &id).await?;
        let res = if write_fields {
            sqlx::query(
                "UPDATE app_groups SET display_name = $3, external_id = $4, provisioned = $5, updated_at = $6, version = version + 1
                 WHERE id = $1 AND app_id = $2 AND version = $7",
            )
            .bind(&id)
            .bind(&app)
            .bind(&group.display_name)
            .bind(&group.external_id)
            .bind(group.provisioned)
            .bind(ms(group.updated_at))
            .bind(group.version)
            .execute(tx.conn())
            .await?
        } else {
            // Members only: the name stays as stored (a concurrent rename's);
            // a group no longer provisioned (a DELETE came first) takes none.
            sqlx::query(
                "UPDATE app_groups SET updated_at = $3, version = version + 1
                 WHERE id = $1 AND app_id = $2 AND provisioned = $4",
            )
            .bind(&id)
            .bind(&app)
            .bind(ms(group.updated_at))
            .bind(true)
            .execute(tx.conn())
            .await?
        };
        if res.rows_affected() == 0 {
            return Err(StoreError::Conflict { field: "version" });
        }
        let mut moved = 0;
        let renamed = write_fields && old != group.display_name;
        if renamed {
            moved = sqlx::query("UPDATE grants SET value = $3 WHERE app_id = $1 AND kind = 'group' AND value = $2")
                .bind(&app)
                .bind(&old)
                .bind(&group.display_name)
                .execute(tx.conn())
                .await?
                .rows_affected();
            tx.changed(Changed::Grants(group.app_id));
        }
        match members {
            MemberChange::Keep => {}
            MemberChange::Add(users) => add_members(tx.conn(), group.app_id, &id, users).await?,
            MemberChange::Remove(users) => remove_members(tx.conn(), &id, users).await?,
            MemberChange::Replace(users) => {
                sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND source = 'scim'")
                    .bind(&id)
                    .execute(tx.conn())
                    .await?;
                add_members(tx.conn(), group.app_id, &id, users).await?;
            }
        }
        let after = member_ids(tx.conn(), &id).await?;
        if renamed {
            members_changed(&mut tx, before, after)?;
        } else {
            membership_changed(&mut tx, &before, &after)?;
        }
        tx.commit(audit).await?;
        Ok(moved)
    }

    async fn delete_group(&self, app: AppId, id: GroupId, audit: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = AuditedTx::begin(self).await?;
        let gid = id.to_string();
        // Take the group's row first: a member change of it waits for this
        // delete (or this one for it), never interleaves.
        let locked = sqlx::query("UPDATE app_groups SET version = version + 1 WHERE id = $1 AND app_id = $2")
            .bind(&gid)
            .bind(app.to_string())
            .execute(tx.conn())
            .await?;
        if locked.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let before = member_ids(tx.conn(), &gid).await?;
        // Provisioning's part goes: its memberships, its link. A group that
        // still has members from the claim or an administrator stays (no
        // longer provisioned); one without goes.
        sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND source = 'scim'")
            .bind(&gid)
            .execute(tx.conn())
            .await?;
        let others: Option<String> = sqlx::query_scalar("SELECT user_id FROM group_members WHERE group_id = $1 LIMIT 1")
            .bind(&gid)
            .fetch_optional(tx.conn())
            .await?;
        if others.is_some() {
            let res = sqlx::query(
                "UPDATE app_groups SET provisioned = $3, external_id = NULL, version = version + 1 WHERE id = $1 AND app_id = $2",
            )
            .bind(&gid)
            .bind(app.to_string())
            .bind(false)
            .execute(tx.conn())
            .await?;
            if res.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
        } else {
            tx.delete_one("DELETE FROM app_groups WHERE id = $1 AND app_id = $2", gid.clone(), app)
                .await?;
        }
        let after = member_ids(tx.conn(), &gid).await?;
        membership_changed(&mut tx, &before, &after)?;
        tx.commit(audit).await
    }
}
