//! Upgrading a database with data: migration 6 (provisioning) on a store
//! migrated to 5 and filled as version 5 filled it. Each group name of a
//! user becomes a group of the application (one per name), the membership
//! `claim` for a user with an IdP identity and `admin` otherwise; tags stay;
//! every user gets `user_name` = e-mail; nothing is lost.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::borrow::Cow;

use gatehouse_core::user::{GroupSource, Membership, TagSource};
use gatehouse_store::testing::TestDatabase;
use sqlx::AssertSqlSafe;

/// The statements that fill a version-5 database (both backends).
const V5_DATA: &[&str] = &[
    "INSERT INTO apps (id, name, slug, upstream_url, scheme, auth_prefix, created_at, updated_at)
     VALUES ('00000000-0000-7000-8000-000000000001', 'Shop', 'shop', NULL, 'http', '/auth', 1, 1)",
    "INSERT INTO users (id, app_id, email, email_lower, first_name, last_name, status, password_hash, created_at, updated_at, last_login_at)
     VALUES ('00000000-0000-7000-8000-0000000000a1', '00000000-0000-7000-8000-000000000001', 'Ana@Example.com', 'ana@example.com', 'Ana', '', 'active', NULL, 1, 1, NULL)",
    "INSERT INTO users (id, app_id, email, email_lower, first_name, last_name, status, password_hash, created_at, updated_at, last_login_at)
     VALUES ('00000000-0000-7000-8000-0000000000b2', '00000000-0000-7000-8000-000000000001', 'bo@example.com', 'bo@example.com', 'Bo', '', 'active', NULL, 2, 2, NULL)",
    "INSERT INTO identities (app_id, issuer, subject, user_id, created_at)
     VALUES ('00000000-0000-7000-8000-000000000001', 'https://idp.example', 'ana', '00000000-0000-7000-8000-0000000000a1', 1)",
    "INSERT INTO user_groups (user_id, name) VALUES ('00000000-0000-7000-8000-0000000000a1', 'eng')",
    "INSERT INTO user_groups (user_id, name) VALUES ('00000000-0000-7000-8000-0000000000a1', 'ops')",
    "INSERT INTO user_groups (user_id, name) VALUES ('00000000-0000-7000-8000-0000000000b2', 'eng')",
    "INSERT INTO user_tags (user_id, key, value, source) VALUES ('00000000-0000-7000-8000-0000000000a1', 'dept', 'R&D', 'idp')",
];

/// The migrations of `dir` up to version 5.
async fn up_to_5(dir: &str) -> sqlx::migrate::Migrator {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut m = sqlx::migrate::Migrator::new(path).await.unwrap();
    let older: Vec<_> = m
        .migrations
        .iter()
        .filter(|x| x.version <= 5)
        .cloned()
        .collect();
    assert_eq!(older.len(), 5);
    m.migrations = Cow::Owned(older);
    m
}

async fn check(url: &str) {
    let store = gatehouse_store::connect(url, &Default::default())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let app: gatehouse_core::AppId = "00000000-0000-7000-8000-000000000001".parse().unwrap();
    let ana = store
        .get_user(app, "00000000-0000-7000-8000-0000000000a1".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        ana.groups,
        vec![
            Membership::new("eng", GroupSource::Claim),
            Membership::new("ops", GroupSource::Claim)
        ]
    );
    assert_eq!(ana.user_name, "Ana@Example.com");
    assert!(ana.scim_active && !ana.provisioned && ana.deprovisioned_at.is_none());
    assert_eq!(ana.tags.len(), 1);
    assert_eq!(ana.tags[0].source, TagSource::Idp);
    let bo = store
        .get_user(app, "00000000-0000-7000-8000-0000000000b2".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bo.groups, vec![Membership::new("eng", GroupSource::Admin)]);
    let groups = store.list_groups(app).await.unwrap();
    let mut names: Vec<&str> = groups.iter().map(|g| g.display_name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["eng", "ops"], "one group per name");
    assert!(
        groups
            .iter()
            .all(|g| !g.provisioned && g.external_id.is_none())
    );
    let eng = groups.iter().find(|g| g.display_name == "eng").unwrap();
    assert_eq!(eng.member_ids().len(), 2);
    // SCIM finds Ana by her userName, case-insensitively.
    assert!(
        store
            .find_user_by_user_name(app, "ana@example.com")
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn sqlite_databases_keep_their_groups_and_tags_through_migration_6() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/up.db?mode=rwc", dir.path().display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    up_to_5("migrations/sqlite").await.run(&pool).await.unwrap();
    for sql in V5_DATA {
        sqlx::query(AssertSqlSafe(*sql))
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
    check(&format!("sqlite://{}/up.db", dir.path().display())).await;
}

#[tokio::test]
async fn postgres_databases_keep_their_groups_and_tags_through_migration_6() {
    let db = TestDatabase::create().await.unwrap();
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    up_to_5("migrations/postgres")
        .await
        .run(&pool)
        .await
        .unwrap();
    for sql in V5_DATA {
        sqlx::query(AssertSqlSafe(*sql))
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
    check(&db.url).await;
    db.drop_now().await.unwrap();
}
