//! The connection loop: HTTP/1.1 (with upgrades, for WebSockets), and
//! cleartext HTTP/2 with prior knowledge only when the operator turns it on
//! (`http2_cleartext`). Both go through the same [`handler`](crate::handler),
//! so every rule of `dispatch` applies to either.
//!
//! HTTP/2 is off by default because a proxy in front that speaks HTTP/1.1
//! to Gatehouse is what the shipped configurations use, and a second
//! framing on the same port is a second place for request smuggling to hide.
//!
//! Thread per core: [`Listeners::bind`] opens one listening socket per
//! worker on the same port (`SO_REUSEPORT`: the kernel spreads new
//! connections over them), and [`serve`] runs each worker on its own OS
//! thread with a current-thread tokio runtime. A connection, its requests,
//! their upstream connections (a pool per thread, see
//! [`crate::proxy`]) and the responses stay on the thread that accepted it:
//! no hand-off between threads on the hot path.
//!
//! The runtime that calls [`serve`] (the process's main runtime) is the
//! *control* runtime: it owns the database pool, the IdP client, the
//! change feed and the batched writes. Workers never await those: a
//! request that needs them (sign-in, the console, the API, a session not
//! in the cache) is handed to the control runtime with
//! [`crate::AppState::on_control`] and its answer awaited; so a slow
//! query or a CPU-heavy password hash never blocks a worker's other
//! connections, and a database connection never belongs to a worker's
//! runtime (which ends at shutdown before the last writes).

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tower_http::timeout::TimeoutBody;

/// What answers each request: [`crate::handler`].
pub type Handler = std::sync::Arc<
    dyn Fn(
            axum::extract::Request,
        )
            -> std::pin::Pin<Box<dyn std::future::Future<Output = axum::response::Response> + Send>>
        + Send
        + Sync,
>;

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

/// Pending connections each listening socket queues (nginx's default is 511).
const BACKLOG: i32 = 1024;

/// The most workers a node runs (a typo in `workers` must not start
/// thousands of threads).
pub const MAX_WORKERS: usize = 256;

/// The default number of workers: one per core the process may use.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// The listening sockets of a node: one per worker, all on one address.
#[derive(Debug)]
pub struct Listeners {
    sockets: Vec<std::net::TcpListener>,
    addr: SocketAddr,
}

impl Listeners {
    /// Bind `workers` sockets to `addr` with `SO_REUSEPORT`. The first is
    /// bound as asked (port 0: the kernel picks one); the others to the
    /// port it got, so `127.0.0.1:0` works as for one socket. A port some
    /// other process listens on is refused as "address in use", as a plain
    /// bind would be, even when that process set `SO_REUSEPORT` too (a
    /// second Gatehouse started by mistake on the same port): a plain
    /// socket is bound to it first, and let go just before the workers'
    /// sockets take the port.
    pub fn bind(addr: SocketAddr, workers: usize) -> std::io::Result<Self> {
        let workers = workers.clamp(1, MAX_WORKERS);
        if addr.port() != 0 {
            drop(std::net::TcpListener::bind(addr)?);
        }
        let first = reuseport_socket(addr)?;
        let addr = first.local_addr()?;
        let mut sockets = vec![first];
        for _ in 1..workers {
            sockets.push(reuseport_socket(addr)?);
        }
        Ok(Self { sockets, addr })
    }

    /// The address bound (port 0 resolved).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many workers these sockets serve.
    pub fn workers(&self) -> usize {
        self.sockets.len()
    }

    /// The sockets, for a server of one's own (the calibration example).
    pub fn into_std(self) -> Vec<std::net::TcpListener> {
        self.sockets
    }
}

fn reuseport_socket(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    // IPV6_V6ONLY is left to the system (Linux: `[::]` also takes IPv4),
    // as the single listener before did.
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

thread_local! {
    /// Set on a worker thread: work for the control runtime is sent there.
    static WORKER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the current thread is one of [`serve`]'s workers.
pub fn on_worker() -> bool {
    WORKER.with(std::cell::Cell::get)
}

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

/// Serve `router` on `listeners`, one worker thread per socket, until
/// `shutdown` resolves; then every worker stops accepting, lets its
/// in-flight requests finish (for at most 30 s) and ends. Returns when all
/// workers have ended, so the caller can then flush what the control
/// runtime holds (last-use times, the change feed).
pub async fn serve(
    listeners: Listeners,
    handler: Handler,
    opts: ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // Every worker reports here when it ends (a panic included).
    let (ended_tx, mut ended_rx) =
        tokio::sync::mpsc::unbounded_channel::<(usize, std::io::Result<()>)>();
    let workers = listeners.sockets.len();
    for (i, socket) in listeners.sockets.into_iter().enumerate() {
        let handler = handler.clone();
        let stop = stop_rx.clone();
        let ended = ended_tx.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("gatehouse-worker-{i}"))
            .spawn(move || {
                let run = std::panic::AssertUnwindSafe(|| {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .and_then(|rt| {
                            WORKER.with(|w| w.set(true));
                            rt.block_on(async move {
                                let listener = TcpListener::from_std(socket)?;
                                worker(listener, handler, opts, stop).await;
                                Ok(())
                            })
                        })
                });
                let result = std::panic::catch_unwind(run)
                    .unwrap_or_else(|_| Err(std::io::Error::other("the worker thread panicked")));
                let _ = ended.send((i, result));
            });
        if let Err(e) = spawned {
            let _ = stop_tx.send(true);
            return Err(e);
        }
    }
    drop(ended_tx);
    // Serve until asked to stop, or until a worker stops by itself: its
    // socket would keep taking connections nobody accepts, so the node
    // stops (and its supervisor starts it again) rather than serve on
    // with a hole.
    tokio::pin!(shutdown);
    let early = tokio::select! {
        () = &mut shutdown => None,
        Some(ended) = ended_rx.recv() => Some(ended),
    };
    let mut result = Ok(());
    let mut done = 0;
    if let Some((i, r)) = early {
        let why = r
            .err()
            .map_or_else(|| "it ended".to_owned(), |e| e.to_string());
        tracing::error!(worker = i, error = %why, "a worker stopped while serving; stopping the node");
        result = Err(std::io::Error::other(format!("worker {i} stopped: {why}")));
        done += 1;
    }
    let _ = stop_tx.send(true);
    while let Some((_, r)) = ended_rx.recv().await {
        done += 1;
        if let Err(e) = r {
            result = Err(e);
        }
    }
    if done < workers && result.is_ok() {
        result = Err(std::io::Error::other("a worker thread ended abnormally"));
    }
    result
}

/// One worker: accept on its own socket until told to stop, each
/// connection a task on this thread's runtime; then drain.
async fn worker(
    listener: TcpListener,
    handler: Handler,
    opts: ServeOptions,
    mut stop_rx: tokio::sync::watch::Receiver<bool>,
) {
    // Every connection task holds a sender; when all are gone, the drain is done.
    let (alive_tx, mut alive_rx) = tokio::sync::mpsc::channel::<()>(1);
    loop {
        let (tcp, peer) = tokio::select! {
            _ = stop_rx.changed() => break,
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
        let handler = handler.clone();
        let body_idle = opts.header_read_timeout;
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            // A body that stops arriving fails after the same time a client
            // has for its headers (a slow-body slowloris is cut off; a long
            // upload that keeps sending is not).
            let req = req.map(|b| Body::new(TimeoutBody::new(body_idle, b)));
            let call = handler(req);
            async move { Ok::<_, Infallible>(call.await) }
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
    drop(alive_tx);
    if tokio::time::timeout(DRAIN, alive_rx.recv()).await.is_err() {
        tracing::warn!("connections still open after the shutdown drain; closing them");
    }
}

fn log_end(err: Option<String>) {
    if let Some(e) = err {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_share_one_port_even_when_the_kernel_picks_it() {
        let l = Listeners::bind(SocketAddr::from(([127, 0, 0, 1], 0)), 3)
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let port = l.local_addr().port();
        assert_ne!(port, 0);
        assert_eq!(l.workers(), 3);
        for s in l.into_std() {
            assert_eq!(s.local_addr().map(|a| a.port()).ok(), Some(port));
        }
    }

    #[test]
    fn a_socket_without_reuseport_cannot_join_the_port() {
        let l = Listeners::bind(SocketAddr::from(([127, 0, 0, 1], 0)), 2)
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let stolen = std::net::TcpListener::bind(l.local_addr());
        assert!(
            stolen.is_err(),
            "a plain bind to the workers' port succeeded"
        );
    }

    #[test]
    fn a_second_node_on_a_taken_port_is_refused() {
        let first = Listeners::bind(SocketAddr::from(([127, 0, 0, 1], 0)), 2)
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let second = Listeners::bind(first.local_addr(), 2);
        assert!(
            second.is_err(),
            "a second set of SO_REUSEPORT sockets joined a port in use"
        );
    }

    #[test]
    fn the_worker_count_is_bounded() {
        let l = Listeners::bind(SocketAddr::from(([127, 0, 0, 1], 0)), 0)
            .unwrap_or_else(|e| panic!("bind: {e}"));
        assert_eq!(l.workers(), 1);
    }
}
