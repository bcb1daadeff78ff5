//! What can go wrong in a CLI command, with the exit code a script sees.

use gatehouse_service::ServiceError;
use thiserror::Error;

/// A failed command.
#[derive(Debug, Error)]
pub enum CliError {
    /// The configuration is wrong (exit 3).
    #[error("configuration error: {0}")]
    Config(String),
    /// The input is invalid (exit 4).
    #[error("invalid input: {0}")]
    Invalid(String),
    /// Something with that name exists already (exit 5).
    #[error("{0}")]
    Conflict(String),
    /// Something named does not exist (exit 6).
    #[error("{0}")]
    NotFound(String),
    /// The database or a file could not be used (exit 7).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Anything else (exit 1).
    #[error("{0}")]
    Other(String),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Other(_) => 1,
            Self::Config(_) => 3,
            Self::Invalid(_) => 4,
            Self::Conflict(_) => 5,
            Self::NotFound(_) => 6,
            Self::Unavailable(_) => 7,
        }
    }
}

impl From<ServiceError> for CliError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid(inv) => Self::Invalid(inv.to_string()),
            ServiceError::Conflict { field, message } => {
                Self::Conflict(format!("{field}: {message}"))
            }
            ServiceError::NotFound(what) => Self::NotFound(format!("{what} not found")),
            ServiceError::Unavailable(m) => Self::Unavailable(m),
            other => Self::Other(other.to_string()),
        }
    }
}

impl From<gatehouse_store::StoreError> for CliError {
    fn from(e: gatehouse_store::StoreError) -> Self {
        match e {
            gatehouse_store::StoreError::Config(m) => Self::Config(m),
            other => Self::Unavailable(other.to_string()),
        }
    }
}
