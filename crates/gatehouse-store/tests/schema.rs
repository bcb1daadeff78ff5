//! The two migration sets define the same schema: after migrating a fresh
//! SQLite file and a fresh PostgreSQL database, their tables, columns (type,
//! through the map below, and nullability), primary keys, unique constraints
//! and indexes are compared. A column, index or constraint added to one
//! backend's migrations and not the other's fails here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use sqlx::{Connection, Row};

/// A column: its type as SQLite's affinity names it, and whether it may be NULL.
type Column = (&'static str, bool);

/// An index other than the primary key: its columns in order (`<expr>` for
/// an expression), whether it is unique, whether it is partial.
type Index = (Vec<String>, bool, bool);

#[derive(Debug, Default, PartialEq, Eq)]
struct Table {
    columns: BTreeMap<String, Column>,
    primary_key: Vec<String>,
    indexes: BTreeSet<Index>,
}

type Schema = BTreeMap<String, Table>;

/// SQLite's type affinity of a declared type (its rules, section 3.1).
fn sqlite_affinity(declared: &str) -> &'static str {
    let d = declared.to_ascii_uppercase();
    if d.contains("INT") || d.contains("BOOL") {
        "INTEGER"
    } else if d.contains("CHAR") || d.contains("TEXT") || d.contains("CLOB") {
        "TEXT"
    } else {
        "OTHER"
    }
}

/// What a PostgreSQL type is stored as in the SQLite schema.
fn postgres_as_sqlite(data_type: &str) -> &'static str {
    match data_type {
        "bigint" | "integer" | "smallint" | "boolean" => "INTEGER",
        "text" | "character varying" => "TEXT",
        _ => "OTHER",
    }
}

const SKIP: &[&str] = &["_sqlx_migrations"];

async fn sqlite_schema(dir: &std::path::Path) -> Schema {
    let url = format!("sqlite://{}/schema.db", dir.display());
    let store = gatehouse_store::connect(&url, &Default::default())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    drop(store);
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut schema = Schema::new();
    for t in tables.into_iter().filter(|t| !SKIP.contains(&t.as_str())) {
        let mut table = Table::default();
        let cols = sqlx::query("SELECT name, type, \"notnull\", pk FROM pragma_table_info($1)")
            .bind(&t)
            .fetch_all(&mut conn)
            .await
            .unwrap();
        let mut pk: Vec<(i64, String)> = Vec::new();
        for c in cols {
            let name: String = c.get("name");
            let pk_pos: i64 = c.get("pk");
            let not_null: i64 = c.get("notnull");
            // A primary key column is NOT NULL in PostgreSQL whatever it declares.
            let nullable = not_null == 0 && pk_pos == 0;
            table.columns.insert(
                name.clone(),
                (sqlite_affinity(c.get::<&str, _>("type")), nullable),
            );
            if pk_pos > 0 {
                pk.push((pk_pos, name));
            }
        }
        pk.sort();
        table.primary_key = pk.into_iter().map(|(_, n)| n).collect();
        let indexes =
            sqlx::query("SELECT name, \"unique\", origin, partial FROM pragma_index_list($1)")
                .bind(&t)
                .fetch_all(&mut conn)
                .await
                .unwrap();
        for ix in indexes {
            if ix.get::<&str, _>("origin") == "pk" {
                continue;
            }
            let name: String = ix.get("name");
            let cols: Vec<Option<String>> = sqlx::query_scalar(
                "SELECT name FROM pragma_index_xinfo($1) WHERE key = 1 ORDER BY seqno",
            )
            .bind(&name)
            .fetch_all(&mut conn)
            .await
            .unwrap();
            let cols = cols
                .into_iter()
                .map(|c| c.unwrap_or_else(|| "<expr>".to_owned()))
                .collect();
            table.indexes.insert((
                cols,
                ix.get::<i64, _>("unique") == 1,
                ix.get::<i64, _>("partial") == 1,
            ));
        }
        schema.insert(t, table);
    }
    schema
}

async fn postgres_schema(url: &str) -> Schema {
    let store = gatehouse_store::connect(url, &Default::default())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    drop(store);
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut schema = Schema::new();
    for t in tables.into_iter().filter(|t| !SKIP.contains(&t.as_str())) {
        let mut table = Table::default();
        let cols = sqlx::query(
            "SELECT column_name::text AS name, data_type::text AS type, is_nullable::text AS nullable
             FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1",
        )
        .bind(&t)
        .fetch_all(&mut conn)
        .await
        .unwrap();
        for c in cols {
            table.columns.insert(
                c.get("name"),
                (
                    postgres_as_sqlite(c.get::<&str, _>("type")),
                    c.get::<&str, _>("nullable") == "YES",
                ),
            );
        }
        let indexes = sqlx::query(
            "SELECT ix.indisunique AS is_unique, ix.indisprimary AS is_primary,
                    ix.indpred IS NOT NULL AS partial,
                    ARRAY(SELECT coalesce(a.attname::text, '<expr>')
                          FROM unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
                          LEFT JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.attnum
                          ORDER BY k.ord) AS cols
             FROM pg_index ix
             JOIN pg_class tc ON tc.oid = ix.indrelid
             JOIN pg_namespace n ON n.oid = tc.relnamespace
             WHERE n.nspname = 'public' AND tc.relname = $1",
        )
        .bind(&t)
        .fetch_all(&mut conn)
        .await
        .unwrap();
        for ix in indexes {
            let cols: Vec<String> = ix.get("cols");
            if ix.get::<bool, _>("is_primary") {
                table.primary_key = cols;
            } else {
                table
                    .indexes
                    .insert((cols, ix.get("is_unique"), ix.get("partial")));
            }
        }
        schema.insert(t, table);
    }
    schema
}

#[tokio::test]
async fn sqlite_and_postgres_migrations_define_the_same_schema() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = sqlite_schema(dir.path()).await;
    let db = gatehouse_store::testing::TestDatabase::create()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let postgres = postgres_schema(&db.url).await;
    db.drop_now().await.unwrap();

    assert!(
        sqlite.len() > 10,
        "too few tables read: {:?}",
        sqlite.keys()
    );
    let names = |s: &Schema| s.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&sqlite), names(&postgres), "tables differ");
    let mut drift = Vec::new();
    for (name, lite) in &sqlite {
        let pg = &postgres[name];
        for (col, def) in &lite.columns {
            match pg.columns.get(col) {
                Some(p) if p == def => {}
                other => drift.push(format!("{name}.{col}: sqlite {def:?}, postgres {other:?}")),
            }
        }
        for col in pg.columns.keys().filter(|c| !lite.columns.contains_key(*c)) {
            drift.push(format!("{name}.{col}: only in postgres"));
        }
        if lite.primary_key != pg.primary_key {
            drift.push(format!(
                "{name} primary key: sqlite {:?}, postgres {:?}",
                lite.primary_key, pg.primary_key
            ));
        }
        for ix in lite.indexes.symmetric_difference(&pg.indexes) {
            let side = if lite.indexes.contains(ix) {
                "sqlite"
            } else {
                "postgres"
            };
            drift.push(format!("{name} index {ix:?}: only in {side}"));
        }
    }
    assert!(
        drift.is_empty(),
        "the migrations drift:\n{}",
        drift.join("\n")
    );
}
