//! In-process tests of the use cases: a real [`Gatehouse`] on a SQLite
//! database in memory (a file on `/dev/shm`, so it behaves as the product's
//! database does: WAL, busy timeout; SQLite's shared-cache `:memory:` mode
//! answers concurrent writers with "table is locked" instead), with the
//! manual clock. Each test gets its own
//! database. These tests start where the protocol has been checked: mapped
//! claims, a session cookie, a user. The handles driven against the real
//! test IdP (refresh, back-channel logout, bearer tokens) are in
//! `gatehouse-testkit/tests/e2e/handles.rs`, next to the end-to-end suite
//! that owns the IdP and the browser.

mod access;
mod apps;
mod feed;
mod local_login;
mod provisioning;
mod sessions;
mod sign_in;
mod users;

use std::sync::Arc;
use std::time::Duration;

use gatehouse_core::claims::mapping::MappedIdentity;
use gatehouse_core::user::{Email, Tag, TagSource, User};
use gatehouse_core::{AppId, Application, AuditEvent, ManualClock};
use gatehouse_crypto::{MasterKey, MasterKeys};
use gatehouse_store::{AuditQuery, Store};
use secrecy::SecretString;

use crate::apps::NewApp;
use crate::oidc::users::Link;
use crate::users::NewUser;
use crate::{AppRuntime, Context, Gatehouse, Settings};

/// One Gatehouse on a fresh in-memory database.
pub(crate) struct Harness {
    pub gh: Gatehouse,
    pub clock: Arc<ManualClock>,
    pub store: Arc<dyn Store>,
    pub keys_b64: SecretString,
    _db: Option<Arc<tempfile::TempDir>>,
}

/// A fresh SQLite database in memory (on tmpfs where there is one) and the
/// guard that removes it.
fn memory_db() -> (String, tempfile::TempDir) {
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .unwrap_or_else(|e| panic!("{e}"));
    (
        format!("sqlite://{}/gatehouse.db", dir.path().display()),
        dir,
    )
}

/// The input of an application on `<slug>.localhost`.
pub(crate) fn new_app(slug: &str) -> NewApp {
    NewApp {
        name: format!("App {slug}"),
        slug: Some(slug.to_owned()),
        hosts: vec![format!("{slug}.localhost")],
        upstream_url: Some("http://127.0.0.1:9/".to_owned()),
        ..NewApp::default()
    }
}

pub(crate) fn ctx() -> Context {
    Context::cli()
}

impl Harness {
    pub async fn new() -> Self {
        Self::with_settings(Settings::default()).await
    }

    pub async fn with_settings(settings: Settings) -> Self {
        let (url, dir) = memory_db();
        let store = gatehouse_store::connect(&url, &Default::default())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        store.migrate().await.unwrap_or_else(|e| panic!("{e}"));
        let keys_b64 = MasterKey::generate_base64().unwrap_or_else(|e| panic!("{e}"));
        let mut h = Self::on(store, keys_b64, settings).await;
        h._db = Some(Arc::new(dir));
        h
    }

    /// A second node on the same database (the change feed's tests).
    pub async fn on(store: Arc<dyn Store>, keys_b64: SecretString, settings: Settings) -> Self {
        let key = MasterKey::from_base64(&keys_b64).unwrap_or_else(|e| panic!("{e}"));
        let clock = Arc::new(ManualClock::new());
        let gh = Gatehouse::new(
            store.clone(),
            MasterKeys::new(key, vec![]),
            clock.clone(),
            settings,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        Self {
            gh,
            clock,
            store,
            keys_b64,
            _db: None,
        }
    }

    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// Disable a user (as an administrator would).
    pub async fn disable(&self, app: AppId, user: gatehouse_core::UserId) {
        self.gh
            .directory()
            .update(
                app,
                user,
                crate::users::UserPatch {
                    status: Some(gatehouse_core::user::UserStatus::Disabled),
                    ..crate::users::UserPatch::default()
                },
                &ctx(),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// An application on `<slug>.localhost`.
    pub async fn app(&self, slug: &str) -> Application {
        self.gh
            .apps()
            .create(new_app(slug), &ctx())
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// The application as the request path sees it now.
    pub fn rt(&self, app: AppId) -> Arc<AppRuntime> {
        self.gh
            .routes()
            .get(app)
            .cloned()
            .unwrap_or_else(|| panic!("{app} is not in the routing snapshot"))
    }

    /// A local user, with a password when one is given.
    pub async fn user(&self, app: AppId, email: &str, password: Option<&str>) -> User {
        self.gh
            .directory()
            .create(
                app,
                NewUser {
                    email: email.to_owned(),
                    first_name: "Test".to_owned(),
                    password: password.map(|p| SecretString::from(p.to_owned())),
                    ..NewUser::default()
                },
                &ctx(),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// A session for `user`, as a sign-in issues it: its cookie value and id.
    pub async fn session_for(
        &self,
        app: &Application,
        user: &User,
    ) -> (String, gatehouse_core::SessionId) {
        let issued = self
            .gh
            .sessions()
            .create(
                app,
                user,
                gatehouse_core::session::SignInMethod::Password,
                &crate::sessions::ClientInfo::default(),
                crate::sessions::IdpSessionData::default(),
                &ctx(),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        (
            secrecy::ExposeSecret::expose_secret(&issued.token).to_owned(),
            issued.id,
        )
    }

    /// Whether `cookie` is a live session of `app` on this node.
    pub async fn live(&self, app: AppId, cookie: &str) -> bool {
        self.gh
            .sessions()
            .lookup(app, cookie)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_some()
    }

    /// An IdP sign-in of `sub` at the test issuer, mapped to `m`, that must succeed.
    pub async fn idp_user(&self, app: AppId, sub: &str, m: &MappedIdentity) -> User {
        self.gh
            .directory()
            .sign_in_user(
                app,
                &gatehouse_core::user::Identity::of(&iss(), sub),
                m,
                m.email_verified,
                Link::default(),
                &ctx(),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// The audit events of `app` whose action starts with `action`, newest first.
    pub async fn audit(&self, app: AppId, action: &str) -> Vec<AuditEvent> {
        self.store
            .list_audit(&AuditQuery {
                app_id: Some(app),
                action_prefix: Some(action.to_owned()),
                limit: 100,
                ..AuditQuery::default()
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

/// The issuer of the IdP sign-ins in these tests.
pub(crate) const ISS: &str = "https://idp.example";

/// [`ISS`] parsed.
pub(crate) fn iss() -> gatehouse_core::sso::IssuerUrl {
    gatehouse_core::sso::IssuerUrl::parse(ISS, "issuer").unwrap_or_else(|e| panic!("{e}"))
}

/// What an IdP's claims map to.
pub(crate) fn mapped(email: &str) -> MappedIdentity {
    MappedIdentity {
        email: Email::parse(email).unwrap_or_else(|e| panic!("{e}")),
        email_verified: Some(true),
        first_name: "Ana".to_owned(),
        last_name: "Silva".to_owned(),
        tags: Vec::new(),
        groups: None,
        resolutions: Vec::new(),
    }
}

pub(crate) fn idp_tag(key: &str, value: &str) -> Tag {
    Tag {
        key: gatehouse_core::user::TagKey::parse(key, "key").unwrap_or_else(|e| panic!("{e}")),
        value: value.into(),
        source: TagSource::Idp,
    }
}
