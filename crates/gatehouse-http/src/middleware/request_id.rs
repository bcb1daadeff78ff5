//! Correlation ids: a short random id per request, shown on error pages, in
//! problem documents, in the `X-Request-Id` response header and in every log
//! line of the request.

use std::fmt;
use std::sync::Arc;

use secrecy::ExposeSecret;

/// The correlation id of a request.
#[derive(Debug, Clone)]
pub struct RequestId(Arc<str>);

impl RequestId {
    /// A new random id (72 bits, 12 characters).
    pub fn generate() -> Self {
        Self(Arc::from(
            gatehouse_crypto::token::random_token(9).expose_secret(),
        ))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
