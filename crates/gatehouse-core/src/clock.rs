//! Time, injected: production code asks a [`Clock`], tests use a
//! [`ManualClock`] and advance it instead of sleeping.

use std::sync::Mutex;
use std::time::Duration;

use time::OffsetDateTime;

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now, in UTC.
    fn now(&self) -> OffsetDateTime;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A test clock: runs with the system clock, and jumps forward when told to.
/// It follows real time so tokens stamped by a real IdP during a test stay
/// within the clock skew; `advance` replaces sleeping.
#[derive(Debug, Default)]
pub struct ManualClock(Mutex<Duration>);

impl ManualClock {
    /// A clock at the current system time.
    pub fn new() -> Self {
        Self(Mutex::new(Duration::ZERO))
    }

    /// Move the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut offset = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *offset += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
            + *self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
