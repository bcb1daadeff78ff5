//! The only crate of Gatehouse that touches key material. It seals secrets at
//! rest under the instance's master key ([`sealed`]), makes random tokens and
//! their lookup hashes ([`token`]) and hashes local passwords ([`password`]).
//!
//! Everything here is built on `aws-lc-rs` and `argon2`; nothing is
//! hand-rolled. Callers above never see a raw key.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod password;
pub mod sealed;
pub mod signing;
pub mod token;

pub use sealed::{MasterKey, MasterKeys, SealContext, SealError};
