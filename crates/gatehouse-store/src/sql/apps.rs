use super::tx::Query;
use std::collections::HashMap;

use async_trait::async_trait;
use gatehouse_core::app::{AuthPrefix, HostPattern, Scheme, UpstreamUrl};
use gatehouse_core::sso::OidcSettings;
use gatehouse_core::{AppId, Application, AuditEvent, Slug, TokenHash};
use sqlx::Row;
use time::OffsetDateTime;

use super::{AuditedTx, Backend, Conn, DbRow, from_ms, ms, parse_id, sealed};
use gatehouse_core::Sealed;
use crate::StoreError;
use crate::apps::{AppStore, SealedSecretChange, StoredOidc};
use crate::changes::Changed;

macro_rules! select_apps {
    ($tail:literal) => {
        concat!("SELECT id, name, slug, upstream_url, scheme, auth_prefix, created_at, updated_at FROM apps ", $tail)
    };
}

fn corrupt(what: &str) -> impl Fn(gatehouse_core::Invalid) -> StoreError + '_ {
    move |e| StoreError::Corrupt(format!("{what}: {e}"))
}

fn app_from_row(row: &DbRow, hosts: Vec<HostPattern>) -> Result<Application, StoreError> {
    let upstream: Option<String> = row.try_get("upstream_url")?;
    Ok(Application {
        id: parse_id(row.try_get::<&str, _>("id")?)?,
        name: row.try_get("name")?,
        slug: Slug::parse(row.try_get::<&str, _>("slug")?).map_err(corrupt("slug"))?,
        hosts,
        upstream_url: upstream
            .as_deref()
            .map(UpstreamUrl::parse)
            .transpose()
            .map_err(corrupt("upstream_url"))?,
        scheme: Scheme::parse(row.try_get::<&str, _>("scheme")?).map_err(corrupt("scheme"))?,
        auth_prefix: AuthPrefix::parse(row.try_get::<&str, _>("auth_prefix")?)
            .map_err(corrupt("auth_prefix"))?,
        created_at: from_ms(row.try_get("created_at")?)?,
        updated_at: from_ms(row.try_get("updated_at")?)?,
    })
}

impl Backend {
    async fn hosts_by_app(
        &self,
        app: Option<AppId>,
    ) -> Result<HashMap<String, Vec<HostPattern>>, StoreError> {
        let rows = match app {
            Some(id) => {
                sqlx::query(
                    "SELECT app_id, host FROM app_hosts WHERE app_id = $1 ORDER BY position",
                )
                .bind(id.to_string())
                .fetch_all(&mut *self.exec().await?)
                .await?
            }
            None => {
                sqlx::query("SELECT app_id, host FROM app_hosts ORDER BY app_id, position")
                    .fetch_all(&mut *self.exec().await?)
                    .await?
            }
        };
        let mut out: HashMap<String, Vec<HostPattern>> = HashMap::new();
        for row in rows {
            let host =
                HostPattern::parse(row.try_get::<&str, _>("host")?).map_err(corrupt("host"))?;
            out.entry(row.try_get("app_id")?).or_default().push(host);
        }
        Ok(out)
    }

    async fn write_hosts(conn: &mut Conn, app: &Application) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM app_hosts WHERE app_id = $1")
            .bind(app.id.to_string())
            .execute(&mut *conn)
            .await?;
        for (i, host) in app.hosts.iter().enumerate() {
            let res =
                sqlx::query("INSERT INTO app_hosts (host, app_id, position) VALUES ($1, $2, $3)")
                    .bind(host.to_string())
                    .bind(app.id.to_string())
                    .bind(i64::try_from(i).unwrap_or(i64::MAX))
                    .execute(&mut *conn)
                    .await;
            match res {
                Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                    return Err(StoreError::Conflict { field: "hosts" });
                }
                other => {
                    other?;
                }
            }
        }
        Ok(())
    }
}

/// Bind an application's fields as `$1`..`$7` (id, name, slug, upstream
/// URL, scheme, auth prefix, updated at): the insert and the update share them.
fn bind_app<'q>(q: Query<'q>, app: &'q Application) -> Query<'q> {
    q.bind(app.id.to_string())
        .bind(&app.name)
        .bind(app.slug.as_str())
        .bind(app.upstream_url.as_ref().map(UpstreamUrl::as_str))
        .bind(app.scheme.as_str())
        .bind(app.auth_prefix.as_str())
        .bind(ms(app.updated_at))
}

#[async_trait]
impl AppStore for Backend {
    async fn create_app(&self, app: &Application, audit: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = AuditedTx::begin(self).await?;
        bind_app(
            sqlx::query(
                "INSERT INTO apps (id, name, slug, upstream_url, scheme, auth_prefix, updated_at, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            ),
            app,
        )
        .bind(ms(app.created_at))
        .execute(tx.conn())
        .await?;
        Self::write_hosts(tx.conn(), app).await?;
        tx.commit_with(Changed::App(app.id), audit).await
    }

    async fn update_app(&self, app: &Application, audit: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = AuditedTx::begin(self).await?;
        let res = bind_app(
            sqlx::query(
                "UPDATE apps SET name = $2, slug = $3, upstream_url = $4, scheme = $5, auth_prefix = $6, updated_at = $7
                 WHERE id = $1",
            ),
            app,
        )
        .execute(tx.conn())
        .await?;
        if res.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Self::write_hosts(tx.conn(), app).await?;
        tx.commit_with(Changed::App(app.id), audit).await
    }

    async fn delete_app(&self, id: AppId, audit: &AuditEvent) -> Result<Vec<TokenHash>, StoreError> {
        let mut tx = AuditedTx::begin(self).await?;
        // Sessions go with the app (ON DELETE CASCADE); tell every node's cache.
        let raw: Vec<String> = sqlx::query_scalar(
            "SELECT token_hash FROM sessions WHERE app_id = $1 AND revoked_at IS NULL",
        )
        .bind(id.to_string())
        .fetch_all(tx.conn())
        .await?;
        let res = sqlx::query("DELETE FROM apps WHERE id = $1")
            .bind(id.to_string())
            .execute(tx.conn())
            .await?;
        if res.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let hashes = tx.sessions_ended(raw)?;
        tx.changed(Changed::App(id));
        tx.commit(audit).await?;
        Ok(hashes)
    }

    async fn get_app(&self, id: AppId) -> Result<Option<Application>, StoreError> {
        let Some(row) = sqlx::query(select_apps!("WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(&mut *self.exec().await?)
            .await?
        else {
            return Ok(None);
        };
        let mut hosts = self.hosts_by_app(Some(id)).await?;
        app_from_row(&row, hosts.remove(&id.to_string()).unwrap_or_default()).map(Some)
    }

    async fn get_app_by_slug(&self, slug: &Slug) -> Result<Option<Application>, StoreError> {
        let Some(row) = sqlx::query(select_apps!("WHERE slug = $1"))
            .bind(slug.as_str())
            .fetch_optional(&mut *self.exec().await?)
            .await?
        else {
            return Ok(None);
        };
        let id: AppId = parse_id(row.try_get::<&str, _>("id")?)?;
        let mut hosts = self.hosts_by_app(Some(id)).await?;
        app_from_row(&row, hosts.remove(&id.to_string()).unwrap_or_default()).map(Some)
    }

    async fn list_apps(&self) -> Result<Vec<Application>, StoreError> {
        let rows = sqlx::query(select_apps!("ORDER BY lower(name), id"))
            .fetch_all(&mut *self.exec().await?)
            .await?;
        let mut hosts = self.hosts_by_app(None).await?;
        rows.iter()
            .map(|row| {
                let id: String = row.try_get("id")?;
                app_from_row(row, hosts.remove(&id).unwrap_or_default())
            })
            .collect()
    }

    async fn get_oidc(&self, app: AppId) -> Result<Option<StoredOidc>, StoreError> {
        let Some(row) = sqlx::query(
            "SELECT settings, client_secret_sealed, client_key_sealed, updated_at FROM sso_oidc WHERE app_id = $1",
        )
        .bind(app.to_string())
        .fetch_optional(&mut *self.exec().await?)
        .await?
        else {
            return Ok(None);
        };
        let settings: OidcSettings = serde_json::from_str(row.try_get::<&str, _>("settings")?)
            .map_err(|e| StoreError::Corrupt(format!("sso settings: {e}")))?;
        Ok(Some(StoredOidc {
            settings,
            client_secret_sealed: sealed(row.try_get("client_secret_sealed")?, "client secret")?,
            client_key_sealed: sealed(row.try_get("client_key_sealed")?, "client key")?,
            updated_at: from_ms(row.try_get("updated_at")?)?,
        }))
    }

    async fn set_client_key(
        &self,
        app: AppId,
        key: &Sealed,
        audit: &AuditEvent,
    ) -> Result<Sealed, StoreError> {
        let mut tx = AuditedTx::begin(self).await?;
        let res = sqlx::query("UPDATE sso_oidc SET client_key_sealed = $2 WHERE app_id = $1 AND client_key_sealed IS NULL")
            .bind(app.to_string())
            .bind(key.as_str())
            .execute(tx.conn())
            .await?;
        let stored: Option<Option<String>> =
            sqlx::query_scalar("SELECT client_key_sealed FROM sso_oidc WHERE app_id = $1")
                .bind(app.to_string())
                .fetch_optional(tx.conn())
                .await?;
        let stored = sealed(stored.flatten(), "client key")?.ok_or(StoreError::NotFound)?;
        if res.rows_affected() > 0 {
            tx.changed(Changed::App(app));
            tx.commit(audit).await?;
        } else {
            tx.unchanged();
        }
        Ok(stored)
    }

    async fn put_oidc(
        &self,
        app: AppId,
        settings: &OidcSettings,
        secret: SealedSecretChange,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let json =
            serde_json::to_string(settings).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut tx = AuditedTx::begin(self).await?;
        tx.require_app(app).await?;
        let (set_secret, secret_value) = match secret {
            SealedSecretChange::Keep => (false, None),
            SealedSecretChange::Remove => (true, None),
            SealedSecretChange::Set(s) => (true, Some(String::from(s))),
        };
        sqlx::query(
            "INSERT INTO sso_oidc (app_id, enabled, settings, client_secret_sealed, updated_at)
             VALUES ($1, $2, $3, $5, $6)
             ON CONFLICT (app_id) DO UPDATE SET
                enabled = excluded.enabled,
                settings = excluded.settings,
                client_secret_sealed = CASE WHEN $4 THEN excluded.client_secret_sealed ELSE sso_oidc.client_secret_sealed END,
                updated_at = excluded.updated_at",
        )
        .bind(app.to_string())
        .bind(settings.enabled)
        .bind(json)
        .bind(set_secret)
        .bind(secret_value)
        .bind(ms(at))
        .execute(tx.conn())
        .await?;
        tx.commit_with(Changed::App(app), audit).await
    }
}
