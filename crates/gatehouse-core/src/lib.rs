//! The vocabulary of Gatehouse: applications and their hosts, users, sessions,
//! SSO settings, return paths and audit events.
//!
//! This crate has no I/O, no async and no crypto. Every value that arrives from
//! a browser, an IdP, the API or the configuration is parsed into one of these
//! types at the edge (`parse`, never a public constructor that skips checks), so
//! the crates above (`gatehouse-store`, `gatehouse-service`, `gatehouse-http`)
//! only ever see valid values.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod access;
pub mod api_access;
pub mod app;
pub mod audit;
pub mod claims;
pub mod clock;
pub mod group;
pub mod ids;
pub mod provisioning;
pub mod return_path;
pub mod sealed;
pub mod session;
pub mod sso;
pub mod target;
pub mod user;
pub mod validation;

pub use app::{Application, AuthPrefix, HostPattern, RequestHost, Scheme};
pub use audit::{Actor, AuditEvent};
pub use clock::{Clock, ManualClock, SystemClock};
pub use ids::{AppId, GroupId, ScimTokenId, SessionId, Slug, TokenHash, UserId};
pub use return_path::ReturnPath;
pub use sealed::Sealed;
pub use target::{CanonicalPath, PathOptions, TargetError};
pub use validation::{FieldError, Invalid};
