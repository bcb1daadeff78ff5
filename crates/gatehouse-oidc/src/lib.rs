//! Gatehouse's OpenID Connect relying party. It knows `reqwest` (outbound
//! HTTP with limits) and `jsonwebtoken` (keys and signatures only) and does
//! every protocol check itself, with an injected time and a named result per
//! check, so the sign-in error page, the audit log and "Test connection"
//! all show the same list.
//!
//! [`RelyingParty`] holds the HTTP client and the discovery and JWKS caches;
//! the modules are the protocol's steps: [`discovery`], [`jwks`],
//! [`authorize`], [`token`], [`validate`], [`logout`], and the quirks of
//! particular providers ([`providers`]).
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod authorize;
pub mod bearer;
pub mod checks;
pub mod claim_sources;
pub mod discovery;
pub mod error;
pub mod flight;
pub mod http;
pub mod jwks;
pub mod logout;
pub mod providers;
mod rp;
pub mod token;
pub mod validate;

pub use checks::{Check, Outcome};
pub use discovery::ProviderMetadata;
pub use error::OidcError;
pub use jsonwebtoken::Algorithm;
pub use jwks::KeySet;
pub use rp::{KeySource, RelyingParty, Verified};
