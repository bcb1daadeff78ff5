//! In-memory caches of the hot path: sessions by cookie hash and users by
//! id. Entries are invalidated by this node's own changes at once and by the
//! change feed for other nodes' changes.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use gatehouse_core::user::User;
use gatehouse_core::{TokenHash, UserId};
use gatehouse_store::SessionRecord;
use quick_cache::sync::Cache;
use time::OffsetDateTime;

/// A cache key: the SHA-256 of a session cookie.
pub(crate) type SessionKey = [u8; 32];

pub(crate) fn millis(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// A session known to this node.
#[derive(Debug)]
pub(crate) struct LiveSession {
    pub record: SessionRecord,
    /// Last use seen by this node (Unix ms).
    pub last_seen_ms: AtomicI64,
    /// Last time a last-use write was queued for this session (Unix ms).
    pub queued_ms: AtomicI64,
    /// When the IdP's tokens expire (Unix ms; 0: never / not an OIDC session).
    pub token_expires_ms: AtomicI64,
    /// Whether a refresh is running for this session.
    pub refreshing: std::sync::atomic::AtomicBool,
    /// The current refresh token, sealed (rotated by each refresh).
    pub refresh_token_sealed: Mutex<Option<gatehouse_core::Sealed>>,
}

/// What the cache knows about a cookie hash.
#[derive(Debug, Clone)]
pub(crate) enum Cached {
    Live(Arc<LiveSession>),
    /// No usable session (unknown, revoked or ended), as of this time (Unix ms).
    Gone(i64),
}

/// Guards a cache against a stale fill: a miss reads the store, and a
/// revocation may commit and reach the cache between that read and the
/// insert. Every revocation bumps the epoch (under the lock); a fill is
/// inserted only if the epoch is the one seen before its read, so a read
/// that may predate a revocation is never cached.
#[derive(Debug, Default)]
pub(crate) struct FillGuard {
    epoch: AtomicU64,
    lock: Mutex<()>,
}

impl FillGuard {
    /// The epoch to note before reading the store.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Run `revoke` as a revocation (bumping the epoch).
    pub fn revoke(&self, revoke: impl FnOnce()) {
        let _g = self
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.epoch.fetch_add(1, Ordering::SeqCst);
        revoke();
    }

    /// Run `fill` if no revocation came since `seen`; whether it ran.
    pub fn fill(&self, seen: u64, fill: impl FnOnce()) -> bool {
        let _g = self
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.epoch.load(Ordering::SeqCst) != seen {
            return false;
        }
        fill();
        true
    }
}

pub(crate) struct SessionCache {
    map: Cache<SessionKey, Cached>,
    dirty: Mutex<Vec<(TokenHash, OffsetDateTime)>>,
    pub guard: FillGuard,
}

impl SessionCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            map: Cache::new(capacity),
            dirty: Mutex::new(Vec::new()),
            guard: FillGuard::default(),
        }
    }

    /// A session ended (revoked, signed out): gone at once, and no fill
    /// read before now is cached.
    pub fn revoke(&self, key: SessionKey, now_ms: i64) {
        self.guard
            .revoke(|| self.map.insert(key, Cached::Gone(now_ms)));
    }

    pub fn get(&self, key: &SessionKey) -> Option<Cached> {
        self.map.get(key)
    }

    pub fn insert_live(&self, key: SessionKey, record: SessionRecord) -> Arc<LiveSession> {
        let seen = millis(record.base.last_seen_at);
        let token_expires = record.token_expires_at.map_or(0, millis);
        let live = Arc::new(LiveSession {
            last_seen_ms: AtomicI64::new(seen),
            queued_ms: AtomicI64::new(seen),
            token_expires_ms: AtomicI64::new(token_expires),
            refreshing: std::sync::atomic::AtomicBool::new(false),
            refresh_token_sealed: Mutex::new(record.refresh_token_sealed.clone()),
            record,
        });
        self.map.insert(key, Cached::Live(live.clone()));
        live
    }

    /// Sessions this node holds in memory that are neither revoked nor
    /// expired (for `/metrics`, which must not touch the database).
    pub fn live_count(&self, now: OffsetDateTime) -> usize {
        self.map
            .iter()
            .filter(|(_, c)| {
                matches!(c, Cached::Live(l) if l.record.base.revoked_at.is_none() && l.record.base.expires_at > now)
            })
            .count()
    }

    pub fn insert_gone(&self, key: SessionKey, now_ms: i64) {
        self.map.insert(key, Cached::Gone(now_ms));
    }

    /// Note a use; queue a write of the last-use time when the last one
    /// queued is older than `flush_every_ms` (so at most one write per
    /// session per interval, whatever the request rate).
    pub fn touch(&self, live: &LiveSession, now_ms: i64, flush_every_ms: i64) {
        live.last_seen_ms.fetch_max(now_ms, Ordering::Relaxed);
        let queued = live.queued_ms.load(Ordering::Relaxed);
        if now_ms - queued >= flush_every_ms
            && live
                .queued_ms
                .compare_exchange(queued, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(now_ms) * 1_000_000)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH);
            self.dirty
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push((live.record.base.token_hash.clone(), at));
        }
    }

    /// Take the queued last-use writes.
    pub fn take_dirty(&self) -> Vec<(TokenHash, OffsetDateTime)> {
        std::mem::take(
            &mut *self
                .dirty
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Put writes back after a failed flush (newest wins in the store anyway).
    pub fn requeue(&self, mut items: Vec<(TokenHash, OffsetDateTime)>) {
        let mut dirty = self
            .dirty
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        items.append(&mut dirty);
        *dirty = items;
    }
}

pub(crate) struct UserCache {
    map: Cache<UserId, Arc<User>>,
    pub guard: FillGuard,
}

impl UserCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            map: Cache::new(capacity),
            guard: FillGuard::default(),
        }
    }

    pub fn get(&self, id: &UserId) -> Option<Arc<User>> {
        self.map.get(id)
    }

    /// Cache `user`, read from the store after `seen` was noted, unless a
    /// change to some user came in between.
    pub fn fill(&self, user: Arc<User>, seen: u64) {
        self.guard.fill(seen, || self.map.insert(user.id, user));
    }

    pub fn evict(&self, id: &UserId) {
        self.guard.revoke(|| {
            self.map.remove(id);
        });
    }
}

/// This node's caches of the hot path, shared by the handles that read or
/// invalidate them.
pub(crate) struct Caches {
    pub sessions: SessionCache,
    pub users: UserCache,
    /// Every user forgotten here (changed on this node or another), for
    /// long-lived connections (upgraded WebSockets) to check whether their
    /// user may still be signed in. Bounded: slow listeners lag and check.
    pub user_changes: tokio::sync::broadcast::Sender<UserId>,
}

impl Caches {
    pub fn new(sessions: usize, users: usize) -> Self {
        Self {
            sessions: SessionCache::new(sessions),
            users: UserCache::new(users),
            user_changes: tokio::sync::broadcast::channel(1024).0,
        }
    }

    /// Forget an ended session (its cookie stops working here at once).
    pub fn forget_session(&self, hash: &TokenHash, now: OffsetDateTime) {
        self.sessions.revoke(hash.to_bytes(), millis(now));
    }

    /// Forget ended sessions.
    pub fn forget_sessions(&self, hashes: &[TokenHash], now: OffsetDateTime) {
        for h in hashes {
            self.forget_session(h, now);
        }
    }

    /// Forget a changed user (the next request reads them again).
    pub fn forget_user(&self, user: UserId) {
        self.users.evict(&user);
        // No listener is fine: no connection of theirs is open here.
        let _ = self.user_changes.send(user);
    }

    /// Forget changed users.
    pub fn forget_users(&self, users: &[UserId]) {
        for u in users {
            self.forget_user(*u);
        }
    }

    /// A user of application `app` if it is cached (nothing awaited).
    pub fn cached_user(&self, app: gatehouse_core::AppId, id: UserId) -> Option<Arc<User>> {
        self.users.get(&id).filter(|u| u.app_id == app)
    }

    /// A user of `app` from the cache, or the store on a miss.
    pub async fn user(
        &self,
        store: &dyn gatehouse_store::Store,
        app: gatehouse_core::AppId,
        id: UserId,
    ) -> Result<Option<Arc<User>>, crate::ServiceError> {
        if let Some(u) = self.users.get(&id) {
            return Ok((u.app_id == app).then_some(u));
        }
        let seen = self.users.guard.epoch();
        let Some(user) = store.get_user(app, id).await? else {
            return Ok(None);
        };
        let user = Arc::new(user);
        self.users.fill(user.clone(), seen);
        Ok(Some(user))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fill_read_before_a_revocation_is_not_cached() {
        let g = FillGuard::default();
        let seen = g.epoch();
        let mut ran = false;
        g.revoke(|| {});
        assert!(!g.fill(seen, || ran = true), "stale fill refused");
        assert!(!ran);
        let seen = g.epoch();
        assert!(g.fill(seen, || ran = true));
        assert!(ran);
    }

    #[test]
    fn a_revoked_session_stays_gone_whatever_a_slow_read_brings_back() {
        let cache = SessionCache::new(16);
        let key = [7u8; 32];
        let seen = cache.guard.epoch();
        // A revocation lands while the read is in flight.
        cache.revoke(key, 1);
        let inserted = cache.guard.fill(seen, || cache.insert_gone(key, 2));
        assert!(!inserted);
        assert!(matches!(cache.get(&key), Some(Cached::Gone(1))));
    }
}
