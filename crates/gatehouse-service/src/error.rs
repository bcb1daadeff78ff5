//! The errors of service calls, named for what the caller shows: the HTTP
//! layer maps each to one status and one page or problem document.

use std::time::Duration;

use gatehouse_core::Invalid;
use gatehouse_store::StoreError;
use thiserror::Error;

/// Why a service call failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The input is invalid; every field at fault is named.
    #[error("invalid input: {0}")]
    Invalid(#[from] Invalid),
    /// The thing asked for does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A value that must be unique is taken.
    #[error("{message}")]
    Conflict {
        /// The field at fault.
        field: &'static str,
        /// What to do about it.
        message: String,
    },
    /// Wrong e-mail or password (never says which).
    #[error("invalid e-mail or password")]
    InvalidCredentials,
    /// Too many attempts; try again later.
    #[error("too many attempts; retry in {}s", retry_after.as_secs())]
    RateLimited {
        /// How long to wait.
        retry_after: Duration,
    },
    /// The user is who they say, but no role grants them the application.
    #[error("{email} has no access to this application")]
    NoAccess {
        /// Who.
        email: String,
    },
    /// Missing or wrong admin credentials.
    #[error("missing or invalid admin token")]
    Unauthorized,
    /// The database is unreachable.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Something that should not happen (corrupt data, a crypto failure).
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServiceError {
    /// The stable reason: metric labels and audit `details.reason`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid",
            Self::NotFound(_) => "not_found",
            Self::Conflict { .. } => "conflict",
            Self::InvalidCredentials => "invalid_credentials",
            Self::RateLimited { .. } => "rate_limited",
            Self::NoAccess { .. } => "no_access",
            Self::Unauthorized => "unauthorized",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "error",
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound("record"),
            StoreError::Conflict { field } => Self::Conflict {
                field,
                message: format!("this {} is already in use", field.trim_end_matches('s')),
            },
            StoreError::Unavailable(m) => Self::Unavailable(m),
            StoreError::Corrupt(m) | StoreError::Config(m) => Self::Internal(m),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<gatehouse_crypto::SealError> for ServiceError {
    fn from(e: gatehouse_crypto::SealError) -> Self {
        Self::Internal(e.to_string())
    }
}
