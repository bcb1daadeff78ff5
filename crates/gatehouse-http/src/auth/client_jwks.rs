//! `GET <prefix>/jwks.json`: the application's public key for
//! `private_key_jwt`, for IdPs that fetch client keys by URL.

use axum::response::{IntoResponse, Response};

use super::labelled;
use crate::error::HttpError;
use crate::extract::AppRoute;

/// The public JWK Set, or 404 when the application has no client key.
pub async fn jwks(route: AppRoute) -> Response {
    let resp = match route.rt.client_key.as_deref() {
        Some(key) => axum::Json(gatehouse_service::apps::client_jwks(key)).into_response(),
        None => HttpError::not_found("Key set").into_response(),
    };
    labelled("auth_jwks", resp)
}
