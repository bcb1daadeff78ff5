//! The use cases of Gatehouse, shared by the admin API, the console and the
//! CLI so each operation exists once: creating and changing applications and
//! their SSO settings, users, sessions, admin tokens, local sign-in, and the
//! hot-path lookups (which application a host belongs to, whose session a
//! cookie is) served from memory.
//!
//! [`Gatehouse`] builds the parts (the [`Shared`] store, keys, clock and
//! settings; the routing snapshot; the caches) and hands out narrow
//! handles, each in its own module and holding only what its use cases
//! need: [`Gatehouse::apps`] ([`apps::Apps`]), [`Gatehouse::access`]
//! ([`access::Access`]), [`Gatehouse::directory`] ([`users::Directory`]),
//! [`Gatehouse::sessions`] ([`sessions::Sessions`]),
//! [`Gatehouse::sign_in`] ([`oidc::SignIn`]), [`Gatehouse::provisioning`]
//! ([`provisioning::Provisioning`]), [`Gatehouse::bearer`]
//! ([`api_access::Bearer`]), [`Gatehouse::admin`] ([`admin::Admin`]) and
//! [`Gatehouse::assertions`] ([`assertion::Assertions`]).
//! Mutations go to the store (which writes the audit event and a change-log
//! row in the same transaction), then invalidate this node's caches at once;
//! other nodes follow through the change feed ([`feed`]). A cache fill never
//! installs a read that predates a revocation, and a routing reload never
//! replaces a newer one.
//!
//! The in-process tests of the use cases are in `src/tests/`: start there.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod access;
pub mod admin;
mod admin_sso;
pub mod api_access;
pub mod apply;
pub mod apps;
pub mod assertion;
pub mod audit;
mod console;
pub use console::AdminView;
mod cache;
pub mod error;
pub mod feed;
pub mod local_login;
pub mod oidc;
pub mod provisioning;
pub mod refusals;
pub mod routing;
pub mod sessions;
#[cfg(test)]
mod tests;
pub mod users;

use std::sync::Arc;
use std::time::Duration;

use gatehouse_core::app::HostPattern;
use gatehouse_core::session::SessionPolicy;
use gatehouse_core::{Actor, AppId, Application, AuditEvent, Clock};
use gatehouse_crypto::MasterKeys;
use gatehouse_store::Store;
use secrecy::SecretString;

pub use error::ServiceError;
pub use routing::{AppRuntime, Routes};
pub use sessions::{ActiveSession, ClientInfo, IssuedSession};

/// What a service call is done on behalf of: who, and the request's
/// correlation id (for the audit event).
#[derive(Debug, Clone)]
pub struct Context {
    /// Who.
    pub actor: Actor,
    /// The request's correlation id, if it came from a request.
    pub correlation_id: Option<String>,
}

impl Context {
    /// A context for the command line.
    pub fn cli() -> Self {
        Self {
            actor: Actor::Cli,
            correlation_id: None,
        }
    }

    /// An audit event for this context.
    pub fn event(
        &self,
        app: Option<gatehouse_core::AppId>,
        at: time::OffsetDateTime,
        action: &str,
    ) -> AuditEvent {
        AuditEvent::new(app, at, self.actor.clone(), action).correlated(self.correlation_id.clone())
    }
}

/// Settings of the service layer, from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Session lifetimes.
    pub session_policy: SessionPolicy,
    /// The host that serves `/admin` and `/api` (no application may use it).
    pub admin_host: HostPattern,
    /// How the console is reached (its generated URLs and cookies).
    pub admin_scheme: gatehouse_core::Scheme,
    /// The bootstrap admin token from the configuration, if any.
    pub admin_token: Option<SecretString>,
    /// How often the change feed is polled.
    pub feed_interval: Duration,
    /// How often last-use times of sessions are written to the database.
    pub session_flush_interval: Duration,
    /// Failed-or-not sign-in attempts allowed per account per minute.
    pub login_attempts_per_account: u32,
    /// Sign-in attempts allowed per client address per minute.
    pub login_attempts_per_ip: u32,
    /// The issuer (`iss`) of `X-Gatehouse-Assertion`: the instance's URL.
    pub assertion_issuer: String,
    /// How long cached sessions are served while the database does not answer.
    pub database_outage_grace: Duration,
    /// How long an IdP's last good keys and discovery document are used
    /// while fetching them again fails.
    pub idp_keys_max_age: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            session_policy: SessionPolicy::default(),
            admin_host: HostPattern::localhost(),
            admin_scheme: gatehouse_core::Scheme::Http,
            admin_token: None,
            feed_interval: Duration::from_millis(500),
            session_flush_interval: Duration::from_secs(15),
            login_attempts_per_account: 10,
            login_attempts_per_ip: 30,
            assertion_issuer: "http://localhost".to_owned(),
            database_outage_grace: Duration::from_secs(300),
            idp_keys_max_age: Duration::from_secs(24 * 3600),
        }
    }
}

/// What every use case reads: the store, the master keys, the clock and
/// the settings. Handles borrow it; nothing in it changes after start-up.
pub struct Shared {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) keys: Arc<MasterKeys>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) settings: Settings,
    /// Whether `store` belongs to a unit of work ([`Work`]): then nothing
    /// it reads may reach the shared routing snapshot before the commit.
    pub(crate) in_unit: bool,
}

impl Shared {
    /// The current time.
    pub(crate) fn now(&self) -> time::OffsetDateTime {
        self.clock.now()
    }

    /// An application from the store (the authoritative copy), or `NotFound`.
    pub(crate) async fn app(&self, id: AppId) -> Result<Application, ServiceError> {
        self.store
            .get_app(id)
            .await?
            .ok_or(ServiceError::NotFound("application"))
    }
}

/// The service layer: cheap to clone, shared by every request. It builds
/// the parts and hands out the handles; the use cases live on the handles.
#[derive(Clone)]
pub struct Gatehouse {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Shared,
    router: routing::Router,
    caches: cache::Caches,
    limiter: local_login::LoginLimiter,
    refusals: refusals::Refusals,
    feed: feed::FeedState,
    rp: gatehouse_oidc::RelyingParty,
    setup: console::SetupToken,
    assertions: assertion::AssertionCache,
    bearer: api_access::BearerCache,
    scim_limiter: provisioning::ScimLimiter,
}

impl std::fmt::Debug for Gatehouse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gatehouse")
            .field("backend", &self.inner.shared.store.backend())
            .field("master_key", &self.inner.shared.keys.active_kid())
            .finish_non_exhaustive()
    }
}

impl Gatehouse {
    /// Build the service layer over a migrated store and load the routing
    /// snapshot. Call [`Gatehouse::spawn_background`] to start the change
    /// feed and the session flusher.
    pub async fn new(
        store: Arc<dyn Store>,
        keys: MasterKeys,
        clock: Arc<dyn Clock>,
        settings: Settings,
    ) -> Result<Self, ServiceError> {
        let shared = Shared {
            store,
            keys: Arc::new(keys),
            clock,
            settings,
            in_unit: false,
        };
        // Read the log position first, so no change made while loading is missed.
        let seq = shared.store.latest_change().await?;
        let router = routing::Router::load(&shared).await?;
        let limiter = local_login::LoginLimiter::new(&shared.settings);
        let fetch_policy = gatehouse_oidc::flight::Policy {
            max_stale: shared.settings.idp_keys_max_age,
            ..gatehouse_oidc::flight::Policy::default()
        };
        let gh = Self {
            inner: Arc::new(Inner {
                shared,
                router,
                caches: cache::Caches::new(100_000, 50_000),
                limiter,
                refusals: refusals::Refusals::default(),
                feed: feed::FeedState::new(seq),
                rp: gatehouse_oidc::RelyingParty::with_policy(fetch_policy)
                    .map_err(|e| ServiceError::Internal(e.to_string()))?,
                setup: console::SetupToken::default(),
                assertions: assertion::AssertionCache::new(100_000),
                bearer: api_access::BearerCache::new(100_000),
                scim_limiter: provisioning::ScimLimiter::default(),
            }),
        };
        if gh.routes().signer().is_none() {
            gh.assertions().ensure_keys().await?;
            gh.reload_routes().await?;
        }
        Ok(gh)
    }

    /// Applications: their fields, hosts and SSO settings.
    pub fn apps(&self) -> apps::Apps<'_> {
        let i = &*self.inner;
        apps::Apps {
            shared: &i.shared,
            router: &i.router,
            caches: &i.caches,
            rp: &i.rp,
        }
    }

    /// Access: decisions for requests on application hosts, grants and
    /// access policies.
    pub fn access(&self) -> access::Access<'_> {
        let i = &*self.inner;
        access::Access {
            shared: &i.shared,
            router: &i.router,
            refusals: &i.refusals,
        }
    }

    /// The directory: users of the applications.
    pub fn directory(&self) -> users::Directory<'_> {
        let i = &*self.inner;
        users::Directory {
            shared: &i.shared,
            caches: &i.caches,
        }
    }

    /// Sessions of application users: issuing, checking, ending, listing.
    pub fn sessions(&self) -> sessions::Sessions<'_> {
        let i = &*self.inner;
        sessions::Sessions {
            shared: &i.shared,
            caches: &i.caches,
            router: &i.router,
            feed: &i.feed,
            rp: &i.rp,
        }
    }

    /// Signing in and out: OIDC, local passwords, logout, back-channel logout.
    pub fn sign_in(&self) -> oidc::SignIn<'_> {
        let i = &*self.inner;
        oidc::SignIn {
            shared: &i.shared,
            caches: &i.caches,
            router: &i.router,
            feed: &i.feed,
            rp: &i.rp,
            refusals: &i.refusals,
            limiter: &i.limiter,
        }
    }

    /// The bearer-token settings of applications.
    pub fn api_access(&self) -> api_access::ApiAccessSettings<'_> {
        let i = &*self.inner;
        api_access::ApiAccessSettings {
            shared: &i.shared,
            router: &i.router,
        }
    }

    /// API access with bearer tokens: the token check of the request path.
    pub fn bearer(&self) -> api_access::Bearer<'_> {
        let i = &*self.inner;
        api_access::Bearer {
            shared: &i.shared,
            caches: &i.caches,
            feed: &i.feed,
            rp: &i.rp,
            tokens: &i.bearer,
        }
    }

    /// Administrators: tokens, console accounts and sessions, admin SSO,
    /// the audit log.
    pub fn admin(&self) -> admin::Admin<'_> {
        let i = &*self.inner;
        admin::Admin {
            shared: &i.shared,
            router: &i.router,
            rp: &i.rp,
            refusals: &i.refusals,
            setup: &i.setup,
            limiter: &i.limiter,
        }
    }

    /// Provisioning (SCIM 2.0): SCIM requests, SCIM tokens, provisioning settings.
    pub fn provisioning(&self) -> provisioning::Provisioning<'_> {
        let i = &*self.inner;
        provisioning::Provisioning {
            shared: &i.shared,
            router: &i.router,
            caches: &i.caches,
            limiter: &i.scim_limiter,
        }
    }

    /// The identity assertions (`X-Gatehouse-Assertion`) and their keys.
    pub fn assertions(&self) -> assertion::Assertions<'_> {
        let i = &*self.inner;
        assertion::Assertions {
            shared: &i.shared,
            router: &i.router,
            cache: &i.assertions,
        }
    }

    /// Begin a unit of work: several use cases in one transaction (see
    /// [`Work`]).
    pub async fn work(&self) -> Result<Work<'_>, ServiceError> {
        let unit = self.inner.shared.store.begin_unit().await?;
        let s = &self.inner.shared;
        let shared = Shared {
            store: unit.store(),
            keys: s.keys.clone(),
            clock: s.clock.clone(),
            settings: s.settings.clone(),
            in_unit: true,
        };
        Ok(Work {
            gh: self,
            shared,
            caches: cache::Caches::new(1, 1),
            unit,
        })
    }

    /// The store (readiness checks, metrics).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.shared.store
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.shared.clock
    }

    /// The current time.
    pub fn now(&self) -> time::OffsetDateTime {
        self.inner.shared.now()
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.inner.shared.settings
    }

    /// The users changed from now on (on this node or, through the change
    /// feed, another), for long-lived connections to check whether their
    /// user may still be signed in ([`Gatehouse::still_signed_in`]). A
    /// receiver that falls behind gets `Lagged` and should check.
    pub fn user_changes(&self) -> tokio::sync::broadcast::Receiver<gatehouse_core::UserId> {
        self.inner.caches.user_changes.subscribe()
    }

    /// Whether `user` of `app` may still be signed in: not deleted, not
    /// disabled, not deprovisioned (read through the user cache). When the
    /// database does not answer, the answer is yes (as for cached sessions).
    pub async fn still_signed_in(&self, app: AppId, user: gatehouse_core::UserId) -> bool {
        match self
            .inner
            .caches
            .user(&*self.inner.shared.store, app, user)
            .await
        {
            Ok(Some(u)) => u.may_sign_in(),
            Ok(None) => false,
            Err(e) => {
                tracing::warn!(error = %e, "cannot check a connection's user; keeping it");
                true
            }
        }
    }

    /// Live sessions held in this node's memory.
    pub fn cached_sessions(&self) -> usize {
        self.inner.caches.sessions.live_count(self.now())
    }

    /// The current routing snapshot (no lock, no database).
    pub fn routes(&self) -> arc_swap::Guard<Arc<Routes>> {
        self.inner.router.current()
    }

    /// Reload the routing snapshot from the store (see [`routing::Router`]).
    pub async fn reload_routes(&self) -> Result<(), ServiceError> {
        self.inner.router.reload(&self.inner.shared).await
    }

    /// The OpenID Connect relying party.
    pub fn rp(&self) -> &gatehouse_oidc::RelyingParty {
        &self.inner.rp
    }

    /// Start the background tasks: change feed, session last-use flusher,
    /// purge of ended sessions. They stop when `shutdown` resolves.
    pub fn spawn_background(
        &self,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        vec![
            tokio::spawn(feed::run(self.clone(), shutdown.clone())),
            tokio::spawn(sessions::run_flusher(self.clone(), shutdown.clone())),
            tokio::spawn(sessions::run_purger(self.clone(), shutdown)),
        ]
    }
}

/// Several use cases in one transaction: the handles of a unit of work
/// validate, audit and write exactly as the plain ones do, but into one
/// transaction, whose writes nobody sees before [`Work::commit`]. Dropped
/// without a commit it changes nothing; one failed write fails it whole.
/// The routing snapshot and this node's caches follow at the commit (other
/// nodes through the change feed, as for any change). Applications as code
/// apply a file this way.
pub struct Work<'g> {
    gh: &'g Gatehouse,
    shared: Shared,
    /// What the unit's handles invalidate: a cache of their own, so that
    /// nothing is dropped from (or marked gone in) this node's caches
    /// before the commit; the commit applies the unit's change rows to them.
    caches: cache::Caches,
    unit: Box<dyn gatehouse_store::StoreUnit>,
}

impl Work<'_> {
    /// Applications, in this unit.
    pub fn apps(&self) -> apps::Apps<'_> {
        let i = &*self.gh.inner;
        apps::Apps {
            shared: &self.shared,
            router: &i.router,
            caches: &self.caches,
            rp: &i.rp,
        }
    }

    /// Grants and access policies, in this unit.
    pub fn access(&self) -> access::Access<'_> {
        let i = &*self.gh.inner;
        access::Access {
            shared: &self.shared,
            router: &i.router,
            refusals: &i.refusals,
        }
    }

    /// Users, in this unit.
    pub fn directory(&self) -> users::Directory<'_> {
        users::Directory {
            shared: &self.shared,
            caches: &self.caches,
        }
    }

    /// Bearer-token settings, in this unit (no token checks: a check
    /// fills this node's caches, which must never see uncommitted users).
    pub fn api_access(&self) -> api_access::ApiAccessSettings<'_> {
        api_access::ApiAccessSettings {
            shared: &self.shared,
            router: &self.gh.inner.router,
        }
    }

    /// Provisioning settings, in this unit (SCIM requests are never part
    /// of a unit).
    pub fn provisioning(&self) -> provisioning::Provisioning<'_> {
        let i = &*self.gh.inner;
        provisioning::Provisioning {
            shared: &self.shared,
            router: &i.router,
            caches: &self.caches,
            limiter: &i.scim_limiter,
        }
    }

    /// Commit every change of the unit, then bring this node's routing
    /// snapshot and caches up to date with them. Once the commit succeeded
    /// this answers `Ok`: if catching up fails, the change feed does it at
    /// its next read (a caller must not retry what is written).
    pub async fn commit(self) -> Result<(), ServiceError> {
        let gh = self.gh;
        drop(self.shared);
        self.unit.commit().await?;
        if let Err(e) = gh.poll_changes().await {
            tracing::warn!(error = %e, "a unit of work was committed; the change feed will apply it");
        }
        if let Err(e) = gh.reload_routes().await {
            tracing::warn!(error = %e, "a unit of work was committed; the routing snapshot follows at the next change");
        }
        Ok(())
    }
}
