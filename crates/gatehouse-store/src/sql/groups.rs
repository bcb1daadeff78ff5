//! Groups of an application and their members, read and written for the
//! SCIM calls (`scim.rs`) and for the memberships a user write carries
//! (`users.rs`).

use std::collections::HashMap;

use gatehouse_core::group::{Group, GroupMember};
use gatehouse_core::user::GroupSource;
use gatehouse_core::{AppId, UserId};
use sqlx::Row;
use time::OffsetDateTime;

use super::{Backend, Conn, DbRow, from_ms, ms, parse_id};
use crate::StoreError;

/// Make the group `name` of `app` if it does not exist (a membership from
/// the groups claim or an administrator names a group by its name).
pub(crate) async fn ensure_group(
    conn: &mut Conn,
    app: AppId,
    name: &str,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO app_groups (id, app_id, display_name, external_id, created_at, updated_at)
         VALUES ($1, $2, $3, NULL, $4, $4) ON CONFLICT (app_id, display_name) DO NOTHING",
    )
    .bind(gatehouse_core::GroupId::new().to_string())
    .bind(app.to_string())
    .bind(name)
    .bind(ms(at))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A query of groups: their columns, then `$tail`.
macro_rules! select_groups {
    ($tail:literal) => {
        concat!(
            "SELECT id, app_id, display_name, external_id, provisioned, version, created_at, updated_at FROM app_groups ",
            $tail
        )
    };
}
pub(crate) use select_groups;

fn group_from_row(row: &DbRow) -> Result<Group, StoreError> {
    Ok(Group {
        id: parse_id(row.try_get::<&str, _>("id")?)?,
        app_id: parse_id(row.try_get::<&str, _>("app_id")?)?,
        display_name: row.try_get("display_name")?,
        external_id: row.try_get("external_id")?,
        provisioned: row.try_get("provisioned")?,
        version: row.try_get("version")?,
        members: Vec::new(),
        created_at: from_ms(row.try_get("created_at")?)?,
        updated_at: from_ms(row.try_get("updated_at")?)?,
    })
}

impl Backend {
    /// Groups read with `sql` (which selects `select_groups!`' columns
    /// and binds `$1` to the application, `$2` to `arg`), with their
    /// members (tombstoned users are no one's members).
    pub(crate) async fn read_groups(
        &self,
        sql: &'static str,
        app: AppId,
        arg: Option<&str>,
    ) -> Result<Vec<Group>, StoreError> {
        let mut q = sqlx::query(sql).bind(app.to_string());
        if let Some(a) = arg {
            q = q.bind(a);
        }
        let rows = q.fetch_all(&mut *self.exec().await?).await?;
        let mut groups = rows
            .iter()
            .map(group_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        if groups.is_empty() {
            return Ok(groups);
        }
        let ids = serde_json::to_string(
            &groups.iter().map(|g| g.id.to_string()).collect::<Vec<_>>(),
        )
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let rows = sqlx::query(concat!(
            "SELECT m.group_id, m.user_id, m.source FROM group_members m
             JOIN users u ON u.id = m.user_id AND u.deprovisioned_at IS NULL
             WHERE m.group_id ",
            ids_in!(),
            " ORDER BY m.user_id, m.source"
        ))
        .bind(ids)
        .fetch_all(&mut *self.exec().await?)
        .await?;
        let mut members: HashMap<String, Vec<GroupMember>> = HashMap::new();
        for row in rows {
            let source = GroupSource::parse(row.try_get::<&str, _>("source")?)
                .ok_or_else(|| StoreError::Corrupt("membership source".to_owned()))?;
            let user: UserId = parse_id(row.try_get::<&str, _>("user_id")?)?;
            members
                .entry(row.try_get("group_id")?)
                .or_default()
                .push(GroupMember { user, source });
        }
        for g in &mut groups {
            g.members = members.remove(&g.id.to_string()).unwrap_or_default();
        }
        Ok(groups)
    }
}

/// The members of group `id` (any source) at this point of a transaction.
pub(crate) async fn member_ids(conn: &mut Conn, id: &str) -> Result<Vec<String>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT DISTINCT user_id FROM group_members WHERE group_id = $1")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?,
    )
}
