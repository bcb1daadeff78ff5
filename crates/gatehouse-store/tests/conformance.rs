//! The store conformance suite: every backend must pass it unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use gatehouse_core::app::{AuthPrefix, HostPattern, Scheme, UpstreamUrl};
use gatehouse_core::sso::OidcSettings;
use gatehouse_core::user::{
    Email, GroupSource, Identity, Membership, Tag, TagSource, User, UserStatus,
};
use gatehouse_core::{
    Actor, AppId, Application, AuditEvent, Sealed, SessionId, Slug, TokenHash, UserId,
};
use gatehouse_store::{
    AdminTokenRecord, AuditQuery, Changed, PasswordChange, SealedSecretChange, SessionBase,
    SessionRecord, Store, StoreError, UserQuery,
};
use time::OffsetDateTime;

fn sealed(raw: &str) -> Sealed {
    Sealed::parse(raw).unwrap()
}

fn now() -> OffsetDateTime {
    // Millisecond precision, as stored.
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(t.nanosecond() / 1_000_000 * 1_000_000)
        .unwrap()
}

fn audit(app: Option<AppId>, action: &str) -> AuditEvent {
    AuditEvent::new(app, now(), Actor::Cli, action)
}

fn app(slug: &str, hosts: &[&str]) -> Application {
    let t = now();
    Application {
        id: AppId::new(),
        name: format!("App {slug}"),
        slug: Slug::parse(slug).unwrap(),
        hosts: hosts
            .iter()
            .map(|h| HostPattern::parse(h).unwrap())
            .collect(),
        upstream_url: Some(UpstreamUrl::parse("http://127.0.0.1:9/").unwrap()),
        scheme: Scheme::Http,
        auth_prefix: AuthPrefix::default(),
        created_at: t,
        updated_at: t,
    }
}

fn user(app: AppId, email: &str) -> User {
    let t = now();
    User {
        first_name: "Ana".into(),
        last_name: "Silva".into(),
        tags: vec![Tag {
            key: gatehouse_core::user::TagKey::parse("dept", "key").unwrap(),
            value: "R&D".into(),
            source: TagSource::Idp,
        }],
        groups: vec![
            Membership::new("eng", GroupSource::Claim),
            Membership::new("ops", GroupSource::Admin),
        ],
        identities: vec![Identity {
            issuer: gatehouse_core::sso::IssuerUrl::parse("https://idp", "issuer").unwrap(),
            subject: format!("sub-{email}"),
        }],
        email_verified: Some(true),
        ..User::new(app, Email::parse(email).unwrap(), t)
    }
}

/// A distinct, well-formed token hash.
fn h(n: u8) -> TokenHash {
    TokenHash::parse(&format!("{n:02x}").repeat(32)).unwrap()
}

fn session(app: AppId, user: UserId, hash: TokenHash, ttl: Duration) -> SessionRecord {
    let t = now();
    SessionRecord {
        base: SessionBase::new(
            hash,
            gatehouse_core::session::SignInMethod::Password,
            t,
            ttl,
            Some("127.0.0.1".into()),
            Some("test".into()),
        ),
        app_id: app,
        user_id: user,
        idp_issuer: None,
        idp_sid: None,
        id_token_sealed: None,
        refresh_token_sealed: None,
        token_expires_at: None,
    }
}

async fn apps(store: &dyn Store) {
    let a = app("alpha", &["alpha.localhost", "alpha.localhost:8080"]);
    store
        .create_app(&a, &audit(Some(a.id), "app.created"))
        .await
        .unwrap();
    assert_eq!(store.get_app(a.id).await.unwrap().as_ref(), Some(&a));
    assert_eq!(
        store.get_app_by_slug(&a.slug).await.unwrap().as_ref(),
        Some(&a)
    );

    let same_slug = app("alpha", &["other.localhost"]);
    assert!(matches!(
        store
            .create_app(&same_slug, &audit(None, "app.created"))
            .await,
        Err(StoreError::Conflict { field: "slug" })
    ));
    let same_host = app("beta", &["alpha.localhost"]);
    assert!(matches!(
        store
            .create_app(&same_host, &audit(None, "app.created"))
            .await,
        Err(StoreError::Conflict { field: "hosts" })
    ));
    // Nothing half-written: the failed app is not there.
    assert!(store.get_app(same_host.id).await.unwrap().is_none());

    let mut changed = a.clone();
    changed.name = "Renamed".into();
    changed.hosts = vec![HostPattern::parse("new.localhost").unwrap()];
    changed.upstream_url = None;
    store
        .update_app(&changed, &audit(Some(a.id), "app.updated"))
        .await
        .unwrap();
    assert_eq!(store.get_app(a.id).await.unwrap().as_ref(), Some(&changed));
    // The old host is free again.
    let reuse = app("gamma", &["alpha.localhost"]);
    store
        .create_app(&reuse, &audit(None, "app.created"))
        .await
        .unwrap();
    let names: Vec<String> = store
        .list_apps()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert!(names.contains(&"Renamed".to_owned()) && names.contains(&"App gamma".to_owned()));

    // SSO settings and the sealed secret.
    assert!(store.get_oidc(a.id).await.unwrap().is_none());
    let mut s = OidcSettings {
        client_id: "client".into(),
        ..Default::default()
    };
    let t = now();
    store
        .put_oidc(
            a.id,
            &s,
            SealedSecretChange::Set(sealed("v1.k.sealed")),
            t,
            &audit(Some(a.id), "sso.updated"),
        )
        .await
        .unwrap();
    let got = store.get_oidc(a.id).await.unwrap().unwrap();
    assert_eq!(
        (
            got.settings,
            got.client_secret_sealed.as_ref().map(Sealed::as_str)
        ),
        (s.clone(), Some("v1.k.sealed"))
    );
    s.enabled = true;
    store
        .put_oidc(
            a.id,
            &s,
            SealedSecretChange::Keep,
            t,
            &audit(Some(a.id), "sso.updated"),
        )
        .await
        .unwrap();
    let got = store.get_oidc(a.id).await.unwrap().unwrap();
    assert_eq!(
        (
            got.settings.enabled,
            got.client_secret_sealed.as_ref().map(Sealed::as_str)
        ),
        (true, Some("v1.k.sealed"))
    );
    store
        .put_oidc(
            a.id,
            &s,
            SealedSecretChange::Remove,
            t,
            &audit(Some(a.id), "sso.updated"),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .get_oidc(a.id)
            .await
            .unwrap()
            .unwrap()
            .client_secret_sealed,
        None
    );
    assert!(matches!(
        store
            .put_oidc(
                AppId::new(),
                &s,
                SealedSecretChange::Keep,
                t,
                &audit(None, "sso.updated")
            )
            .await,
        Err(StoreError::NotFound)
    ));

    store
        .delete_app(reuse.id, &audit(Some(reuse.id), "app.deleted"))
        .await
        .unwrap();
    assert!(store.get_app(reuse.id).await.unwrap().is_none());
    assert!(matches!(
        store
            .delete_app(reuse.id, &audit(None, "app.deleted"))
            .await,
        Err(StoreError::NotFound)
    ));
}

async fn users_and_sessions(store: &dyn Store) {
    let a = app("users", &["users.localhost"]);
    store
        .create_app(&a, &audit(Some(a.id), "app.created"))
        .await
        .unwrap();
    let u = user(a.id, "Ana@Example.com");
    store
        .create_user(
            &u,
            Some("$argon2id$hash"),
            &audit(Some(a.id), "user.created"),
        )
        .await
        .unwrap();
    let mut expect = u.clone();
    expect.has_password = true;
    assert_eq!(
        store.get_user(a.id, u.id).await.unwrap().as_ref(),
        Some(&expect)
    );
    let (found, hash) = store
        .find_user_by_email(a.id, "ana@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((found.id, hash.as_deref()), (u.id, Some("$argon2id$hash")));
    // Same e-mail, other case: taken. Same identity: taken.
    assert!(matches!(
        store
            .create_user(
                &user(a.id, "ANA@example.com"),
                None,
                &audit(None, "user.created")
            )
            .await,
        Err(StoreError::Conflict { field: "email" })
    ));
    let mut twin = user(a.id, "twin@example.com");
    twin.identities = u.identities.clone();
    assert!(matches!(
        store
            .create_user(&twin, None, &audit(None, "user.created"))
            .await,
        Err(StoreError::Conflict { field: "identity" })
    ));
    assert!(
        store
            .find_user_by_email(a.id, "twin@example.com")
            .await
            .unwrap()
            .is_none()
    );

    let b = user(a.id, "bruno@example.com");
    store
        .create_user(&b, None, &audit(None, "user.created"))
        .await
        .unwrap();
    let q = |s: &str| UserQuery {
        search: Some(s.into()),
        limit: 50,
        offset: 0,
    };
    let emails = |v: Vec<User>| {
        v.into_iter()
            .map(|u| u.email.normalized())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        emails(
            store
                .list_users(
                    a.id,
                    &UserQuery {
                        limit: 50,
                        ..Default::default()
                    }
                )
                .await
                .unwrap()
        ),
        vec!["ana@example.com", "bruno@example.com"]
    );
    assert_eq!(
        emails(store.list_users(a.id, &q("BRU")).await.unwrap()),
        vec!["bruno@example.com"]
    );
    assert_eq!(
        emails(store.list_users(a.id, &q("dept=r&d")).await.unwrap()).len(),
        2
    );
    assert_eq!(
        emails(store.list_users(a.id, &q("%")).await.unwrap()).len(),
        0
    );

    let mut changed = u.clone();
    changed.first_name = "Ana Maria".into();
    changed.tags = vec![Tag {
        key: gatehouse_core::user::TagKey::parse("level", "key").unwrap(),
        value: "3".into(),
        source: TagSource::Admin,
    }];
    changed.groups = vec![];
    changed.status = UserStatus::Disabled;
    store
        .update_user(
            &changed,
            PasswordChange::Remove,
            &audit(None, "user.updated"),
        )
        .await
        .unwrap();
    let got = store.get_user(a.id, u.id).await.unwrap().unwrap();
    // Every write of a user bumps its version (provisioning writes check it).
    assert_eq!(got.scim_version, changed.scim_version + 1);
    assert_eq!(
        got,
        User {
            scim_version: got.scim_version,
            ..changed
        }
    );

    // Sessions.
    let t = now();
    let s1 = session(a.id, u.id, h(1), Duration::from_secs(3600));
    let s2 = session(a.id, u.id, h(2), Duration::from_secs(3600));
    let s3 = session(a.id, b.id, h(3), Duration::from_secs(3600));
    let old = session(a.id, b.id, h(0xee), Duration::from_secs(0));
    for s in [&s1, &s2, &s3, &old] {
        store
            .create_session(s, &audit(Some(a.id), "signin.succeeded"))
            .await
            .unwrap();
    }
    assert!(
        store
            .get_user(a.id, u.id)
            .await
            .unwrap()
            .unwrap()
            .last_login_at
            .is_some()
    );
    assert_eq!(
        store.get_session_by_hash(&h(1)).await.unwrap().as_ref(),
        Some(&s1)
    );
    assert_eq!(
        store
            .list_sessions(a.id, None, t + Duration::from_millis(1))
            .await
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        store
            .list_sessions(a.id, Some(b.id), t + Duration::from_millis(1))
            .await
            .unwrap()
            .len(),
        1
    );

    let later = t + Duration::from_secs(60);
    store
        .touch_sessions(&[(h(1), later), (h(1), t)])
        .await
        .unwrap();
    assert_eq!(
        store
            .get_session_by_hash(&h(1))
            .await
            .unwrap()
            .unwrap()
            .base
            .last_seen_at,
        later
    );

    assert_eq!(
        store
            .revoke_session(a.id, s3.base.id, t, &audit(Some(a.id), "session.revoked"))
            .await
            .unwrap(),
        h(3)
    );
    assert!(matches!(
        store
            .revoke_session(a.id, s3.base.id, t, &audit(None, "x"))
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(
        store
            .get_session_by_hash(&h(3))
            .await
            .unwrap()
            .unwrap()
            .base
            .revoked_at
            .is_some()
    );
    assert!(
        store
            .revoke_session_by_hash(&h(2), t, &audit(None, "signout"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_session_by_hash(&h(2), t, &audit(None, "signout"))
            .await
            .unwrap()
    );
    let mut revoked = store
        .revoke_sessions_of_user(u.id, t, &audit(None, "user.sessions_revoked"))
        .await
        .unwrap();
    revoked.sort();
    assert_eq!(revoked, vec![h(1)]);
    assert_eq!(
        store
            .count_active_sessions(t + Duration::from_millis(1))
            .await
            .unwrap(),
        0
    );
    assert!(
        store
            .purge_sessions(t + Duration::from_secs(1))
            .await
            .unwrap()
            >= 4
    );

    // Deleting a user ends their sessions.
    let s4 = session(a.id, b.id, h(4), Duration::from_secs(3600));
    store
        .create_session(&s4, &audit(None, "signin.succeeded"))
        .await
        .unwrap();
    assert_eq!(
        store
            .delete_user(a.id, b.id, &audit(None, "user.deleted"))
            .await
            .unwrap(),
        vec![h(4)]
    );
    assert!(store.get_session_by_hash(&h(4)).await.unwrap().is_none());
    assert!(matches!(
        store
            .delete_user(a.id, b.id, &audit(None, "user.deleted"))
            .await,
        Err(StoreError::NotFound)
    ));
}

async fn audit_tokens_changes(store: &dyn Store) {
    let a = AppId::new();
    let start = store.latest_change().await.unwrap();
    for i in 0..5 {
        store
            .append_audit(
                &audit(
                    Some(a),
                    if i % 2 == 0 {
                        "signin.failed"
                    } else {
                        "signin.succeeded"
                    },
                )
                .target(format!("u{i}@x")),
            )
            .await
            .unwrap();
    }
    let all = store
        .list_audit(&AuditQuery {
            app_id: Some(a),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 5);
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    let failed = store
        .list_audit(&AuditQuery {
            app_id: Some(a),
            action_prefix: Some("signin.failed".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(failed.len(), 3);
    let page = store
        .list_audit(&AuditQuery {
            app_id: Some(a),
            before_id: Some(all[1].id),
            limit: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        page.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![all[2].id, all[3].id]
    );
    let by_subject = store
        .list_audit(&AuditQuery {
            app_id: Some(a),
            subject: Some("U3@".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_subject.len(), 1);

    let tok = AdminTokenRecord {
        id: gatehouse_core::ids::TokenId::new(),
        name: "ci".into(),
        token_hash: h(0x70),
        created_at: now(),
        last_used_at: None,
        revoked_at: None,
    };
    store
        .create_admin_token(&tok, &audit(None, "admin_token.created"))
        .await
        .unwrap();
    assert_eq!(
        store
            .find_admin_token(&h(0x70))
            .await
            .unwrap()
            .map(|t| t.name),
        Some("ci".into())
    );
    store.touch_admin_token(tok.id, now()).await.unwrap();
    assert!(
        store
            .find_admin_token(&h(0x70))
            .await
            .unwrap()
            .unwrap()
            .last_used_at
            .is_some()
    );
    assert!(store.find_admin_token(&h(0x71)).await.unwrap().is_none());

    // Changes: every mutation above left rows; a new app adds one of kind App.
    let x = app("changes", &["changes.localhost"]);
    store
        .create_app(&x, &audit(Some(x.id), "app.created"))
        .await
        .unwrap();
    let changes = store.changes_since(start, 1000).await.unwrap();
    let last = changes.last().unwrap();
    assert_eq!(last.what, Changed::App(x.id));
    assert_eq!(store.latest_change().await.unwrap(), last.seq);
    store
        .prune_changes(now() + Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        store.latest_change().await.unwrap(),
        last.seq,
        "the newest change is kept"
    );
}

async fn oidc_support(store: &dyn Store) {
    let a = app("oidc", &["oidc.localhost"]);
    store
        .create_app(&a, &audit(Some(a.id), "app.created"))
        .await
        .unwrap();
    // The client key: the first one stored wins.
    let s = OidcSettings::default();
    store
        .put_oidc(
            a.id,
            &s,
            SealedSecretChange::Keep,
            now(),
            &audit(None, "sso.updated"),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .set_client_key(
                a.id,
                &sealed("v1.k.first"),
                &audit(None, "sso.client_key_created")
            )
            .await
            .unwrap(),
        sealed("v1.k.first")
    );
    assert_eq!(
        store
            .set_client_key(
                a.id,
                &sealed("v1.k.second"),
                &audit(None, "sso.client_key_created")
            )
            .await
            .unwrap(),
        sealed("v1.k.first")
    );
    assert_eq!(
        store
            .get_oidc(a.id)
            .await
            .unwrap()
            .unwrap()
            .client_key_sealed
            .as_ref()
            .map(Sealed::as_str),
        Some("v1.k.first")
    );

    let u = user(a.id, "idp@example.com");
    store
        .create_user(&u, None, &audit(None, "user.created"))
        .await
        .unwrap();
    let found = store
        .find_user_by_identity(a.id, "https://idp", "sub-idp@example.com")
        .await
        .unwrap();
    assert_eq!(found.map(|f| f.id), Some(u.id));
    assert!(
        store
            .find_user_by_identity(a.id, "https://other", "sub-idp@example.com")
            .await
            .unwrap()
            .is_none()
    );

    // IdP sessions: revoked by sid, by user, by both.
    let mut s1 = session(a.id, u.id, h(0x11), Duration::from_secs(3600));
    s1.idp_issuer = Some("https://idp".into());
    s1.idp_sid = Some("sid-1".into());
    let mut s2 = s1.clone();
    s2.base.id = SessionId::new();
    s2.base.token_hash = h(0x12);
    s2.idp_sid = Some("sid-2".into());
    for s in [&s1, &s2] {
        store
            .create_session(s, &audit(None, "signin.succeeded"))
            .await
            .unwrap();
    }
    let t = now();
    assert!(
        store
            .revoke_idp_sessions(a.id, "https://idp", None, None, t, &audit(None, "x"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .revoke_idp_sessions(
                a.id,
                "https://other",
                Some("sid-1"),
                None,
                t,
                &audit(None, "x")
            )
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .revoke_idp_sessions(
                a.id,
                "https://idp",
                Some("sid-1"),
                None,
                t,
                &audit(None, "x")
            )
            .await
            .unwrap(),
        vec![h(0x11)]
    );
    assert!(
        store
            .revoke_idp_sessions(
                a.id,
                "https://idp",
                Some("sid-2"),
                Some(UserId::new()),
                t,
                &audit(None, "x")
            )
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .revoke_idp_sessions(a.id, "https://idp", None, Some(u.id), t, &audit(None, "x"))
            .await
            .unwrap(),
        vec![h(0x12)]
    );

    store
        .update_session_tokens(&h(0x11), Some(&sealed("v1.k.idt")), None, Some(t))
        .await
        .unwrap();
    let got = store.get_session_by_hash(&h(0x11)).await.unwrap().unwrap();
    assert_eq!(
        (
            got.id_token_sealed.as_ref().map(Sealed::as_str),
            got.token_expires_at
        ),
        (Some("v1.k.idt"), Some(t))
    );

    // Single-use values.
    let later = t + Duration::from_secs(600);
    assert!(store.mark_used("flow_state", "h1", later).await.unwrap());
    assert!(!store.mark_used("flow_state", "h1", later).await.unwrap());
    assert!(
        store.mark_used("logout_jti", "h1", later).await.unwrap(),
        "kinds are separate"
    );
    assert_eq!(
        store
            .purge_used(later + Duration::from_secs(1))
            .await
            .unwrap(),
        2
    );
    assert!(store.mark_used("flow_state", "h1", later).await.unwrap());
}

async fn admins(store: &dyn Store) {
    use gatehouse_core::ids::AdminId;
    use gatehouse_store::{AdminRecord, AdminSessionRecord};
    assert_eq!(store.count_admins().await.unwrap(), 0);
    let a = AdminRecord {
        id: AdminId::new(),
        email: "Olga@Example.com".into(),
        name: "Olga".into(),
        password_hash: Some("$argon2id$x".into()),
        active: true,
        created_at: now(),
        last_login_at: None,
    };
    store
        .create_admin(&a, &audit(None, "admin.created"))
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_admin(
                &AdminRecord {
                    id: AdminId::new(),
                    ..a.clone()
                },
                &audit(None, "admin.created")
            )
            .await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(store.count_admins().await.unwrap(), 1);
    assert_eq!(
        store
            .find_admin_by_email("olga@example.com")
            .await
            .unwrap()
            .as_ref(),
        Some(&a)
    );
    assert_eq!(store.get_admin(a.id).await.unwrap().as_ref(), Some(&a));
    assert!(
        store
            .find_admin_by_identity("https://idp", "olga")
            .await
            .unwrap()
            .is_none()
    );
    store
        .link_admin_identity(
            a.id,
            "https://idp",
            "olga",
            &audit(None, "admin.identity_linked"),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .find_admin_by_identity("https://idp", "olga")
            .await
            .unwrap()
            .map(|x| x.id),
        Some(a.id)
    );
    assert_eq!(store.list_admins().await.unwrap().len(), 1);

    let t = now();
    let s = AdminSessionRecord {
        base: SessionBase::new(
            h(0x31),
            gatehouse_core::session::SignInMethod::Password,
            t,
            Duration::from_secs(3600),
            None,
            None,
        ),
        admin_id: a.id,
    };
    store
        .create_admin_session(&s, &audit(None, "admin.signin"))
        .await
        .unwrap();
    assert_eq!(
        store.get_admin_session(&h(0x31)).await.unwrap().as_ref(),
        Some(&s)
    );
    assert!(
        store
            .get_admin(a.id)
            .await
            .unwrap()
            .unwrap()
            .last_login_at
            .is_some()
    );
    store
        .touch_admin_session(&h(0x31), t + Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        store
            .get_admin_session(&h(0x31))
            .await
            .unwrap()
            .unwrap()
            .base
            .last_seen_at,
        t + Duration::from_secs(5)
    );
    assert!(
        store
            .revoke_admin_session(&h(0x31), t, &audit(None, "admin.signout"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_admin_session(&h(0x31), t, &audit(None, "admin.signout"))
            .await
            .unwrap()
    );

    // Instance settings with a sealed secret: kept, replaced, removed.
    assert!(store.get_setting("admin_sso").await.unwrap().is_none());
    let v = serde_json::json!({"enabled": true});
    store
        .put_setting(
            "admin_sso",
            &v,
            Some(Some(&sealed("v1.k.s"))),
            t,
            &audit(None, "admin.sso_updated"),
        )
        .await
        .unwrap();
    assert_eq!(
        store.get_setting("admin_sso").await.unwrap(),
        Some((v.clone(), Some(sealed("v1.k.s"))))
    );
    store
        .put_setting("admin_sso", &v, None, t, &audit(None, "admin.sso_updated"))
        .await
        .unwrap();
    assert_eq!(
        store
            .get_setting("admin_sso")
            .await
            .unwrap()
            .unwrap()
            .1
            .as_ref()
            .map(Sealed::as_str),
        Some("v1.k.s")
    );
    store
        .put_setting(
            "admin_sso",
            &v,
            Some(None),
            t,
            &audit(None, "admin.sso_updated"),
        )
        .await
        .unwrap();
    assert_eq!(
        store.get_setting("admin_sso").await.unwrap().unwrap().1,
        None
    );
}

async fn grants_and_settings(store: &dyn Store) {
    use gatehouse_core::access::{Grant, Subject};
    use gatehouse_core::ids::GrantId;
    let a = app("grants", &["grants.localhost"]);
    store
        .create_app(&a, &audit(Some(a.id), "app.created"))
        .await
        .unwrap();
    let start = store.latest_change().await.unwrap();
    let subjects = [
        Subject::Email("ana@example.com".into()),
        Subject::Group("eng".into()),
        Subject::Tag {
            key: gatehouse_core::user::TagKey::parse("dept", "key").unwrap(),
            value: "R&D".into(),
        },
    ];
    let mut ids = Vec::new();
    for (i, s) in subjects.iter().enumerate() {
        let g = Grant {
            id: GrantId::new(),
            app_id: a.id,
            role: gatehouse_core::access::Role::parse(&format!("role{i}"), "role").unwrap(),
            subject: s.clone(),
            created_at: now() + Duration::from_millis(i as u64),
        };
        store
            .create_grant(&g, &audit(Some(a.id), "grant.created"))
            .await
            .unwrap();
        ids.push(g.id);
    }
    let listed = store.list_grants(a.id).await.unwrap();
    assert_eq!(
        listed.iter().map(|g| g.subject.clone()).collect::<Vec<_>>(),
        subjects.to_vec()
    );
    assert!(store.list_all_grants().await.unwrap().len() >= 3);
    store
        .delete_grant(a.id, ids[1], &audit(Some(a.id), "grant.deleted"))
        .await
        .unwrap();
    assert!(matches!(
        store.delete_grant(a.id, ids[1], &audit(None, "x")).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.list_grants(a.id).await.unwrap().len(), 2);
    let changes = store.changes_since(start, 100).await.unwrap();
    assert!(changes.iter().all(|c| matches!(c.what, Changed::Grants(_))));

    assert!(
        store
            .get_app_setting(a.id, "access")
            .await
            .unwrap()
            .is_none()
    );
    let v = serde_json::json!({"default_role": "member"});
    store
        .put_app_setting(
            a.id,
            "access",
            &v,
            now(),
            &audit(Some(a.id), "access.updated"),
        )
        .await
        .unwrap();
    store
        .put_app_setting(
            a.id,
            "access",
            &v,
            now(),
            &audit(Some(a.id), "access.updated"),
        )
        .await
        .unwrap();
    assert_eq!(
        store.get_app_setting(a.id, "access").await.unwrap(),
        Some(v.clone())
    );
    assert!(
        store
            .list_app_settings("access")
            .await
            .unwrap()
            .contains(&(a.id, v))
    );
    assert!(matches!(
        store
            .put_app_setting(
                AppId::new(),
                "access",
                &serde_json::json!({}),
                now(),
                &audit(None, "x")
            )
            .await,
        Err(StoreError::NotFound)
    ));
}

/// A fresh, migrated store of one backend; the guard keeps its database
/// (a temporary SQLite file, or a PostgreSQL database made for the test).
enum Fresh {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres(gatehouse_store::testing::TestDatabase),
}

async fn fresh(backend: &str) -> (Arc<dyn Store>, Fresh) {
    let (url, guard) = if backend == "sqlite" {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/gatehouse.db", dir.path().display());
        (url, Fresh::Sqlite(dir))
    } else {
        let db = gatehouse_store::testing::TestDatabase::create()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        (db.url.clone(), Fresh::Postgres(db))
    };
    let store = gatehouse_store::connect(&url, &Default::default())
        .await
        .unwrap();
    assert_eq!(store.backend(), backend);
    store.migrate().await.unwrap();
    store.migrate().await.unwrap(); // idempotent
    store.ping().await.unwrap();
    (store, guard)
}

async fn done(store: Arc<dyn Store>, guard: Fresh) {
    drop(store);
    if let Fresh::Postgres(db) = guard {
        db.drop_now().await.unwrap();
    }
}

async fn units_of_work(store: &dyn Store) {
    let before = store.latest_change().await.unwrap();
    // Committed: everything at once, with each change's audit event and
    // change rows; the unit reads its own writes, nobody else sees them first.
    let unit = store.begin_unit().await.unwrap();
    let u = unit.store();
    let a = app("unit-a", &["a.unit.test"]);
    let b = app("unit-b", &["b.unit.test"]);
    u.create_app(&a, &audit(Some(a.id), "app.created"))
        .await
        .unwrap();
    assert!(
        u.get_app(a.id).await.unwrap().is_some(),
        "reads its own writes"
    );
    assert!(
        store.get_app(a.id).await.unwrap().is_none(),
        "invisible outside"
    );
    u.create_app(&b, &audit(Some(b.id), "app.created"))
        .await
        .unwrap();
    u.put_app_setting(
        a.id,
        "access",
        &serde_json::json!({"default_role": "member"}),
        now(),
        &audit(Some(a.id), "access.updated"),
    )
    .await
    .unwrap();
    drop(u);
    unit.commit().await.unwrap();
    assert!(store.get_app(a.id).await.unwrap().is_some());
    assert!(store.get_app(b.id).await.unwrap().is_some());
    assert!(
        store
            .get_app_setting(a.id, "access")
            .await
            .unwrap()
            .is_some()
    );
    let events = store
        .list_audit(&AuditQuery {
            action_prefix: Some("app.created".into()),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 2);
    let changed: Vec<Changed> = store
        .changes_since(before, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.what)
        .collect();
    assert!(changed.contains(&Changed::App(a.id)) && changed.contains(&Changed::App(b.id)));

    // Units run one at a time (two applies never interleave): a second one
    // begins only when the first has ended.
    let first = store.begin_unit().await.unwrap();
    let second = store.begin_unit();
    tokio::pin!(second);
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(300), &mut second)
            .await
            .is_err(),
        "a second unit waits for the first"
    );
    first.commit().await.unwrap();
    let second = tokio::time::timeout(std::time::Duration::from_secs(5), second)
        .await
        .expect("then it begins")
        .unwrap();
    drop(second);

    // Dropped without a commit: nothing.
    let unit = store.begin_unit().await.unwrap();
    let c = app("unit-c", &["c.unit.test"]);
    unit.store()
        .create_app(&c, &audit(Some(c.id), "app.created"))
        .await
        .unwrap();
    drop(unit);
    assert!(store.get_app(c.id).await.unwrap().is_none());

    // One failed change fails the unit: it takes no more, and its commit
    // writes nothing of what came before.
    let unit = store.begin_unit().await.unwrap();
    let u = unit.store();
    let d = app("unit-d", &["d.unit.test"]);
    u.create_app(&d, &audit(Some(d.id), "app.created"))
        .await
        .unwrap();
    let taken = app("unit-a", &["other.unit.test"]);
    assert!(matches!(
        u.create_app(&taken, &audit(Some(taken.id), "app.created"))
            .await,
        Err(StoreError::Conflict { field: "slug" })
    ));
    assert!(matches!(u.get_app(d.id).await, Err(StoreError::Aborted(_))));
    drop(u);
    assert!(matches!(unit.commit().await, Err(StoreError::Aborted(_))));
    assert!(store.get_app(d.id).await.unwrap().is_none());
    assert!(store.get_app_by_slug(&d.slug).await.unwrap().is_none());

    // A write that changes nothing does not fail the unit, and the unit's
    // change rows are taken at its commit, not before.
    let unit = store.begin_unit().await.unwrap();
    let u = unit.store();
    let mark = u.latest_change().await.unwrap();
    let revoked = u
        .revoke_session_by_hash(&h(0x77), now(), &audit(None, "signout"))
        .await
        .unwrap();
    assert!(!revoked, "no such session");
    let e = app("unit-e", &["e.unit.test"]);
    u.create_app(&e, &audit(Some(e.id), "app.created"))
        .await
        .unwrap();
    assert_eq!(u.latest_change().await.unwrap(), mark, "no change row yet");
    drop(u);
    unit.commit().await.unwrap();
    assert!(store.get_app(e.id).await.unwrap().is_some());
    assert!(store.latest_change().await.unwrap() > mark);

    // Dropping the unit rolls back at once, even while a copy of its store
    // is still held (on SQLite the write lock is free again).
    let unit = store.begin_unit().await.unwrap();
    let held = unit.store();
    let f = app("unit-f", &["f.unit.test"]);
    held.create_app(&f, &audit(Some(f.id), "app.created"))
        .await
        .unwrap();
    drop(unit);
    let next = tokio::time::timeout(Duration::from_secs(5), store.begin_unit())
        .await
        .expect("the dropped unit's write lock is released")
        .unwrap();
    drop(next);
    assert!(store.get_app(f.id).await.unwrap().is_none());
    assert!(matches!(
        held.get_app(f.id).await,
        Err(StoreError::Aborted(_))
    ));
    drop(held);

    // A unit holds no other unit.
    let unit = store.begin_unit().await.unwrap();
    assert!(matches!(
        unit.store().begin_unit().await,
        Err(StoreError::Aborted(_))
    ));
}

/// Provisioning: SCIM tokens, users SCIM writes (only its own tags and
/// columns), tombstones, groups with members by source, renames that move
/// grants, and a sign-in write that keeps what provisioning did.
async fn provisioning(store: &dyn Store) {
    use gatehouse_core::access::{Grant, Role, Subject};
    use gatehouse_core::group::{Group, GroupMember};
    use gatehouse_core::ids::GrantId;
    use gatehouse_core::{GroupId, ScimTokenId};
    use gatehouse_store::{MemberChange, ScimTokenRecord};

    let a = app("prov", &["prov.localhost"]);
    let other = app("prov-other", &["prov-other.localhost"]);
    for x in [&a, &other] {
        store
            .create_app(x, &audit(Some(x.id), "app.created"))
            .await
            .unwrap();
    }

    // Tokens: found by hash while not revoked; revoked only in their app.
    let tok = ScimTokenRecord {
        id: ScimTokenId::new(),
        app_id: a.id,
        name: "okta".into(),
        token_hash: h(0x51),
        created_at: now(),
        last_used_at: None,
        revoked_at: None,
    };
    store
        .create_scim_token(&tok, &audit(Some(a.id), "scim_token.created"))
        .await
        .unwrap();
    assert_eq!(
        store
            .find_scim_token(&h(0x51))
            .await
            .unwrap()
            .map(|t| t.app_id),
        Some(a.id)
    );
    store.touch_scim_token(tok.id, now()).await.unwrap();
    assert!(
        store.list_scim_tokens(a.id).await.unwrap()[0]
            .last_used_at
            .is_some()
    );
    assert!(matches!(
        store
            .revoke_scim_token(other.id, tok.id, now(), &audit(None, "x"))
            .await,
        Err(StoreError::NotFound)
    ));
    store
        .revoke_scim_token(
            a.id,
            tok.id,
            now(),
            &audit(Some(a.id), "scim_token.revoked"),
        )
        .await
        .unwrap();
    assert!(store.find_scim_token(&h(0x51)).await.unwrap().is_none());
    assert!(
        store.list_scim_tokens(a.id).await.unwrap()[0]
            .revoked_at
            .is_some()
    );

    // A provisioned user, with a SCIM tag; a signed-in user beside it.
    let mut p = User {
        user_name: "Pia".into(),
        external_id: Some("ext-pia".into()),
        provisioned: true,
        tags: vec![Tag {
            key: gatehouse_core::user::TagKey::parse("dept", "key").unwrap(),
            value: "R&D".into(),
            source: TagSource::Scim,
        }],
        groups: Vec::new(),
        identities: Vec::new(),
        ..user(a.id, "pia@example.com")
    };
    store
        .provision_user(&p, &audit(Some(a.id), "scim.user.created"))
        .await
        .unwrap();
    let signed_in = User {
        groups: Vec::new(),
        ..user(a.id, "sam@example.com")
    };
    store
        .create_user(&signed_in, None, &audit(Some(a.id), "user.created"))
        .await
        .unwrap();
    assert_eq!(
        store
            .find_user_by_user_name(a.id, "pia")
            .await
            .unwrap()
            .map(|u| u.id),
        Some(p.id)
    );
    assert_eq!(
        store
            .find_user_by_user_name(a.id, "sam@example.com")
            .await
            .unwrap()
            .map(|u| u.id),
        Some(signed_in.id),
        "a user made at sign-in has the e-mail as userName"
    );
    assert!(matches!(
        store
            .provision_user(
                &User {
                    user_name: "PIA".into(),
                    ..user(a.id, "other@example.com")
                },
                &audit(None, "x"),
            )
            .await,
        Err(StoreError::Conflict { field: "user_name" })
    ));
    assert_eq!(
        store
            .find_users_by_external_id(a.id, "ext-pia")
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(store.scim_users(a.id).await.unwrap().len(), 2);

    // A group with SCIM members; a claim membership of the same group
    // (through a sign-in write) stays beside it.
    let t = now();
    let g = Group {
        id: GroupId::new(),
        app_id: a.id,
        display_name: "eng".into(),
        external_id: Some("grp-1".into()),
        provisioned: true,
        version: 0,
        members: vec![
            GroupMember {
                user: p.id,
                source: GroupSource::Scim,
            },
            // Another application's user is never made a member.
            GroupMember {
                user: UserId::new(),
                source: GroupSource::Scim,
            },
        ],
        created_at: t,
        updated_at: t,
    };
    store
        .create_group(&g, &audit(Some(a.id), "scim.group.created"))
        .await
        .unwrap();
    let mut sam = store.get_user(a.id, signed_in.id).await.unwrap().unwrap();
    sam.set_groups_from(GroupSource::Claim, &["eng".to_owned(), "ops".to_owned()]);
    store
        .update_user(
            &sam,
            PasswordChange::Keep,
            &audit(Some(a.id), "user.updated"),
        )
        .await
        .unwrap();
    let got = store.get_group(a.id, g.id).await.unwrap().unwrap();
    assert_eq!(got.members.len(), 2, "{:?}", got.members);
    assert_eq!(
        store
            .group_names_by_external_id(a.id, &["grp-1".into(), "nope".into()])
            .await
            .unwrap(),
        vec![("grp-1".to_owned(), "eng".to_owned())]
    );
    assert!(matches!(
        store
            .create_group(
                &Group {
                    id: GroupId::new(),
                    ..g.clone()
                },
                &audit(None, "x")
            )
            .await,
        Err(StoreError::Conflict {
            field: "display_name"
        })
    ));

    // Provisioning adds Sam; a later sign-in write of Sam (claims only)
    // keeps the SCIM membership and the SCIM tag provisioning sets.
    store
        .update_group(
            &got,
            MemberChange::Add(&[signed_in.id]),
            false,
            &audit(Some(a.id), "scim.group.patched"),
        )
        .await
        .unwrap();
    let mut sam = store.get_user(a.id, signed_in.id).await.unwrap().unwrap();
    assert_eq!(
        sam.groups,
        vec![
            Membership::new("eng", GroupSource::Claim),
            Membership::new("eng", GroupSource::Scim),
            Membership::new("ops", GroupSource::Claim),
        ]
    );
    sam.set_groups_from(GroupSource::Claim, &[]);
    // A stale copy's SCIM rows are not the sign-in's to write.
    sam.groups.retain(|m| m.source != GroupSource::Scim);
    store
        .update_user(
            &sam,
            PasswordChange::Keep,
            &audit(Some(a.id), "user.updated"),
        )
        .await
        .unwrap();
    let sam = store.get_user(a.id, signed_in.id).await.unwrap().unwrap();
    assert_eq!(sam.groups, vec![Membership::new("eng", GroupSource::Scim)]);

    // A grant of the group follows its rename.
    let grant = Grant {
        id: GrantId::new(),
        app_id: a.id,
        role: Role::parse("member", "role").unwrap(),
        subject: Subject::Group("eng".into()),
        created_at: now(),
    };
    store
        .create_grant(&grant, &audit(Some(a.id), "grant.created"))
        .await
        .unwrap();
    let mark = store.latest_change().await.unwrap();
    let renamed = Group {
        display_name: "engineering".into(),
        updated_at: now(),
        ..store.get_group(a.id, g.id).await.unwrap().unwrap()
    };
    let moved = store
        .update_group(
            &renamed,
            MemberChange::Remove(&[p.id]),
            true,
            &audit(Some(a.id), "scim.group.patched"),
        )
        .await
        .unwrap();
    assert_eq!(moved, 1);
    assert_eq!(
        store.list_grants(a.id).await.unwrap()[0].subject,
        Subject::Group("engineering".into())
    );
    let changes: Vec<Changed> = store
        .changes_since(mark, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.what)
        .collect();
    assert!(changes.contains(&Changed::Grants(a.id)));
    assert!(
        changes.contains(&Changed::User(signed_in.id)),
        "members of a renamed group changed"
    );
    assert!(
        changes.contains(&Changed::User(p.id)),
        "a removed member changed"
    );
    let got = store.get_group(a.id, g.id).await.unwrap().unwrap();
    assert_eq!(got.member_ids(), vec![signed_in.id]);
    store
        .update_group(
            &got,
            MemberChange::Replace(&[p.id]),
            false,
            &audit(Some(a.id), "scim.group.replaced"),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .get_group(a.id, g.id)
            .await
            .unwrap()
            .unwrap()
            .member_ids(),
        vec![p.id]
    );

    // A provisioning write over a version that another write changed meanwhile
    // is refused (the caller reads again): a stale copy never re-activates.
    let stale = store.get_user(a.id, p.id).await.unwrap().unwrap();
    let mut first = stale.clone();
    first.first_name = "First".into();
    first.email_verified = Some(false);
    store
        .update_provisioned_user(&first, &audit(Some(a.id), "scim.user.patched"))
        .await
        .unwrap();
    let read = store.get_user(a.id, p.id).await.unwrap().unwrap();
    assert_eq!(
        (read.first_name.as_str(), read.email_verified),
        ("First", Some(false))
    );
    assert!(matches!(
        store
            .update_provisioned_user(&stale, &audit(Some(a.id), "scim.user.patched"))
            .await,
        Err(StoreError::Conflict { field: "version" })
    ));
    let g_now = store.get_group(a.id, g.id).await.unwrap().unwrap();
    let mut rename = g_now.clone();
    rename.display_name = "eng-2".into();
    store
        .update_group(
            &rename,
            MemberChange::Keep,
            true,
            &audit(Some(a.id), "scim.group.patched"),
        )
        .await
        .unwrap();
    let mut stale_rename = g_now.clone();
    stale_rename.display_name = "eng-3".into();
    assert!(matches!(
        store
            .update_group(&stale_rename, MemberChange::Keep, true, &audit(None, "x"))
            .await,
        Err(StoreError::Conflict { field: "version" })
    ));
    // Members alone need no version, and keep the newer name.
    store
        .update_group(
            &g_now,
            MemberChange::Add(&[signed_in.id]),
            false,
            &audit(Some(a.id), "scim.group.patched"),
        )
        .await
        .unwrap();
    let back = store.get_group(a.id, g.id).await.unwrap().unwrap();
    assert_eq!(back.display_name, "eng-2");
    let back = Group {
        display_name: "engineering".into(),
        ..back
    };
    store
        .update_group(
            &back,
            MemberChange::Replace(&[p.id]),
            true,
            &audit(Some(a.id), "scim.group.patched"),
        )
        .await
        .unwrap();

    // Deactivation ends sessions; SCIM's write keeps the other sources' tags.
    let s1 = session(a.id, p.id, h(0x61), Duration::from_secs(3600));
    store
        .create_session(&s1, &audit(Some(a.id), "signin.succeeded"))
        .await
        .unwrap();
    p = store.get_user(a.id, p.id).await.unwrap().unwrap();
    p.tags.push(Tag {
        key: gatehouse_core::user::TagKey::parse("dept", "key").unwrap(),
        value: "R&D".into(),
        source: TagSource::Admin,
    });
    store
        .update_user(&p, PasswordChange::Keep, &audit(Some(a.id), "user.updated"))
        .await
        .unwrap();
    let mut p = store.get_user(a.id, p.id).await.unwrap().unwrap();
    assert_eq!(
        p.tags.len(),
        2,
        "one key and value from two sources: {:?}",
        p.tags
    );
    p.scim_active = false;
    p.tags.retain(|t| t.source != TagSource::Scim);
    let ended = store
        .update_provisioned_user(&p, &audit(Some(a.id), "scim.user.patched"))
        .await
        .unwrap();
    assert_eq!(ended, vec![h(0x61)]);
    let p = store.get_user(a.id, p.id).await.unwrap().unwrap();
    assert!(!p.may_sign_in());
    assert_eq!(
        p.tags.iter().map(|t| t.source).collect::<Vec<_>>(),
        vec![TagSource::Admin]
    );

    // A tombstone: invisible to SCIM, drops SCIM memberships; a new user
    // with its userName replaces it.
    let mut p = p;
    p.deprovisioned_at = Some(now());
    store
        .update_provisioned_user(&p, &audit(Some(a.id), "scim.user.deleted"))
        .await
        .unwrap();
    assert_eq!(store.scim_users(a.id).await.unwrap().len(), 1);
    assert!(
        store
            .get_group(a.id, g.id)
            .await
            .unwrap()
            .unwrap()
            .members
            .is_empty()
    );
    assert!(
        store
            .get_user(a.id, p.id)
            .await
            .unwrap()
            .unwrap()
            .deprovisioned_at
            .is_some()
    );
    let again = User {
        user_name: "pia".into(),
        provisioned: true,
        ..user(a.id, "pia@example.com")
    };
    let again = User {
        identities: Vec::new(),
        groups: Vec::new(),
        ..again
    };
    store
        .provision_user(&again, &audit(Some(a.id), "scim.user.created"))
        .await
        .unwrap();
    assert!(
        store.get_user(a.id, p.id).await.unwrap().is_none(),
        "the tombstone is gone"
    );

    // Deleting a group takes provisioning's part: a group still held by
    // an administrator's membership stays, unprovisioned; one without goes.
    let mut sam = store.get_user(a.id, signed_in.id).await.unwrap().unwrap();
    sam.set_groups_from(GroupSource::Admin, &["engineering".to_owned()]);
    store
        .update_user(
            &sam,
            PasswordChange::Keep,
            &audit(Some(a.id), "user.updated"),
        )
        .await
        .unwrap();
    store
        .delete_group(a.id, g.id, &audit(Some(a.id), "scim.group.deleted"))
        .await
        .unwrap();
    let kept = store.get_group(a.id, g.id).await.unwrap().unwrap();
    assert!(!kept.provisioned && kept.external_id.is_none());
    assert_eq!(kept.member_ids(), vec![signed_in.id]);
    sam.set_groups_from(GroupSource::Admin, &[]);
    store
        .update_user(
            &sam,
            PasswordChange::Keep,
            &audit(Some(a.id), "user.updated"),
        )
        .await
        .unwrap();
    store
        .delete_group(a.id, g.id, &audit(Some(a.id), "scim.group.deleted"))
        .await
        .unwrap();
    assert!(store.get_group(a.id, g.id).await.unwrap().is_none());
    assert!(matches!(
        store.delete_group(a.id, g.id, &audit(None, "x")).await,
        Err(StoreError::NotFound)
    ));
    assert!(
        store
            .list_groups(a.id)
            .await
            .unwrap()
            .iter()
            .all(|x| x.id != g.id)
    );
}

/// One test per case per backend, each on a database of its own.
macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let (store, guard) = super::fresh("sqlite").await;
                    super::$case(&*store).await;
                    super::done(store, guard).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let (store, guard) = super::fresh("postgres").await;
                    super::$case(&*store).await;
                    super::done(store, guard).await;
                }
            )*
        }
    };
}

conformance!(
    apps,
    users_and_sessions,
    audit_tokens_changes,
    oidc_support,
    admins,
    grants_and_settings,
    units_of_work,
    provisioning,
);
