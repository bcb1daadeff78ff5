//! Errors of the relying party, named for what went wrong at the IdP.

use thiserror::Error;

use crate::checks::{Check, Outcome, first_failure};

/// Why a protocol step failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum OidcError {
    /// The IdP could not be reached (connection, TLS, timeout).
    #[error("the identity provider is unreachable ({what}): {detail}")]
    Unreachable {
        /// Which request.
        what: &'static str,
        /// The transport error.
        detail: String,
    },
    /// The IdP answered with an error status.
    #[error("the identity provider answered {status} to the {what} request{}", detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    BadStatus {
        /// Which request.
        what: &'static str,
        /// The status.
        status: u16,
        /// An OAuth `error` / `error_description`, when the body had one.
        detail: Option<String>,
    },
    /// The IdP's answer is not what the protocol says.
    #[error("the identity provider's {what} is invalid: {detail}")]
    BadResponse {
        /// Which document.
        what: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// The discovery document's `issuer` is not the configured Issuer URL.
    #[error(
        "the discovery document names the issuer {found:?}, not the configured Issuer URL {expected:?}"
    )]
    IssuerMismatch {
        /// Configured.
        expected: String,
        /// In the document.
        found: String,
    },
    /// The token endpoint refused the request (`invalid_grant`, `invalid_client`, ...).
    #[error("the token endpoint refused the request: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    TokenRefused {
        /// The OAuth error code.
        error: String,
        /// Its description.
        description: Option<String>,
    },
    /// A token failed validation; the checks say which step.
    #[error("the {token} is not valid: {}", describe(checks))]
    Invalid {
        /// `ID token`, `logout token`, `userinfo`, `bearer token`.
        token: &'static str,
        /// Every check made, in order.
        checks: Vec<Check>,
    },
    /// What a request needs from the IdP is being fetched, or fetching it
    /// is failing and backing off: answered at once rather than waiting.
    #[error("the identity provider's {what} cannot be fetched now (retry in {}s): {detail}", retry_after.as_secs())]
    Unavailable {
        /// Which document.
        what: &'static str,
        /// When to try again.
        retry_after: std::time::Duration,
        /// The last failure.
        detail: String,
    },
    /// The settings cannot work (e.g. no client secret for `client_secret_basic`).
    #[error("{0}")]
    Config(String),
}

fn describe(checks: &[Check]) -> String {
    match first_failure(checks) {
        Some(Check {
            name,
            outcome: Outcome::Failed(why),
        }) => format!("{name}: {why}"),
        _ => "unknown reason".to_owned(),
    }
}

impl OidcError {
    /// The checks of an `Invalid` error.
    pub fn checks(&self) -> &[Check] {
        match self {
            Self::Invalid { checks, .. } => checks,
            _ => &[],
        }
    }

    /// When to retry, for errors that say.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Self::Unavailable { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// Whether the IdP is unreachable or failing (as opposed to answering "no").
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unreachable { .. } | Self::Unavailable { .. })
            || matches!(self, Self::BadStatus { status, .. } if *status >= 500)
    }
}
