//! Session lifetimes: a session ends when it has been idle for longer than
//! the idle timeout or has lived longer than the absolute timeout, whichever
//! comes first.

use std::time::Duration;

use time::OffsetDateTime;

/// The two lifetimes of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// How long a session may go unused.
    pub idle: Duration,
    /// How long a session may live at all.
    pub absolute: Duration,
}

/// Whether a session may still be used, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// Usable.
    Active,
    /// Unused for longer than the idle timeout.
    IdleExpired,
    /// Older than the absolute timeout.
    AbsoluteExpired,
}

impl SessionPolicy {
    /// The state of a session created at `created` and last used at `last_seen`.
    pub fn state(
        &self,
        created: OffsetDateTime,
        last_seen: OffsetDateTime,
        now: OffsetDateTime,
    ) -> SessionState {
        if now >= created + self.absolute {
            SessionState::AbsoluteExpired
        } else if now >= last_seen + self.idle {
            SessionState::IdleExpired
        } else {
            SessionState::Active
        }
    }

    /// When a session ends at the latest if it is never used again.
    pub fn expires_at(&self, created: OffsetDateTime, last_seen: OffsetDateTime) -> OffsetDateTime {
        (last_seen + self.idle).min(created + self.absolute)
    }
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(8 * 3600),
            absolute: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// How someone signed in: with a local password or through the OpenID
/// Provider. Stored with the session (`password`, `oidc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignInMethod {
    /// A local password (application users and administrators).
    Password,
    /// The OpenID Provider (SSO OIDC).
    Oidc,
}

impl SignInMethod {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::Oidc => "oidc",
        }
    }

    /// The method of a stored name, if it is one.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "password" => Some(Self::Password),
            "oidc" => Some(Self::Oidc),
            _ => None,
        }
    }
}

impl std::fmt::Display for SignInMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_and_absolute_limits_apply() {
        let p = SessionPolicy {
            idle: Duration::from_secs(60),
            absolute: Duration::from_secs(300),
        };
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let s = |secs: u64| t0 + Duration::from_secs(secs);
        assert_eq!(p.state(t0, t0, s(59)), SessionState::Active);
        assert_eq!(p.state(t0, t0, s(60)), SessionState::IdleExpired);
        assert_eq!(p.state(t0, s(250), s(299)), SessionState::Active);
        assert_eq!(p.state(t0, s(299), s(300)), SessionState::AbsoluteExpired);
        assert_eq!(p.expires_at(t0, s(280)), s(300));
        assert_eq!(p.expires_at(t0, s(10)), s(70));
    }
}
