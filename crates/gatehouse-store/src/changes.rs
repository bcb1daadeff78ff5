//! The change log: every mutation appends a row in its own transaction, and
//! every node polls for rows it has not seen to invalidate its caches. A
//! restart, a missed notification or a second node all converge by reading
//! the same log.

use async_trait::async_trait;
use gatehouse_core::{AppId, TokenHash, UserId};
use time::OffsetDateTime;

use crate::StoreError;

/// What changed: the one thing a change-log row names, keyed by its own id
/// type, so the feed cannot mistake a user's id for an application's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Changed {
    /// An application, its hosts or settings.
    App(AppId),
    /// Instance-wide settings (the console's own SSO).
    Instance,
    /// A user's fields, tags, groups or status.
    User(UserId),
    /// A session was revoked.
    Session(TokenHash),
    /// An application's grants.
    Grants(AppId),
}

/// The stored key of [`Changed::Instance`] (kind `app`).
const INSTANCE_KEY: &str = "instance";

impl Changed {
    /// The stored kind and key.
    pub fn to_row(&self) -> (&'static str, String) {
        match self {
            Self::App(id) => ("app", id.to_string()),
            Self::Instance => ("app", INSTANCE_KEY.to_owned()),
            Self::User(id) => ("user", id.to_string()),
            Self::Session(hash) => ("session", hash.to_string()),
            Self::Grants(id) => ("grants", id.to_string()),
        }
    }

    /// Read a stored kind and key back.
    pub fn from_row(kind: &str, key: &str) -> Result<Self, StoreError> {
        let corrupt = || StoreError::Corrupt(format!("change {kind:?} {key:?}"));
        Ok(match kind {
            "app" if key == INSTANCE_KEY => Self::Instance,
            "app" => Self::App(key.parse().map_err(|_| corrupt())?),
            "user" => Self::User(key.parse().map_err(|_| corrupt())?),
            "session" => Self::Session(TokenHash::parse(key).map_err(|_| corrupt())?),
            "grants" => Self::Grants(key.parse().map_err(|_| corrupt())?),
            _ => return Err(corrupt()),
        })
    }
}

/// One row of the change log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Position in the log.
    pub seq: i64,
    /// What changed.
    pub what: Changed,
}

/// The change log.
#[async_trait]
pub trait ChangeStore {
    /// The newest position in the log (0 when empty).
    async fn latest_change(&self) -> Result<i64, StoreError>;
    /// Changes after `seq`, oldest first, at most `limit`.
    async fn changes_since(&self, seq: i64, limit: u32) -> Result<Vec<Change>, StoreError>;
    /// Forget changes older than `before` (every node has long seen them).
    async fn prune_changes(&self, before: OffsetDateTime) -> Result<u64, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_read_back_as_what_was_written() {
        let all = [
            Changed::App(AppId::new()),
            Changed::Instance,
            Changed::User(UserId::new()),
            Changed::Session(
                gatehouse_core::TokenHash::parse(&"ab".repeat(32))
                    .unwrap_or_else(|e| panic!("{e}")),
            ),
            Changed::Grants(AppId::new()),
        ];
        for c in all {
            let (kind, key) = c.to_row();
            assert_eq!(Changed::from_row(kind, &key).ok(), Some(c));
        }
        assert!(Changed::from_row("user", "not-a-uuid").is_err());
        assert!(Changed::from_row("session", "short").is_err());
        assert!(Changed::from_row("nonsense", "x").is_err());
    }
}
