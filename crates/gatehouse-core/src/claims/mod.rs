//! IdP claims: how a claim is named in a mapping ([`ClaimPath`]) and how
//! claims become a user's fields, tags and groups ([`mapping`]).

pub mod mapping;
mod path;

pub use mapping::{MappedIdentity, MappingError, Resolution};
pub use path::ClaimPath;
