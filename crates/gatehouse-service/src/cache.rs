//! In-memory caches of the hot path: sessions by cookie hash and users by
//! id. Entries are invalidated by this node's own changes at once and by the
//! change feed for other nodes' changes.

use std::sync::atomic::{AtomicI64, Ordering};
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
    pub refresh_token_sealed: Mutex<Option<String>>,
}

/// What the cache knows about a cookie hash.
#[derive(Debug, Clone)]
pub(crate) enum Cached {
    Live(Arc<LiveSession>),
    /// No usable session (unknown, revoked or ended), as of this time (Unix ms).
    Gone(i64),
}

pub(crate) struct SessionCache {
    map: Cache<SessionKey, Cached>,
    dirty: Mutex<Vec<(TokenHash, OffsetDateTime)>>,
}

impl SessionCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            map: Cache::new(capacity),
            dirty: Mutex::new(Vec::new()),
        }
    }

    pub fn get(&self, key: &SessionKey) -> Option<Cached> {
        self.map.get(key)
    }

    pub fn insert_live(&self, key: SessionKey, record: SessionRecord) -> Arc<LiveSession> {
        let seen = millis(record.last_seen_at);
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
                matches!(c, Cached::Live(l) if l.record.revoked_at.is_none() && l.record.expires_at > now)
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
                .push((live.record.token_hash.clone(), at));
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
}

impl UserCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            map: Cache::new(capacity),
        }
    }

    pub fn get(&self, id: &UserId) -> Option<Arc<User>> {
        self.map.get(id)
    }

    pub fn insert(&self, user: Arc<User>) {
        self.map.insert(user.id, user);
    }

    pub fn evict(&self, id: &UserId) {
        self.map.remove(id);
    }
}
