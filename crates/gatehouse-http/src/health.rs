//! `/healthz` (the process answers), `/readyz` (the database answers),
//! `/metrics` (Prometheus), and `/.well-known/jwks.json` (the public keys
//! upstreams verify `X-Gatehouse-Assertion` with): the endpoints a load
//! balancer or an upstream reaches by address.

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::auth::labelled;
use crate::error::HttpError;
use crate::state::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/.well-known/jwks.json", get(jwks))
}

/// `/metrics`, on the admin host only.
pub(crate) fn metrics_router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

async fn jwks(State(state): State<AppState>) -> Response {
    let body = state.gh().assertions().jwks();
    labelled(
        "jwks",
        (
            [
                (header::CONTENT_TYPE, "application/jwk-set+json"),
                (header::CACHE_CONTROL, "public, max-age=300"),
            ],
            body.to_string(),
        ),
    )
}

async fn healthz() -> Response {
    labelled("health", "ok\n")
}

async fn readyz(State(state): State<AppState>) -> Response {
    let ping = tokio::time::timeout(Duration::from_secs(2), state.gh().store().ping()).await;
    let resp = match ping {
        Ok(Ok(())) => (StatusCode::OK, "ready\n").into_response(),
        Ok(Err(e)) => HttpError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "Not ready",
            "The database does not answer.",
        )
        .reason(format!("readiness: {e}"))
        .into_response(),
        Err(_) => HttpError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "Not ready",
            "The database does not answer.",
        )
        .reason("readiness: database ping timed out")
        .into_response(),
    };
    labelled("health", resp)
}

/// `/metrics`: from this node's memory only (a scrape never waits on the
/// database), on the admin host only, behind `metrics_token` when set.
async fn metrics(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    if let Some(expected) = &state.settings().metrics_token {
        let sent = crate::identity::bearer_token(&headers).unwrap_or("");
        if !gatehouse_crypto::token::secrets_equal(expected, sent) {
            let mut resp = labelled(
                "metrics",
                HttpError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "Unauthorized",
                    "Metrics need the metrics token: Authorization: Bearer <metrics_token>.",
                )
                .reason("metrics scraped without the metrics token"),
            );
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return resp;
        }
    }
    state
        .metrics()
        .set_active_sessions(i64::try_from(state.gh().cached_sessions()).unwrap_or(i64::MAX));
    let resp = match state.metrics().encode() {
        Ok(body) => {
            let mut r = body.into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            r
        }
        Err(e) => HttpError::internal(format!("metrics encoding failed: {e}")).into_response(),
    };
    labelled("metrics", resp)
}
