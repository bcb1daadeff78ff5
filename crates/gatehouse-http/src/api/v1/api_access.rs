//! `/api/v1/apps/{id}/api-access`: whether an application accepts bearer
//! tokens, and the rules they must satisfy.

use axum::extract::State;
use axum::response::Response;
use gatehouse_core::api_access::{ApiAccess, ApiAccessInput};

use super::ok;
use super::views::Problem;
use crate::error::HttpError;
use crate::extract::{Admin, ApiJson, AppPath};
use crate::state::AppState;

/// The bearer-token settings (empty issuer, audience and key source mean
/// the SSO Issuer URL, the Client ID and the IdP's JWKS).
#[utoipa::path(get, path = "/api/v1/apps/{id}/api-access", tag = "access",
    params(("id" = String, Path, description = "Application id")),
    responses((status = 200, body = ApiAccess), (status = 404, body = Problem)),
    security(("admin_token" = [])))]
pub async fn get(
    State(s): State<AppState>,
    Admin(_): Admin,
    AppPath(app): AppPath,
) -> Result<Response, HttpError> {
    Ok(ok(s.gh().api_access().get(app).await?))
}

/// Replace the bearer-token settings; they apply on the next request on every node.
#[utoipa::path(put, path = "/api/v1/apps/{id}/api-access", tag = "access", request_body = ApiAccessInput,
    params(("id" = String, Path, description = "Application id")),
    responses((status = 200, body = ApiAccess), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("admin_token" = [])))]
pub async fn put(
    State(s): State<AppState>,
    Admin(ctx): Admin,
    AppPath(app): AppPath,
    ApiJson(input): ApiJson<ApiAccessInput>,
) -> Result<Response, HttpError> {
    Ok(ok(s.gh().api_access().put(app, input, &ctx).await?))
}
