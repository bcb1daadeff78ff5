//! The change feed: every node reads the store's change log and drops what
//! it has cached about each changed thing, so a change made on any node (or
//! by the CLI) takes effect everywhere. With PostgreSQL the store wakes the
//! feed as soon as another node commits a change (`LISTEN`/`NOTIFY`); the
//! feed also reads the log every `feed_interval`, so a notification lost
//! with a connection is healed by the next read. This node's own changes
//! are applied at once by the service call that made them; reading them
//! again here is harmless.
//!
//! Change numbers are handed out when a transaction writes its change row,
//! but transactions commit in their own order: change 11 can be visible
//! before change 10. A number skipped over is remembered as a gap and read
//! again until it shows up or [`GAP_PATIENCE`] passes (a rolled-back
//! transaction leaves a gap forever).
//!
//! The feed also tells whether the database answers: while it does not,
//! [`Gatehouse::database_down_for`] says for how long, and the hot path
//! serves cached sessions only for `database_outage_grace`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use gatehouse_store::{Change, Changed};

use crate::Gatehouse;

/// How long a skipped change number is waited for.
pub const GAP_PATIENCE: Duration = Duration::from_secs(10);
/// At most this many gaps are remembered (a jump of the sequence after a
/// database crash is not worth waiting for number by number).
const MAX_GAPS: usize = 1000;

/// Where this node is in the change log.
#[derive(Debug)]
pub(crate) struct FeedState {
    seq: AtomicI64,
    gaps: Mutex<BTreeMap<i64, Instant>>,
    /// Milliseconds since `epoch` when the database stopped answering; 0: it answers.
    down_since_ms: AtomicI64,
    epoch: Instant,
}

impl FeedState {
    pub fn new(seq: i64) -> Self {
        Self {
            seq: AtomicI64::new(seq),
            gaps: Mutex::new(BTreeMap::new()),
            down_since_ms: AtomicI64::new(0),
            epoch: Instant::now(),
        }
    }

    fn gaps(&self) -> std::sync::MutexGuard<'_, BTreeMap<i64, Instant>> {
        self.gaps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn now_ms(&self) -> i64 {
        i64::try_from(self.epoch.elapsed().as_millis())
            .unwrap_or(i64::MAX)
            .max(1)
    }

    /// Record that the database failed to answer (keeps the first time).
    pub fn mark_down(&self) {
        let _ = self.down_since_ms.compare_exchange(
            0,
            self.now_ms(),
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// Record that the database answered; returns whether it was down.
    pub fn mark_up(&self) -> bool {
        self.down_since_ms.swap(0, Ordering::AcqRel) != 0
    }

    /// Whether cached sign-ins may still be served: the database answers,
    /// or has been unreachable for less than `grace`.
    pub fn within_grace(&self, grace: Duration) -> bool {
        self.down_for().is_none_or(|d| d < grace)
    }

    /// For how long the database has not answered.
    pub fn down_for(&self) -> Option<Duration> {
        match self.down_since_ms.load(Ordering::Acquire) {
            0 => None,
            since => Some(Duration::from_millis(
                u64::try_from(self.now_ms() - since).unwrap_or(0),
            )),
        }
    }
}

/// Which of `batch` are new, given the cursor and the open gaps; updates both.
fn select_new(
    batch: &[Change],
    cursor: i64,
    gaps: &mut BTreeMap<i64, Instant>,
    now: Instant,
) -> (Vec<Change>, i64) {
    let mut fresh = Vec::new();
    let mut cursor = cursor;
    for c in batch {
        if c.seq <= cursor {
            if gaps.remove(&c.seq).is_some() {
                fresh.push(c.clone());
            }
            continue;
        }
        for missing in (cursor + 1)..c.seq {
            if gaps.len() >= MAX_GAPS {
                break;
            }
            gaps.insert(missing, now);
        }
        cursor = c.seq;
        fresh.push(c.clone());
    }
    gaps.retain(|_, since| now.duration_since(*since) < GAP_PATIENCE);
    (fresh, cursor)
}

impl Gatehouse {
    /// Read and apply every change since the last read (and any late one
    /// filling a gap). Returns how many were applied.
    pub async fn poll_changes(&self) -> Result<usize, crate::ServiceError> {
        let mut applied = 0;
        loop {
            let cursor = self.inner.feed.seq.load(Ordering::Acquire);
            let from = self
                .inner
                .feed
                .gaps()
                .keys()
                .next()
                .map_or(cursor, |first| (first - 1).min(cursor));
            let batch = match self.inner.shared.store.changes_since(from, 1000).await {
                Ok(b) => b,
                Err(e) => {
                    self.inner.feed.mark_down();
                    return Err(e.into());
                }
            };
            if self.inner.feed.mark_up() {
                tracing::info!("the database answers again");
            }
            let full = batch.len() == 1000;
            let (fresh, last) = {
                let mut gaps = self.inner.feed.gaps();
                select_new(&batch, cursor, &mut gaps, Instant::now())
            };
            self.apply_changes(&fresh).await?;
            self.inner.feed.seq.store(last, Ordering::Release);
            applied += fresh.len();
            if !full {
                return Ok(applied);
            }
        }
    }

    /// For how long the database has not answered this node (`None`: it answers).
    pub fn database_down_for(&self) -> Option<Duration> {
        self.inner.feed.down_for()
    }

    async fn apply_changes(&self, batch: &[Change]) -> Result<(), crate::ServiceError> {
        let now = self.now();
        let caches = &self.inner.caches;
        let mut reload = false;
        for c in batch {
            match &c.what {
                Changed::App(_) | Changed::Grants(_) | Changed::Instance => reload = true,
                // Sessions hold only the user's id: dropping the cached user is
                // enough for a disabled or changed user to be seen at once.
                Changed::User(id) => caches.forget_user(*id),
                Changed::Session(hash) => caches.forget_session(hash, now),
            }
        }
        if reload {
            self.reload_routes().await?;
        }
        Ok(())
    }
}

/// Read the change log until shutdown: when the store signals a change,
/// and every `feed_interval` regardless. Errors (database down) are logged
/// and retried; cached state keeps serving meanwhile.
pub(crate) async fn run(gh: Gatehouse, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(gh.settings().feed_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let signal = gh.store().change_signal();
    let mut failing = false;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = async {
                match &signal {
                    Some(s) => s.notified().await,
                    None => std::future::pending().await,
                }
            } => {}
            _ = shutdown.changed() => return,
        }
        match gh.poll_changes().await {
            Ok(_) => {
                if failing {
                    tracing::info!("change feed recovered");
                    failing = false;
                }
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "change feed cannot read the change log; serving cached state");
                    failing = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(seq: i64) -> Change {
        Change {
            seq,
            what: Changed::User(gatehouse_core::UserId::new()),
        }
    }

    fn seqs(v: &[Change]) -> Vec<i64> {
        v.iter().map(|c| c.seq).collect()
    }

    #[test]
    fn a_change_committed_late_is_still_applied() {
        let now = Instant::now();
        let mut gaps = BTreeMap::new();
        // 10 was handed out but is not visible yet; 11 and 12 are.
        let (fresh, cursor) = select_new(&[change(9), change(11), change(12)], 8, &mut gaps, now);
        assert_eq!(seqs(&fresh), [9, 11, 12]);
        assert_eq!(cursor, 12);
        assert_eq!(gaps.keys().copied().collect::<Vec<_>>(), [10]);
        // The next read starts before the gap: 10 is new, 11 and 12 are not.
        let (fresh, cursor) = select_new(
            &[change(10), change(11), change(12), change(13)],
            cursor,
            &mut gaps,
            now,
        );
        assert_eq!(seqs(&fresh), [10, 13]);
        assert_eq!(cursor, 13);
        assert!(gaps.is_empty());
    }

    #[test]
    fn gaps_are_given_up_after_a_while() {
        let now = Instant::now();
        let mut gaps = BTreeMap::new();
        select_new(&[change(5)], 3, &mut gaps, now);
        assert_eq!(gaps.len(), 1);
        let later = now + GAP_PATIENCE + Duration::from_secs(1);
        let (fresh, _) = select_new(&[change(5)], 5, &mut gaps, later);
        assert!(fresh.is_empty());
        assert!(
            gaps.is_empty(),
            "a rolled-back change is not waited for forever"
        );
    }

    #[test]
    fn outages_are_timed_from_the_first_failure() {
        let f = FeedState::new(0);
        assert_eq!(f.down_for(), None);
        f.mark_down();
        std::thread::sleep(Duration::from_millis(30));
        f.mark_down();
        assert!(f.down_for().is_some_and(|d| d >= Duration::from_millis(20)));
        assert!(f.mark_up());
        assert_eq!(f.down_for(), None);
        assert!(!f.mark_up());
    }
}
