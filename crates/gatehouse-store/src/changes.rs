//! The change log: every mutation appends a row in its own transaction, and
//! every node polls for rows it has not seen to invalidate its caches. A
//! restart, a missed notification or a second node all converge by reading
//! the same log.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::StoreError;

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    /// An application, its hosts or settings (key: app id).
    App,
    /// A user's fields, tags, groups or status (key: user id).
    User,
    /// A session was revoked (key: token hash).
    Session,
    /// An application's grants (key: app id).
    Grants,
}

impl ChangeKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::App => "app",
            Self::User => "user",
            Self::Session => "session",
            Self::Grants => "grants",
        }
    }

    /// Parse the stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "app" => Self::App,
            "user" => Self::User,
            "session" => Self::Session,
            "grants" => Self::Grants,
            _ => return None,
        })
    }
}

/// One change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Position in the log.
    pub seq: i64,
    /// What changed.
    pub kind: ChangeKind,
    /// Which one.
    pub key: String,
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
