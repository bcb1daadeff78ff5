//! The one layer around every request: a correlation id and a tracing span,
//! error reports logged and rendered ([`log_errors`]), and request metrics.

pub mod log_errors;
pub mod request_id;

use std::time::Instant;

use axum::extract::Request;
use axum::response::Response;
use tracing::Instrument;

use crate::error::ErrorReport;
use crate::state::AppState;
pub use request_id::RequestId;

/// Which route answered, for metrics: set by handlers in response extensions.
#[derive(Debug, Clone, Copy)]
pub struct RouteLabel(pub &'static str);

/// Marks a response whose error must be a problem document whatever the
/// request's `Accept` says (the admin API).
#[derive(Debug, Clone, Copy)]
pub struct ProblemJson;

/// Whether the caller wants JSON rather than an HTML page.
pub fn wants_json(headers: &axum::http::HeaderMap) -> bool {
    let accept = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accept.contains("text/html") {
        return false;
    }
    accept.contains("json")
        || headers.contains_key(axum::http::header::AUTHORIZATION)
        || headers
            .get("x-requested-with")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"xmlhttprequest"))
}

/// A request's path as logged: at most 256 bytes (the rest replaced by
/// `…`), so a client cannot make each log line as long as its request.
fn log_path(path: &str) -> std::borrow::Cow<'_, str> {
    if path.len() <= 256 {
        return std::borrow::Cow::Borrowed(path);
    }
    std::borrow::Cow::Owned(format!("{}…", gatehouse_core::audit::prefix(path, 256)))
}

/// Correlation id, span, error rendering and metrics for every request.
/// The server's entry point calls the dispatcher through this directly.
pub async fn observed<F, Fut>(state: &AppState, mut req: Request, inner: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    let id = RequestId::generate();
    let json = wants_json(req.headers());
    req.extensions_mut().insert(id);
    let trusted = &state.settings().trusted_proxies;
    if !trusted.is_empty()
        && let Some(peer) = crate::extract::peer_ip(req.extensions())
        && let Some(client) = crate::extract::forwarded_client(trusted, peer, req.headers())
    {
        req.extensions_mut()
            .insert(crate::extract::ClientAddr(client));
    }
    let span = tracing::info_span!(
        "request",
        correlation_id = %id,
        method = %req.method(),
        path = %log_path(req.uri().path()),
    );
    let start = Instant::now();
    let mut resp = inner(req).instrument(span.clone()).await;
    let label = resp
        .extensions()
        .get::<RouteLabel>()
        .map_or("other", |l| l.0);
    if let Some(report) = resp.extensions_mut().remove::<ErrorReport>() {
        let json = json || resp.extensions().get::<ProblemJson>().is_some();
        let _enter = span.enter();
        log_errors::log(&report, &id);
        resp = log_errors::render(resp, &report, &id, json);
    }
    if let Ok(v) = axum::http::HeaderValue::from_str(id.as_str()) {
        resp.headers_mut().insert("x-request-id", v);
    }
    state
        .metrics()
        .observe_request(label, resp.status().as_u16());
    tracing::debug!(parent: &span, status = resp.status().as_u16(), elapsed_us = start.elapsed().as_micros() as u64, "request done");
    resp
}
