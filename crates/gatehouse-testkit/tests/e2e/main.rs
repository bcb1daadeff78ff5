//! End-to-end tests: the real server on a random port, a fresh SQLite file
//! per test, an echo upstream, real HTTP. One binary for all of them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access;
mod api;
mod apply;
mod assertion;
mod bearer;
mod browser;
mod certification;
mod console;
mod forward_auth;
mod handles;
mod hostile;
mod local_sign_in;
mod multinode;
mod oidc;
mod proxy;
mod readme;
mod scim;
mod serving;
mod sessions;
