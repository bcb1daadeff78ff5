//! The connection loop: HTTP/1.1 (with upgrades, for WebSockets), and
//! cleartext HTTP/2 with prior knowledge only when the operator turns it on
//! (`http2_cleartext`). Both go through the same [`router`](crate::router),
//! so every rule of `dispatch` applies to either.
//!
//! HTTP/2 is off by default because a proxy in front that speaks HTTP/1.1
//! to Gatehouse is what the shipped configurations use, and a second
//! framing on the same port is a second place for request smuggling to hide.

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tower::ServiceExt;
use tower_http::timeout::TimeoutBody;

/// How connections are served.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// Accept cleartext HTTP/2 with prior knowledge beside HTTP/1.1.
    pub http2_cleartext: bool,
    /// See [`HEADER_READ_TIMEOUT`].
    pub header_read_timeout: std::time::Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            http2_cleartext: false,
            header_read_timeout: HEADER_READ_TIMEOUT,
        }
    }
}

/// How long a client has to send a request's headers by default, counted from when
/// the connection is ready for a request (so an idle keep-alive connection
/// is closed after it too): a client that trickles headers, or holds
/// connections open without a request, cannot hold them for good.
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The most a connection buffers of a request's head (hyper's default,
/// ~400 KB, let one unfinished request hold that much memory): nginx
/// allows 32 KB of headers by default.
const MAX_BUF: usize = 64 * 1024;

/// Longest wait for in-flight requests at shutdown.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(30);

/// Serve `router` on `listener` until `shutdown` resolves, then let
/// in-flight requests finish (for at most 30 s).
/// Drive a connection until it ends, or until shutdown asks it to finish
/// its requests and close; then release the drain guard. A macro because
/// hyper's HTTP/1 and auto (HTTP/1 + h2c) connections share no trait for
/// `graceful_shutdown`.
macro_rules! drive {
    ($conn:expr, $stop:ident, $alive:ident) => {{
        let conn = $conn;
        tokio::pin!(conn);
        tokio::select! {
            r = conn.as_mut() => log_end(r.err().map(|e| e.to_string())),
            _ = $stop.changed() => {
                conn.as_mut().graceful_shutdown();
                log_end(conn.await.err().map(|e| e.to_string()));
            }
        }
        drop($alive);
    }};
}

pub async fn serve(
    listener: TcpListener,
    router: Router,
    opts: ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // Every connection task holds a sender; when all are gone, the drain is done.
    let (alive_tx, mut alive_rx) = tokio::sync::mpsc::channel::<()>(1);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Small responses go out at once, as nginx's tcp_nodelay does on
        // keep-alive connections (no Nagle wait for the client's ACK).
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY");
        }
        let router = router.clone();
        let body_idle = opts.header_read_timeout;
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            let router = router.clone();
            // A body that stops arriving fails after the same time a client
            // has for its headers (a slow-body slowloris is cut off; a long
            // upload that keeps sending is not).
            let req = req.map(|b| Body::new(TimeoutBody::new(body_idle, b)));
            async move {
                let resp = match router.oneshot(req).await {
                    Ok(r) => r,
                    Err(never) => match never {},
                };
                Ok::<_, Infallible>(resp)
            }
        });
        let mut stop = stop_rx.clone();
        let alive = alive_tx.clone();
        let io = TokioIo::new(tcp);
        if opts.http2_cleartext {
            tokio::spawn(async move {
                let mut builder =
                    hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                builder
                    .http1()
                    .timer(TokioTimer::new())
                    .header_read_timeout(opts.header_read_timeout)
                    .max_buf_size(MAX_BUF);
                builder.http2().timer(TokioTimer::new());
                drive!(
                    builder.serve_connection_with_upgrades(io, service),
                    stop,
                    alive
                );
            });
        } else {
            tokio::spawn(async move {
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(opts.header_read_timeout)
                    .max_buf_size(MAX_BUF)
                    .serve_connection(io, service)
                    .with_upgrades();
                drive!(conn, stop, alive);
            });
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(alive_tx);
    if tokio::time::timeout(DRAIN, alive_rx.recv()).await.is_err() {
        tracing::warn!("connections still open after the shutdown drain; closing them");
    }
    Ok(())
}

fn log_end(err: Option<String>) {
    if let Some(e) = err {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}
