//! The SCIM 2.0 protocol (RFC 7643, RFC 7644) as Gatehouse speaks it, with
//! no I/O: the schemas of the resources it serves ([`schema`]), filters
//! ([`filter`]: parsed by the `scim_v2` crate, which follows the RFC's
//! grammar and bounds nesting; evaluated here, because evaluation depends on
//! each attribute's type and case rules), PATCH requests applied to a
//! resource's JSON ([`patch`], with the identity providers' known quirks),
//! pages and the `attributes`/`excludedAttributes` projection ([`list`]), the
//! discovery documents made from the same schemas ([`discovery`]), users and
//! groups as SCIM resources and back ([`resource`]) and SCIM error documents
//! ([`error`]).
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod discovery;
pub mod error;
pub mod filter;
pub mod list;
pub mod patch;
pub mod resource;
pub mod schema;

pub use error::{ScimError, ScimType};
pub use filter::ScimFilter;
pub use list::{Page, Projection, list_response};
pub use patch::PatchRequest;
