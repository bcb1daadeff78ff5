//! Test support: a fresh PostgreSQL database per test, on the server
//! `TEST_POSTGRES_URL` names (default: the local server at
//! `postgres://postgres@127.0.0.1:5432/postgres`, as on the development
//! machines and in CI). Databases are named `gatehouse_t_<random>`;
//! `scripts/test` drops any a failed test left behind.

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

/// The environment variable naming the test server's maintenance database URL.
pub const ENV: &str = "TEST_POSTGRES_URL";

/// The test server's maintenance database URL.
pub fn server_url() -> String {
    std::env::var(ENV)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database made for one test; [`TestDatabase::drop_now`] removes it.
#[derive(Debug)]
pub struct TestDatabase {
    /// Its name.
    pub name: String,
    /// A URL for it.
    pub url: String,
    server: String,
}

fn with_database(server: &str, name: &str) -> Result<String, String> {
    let mut url = url_parts(server)?;
    url.0.push_str(name);
    Ok(format!("{}{}", url.0, url.1))
}

/// `(everything up to and including the path's '/', the query)`.
fn url_parts(server: &str) -> Result<(String, String), String> {
    let (base, query) = match server.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (server, String::new()),
    };
    let scheme_end = base.find("://").ok_or("not a postgres:// URL")? + 3;
    let path_start = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    Ok((format!("{}/", &base[..path_start]), query))
}

impl TestDatabase {
    /// Create a new, empty database.
    pub async fn create() -> Result<Self, String> {
        let server = server_url();
        let opts: PgConnectOptions = server.parse().map_err(|e| format!("{ENV}={server}: {e}"))?;
        let mut conn = PgConnection::connect_with(&opts).await.map_err(|e| {
            format!(
                "PostgreSQL tests need a server: cannot connect to {server} ({e}); set {ENV} to a maintenance database URL"
            )
        })?;
        let name = format!("gatehouse_t_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .map_err(|e| format!("CREATE DATABASE {name}: {e}"))?;
        let url = with_database(&server, &name)?;
        Ok(Self { name, url, server })
    }

    /// Drop the database (connections to it are closed first).
    pub async fn drop_now(self) -> Result<(), String> {
        let opts: PgConnectOptions = self.server.parse().map_err(|e| format!("{e}"))?;
        let mut conn = PgConnection::connect_with(&opts)
            .await
            .map_err(|e| e.to_string())?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_keep_credentials_and_options() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/postgres?sslmode=disable", "x").ok(),
            Some("postgres://u:p@h:5432/x?sslmode=disable".to_owned())
        );
        assert_eq!(
            with_database("postgres://h", "x").ok(),
            Some("postgres://h/x".to_owned())
        );
    }
}
