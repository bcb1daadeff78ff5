//! Fetching what an IdP publishes (discovery documents, JWK Sets) so that an
//! IdP that hangs or fails cannot take Gatehouse down with it:
//!
//! - **one fetch at a time** per document: requests that need it join the
//!   fetch in flight (single-flight), and the fetch runs in its own task, so
//!   a request that gives up never leaves it half done;
//! - **last good value**: once fetched, a document is served while fresh
//!   (its TTL) without waiting, refreshed in the background when stale, and
//!   served stale for at most [`Policy::max_stale`] while refreshing fails;
//! - **backoff**: after a failed fetch, none starts again before a delay
//!   that doubles per failure ([`Policy::backoff`] up to
//!   [`Policy::max_backoff`]);
//! - **fast answers**: a request that needs a fetch waits for it at most
//!   [`Policy::wait`]; while the fetch hangs, or during a backoff, it gets
//!   [`OidcError::Unavailable`] with a time to retry at once;
//! - **forced refreshes** (a token names a key id the set lacks) happen
//!   once per unknown tag ([`Policy::per_tag`]) and at most once per
//!   [`Policy::floor`] for the document, so a legitimate rotation at every
//!   sign-in is followed while a client sending random key ids costs the
//!   IdP at most one fetch per floor.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::OidcError;

/// The most unknown tags remembered per document.
pub const MAX_TAGS: usize = 64;

/// How fetching behaves.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// How long the last good value is served while refreshing it fails.
    pub max_stale: Duration,
    /// How long a request waits for a fetch before it is answered "unavailable".
    pub wait: Duration,
    /// The shortest time between two fetches of one document.
    pub floor: Duration,
    /// How long after a successful fetch for an unknown tag that tag leads
    /// to no other.
    pub per_tag: Duration,
    /// The delay after the first failed fetch; doubled per further failure.
    pub backoff: Duration,
    /// The longest delay between failed fetches.
    pub max_backoff: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            max_stale: Duration::from_secs(24 * 3600),
            wait: Duration::from_millis(900),
            floor: Duration::from_secs(1),
            per_tag: Duration::from_secs(300),
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
        }
    }
}

impl Policy {
    fn delay_after(&self, failures: u32) -> Duration {
        let factor = 1u32 << failures.saturating_sub(1).min(16);
        self.backoff.saturating_mul(factor).min(self.max_backoff)
    }
}

struct Slot<T> {
    value: Option<Arc<T>>,
    fetched: Option<Instant>,
    ttl: Duration,
    in_flight: bool,
    last_start: Option<Instant>,
    failures: u32,
    retry_at: Option<Instant>,
    last_error: Option<String>,
    /// Bumped when a fetch ends; waiters watch it.
    done: watch::Sender<u64>,
    tags: HashMap<String, Instant>,
}

impl<T> Slot<T> {
    fn new() -> Self {
        Self {
            value: None,
            fetched: None,
            ttl: Duration::ZERO,
            in_flight: false,
            last_start: None,
            failures: 0,
            retry_at: None,
            last_error: None,
            done: watch::Sender::new(0),
            tags: HashMap::new(),
        }
    }

    /// The value if it may still be served (fresh or stale within `max_stale`).
    fn usable(&self, now: Instant, policy: &Policy) -> Option<Arc<T>> {
        let at = self.fetched?;
        (now.saturating_duration_since(at) < policy.max_stale.max(self.ttl))
            .then(|| self.value.clone())
            .flatten()
    }

    fn fresh(&self, now: Instant) -> Option<Arc<T>> {
        let at = self.fetched?;
        (now.saturating_duration_since(at) < self.ttl)
            .then(|| self.value.clone())
            .flatten()
    }

    /// While backing off after failures: how long until the next fetch may start.
    fn backing_off(&self, now: Instant) -> Option<Duration> {
        self.retry_at
            .filter(|t| *t > now)
            .map(|t| t.saturating_duration_since(now))
    }
}

/// What a forced refresh does next.
enum Step {
    /// Wait for the floor to pass, then look again.
    Sleep(Instant),
    /// Wait for the fetch in flight (`true`: started by this request).
    Wait(watch::Receiver<u64>, bool),
}

/// Records the end of a fetch in its slot when dropped (normally right
/// after the fetch, or when its task panics or is cancelled).
struct Landing<'a, T> {
    slots: &'a Mutex<HashMap<String, Slot<T>>>,
    key: &'a str,
    policy: Policy,
    what: &'static str,
    result: Option<Fetched<T>>,
}

impl<T> Drop for Landing<'_, T> {
    fn drop(&mut self) {
        let result = self.result.take().unwrap_or_else(|| {
            Err(OidcError::Unreachable {
                what: self.what,
                detail: "the fetch was interrupted".into(),
            })
        });
        let mut map = lock(self.slots);
        let slot = map.entry(self.key.to_owned()).or_insert_with(Slot::new);
        slot.in_flight = false;
        let now = Instant::now();
        match result {
            Ok((value, ttl)) => {
                slot.value = Some(Arc::new(value));
                slot.fetched = Some(now);
                slot.ttl = ttl;
                slot.failures = 0;
                slot.retry_at = None;
                slot.last_error = None;
            }
            Err(e) => {
                slot.failures = slot.failures.saturating_add(1);
                let delay = self.policy.delay_after(slot.failures);
                slot.retry_at = Some(now + delay);
                slot.last_error = Some(e.to_string());
                tracing::warn!(what = self.what, key = %self.key, error = %e, failures = slot.failures,
                    retry_in_ms = delay.as_millis() as u64, "fetching from the identity provider failed");
            }
        }
        slot.done.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// What a fetch produced: the value and how long it is fresh.
pub type Fetched<T> = Result<(T, Duration), OidcError>;

/// Documents by key (issuer or `jwks_uri`), fetched as the module describes.
pub struct FlightCache<T> {
    slots: Arc<Mutex<HashMap<String, Slot<T>>>>,
    policy: Policy,
    what: &'static str,
}

impl<T> std::fmt::Debug for FlightCache<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlightCache")
            .field("what", &self.what)
            .field("policy", &self.policy)
            .finish()
    }
}

fn lock<T>(m: &Mutex<HashMap<String, Slot<T>>>) -> MutexGuard<'_, HashMap<String, Slot<T>>> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The slot of `key`, made on first use (the key is copied only then: a
/// cache hit allocates nothing).
fn slot_mut<'m, T>(map: &'m mut HashMap<String, Slot<T>>, key: &str) -> &'m mut Slot<T> {
    if !map.contains_key(key) {
        map.insert(key.to_owned(), Slot::new());
    }
    map.get_mut(key)
        .unwrap_or_else(|| unreachable!("inserted above"))
}

impl<T: Send + Sync + 'static> FlightCache<T> {
    /// An empty cache for documents called `what` (in errors and logs).
    pub fn new(what: &'static str, policy: Policy) -> Self {
        Self {
            slots: Arc::new(Mutex::new(HashMap::new())),
            policy,
            what,
        }
    }

    fn unavailable(&self, retry_after: Duration, detail: Option<&str>) -> OidcError {
        OidcError::Unavailable {
            what: self.what,
            retry_after: retry_after.max(Duration::from_secs(1)),
            detail: detail
                .unwrap_or("the fetch did not finish in time")
                .to_owned(),
        }
    }

    /// Start `fetch` in its own task; the slot is marked in flight.
    fn start<F, Fut>(&self, slot: &mut Slot<T>, key: &str, now: Instant, fetch: F)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Fetched<T>> + Send + 'static,
    {
        slot.in_flight = true;
        slot.last_start = Some(now);
        let fut = fetch();
        let slots = self.slots.clone();
        let key = key.to_owned();
        let policy = self.policy;
        let what = self.what;
        tokio::spawn(async move {
            // Ends the flight even if the fetch panics or the runtime drops
            // the task: the slot never stays "in flight" for good.
            let mut guard = Landing {
                slots: &slots,
                key: &key,
                policy,
                what,
                result: None,
            };
            guard.result = Some(fut.await);
        });
    }

    /// Wait (at most the policy's `wait`) for the fetch `rx` watches to end.
    /// Returns whether it ended.
    async fn wait(&self, mut rx: watch::Receiver<u64>) -> bool {
        matches!(
            tokio::time::timeout(self.policy.wait, rx.changed()).await,
            Ok(Ok(()))
        )
    }

    /// The document at `key`: fresh from the cache; stale from the cache
    /// while a refresh runs in the background; else fetched (joining a
    /// fetch in flight), waiting at most the policy's `wait`.
    pub async fn get<F, Fut>(&self, key: &str, fetch: F) -> Result<Arc<T>, OidcError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Fetched<T>> + Send + 'static,
    {
        let rx = {
            let mut map = lock(&self.slots);
            let slot = slot_mut(&mut map, key);
            let now = Instant::now();
            if let Some(v) = slot.fresh(now) {
                return Ok(v);
            }
            if let Some(v) = slot.usable(now, &self.policy) {
                if !slot.in_flight && slot.backing_off(now).is_none() {
                    self.start(slot, key, now, fetch);
                }
                return Ok(v);
            }
            if !slot.in_flight {
                if let Some(retry) = slot.backing_off(now) {
                    return Err(self.unavailable(retry, slot.last_error.as_deref()));
                }
                self.start(slot, key, now, fetch);
            }
            slot.done.subscribe()
        };
        let ended = self.wait(rx).await;
        let map = lock(&self.slots);
        let now = Instant::now();
        match map.get(key) {
            Some(slot) => match slot.usable(now, &self.policy) {
                Some(v) => Ok(v),
                None if !ended => Err(self.unavailable(self.policy.backoff, None)),
                None => Err(self.unavailable(
                    slot.backing_off(now).unwrap_or(self.policy.backoff),
                    slot.last_error.as_deref(),
                )),
            },
            None => Err(self.unavailable(self.policy.backoff, None)),
        }
    }

    /// Fetch again because the cached document lacks `tag` (a key id),
    /// unless `has` finds it already. `Ok(None)`: not fetched, because this
    /// tag was fetched for less than the policy's `per_tag` ago (or too
    /// many unknown tags are pending); the caller treats the tag as unknown.
    /// `Ok(Some(doc))`: the document after a fetch (it may still lack the
    /// tag). Fails with `Unavailable` while fetching fails or hangs.
    pub async fn refresh_for<F, Fut>(
        &self,
        key: &str,
        tag: &str,
        has: impl Fn(&T) -> bool,
        fetch: F,
    ) -> Result<Option<Arc<T>>, OidcError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Fetched<T>> + Send + 'static,
    {
        // At most: wait for the floor, join a fetch that predates the
        // request, then one fetch of its own.
        for _ in 0..4 {
            let step = {
                let mut map = lock(&self.slots);
                let slot = slot_mut(&mut map, key);
                let now = Instant::now();
                if let Some(v) = slot.value.as_ref().filter(|v| has(v)) {
                    return Ok(Some(v.clone()));
                }
                if slot.in_flight {
                    Step::Wait(slot.done.subscribe(), false)
                } else if let Some(retry) = slot.backing_off(now) {
                    return Err(self.unavailable(retry, slot.last_error.as_deref()));
                } else if slot.tags.get(tag).is_some_and(|t| {
                    // Looked for by a fetch that succeeded, a moment ago.
                    slot.fetched.is_some_and(|f| f >= *t)
                        && now.saturating_duration_since(*t) < self.policy.per_tag
                }) {
                    return Ok(None);
                } else if let Some(since) =
                    slot.last_start.map(|t| now.saturating_duration_since(t))
                    && since < self.policy.floor
                {
                    Step::Sleep(now + (self.policy.floor - since))
                } else {
                    if slot.tags.len() >= MAX_TAGS {
                        let per_tag = self.policy.per_tag;
                        slot.tags
                            .retain(|_, t| now.saturating_duration_since(*t) < per_tag);
                        if slot.tags.len() >= MAX_TAGS {
                            return Ok(None);
                        }
                    }
                    slot.tags.insert(tag.to_owned(), now);
                    self.start(slot, key, now, &fetch);
                    Step::Wait(slot.done.subscribe(), true)
                }
            };
            let (rx, own) = match step {
                Step::Sleep(until) => {
                    tokio::time::sleep_until(until).await;
                    continue;
                }
                Step::Wait(rx, own) => (rx, own),
            };
            let ended = self.wait(rx).await;
            let map = lock(&self.slots);
            let now = Instant::now();
            let Some(slot) = map.get(key) else {
                return Err(self.unavailable(self.policy.backoff, None));
            };
            if !ended {
                return Err(self.unavailable(self.policy.backoff, None));
            }
            if let Some(v) = slot.value.as_ref().filter(|v| has(v)) {
                return Ok(Some(v.clone()));
            }
            if slot.failures > 0 {
                return Err(self.unavailable(
                    slot.backing_off(now).unwrap_or(self.policy.backoff),
                    slot.last_error.as_deref(),
                ));
            }
            if own {
                return Ok(slot.value.clone());
            }
            // A fetch that started before this request: look again, ourselves.
        }
        Ok(None)
    }

    /// Forget `key` (after its settings changed).
    pub fn forget(&self, key: &str) {
        lock(&self.slots).remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn policy() -> Policy {
        Policy {
            max_stale: Duration::from_secs(3600),
            wait: Duration::from_millis(200),
            floor: Duration::from_millis(50),
            per_tag: Duration::from_secs(60),
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(400),
        }
    }

    fn counting(
        calls: &Arc<AtomicUsize>,
        result: fn(usize) -> Fetched<Vec<String>>,
    ) -> impl Fn() -> std::pin::Pin<Box<dyn Future<Output = Fetched<Vec<String>>> + Send>> + use<>
    {
        let calls = calls.clone();
        move || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move { result(n) })
        }
    }

    fn keys(n: usize) -> Fetched<Vec<String>> {
        Ok((
            (0..=n).map(|i| format!("k{i}")).collect(),
            Duration::from_secs(600),
        ))
    }

    fn down(_: usize) -> Fetched<Vec<String>> {
        Err(OidcError::BadStatus {
            what: "JWKS",
            status: 500,
            detail: None,
        })
    }

    #[tokio::test]
    async fn concurrent_requests_share_one_fetch() {
        let c = Arc::new(FlightCache::new("JWKS", policy()));
        let calls = Arc::new(AtomicUsize::new(0));
        let slow = {
            let calls = calls.clone();
            move || {
                calls.fetch_add(1, Ordering::SeqCst);
                async {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    keys(0)
                }
            }
        };
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let c = c.clone();
            let f = slow.clone();
            tasks.push(tokio::spawn(
                async move { c.get("u", f).await.map(|v| v.len()) },
            ));
        }
        for t in tasks {
            assert_eq!(t.await.ok().and_then(Result::ok), Some(1));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_hanging_fetch_is_answered_fast_and_held_values_keep_serving() {
        let c = FlightCache::new("JWKS", policy());
        let hang = || async {
            std::future::pending::<()>().await;
            keys(0)
        };
        let t = Instant::now();
        let r = c.get("u", hang).await;
        assert!(matches!(r, Err(OidcError::Unavailable { .. })), "{r:?}");
        assert!(t.elapsed() < Duration::from_millis(400));
        // A second request joins the same hanging fetch.
        assert!(c.get("u", hang).await.is_err());

        let calls = Arc::new(AtomicUsize::new(0));
        let c = FlightCache::new("JWKS", policy());
        assert!(c.get("v", counting(&calls, keys)).await.is_ok());
        // New tags while the IdP hangs: answered within the wait, never hanging.
        let t = Instant::now();
        let r = c.refresh_for(
            "v",
            "k9",
            |v| v.contains(&"k9".to_owned()),
            || async {
                std::future::pending::<()>().await;
                keys(9)
            },
        );
        assert!(matches!(r.await, Err(OidcError::Unavailable { .. })));
        assert!(t.elapsed() < Duration::from_millis(400));
        assert!(
            c.get("v", counting(&calls, keys)).await.is_ok(),
            "held keys still served"
        );
    }

    #[tokio::test]
    async fn failures_back_off_and_recovery_follows() {
        let c = FlightCache::new("JWKS", policy());
        let calls = Arc::new(AtomicUsize::new(0));
        assert!(c.get("u", counting(&calls, down)).await.is_err());
        // During the backoff: answered at once, nothing fetched.
        let r = c.get("u", counting(&calls, down)).await;
        assert!(
            matches!(r, Err(OidcError::Unavailable { retry_after, .. }) if retry_after >= Duration::from_secs(1))
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(c.get("u", counting(&calls, down)).await.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        // The second delay is twice the first.
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(c.get("u", counting(&calls, down)).await.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 2, "still backing off");
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(
            c.get("u", counting(&calls, keys)).await.is_ok(),
            "recovered"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_fetch_that_panics_ends_its_flight() {
        let c = FlightCache::new("JWKS", policy());
        let boom = || async {
            if std::hint::black_box(true) {
                panic!("fetch panicked");
            }
            keys(0)
        };
        assert!(c.get("u", boom).await.is_err());
        // Not stuck "in flight": after the backoff a new fetch runs.
        tokio::time::sleep(Duration::from_millis(120)).await;
        let calls = Arc::new(AtomicUsize::new(0));
        assert!(c.get("u", counting(&calls, keys)).await.is_ok());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn every_new_tag_is_fetched_for_once() {
        let c = FlightCache::new("JWKS", policy());
        let calls = Arc::new(AtomicUsize::new(0));
        assert!(c.get("u", counting(&calls, keys)).await.is_ok());
        // Keys rolling over at every sign-in: k1, k2, k3 each lead to a fetch
        // (the floor is waited out, not refused).
        for n in 1..=3 {
            let tag = format!("k{n}");
            let r = c
                .refresh_for("u", &tag, |v| v.contains(&tag), counting(&calls, keys))
                .await;
            assert!(r.ok().flatten().is_some_and(|v| v.contains(&tag)), "{tag}");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        // The same unknown tag again: not fetched for.
        let has_none = |v: &Vec<String>| v.contains(&"nobody".to_owned());
        let r = c
            .refresh_for("u", "nobody", has_none, counting(&calls, keys))
            .await;
        assert!(r.ok().flatten().is_some());
        let r = c
            .refresh_for("u", "nobody", has_none, counting(&calls, keys))
            .await;
        assert!(matches!(r, Ok(None)));
        assert_eq!(calls.load(Ordering::SeqCst), 5);
    }
}
