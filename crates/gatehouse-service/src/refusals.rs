//! Refused attempts are counted, not stored one by one: per application,
//! source (client address) and reason (with the failed check, for IdP
//! failures), the first refusal of a burst is written to the audit log and
//! the rest of the minute that follows it only counted; the next
//! event written for the same key carries how many were left out
//! (`repeated_before`). A flood of junk sign-ins or callbacks from one
//! source thus costs one audit row a minute and reason, however fast it
//! comes. The minute runs from the burst's first refusal, not from the
//! clock's minute, so a burst that straddles a full minute is still one
//! event. The table is bounded: past [`MAX_KEYS`] keys, bursts older than a
//! minute are dropped, and new keys beyond that share one overflow key.

use std::collections::HashMap;
use std::sync::Mutex;

use gatehouse_core::AppId;

/// The most keys the ledger holds.
pub const MAX_KEYS: usize = 10_000;

type Key = (Option<AppId>, String, String);

#[derive(Debug, Clone, Copy)]
struct Burst {
    /// When the burst's first refusal came (Unix seconds).
    started: i64,
    count: u64,
}

/// How long a burst lasts, in seconds.
const BURST_S: i64 = 60;

/// What to do with one refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Note {
    /// Write its audit event; `repeated_before` refusals of the same key
    /// were counted and not written since the last event.
    Write {
        /// Refusals left out since the last event of this key.
        repeated_before: u64,
    },
    /// Counted only.
    Counted,
}

/// The per-node ledger of refusals.
#[derive(Debug, Default)]
pub struct Refusals {
    map: Mutex<HashMap<Key, Burst>>,
}

impl Refusals {
    /// Note one refusal for `app`, `source` (a client address; cut to 64
    /// bytes) and `reason` at Unix time `now_s`.
    pub fn note(&self, app: Option<AppId>, source: &str, reason: &str, now_s: i64) -> Note {
        let current = |b: &Burst| now_s.saturating_sub(b.started) < BURST_S;
        let source = gatehouse_core::audit::truncate(source.to_owned(), 64);
        let mut map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let reason = gatehouse_core::audit::truncate(reason.to_owned(), 64);
        let mut key: Key = (app, source, reason);
        if !map.contains_key(&key) && map.len() >= MAX_KEYS {
            map.retain(|_, b| current(b));
            if map.len() >= MAX_KEYS {
                key = (None, "*".to_owned(), "overflow".to_owned());
            }
        }
        match map.get_mut(&key) {
            Some(b) if current(b) => {
                b.count += 1;
                Note::Counted
            }
            Some(b) => {
                let repeated_before = b.count.saturating_sub(1);
                *b = Burst {
                    started: now_s,
                    count: 1,
                };
                Note::Write { repeated_before }
            }
            None => {
                map.insert(
                    key,
                    Burst {
                        started: now_s,
                        count: 1,
                    },
                );
                Note::Write { repeated_before: 0 }
            }
        }
    }

    /// Keys held (for tests and metrics).
    pub fn len(&self) -> usize {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// Whether no refusal is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Refusals {
    /// Write the audit event of a refused attempt from `source` when it
    /// starts a burst; otherwise only count it. Returns whether it was written.
    pub(crate) async fn audit(
        &self,
        shared: &crate::Shared,
        event: gatehouse_core::AuditEvent,
        source: &str,
        reason: &str,
    ) -> Result<bool, crate::ServiceError> {
        match self.note(event.app_id, source, reason, shared.now().unix_timestamp()) {
            Note::Write { repeated_before } => {
                let event = if repeated_before > 0 {
                    event.detail("repeated_before", repeated_before)
                } else {
                    event
                };
                shared.store.append_audit(&event).await?;
                Ok(true)
            }
            Note::Counted => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_event_per_source_reason_and_minute() {
        let r = Refusals::default();
        let app = Some(AppId::new());
        assert_eq!(
            r.note(app, "1.1.1.1", "bad_password", 50),
            Note::Write { repeated_before: 0 }
        );
        // The clock's minute changes at 60; the burst's does not.
        for t in 0..99 {
            assert_eq!(
                r.note(app, "1.1.1.1", "bad_password", 55 + t / 2),
                Note::Counted
            );
        }
        assert_eq!(
            r.note(app, "2.2.2.2", "bad_password", 61),
            Note::Write { repeated_before: 0 }
        );
        assert_eq!(
            r.note(app, "1.1.1.1", "unknown_user", 61),
            Note::Write { repeated_before: 0 }
        );
        assert_eq!(
            r.note(app, "1.1.1.1", "bad_password", 110),
            Note::Write {
                repeated_before: 99
            }
        );
    }

    #[test]
    fn the_table_is_bounded() {
        let r = Refusals::default();
        for i in 0..(MAX_KEYS as u32 + 500) {
            let _ = r.note(None, &i.to_string(), "junk", 0);
        }
        assert!(r.len() <= MAX_KEYS + 1);
        // A new minute makes room again.
        assert_eq!(
            r.note(None, "new", "junk", 60),
            Note::Write { repeated_before: 0 }
        );
    }
}
