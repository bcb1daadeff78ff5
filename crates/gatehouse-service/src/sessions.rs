//! Sessions: issuing them at sign-in, finding the one behind a cookie on
//! every request (from memory), and ending them (sign-out, revocation,
//! expiry). Last-use times are kept in memory and written in batches.

use gatehouse_core::session::SignInMethod;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_core::session::SessionState;
use gatehouse_core::user::User;
use gatehouse_core::{AppId, Application, SessionId, TokenHash, UserId};
use gatehouse_crypto::token;
use gatehouse_store::SessionRecord;
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;

use crate::cache::{Cached, LiveSession, millis};
use crate::{Context, Gatehouse, ServiceError};

/// How long "no such session" is remembered for a cookie before asking the store again.
const GONE_TTL_MS: i64 = 60_000;

/// Who is asking, as far as the request tells.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// The client's address.
    pub ip: Option<String>,
    /// The `User-Agent` header (truncated).
    pub user_agent: Option<String>,
    /// The request's correlation id.
    pub correlation_id: Option<String>,
}

impl ClientInfo {
    /// A session starting `now` for this client.
    pub(crate) fn session(
        &self,
        token_hash: TokenHash,
        method: SignInMethod,
        now: OffsetDateTime,
        lifetime: Duration,
    ) -> gatehouse_store::SessionBase {
        gatehouse_store::SessionBase::new(
            token_hash,
            method,
            now,
            lifetime,
            self.ip.clone(),
            self.user_agent.clone(),
        )
    }
}

/// A session just issued: the cookie value is shown once, here.
#[derive(Debug)]
pub struct IssuedSession {
    /// The cookie value (256 random bits).
    pub token: SecretString,
    /// The public id.
    pub id: SessionId,
    /// The absolute end (for the cookie's lifetime).
    pub expires_at: OffsetDateTime,
}

/// Tokens from the IdP to keep with an OIDC session (already sealed).
#[derive(Debug, Clone, Default)]
pub struct IdpSessionData {
    /// The issuer.
    pub issuer: Option<String>,
    /// The IdP's `sid`.
    pub sid: Option<String>,
    /// The ID token, sealed.
    pub id_token_sealed: Option<gatehouse_core::Sealed>,
    /// The refresh token, sealed.
    pub refresh_token_sealed: Option<gatehouse_core::Sealed>,
    /// When the tokens expire.
    pub token_expires_at: Option<OffsetDateTime>,
}

/// When a cached session was last used (its in-memory time, newer than the
/// stored one until the next batched write).
fn last_seen(l: &LiveSession) -> OffsetDateTime {
    let ms = l.last_seen_ms.load(std::sync::atomic::Ordering::Relaxed);
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(l.record.base.last_seen_at)
}

/// What memory alone says of a session cookie ([`Sessions::peek`]).
#[derive(Debug)]
pub enum Peek {
    /// A valid session.
    Active(ActiveSession),
    /// It signs nobody in.
    Nobody,
    /// Only [`Sessions::lookup`] can tell.
    Unknown,
}

/// A valid session behind a request's cookie.
#[derive(Debug, Clone)]
pub struct ActiveSession {
    /// The session's public id.
    pub id: SessionId,
    /// The signed-in user.
    pub user: Arc<User>,
    /// How the user signed in.
    pub method: SignInMethod,
    /// When the session started.
    pub created_at: OffsetDateTime,
}

/// Sessions of application users: issuing one after a sign-in, finding the
/// one behind a cookie (from memory after the first request; refreshed at
/// the IdP when its tokens expire), ending and listing them. Holds the
/// store, the caches, the routing snapshot and the relying party (refresh),
/// and the outage state (cached sessions are served for a grace period).
pub struct Sessions<'a> {
    pub(crate) shared: &'a crate::Shared,
    pub(crate) caches: &'a crate::cache::Caches,
    pub(crate) router: &'a crate::routing::Router,
    pub(crate) feed: &'a crate::feed::FeedState,
    pub(crate) rp: &'a gatehouse_oidc::RelyingParty,
}

impl Sessions<'_> {
    /// Issue a session for `user` after a successful sign-in and record the
    /// sign-in (audit `signin.succeeded`).
    #[tracing::instrument(level = "info", skip_all, fields(app = %app.slug, user = %user.id), err(level = "debug"))]
    pub async fn create(
        &self,
        app: &Application,
        user: &User,
        method: SignInMethod,
        client: &ClientInfo,
        idp: IdpSessionData,
        ctx: &Context,
    ) -> Result<IssuedSession, ServiceError> {
        let now = self.shared.now();
        let policy = self.shared.settings.session_policy;
        let secret = token::random_token(32);
        let key = token::lookup_key(secret.expose_secret());
        let record = SessionRecord {
            base: client.session(TokenHash::from_bytes(&key), method, now, policy.absolute),
            app_id: app.id,
            user_id: user.id,
            idp_issuer: idp.issuer,
            idp_sid: idp.sid,
            id_token_sealed: idp.id_token_sealed,
            refresh_token_sealed: idp.refresh_token_sealed,
            token_expires_at: idp.token_expires_at,
        };
        let audit = ctx
            .event(Some(app.id), now, "signin.succeeded")
            .target(user.email.as_str())
            .detail("method", method.as_str())
            .detail("user_id", user.id.to_string())
            .detail("session_id", record.base.id.to_string());
        self.shared.store.create_session(&record, &audit).await?;
        let issued = IssuedSession {
            token: secret,
            id: record.base.id,
            expires_at: record.base.expires_at,
        };
        self.caches.sessions.insert_live(key, record);
        Ok(issued)
    }

    /// The session behind `cookie` for application `app` as far as memory
    /// alone can tell, without awaiting anything: [`Peek::Active`] when the
    /// session and its user are cached and valid (the session's last use
    /// is recorded, as by [`Self::lookup`]); [`Peek::Nobody`] when memory
    /// knows it signs nobody in (a session recently found gone, or another
    /// application's); [`Peek::Unknown`] when only [`Self::lookup`] can
    /// answer (not cached, idle past the limit in memory, tokens to
    /// refresh, the user not cached, the database down). The hot path of
    /// the proxy and forward-auth answers from this; the rest goes to
    /// `lookup` on the runtime that owns the store.
    pub fn peek(&self, app: AppId, cookie: &str) -> Peek {
        if !self
            .feed
            .within_grace(self.shared.settings.database_outage_grace)
        {
            return Peek::Unknown;
        }
        let key = token::lookup_key(cookie);
        let now = self.shared.now();
        let now_ms = millis(now);
        let live = match self.caches.sessions.get(&key) {
            Some(Cached::Live(live)) => live,
            Some(Cached::Gone(at)) if now_ms - at < GONE_TTL_MS => return Peek::Nobody,
            _ => return Peek::Unknown,
        };
        if live.record.app_id != app {
            return Peek::Nobody;
        }
        if self.shared.settings.session_policy.state(
            live.record.base.created_at,
            last_seen(&live),
            now,
        ) != SessionState::Active
        {
            return Peek::Unknown;
        }
        let token_expires = live
            .token_expires_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        if token_expires != 0 && now_ms >= token_expires {
            return Peek::Unknown;
        }
        let Some(user) = self.caches.cached_user(app, live.record.user_id) else {
            return Peek::Unknown;
        };
        if !user.may_sign_in() {
            return Peek::Nobody;
        }
        let flush_ms = i64::try_from(self.shared.settings.session_flush_interval.as_millis())
            .unwrap_or(i64::MAX);
        self.caches.sessions.touch(&live, now_ms, flush_ms);
        Peek::Active(ActiveSession {
            id: live.record.base.id,
            user,
            method: live.record.base.method,
            created_at: live.record.base.created_at,
        })
    }

    /// The valid session behind `cookie` for application `app`, if any.
    /// Served from memory after the first request on this node.
    pub async fn lookup(
        &self,
        app: AppId,
        cookie: &str,
    ) -> Result<Option<ActiveSession>, ServiceError> {
        if !self
            .feed
            .within_grace(self.shared.settings.database_outage_grace)
        {
            return Err(ServiceError::Unavailable(
                "the database has not answered for longer than database_outage_grace".into(),
            ));
        }
        let key = token::lookup_key(cookie);
        let now = self.shared.now();
        let now_ms = millis(now);
        let live = match self.caches.sessions.get(&key) {
            Some(Cached::Live(live)) => live,
            Some(Cached::Gone(at)) if now_ms - at < GONE_TTL_MS => return Ok(None),
            _ => match self.load_session(key, now_ms).await? {
                Some(live) => live,
                None => return Ok(None),
            },
        };
        if live.record.app_id != app {
            return Ok(None);
        }
        let Some(live) = self.check_lifetime(key, live, now).await? else {
            return Ok(None);
        };
        let token_expires = live
            .token_expires_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        if token_expires != 0 && now_ms >= token_expires {
            let rt = self.router.current().get(app).cloned();
            if let Some(rt) = rt.filter(|rt| rt.oidc.enabled && rt.oidc.extra.refresh_sessions)
                && !self.refresh_session(&rt, &live).await?
            {
                return Ok(None);
            }
        }
        let flush_ms = i64::try_from(self.shared.settings.session_flush_interval.as_millis())
            .unwrap_or(i64::MAX);
        self.caches.sessions.touch(&live, now_ms, flush_ms);
        let Some(user) = self
            .caches
            .user(&*self.shared.store, app, live.record.user_id)
            .await?
        else {
            self.caches.sessions.insert_gone(key, now_ms);
            return Ok(None);
        };
        if !user.may_sign_in() {
            return Ok(None);
        }
        Ok(Some(ActiveSession {
            id: live.record.base.id,
            user,
            method: live.record.base.method,
            created_at: live.record.base.created_at,
        }))
    }

    async fn load_session(
        &self,
        key: [u8; 32],
        now_ms: i64,
    ) -> Result<Option<Arc<LiveSession>>, ServiceError> {
        // A revocation may land between the read and the insert: then read
        // again (a few times at most) rather than cache what may be stale.
        for _ in 0..3 {
            let seen = self.caches.sessions.guard.epoch();
            let rec = self
                .shared
                .store
                .get_session_by_hash(&TokenHash::from_bytes(&key))
                .await?;
            let mut out = None;
            let cached = self.caches.sessions.guard.fill(seen, || {
                out = match rec {
                    Some(rec) if rec.base.revoked_at.is_none() => {
                        Some(self.caches.sessions.insert_live(key, rec))
                    }
                    _ => {
                        self.caches.sessions.insert_gone(key, now_ms);
                        None
                    }
                };
            });
            if cached {
                return Ok(out);
            }
        }
        Err(ServiceError::Unavailable(
            "sessions are being revoked faster than they can be read".into(),
        ))
    }

    /// Check idle and absolute lifetimes. An apparently idle session is
    /// re-read once: another node may have seen it used more recently.
    async fn check_lifetime(
        &self,
        key: [u8; 32],
        live: Arc<LiveSession>,
        now: OffsetDateTime,
    ) -> Result<Option<Arc<LiveSession>>, ServiceError> {
        let policy = self.shared.settings.session_policy;
        match policy.state(live.record.base.created_at, last_seen(&live), now) {
            SessionState::Active => Ok(Some(live)),
            SessionState::AbsoluteExpired => {
                self.caches.sessions.insert_gone(key, millis(now));
                Ok(None)
            }
            SessionState::IdleExpired => {
                let Some(fresh) = self.load_session(key, millis(now)).await? else {
                    return Ok(None);
                };
                fresh.last_seen_ms.fetch_max(
                    live.last_seen_ms.load(std::sync::atomic::Ordering::Relaxed),
                    std::sync::atomic::Ordering::Relaxed,
                );
                if policy.state(fresh.record.base.created_at, last_seen(&fresh), now)
                    == SessionState::Active
                {
                    Ok(Some(fresh))
                } else {
                    self.caches.sessions.insert_gone(key, millis(now));
                    Ok(None)
                }
            }
        }
    }

    /// End the session behind `cookie` (sign-out). Returns the ended session,
    /// whose IdP data the logout redirect needs.
    #[tracing::instrument(level = "info", skip_all, fields(app = %app), err(level = "debug"))]
    pub async fn sign_out(
        &self,
        app: AppId,
        cookie: &str,
        ctx: &Context,
    ) -> Result<Option<SessionRecord>, ServiceError> {
        let key = token::lookup_key(cookie);
        let hash = TokenHash::from_bytes(&key);
        let now = self.shared.now();
        let Some(rec) = self.shared.store.get_session_by_hash(&hash).await? else {
            return Ok(None);
        };
        if rec.app_id != app || rec.base.revoked_at.is_some() {
            self.caches.sessions.insert_gone(key, millis(now));
            return Ok(None);
        }
        let email = self
            .caches
            .user(&*self.shared.store, app, rec.user_id)
            .await?
            .map(|u| u.email.to_string())
            .unwrap_or_default();
        let audit = ctx
            .event(Some(app), now, "signout")
            .target(email)
            .detail("session_id", rec.base.id.to_string());
        self.shared
            .store
            .revoke_session_by_hash(&hash, now, &audit)
            .await?;
        self.caches.sessions.revoke(key, millis(now));
        Ok(Some(rec))
    }

    /// Sessions of an application (optionally one user's) that have not ended.
    pub async fn list(
        &self,
        app: AppId,
        user: Option<UserId>,
    ) -> Result<Vec<SessionRecord>, ServiceError> {
        self.shared.app(app).await?;
        let now = self.shared.now();
        let policy = self.shared.settings.session_policy;
        let mut list = self.shared.store.list_sessions(app, user, now).await?;
        for s in &mut list {
            // The store's last use may lag this node's memory.
            if let Some(Cached::Live(l)) = self.caches.sessions.get(&s.base.token_hash.to_bytes()) {
                let ms = l.last_seen_ms.load(std::sync::atomic::Ordering::Relaxed);
                if let Ok(t) = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
                {
                    s.base.last_seen_at = s.base.last_seen_at.max(t);
                }
            }
        }
        list.retain(|s| {
            policy.state(s.base.created_at, s.base.last_seen_at, now) == SessionState::Active
        });
        Ok(list)
    }

    /// One session of an application.
    pub async fn get(&self, app: AppId, id: SessionId) -> Result<SessionRecord, ServiceError> {
        self.shared
            .store
            .get_session(app, id)
            .await?
            .ok_or(ServiceError::NotFound("session"))
    }

    /// Revoke one session; it stops working at once on this node and within
    /// a feed interval on every other.
    #[tracing::instrument(level = "info", skip_all, fields(app = %app, session = %id), err(level = "debug"))]
    pub async fn revoke(
        &self,
        app: AppId,
        id: SessionId,
        ctx: &Context,
    ) -> Result<(), ServiceError> {
        self.shared.app(app).await?;
        let now = self.shared.now();
        let audit = ctx
            .event(Some(app), now, "session.revoked")
            .target(id.to_string());
        let hash = match self.shared.store.revoke_session(app, id, now, &audit).await {
            Err(gatehouse_store::StoreError::NotFound) => {
                return Err(ServiceError::NotFound("session"));
            }
            other => other?,
        };
        self.caches.forget_session(&hash, now);
        Ok(())
    }

    /// Write queued last-use times now.
    pub async fn flush(&self) {
        let dirty = self.caches.sessions.take_dirty();
        if dirty.is_empty() {
            return;
        }
        if let Err(e) = self.shared.store.touch_sessions(&dirty).await {
            tracing::warn!(error = %e, count = dirty.len(), "could not write session last-use times; will retry");
            self.caches.sessions.requeue(dirty);
        }
    }
}

/// Write last-use times every flush interval, and once more at shutdown.
pub(crate) async fn run_flusher(gh: Gatehouse, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(gh.settings().session_flush_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => gh.sessions().flush().await,
            _ = shutdown.changed() => {
                gh.sessions().flush().await;
                return;
            }
        }
    }
}

/// Delete long-ended sessions and old change-log rows, and forget idle rate-limit keys.
pub(crate) async fn run_purger(gh: Gatehouse, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let now = gh.now();
                match gh.store().purge_sessions(now - Duration::from_secs(24 * 3600)).await {
                    Ok(n) if n > 0 => tracing::info!(count = n, "purged ended sessions"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "could not purge ended sessions"),
                }
                if let Err(e) = gh.store().purge_used(now).await {
                    tracing::warn!(error = %e, "could not purge used sign-in states");
                }
                if let Err(e) = gh.store().prune_changes(now - Duration::from_secs(3600)).await {
                    tracing::warn!(error = %e, "could not prune the change log");
                }
                gh.inner.limiter.forget_idle();
            }
            _ = shutdown.changed() => return,
        }
    }
}
