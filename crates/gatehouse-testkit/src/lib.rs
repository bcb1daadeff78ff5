//! The test harness of Gatehouse (zero2prod's `spawn_app`): every test starts
//! the real server in-process on `127.0.0.1:0` with its own data directory
//! and database, an injected clock, and the helpers to drive it: an admin API
//! client, per-host browser-like clients, and an echo upstream. Private
//! servers (nginx, Caddy, PostgreSQL, node, Chromium) die with the test
//! process however it ends ([`process`]).
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod app;
pub mod balancer;
pub mod browser;
pub mod client;
pub mod idp;
pub mod jose;
pub mod load;
pub mod node;
pub mod postgres;
pub mod process;
pub mod proxies;
pub mod raw;
pub mod sso;
pub mod upstream;

pub use app::{TestApp, TestAppBuilder};

/// A loopback port nobody listens on (just now).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
pub use client::{ApiClient, AppClient, Resp};
pub use idp::TestIdp;
pub use upstream::EchoUpstream;
