//! `/api/v1`: everything the console does, as JSON, with a bearer admin
//! token. Errors are RFC 9457 problem documents naming the field at fault.
//! Described by the OpenAPI document at `/api/v1/openapi.json`, generated
//! from these handlers.

pub mod api_access;
pub mod apply;
pub mod apps;
pub mod audit;
pub mod grants;
pub mod keys;
pub mod openapi;
pub mod scim;
pub mod sessions;
pub mod sso;
pub mod users;
pub mod views;

use std::str::FromStr;

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::auth::labelled;
use crate::error::HttpError;
use crate::state::AppState;

/// The API routes (nested under `/api/v1`).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi::document))
        .route("/apps", get(apps::list).post(apps::create))
        .route(
            "/apps/{id}",
            get(apps::get).patch(apps::update).delete(apps::delete),
        )
        .route("/apps/{id}/sso/oidc", get(sso::get).put(sso::put))
        .route("/apps/{id}/sso/oidc/test", axum::routing::post(sso::test))
        .route("/admin/sso/oidc", get(sso::get_admin).put(sso::put_admin))
        .route("/apps/{id}/users", get(users::list).post(users::create))
        .route(
            "/apps/{id}/users/{user_id}",
            get(users::get).patch(users::update).delete(users::delete),
        )
        .route(
            "/apps/{id}/users/{user_id}/sessions",
            axum::routing::delete(sessions::revoke_user),
        )
        .route("/apps/{id}/sessions", get(sessions::list))
        .route(
            "/apps/{id}/sessions/{session_id}",
            axum::routing::delete(sessions::revoke),
        )
        .route("/apps/{id}/audit", get(audit::list))
        .route("/apps/{id}/grants", get(grants::list).post(grants::create))
        .route(
            "/apps/{id}/grants/{grant_id}",
            axum::routing::delete(grants::delete),
        )
        .route(
            "/apps/{id}/access",
            get(grants::get_access).put(grants::put_access),
        )
        .route(
            "/apps/{id}/api-access",
            get(api_access::get).put(api_access::put),
        )
        .route("/apps/{id}/scim", get(scim::info))
        .route(
            "/apps/{id}/scim/tokens",
            get(scim::list_tokens).post(scim::create_token),
        )
        .route(
            "/apps/{id}/scim/tokens/{token_id}",
            axum::routing::delete(scim::revoke_token),
        )
        .route(
            "/apps/{id}/scim/settings",
            get(scim::get_settings).put(scim::put_settings),
        )
        .route("/apply", axum::routing::post(apply::apply))
        .route("/export", get(apply::export))
        .route("/keys", get(keys::list))
        .route("/keys/rotate", axum::routing::post(keys::rotate))
        .fallback(|| async { labelled("api", HttpError::not_found("API route")) })
        .layer(axum::middleware::map_response(|r: Response| async move {
            let mut r = r;
            r.extensions_mut().insert(crate::middleware::ProblemJson);
            if r.extensions()
                .get::<crate::middleware::RouteLabel>()
                .is_none()
            {
                r.extensions_mut()
                    .insert(crate::middleware::RouteLabel("api"));
            }
            r
        }))
}

/// Parse an id from a path, answering 404 (not 400) for anything malformed.
pub(crate) fn parse_id<T: FromStr>(raw: &str, what: &str) -> Result<T, HttpError> {
    raw.parse().map_err(|_| HttpError::not_found(what))
}

/// `Ok(T)` as JSON with 200.
pub(crate) fn ok<T: serde::Serialize>(v: T) -> Response {
    axum::Json(v).into_response()
}
