//! The web layer of Gatehouse: the only crate that knows status codes and
//! HTML. Requests are dispatched by `Host`: an application's host gets its
//! `/auth/*` routes and the reverse proxy; the admin host gets the admin API
//! (and the console); anything else gets a 404 page. Handlers are thin: they
//! extract, call one `gatehouse-service` operation, and render.

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

use axum::Router;

/// The whole HTTP surface of one node.
pub fn router(state: AppState) -> Router {
    dispatch::router(state)
}
