//! The web layer of Gatehouse: the only crate that knows status codes and
//! HTML. Requests are dispatched by `Host`: an application's host gets its
//! `/auth/*` routes and the reverse proxy; the admin host gets the admin API
//! (and the console); anything else gets a 404 page. Handlers are thin: they
//! extract (parsed values: `AppPath`, `RequestHost`, the canonical path),
//! call one `gatehouse-service` operation, and render.
//!
//! Every error becomes HTTP in one place, [`error`]: a handler returns an
//! [`HttpError`] whose report one middleware logs and renders as a page,
//! a problem document or the body a protocol prescribes. Access decisions
//! are the service's (`gh.access().authorize`); [`identity`] only finds
//! who the request is for.
#![forbid(unsafe_code)]

pub mod api;
pub mod auth;
pub mod console;
pub mod cookies;
mod dispatch;
pub mod error;
pub mod extract;
mod health;
pub mod identity;
pub mod metrics;
pub mod middleware;
mod pages;
pub mod proxy;
pub mod server;
pub mod state;

pub use error::HttpError;
pub use ipnet::IpNet;
pub use state::{AppState, HttpSettings};

/// The whole HTTP surface of one node, as the server calls it
/// ([`server::serve`]): the dispatcher directly, without a router's layers
/// of services around it.
pub fn handler(state: AppState) -> server::Handler {
    dispatch::handler(state)
}
