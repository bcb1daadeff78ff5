//! Upstream connections, one pool per worker thread.
//!
//! hyper-util's pooled client keeps one pool per client behind a mutex,
//! keyed in a SipHash map, and hands connections between tasks through
//! channels; with a worker per core each worker has its own pool anyway,
//! so this one is a plain list per upstream on the thread that uses it:
//! no lock, no hashing, no hand-off. A request takes the first connection
//! that is ready (its previous response finished), else opens one; the
//! connection goes back on the list as soon as the response head arrives
//! (it becomes ready again when the body has been read). A request that a
//! pooled connection could not take (closed by the upstream meanwhile) is
//! sent once more on a new connection, as hyper-util does.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Uri, header};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use tower::ServiceExt;

use super::Connector;

/// Idle connections kept per upstream and thread.
const MAX_PER_UPSTREAM: usize = 256;

/// A connection unused this long (counted from its last response head) is
/// dropped at the next checkout of its upstream on its thread rather than
/// reused; an upstream's own idle timeout usually closes it first.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Upstreams a thread keeps connections to (past it, the connections of
/// the upstream added first are dropped).
const MAX_UPSTREAMS: usize = 64;

struct Idle {
    send: SendRequest<Body>,
    since: Instant,
}

struct Upstream {
    /// `scheme://authority`.
    key: Box<str>,
    conns: Vec<Idle>,
}

thread_local! {
    /// This thread's connections, for the pool whose id they carry.
    static POOLS: RefCell<(usize, Vec<Upstream>)> = const { RefCell::new((0, Vec::new())) };
}

/// Why a request could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The connection could not be opened.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The exchange failed.
    #[error("{0}")]
    Http(#[from] hyper::Error),
    /// The URI has no scheme or authority.
    #[error("the upstream URI is not absolute")]
    NotAbsolute,
}

fn same_key(stored: &str, scheme: &str, authority: &str) -> bool {
    stored.len() == scheme.len() + 3 + authority.len()
        && stored.starts_with(scheme)
        && stored[scheme.len()..].starts_with("://")
        && stored.ends_with(authority)
}

/// This thread's upstreams for pool `pool` (another pool's are let go).
fn upstreams<R>(pool: usize, f: impl FnOnce(&mut Vec<Upstream>) -> R) -> R {
    POOLS.with(|p| {
        let mut p = p.borrow_mut();
        if p.0 != pool {
            *p = (pool, Vec::new());
        }
        f(&mut p.1)
    })
}

/// A ready pooled connection to `scheme://authority`, if this thread has one.
fn checkout(pool: usize, scheme: &str, authority: &str) -> Option<SendRequest<Body>> {
    upstreams(pool, |ups| {
        let up = ups
            .iter_mut()
            .find(|u| same_key(&u.key, scheme, authority))?;
        let now = Instant::now();
        up.conns
            .retain(|c| !c.send.is_closed() && now.duration_since(c.since) < IDLE_TIMEOUT);
        let i = up.conns.iter().position(|c| c.send.is_ready())?;
        Some(up.conns.swap_remove(i).send)
    })
}

/// Put a connection back (it may still be busy with a response body).
fn checkin(pool: usize, scheme: &str, authority: &str, send: SendRequest<Body>) {
    upstreams(pool, |ups| {
        let idle = Idle {
            send,
            since: Instant::now(),
        };
        if let Some(up) = ups.iter_mut().find(|u| same_key(&u.key, scheme, authority)) {
            if up.conns.len() < MAX_PER_UPSTREAM {
                up.conns.push(idle);
            }
            return;
        }
        if ups.len() >= MAX_UPSTREAMS {
            ups.remove(0);
        }
        ups.push(Upstream {
            key: format!("{scheme}://{authority}").into_boxed_str(),
            conns: vec![idle],
        });
    })
}

/// Open a connection to `scheme://authority`; its task runs on this
/// thread's runtime (with upgrades, for WebSockets).
async fn connect(
    connector: &Connector,
    scheme: &str,
    authority: &str,
) -> Result<SendRequest<Body>, SendError> {
    let origin = Uri::builder()
        .scheme(scheme)
        .authority(authority)
        .path_and_query("/")
        .build()
        .map_err(|_| SendError::NotAbsolute)?;
    let io = connector
        .clone()
        .oneshot(origin)
        .await
        .map_err(|e| SendError::Connect(e.to_string()))?;
    let (send, conn) = hyper::client::conn::http1::Builder::new()
        .handshake(io)
        .await?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "upstream connection ended with an error");
        }
    });
    Ok(send)
}

/// Send `req` (an absolute URI) on a connection of this thread's pool
/// `pool`, or a new one.
pub async fn send(
    pool: usize,
    connector: &Connector,
    mut req: Request,
) -> Result<hyper::Response<Incoming>, SendError> {
    // HTTP/1.1 to an origin server: the origin form of the target, and
    // the authority in `Host`.
    let mut parts = std::mem::take(req.uri_mut()).into_parts();
    let (Some(scheme), Some(authority)) = (parts.scheme.take(), parts.authority.take()) else {
        return Err(SendError::NotAbsolute);
    };
    *req.uri_mut() = Uri::from_parts(parts).map_err(|_| SendError::NotAbsolute)?;
    let (scheme, authority) = (scheme.as_str(), authority.as_str());
    if !req.headers().contains_key(header::HOST)
        && let Ok(v) = HeaderValue::from_str(authority)
    {
        req.headers_mut().insert(header::HOST, v);
    }
    if let Some(mut send) = checkout(pool, scheme, authority) {
        match send.try_send_request(req).await {
            Ok(resp) => {
                checkin(pool, scheme, authority, send);
                return Ok(resp);
            }
            Err(mut e) => match e.take_message() {
                // Not sent: the connection closed meanwhile; once more on a new one.
                Some(back) => req = back,
                None => return Err(SendError::Http(e.into_error())),
            },
        }
    }
    let mut send = connect(connector, scheme, authority).await?;
    let resp = send.send_request(req).await?;
    checkin(pool, scheme, authority, send);
    Ok(resp)
}
