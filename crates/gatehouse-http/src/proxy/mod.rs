//! The reverse proxy: signed-in requests go to the application's upstream
//! over a pooled hyper client, bodies stream both ways, WebSocket upgrades
//! are spliced, identity headers are replaced by Gatehouse's own.

pub mod headers;
mod pool;

use std::time::Instant;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{StatusCode, Uri, header};
use axum::response::Response;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;

use crate::error::HttpError;
use crate::extract::AppRoute;
use crate::identity::{Identified, identity_headers};
use crate::state::AppState;

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// The upstream client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the upstream HTTP client: {0}")]
pub struct ProxyError(String);

/// HTTP/1.1 connections to upstreams (`http` and `https`): one pool per
/// worker thread ([`pool`]), so a worker's requests reuse the upstream
/// connections that worker opened, with no lock and no hand-off between
/// threads.
#[derive(Clone)]
pub struct ProxyClient {
    connector: Connector,
    /// Tells this client's per-thread pools from another's (several nodes
    /// in one process, in tests).
    id: usize,
}

impl std::fmt::Debug for ProxyClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProxyClient")
    }
}

impl ProxyClient {
    /// Build the client. TLS trusts the system's roots, or the Mozilla roots
    /// when the system has none.
    pub fn new() -> Result<Self, ProxyError> {
        static NEXT_ID: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(std::time::Duration::from_secs(5)));
        let builder = hyper_rustls::HttpsConnectorBuilder::new();
        let builder = match builder.with_native_roots() {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "no system TLS roots; trusting the Mozilla roots for https upstreams");
                hyper_rustls::HttpsConnectorBuilder::new().with_webpki_roots()
            }
        };
        let connector = builder.https_or_http().enable_http1().wrap_connector(http);
        Ok(Self {
            connector,
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        })
    }

    /// Send `req` (an absolute URI) over this thread's pool.
    async fn request(
        &self,
        req: Request,
    ) -> Result<hyper::Response<hyper::body::Incoming>, pool::SendError> {
        pool::send(self.id, &self.connector, req).await
    }
}

/// The upstream URI for a request path and query.
fn upstream_uri(base: &url::Url, path_and_query: &str) -> Result<Uri, HttpError> {
    // The base's `scheme://host[:port]/path` as `url` keeps it serialized
    // (no credentials: `UpstreamUrl` refuses them; no query), without the
    // path's trailing '/': one allocation, no formatting, per request.
    let prefix = base[..url::Position::AfterPath].trim_end_matches('/');
    let mut s = String::with_capacity(prefix.len() + path_and_query.len());
    s.push_str(prefix);
    s.push_str(path_and_query);
    Uri::from_maybe_shared(bytes::Bytes::from(s))
        .map_err(|e| HttpError::internal(format!("cannot build upstream URI: {e}")))
}

/// Send a signed-in request to the application's upstream.
pub async fn forward(
    state: &AppState,
    route: &AppRoute,
    who: &Identified,
    mut req: Request,
) -> Result<Response, HttpError> {
    let Some(upstream) = route.rt.app.upstream_url.as_ref() else {
        return Err(HttpError::internal("forward called without an upstream"));
    };
    let uri = upstream_uri(
        upstream.as_url(),
        req.uri().path_and_query().map_or("/", |p| p.as_str()),
    )?;
    let client_ip = crate::extract::client_addr(req.extensions());
    let upgrade = headers::is_websocket_upgrade(req.method(), req.headers());
    let client_upgrade = if upgrade {
        req.extensions_mut().remove::<hyper::upgrade::OnUpgrade>()
    } else {
        None
    };

    let h = req.headers_mut();
    headers::strip_hop_by_hop(h, upgrade);
    headers::strip_identity_headers(h, &route.rt.access.strip_headers);
    crate::cookies::strip_ours(h, &state.settings().session_cookie);
    headers::set_forwarded(h, client_ip, route.rt.app.scheme.as_str(), &route.host);
    identity_headers(state, route, who, h)?;
    h.remove(header::HOST);
    *req.uri_mut() = uri;
    // The upstream client speaks HTTP/1.1, whatever the client spoke to us
    // (cleartext HTTP/2 when it is turned on).
    *req.version_mut() = axum::http::Version::HTTP_11;

    let started = Instant::now();
    let sent = tokio::time::timeout(
        state.settings().upstream_timeout,
        state.proxy().request(req),
    )
    .await;
    let mut resp = match sent {
        Err(_) => {
            return Err(HttpError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "upstream_timeout",
                "The application did not answer",
                "The application behind Gatehouse did not answer in time. Try again shortly.",
            )
            .reason(format!("upstream {} timed out", upstream.as_str())));
        }
        Ok(Err(e)) => {
            return Err(HttpError::new(
                StatusCode::BAD_GATEWAY,
                "upstream_unreachable",
                "The application is not reachable",
                "The application behind Gatehouse could not be reached. Try again shortly.",
            )
            .reason(format!("upstream {}: {e}", upstream.as_str())));
        }
        Ok(Ok(resp)) => resp,
    };
    state.metrics().observe_upstream(started.elapsed());

    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        let Some(client_upgrade) = client_upgrade else {
            return Err(HttpError::new(
                StatusCode::BAD_GATEWAY,
                "upstream_protocol",
                "The application answered unexpectedly",
                "The application switched protocols without being asked to.",
            ));
        };
        let upstream_upgrade = hyper::upgrade::on(&mut resp);
        // The connection lasts as long as the user may be signed in: when
        // they are disabled, deprovisioned or deleted (on any node), it is
        // closed.
        let gh = state.gh().clone();
        let control = state.clone();
        let (app, user) = (route.rt.app.id, who.user.id);
        let mut changes = gh.user_changes();
        tokio::spawn(async move {
            match tokio::try_join!(client_upgrade, upstream_upgrade) {
                Ok((client, upstream)) => {
                    let mut client = TokioIo::new(client);
                    let mut upstream = TokioIo::new(upstream);
                    let copy = tokio::io::copy_bidirectional(&mut client, &mut upstream);
                    tokio::pin!(copy);
                    loop {
                        tokio::select! {
                            done = &mut copy => {
                                if let Err(e) = done {
                                    tracing::debug!(error = %e, "upgraded connection ended");
                                }
                                break;
                            }
                            changed = changes.recv() => {
                                let check = match changed {
                                    Ok(id) => id == user,
                                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => true,
                                    // The service is shutting down.
                                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                                };
                                // Asked on the control runtime, which owns the store.
                                let still = |gh: gatehouse_service::Gatehouse| async move {
                                    gh.still_signed_in(app, user).await
                                };
                                if check && !control.on_control(still(gh.clone())).await.unwrap_or(false) {
                                    tracing::info!(%app, %user, "closing an upgraded connection: the user may no longer be signed in");
                                    break;
                                }
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "protocol upgrade failed"),
            }
        });
        let (mut parts, _) = resp.into_parts();
        headers::strip_hop_by_hop(&mut parts.headers, true);
        crate::cookies::drop_upstream_set_cookies(
            &mut parts.headers,
            &state.settings().session_cookie,
        );
        return Ok(Response::from_parts(parts, Body::empty()));
    }

    let (mut parts, body) = resp.into_parts();
    headers::strip_hop_by_hop(&mut parts.headers, false);
    crate::cookies::drop_upstream_set_cookies(&mut parts.headers, &state.settings().session_cookie);
    Ok(Response::from_parts(parts, Body::new(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_uris_keep_the_base_path() {
        let base = url::Url::parse("http://127.0.0.1:9000/base/").unwrap_or_else(|e| panic!("{e}"));
        let uri = upstream_uri(&base, "/x?y=1").map(|u| u.to_string()).ok();
        assert_eq!(uri.as_deref(), Some("http://127.0.0.1:9000/base/x?y=1"));
        let root = url::Url::parse("https://up.example").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            upstream_uri(&root, "/")
                .map(|u| u.to_string())
                .ok()
                .as_deref(),
            Some("https://up.example/")
        );
        let v6 = url::Url::parse("http://[::1]:8080").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            upstream_uri(&v6, "/a/b?c=d%2F")
                .map(|u| u.to_string())
                .ok()
                .as_deref(),
            Some("http://[::1]:8080/a/b?c=d%2F")
        );
        let default_port =
            url::Url::parse("http://up.example:80/p").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            upstream_uri(&default_port, "/")
                .map(|u| u.to_string())
                .ok()
                .as_deref(),
            Some("http://up.example/p/")
        );
    }
}
