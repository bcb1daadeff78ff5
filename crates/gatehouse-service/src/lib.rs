//! The use cases of Gatehouse, shared by the admin API, the console and the
//! CLI so each operation exists once: creating and changing applications and
//! their SSO settings, users, sessions, admin tokens, local sign-in, and the
//! hot-path lookups (which application a host belongs to, whose session a
//! cookie is) served from memory.
//!
//! [`Gatehouse`] holds the store, the master keys, the clock and the caches.
//! Access decisions are a narrow handle of their own, [`Gatehouse::access`]
//! ([`access::Access`]); the other use cases are grouped by module.
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
pub mod refusals;
pub mod routing;
pub mod sessions;
#[cfg(test)]
mod tests;
pub mod users;

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use gatehouse_core::app::HostPattern;
use gatehouse_core::session::SessionPolicy;
use gatehouse_core::{Actor, AuditEvent, Clock};
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

/// The service layer: cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Gatehouse {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    keys: MasterKeys,
    clock: Arc<dyn Clock>,
    settings: Settings,
    routes: ArcSwap<Routes>,
    /// Tickets of routing reloads: the last handed out, the last installed.
    routes_ticket: std::sync::atomic::AtomicU64,
    routes_installed: std::sync::Mutex<u64>,
    sessions: cache::SessionCache,
    users: cache::UserCache,
    limiter: local_login::LoginLimiter,
    refusals: refusals::Refusals,
    feed: feed::FeedState,
    rp: gatehouse_oidc::RelyingParty,
    setup: console::SetupToken,
    assertions: assertion::AssertionCache,
    bearer: api_access::BearerCache,
}

impl std::fmt::Debug for Gatehouse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gatehouse")
            .field("backend", &self.inner.store.backend())
            .field("master_key", &self.inner.keys.active_kid())
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
        // Read the log position first, so no change made while loading is missed.
        let seq = store.latest_change().await?;
        let routes = Routes::load(
            &*store,
            &keys,
            &routing::console_app(&settings.admin_host, settings.admin_scheme),
            clock.now(),
        )
        .await?;
        let limiter = local_login::LoginLimiter::new(&settings);
        let fetch_policy = gatehouse_oidc::flight::Policy {
            max_stale: settings.idp_keys_max_age,
            ..gatehouse_oidc::flight::Policy::default()
        };
        let gh = Self {
            inner: Arc::new(Inner {
                store,
                keys,
                clock,
                settings,
                routes: ArcSwap::from_pointee(routes),
                routes_ticket: std::sync::atomic::AtomicU64::new(0),
                routes_installed: std::sync::Mutex::new(0),
                sessions: cache::SessionCache::new(100_000),
                users: cache::UserCache::new(50_000),
                limiter,
                refusals: refusals::Refusals::default(),
                feed: feed::FeedState::new(seq),
                rp: gatehouse_oidc::RelyingParty::with_policy(fetch_policy)
                    .map_err(|e| ServiceError::Internal(e.to_string()))?,
                setup: console::SetupToken::default(),
                assertions: assertion::AssertionCache::new(100_000),
                bearer: api_access::BearerCache::new(100_000),
            }),
        };
        if gh.routes().signer().is_none() {
            gh.ensure_assertion_keys().await?;
            gh.reload_routes().await?;
        }
        Ok(gh)
    }

    /// Access decisions for requests on application hosts.
    pub fn access(&self) -> access::Access<'_> {
        access::Access::new(&*self.inner.store, &*self.inner.clock, &self.inner.refusals)
    }

    /// The store (readiness checks, metrics).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// Live sessions held in this node's memory.
    pub fn cached_sessions(&self) -> usize {
        self.inner.sessions.live_count(self.now())
    }

    /// Write the audit event of a refused attempt from `source` when it
    /// starts a burst (see [`refusals`]); otherwise only count it. Returns
    /// whether it was written.
    pub(crate) async fn audit_refusal(
        &self,
        event: gatehouse_core::AuditEvent,
        source: &str,
        reason: &str,
    ) -> Result<bool, ServiceError> {
        let note =
            self.inner
                .refusals
                .note(event.app_id, source, reason, self.now().unix_timestamp());
        match note {
            refusals::Note::Write { repeated_before } => {
                let event = if repeated_before > 0 {
                    event.detail("repeated_before", repeated_before)
                } else {
                    event
                };
                self.inner.store.append_audit(&event).await?;
                Ok(true)
            }
            refusals::Note::Counted => Ok(false),
        }
    }

    /// The current time.
    pub fn now(&self) -> time::OffsetDateTime {
        self.inner.clock.now()
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The current routing snapshot (no lock, no database).
    pub fn routes(&self) -> arc_swap::Guard<Arc<Routes>> {
        self.inner.routes.load()
    }

    /// Reload the routing snapshot from the store. Reloads may overlap (a
    /// change made here and the change feed's): each takes a ticket before
    /// it reads, and a snapshot is installed only if no reload that started
    /// later has installed one already, so a slow reload that read the
    /// database before a change can never undo the change's own reload.
    pub async fn reload_routes(&self) -> Result<(), ServiceError> {
        let ticket = self
            .inner
            .routes_ticket
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        let console = routing::console_app(
            &self.inner.settings.admin_host,
            self.inner.settings.admin_scheme,
        );
        let routes =
            Routes::load(&*self.inner.store, &self.inner.keys, &console, self.now()).await?;
        let mut installed = self
            .inner
            .routes_installed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if ticket > *installed {
            *installed = ticket;
            self.inner.routes.store(Arc::new(routes));
        }
        Ok(())
    }

    /// The OpenID Connect relying party.
    pub fn rp(&self) -> &gatehouse_oidc::RelyingParty {
        &self.inner.rp
    }

    /// The master keys (sealing secrets).
    pub fn keys(&self) -> &MasterKeys {
        &self.inner.keys
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
