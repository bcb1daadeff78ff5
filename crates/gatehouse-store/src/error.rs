//! The store's errors, named for what the caller does about them.

use thiserror::Error;

/// Why a storage call failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The thing asked for does not exist.
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was broken; the field says which (`slug`, `hosts`,
    /// `email`, `user_name`, `display_name`).
    #[error("{field} is already in use")]
    Conflict {
        /// The field whose value is taken.
        field: &'static str,
    },
    /// The database could not be reached or failed; worth retrying later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be read back (a bug or a manual edit).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// The database URL or options are wrong.
    #[error("{0}")]
    Config(String),
    /// A unit of work was abandoned (one of its changes failed, or it ended).
    #[error("{0}")]
    Aborted(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => Self::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Conflict {
                field: conflict_field(db.message()),
            },
            sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::ColumnNotFound(_) => Self::Corrupt(e.to_string()),
            _ => Self::Unavailable(e.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        Self::Unavailable(format!("migration failed: {e}"))
    }
}

/// Which field a unique-constraint message is about.
fn conflict_field(message: &str) -> &'static str {
    if message.contains("user_name") {
        "user_name"
    } else if message.contains("display_name") {
        "display_name"
    } else if message.contains("slug") {
        "slug"
    } else if message.contains("host") {
        "hosts"
    } else if message.contains("email") {
        "email"
    } else if message.contains("identities") || message.contains("subject") {
        "identity"
    } else {
        "id"
    }
}
