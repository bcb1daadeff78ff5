//! `/api/v1/apps/{id}/grants` and `/api/v1/apps/{id}/access`: who has which role.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use gatehouse_core::AppId;
use gatehouse_core::access::{AccessPolicy, AccessPolicyInput, Grant, GrantInput, Subject};
use gatehouse_core::ids::GrantId;
use serde::Serialize;
use utoipa::ToSchema;

use super::views::Problem;
use super::{ok, parse_id};
use crate::error::HttpError;
use crate::extract::{Admin, ApiJson, AppPath};
use crate::state::AppState;

/// A grant.
#[derive(Debug, Serialize, ToSchema)]
pub struct GrantView {
    /// Id.
    #[schema(value_type = String, format = Uuid)]
    pub id: GrantId,
    /// The role.
    pub role: String,
    /// `{"email": ..}`, `{"group": ..}` or `{"tag": {"key", "value"}}`.
    #[schema(value_type = Object)]
    pub subject: serde_json::Value,
    /// When created.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: time::OffsetDateTime,
}

impl From<&Grant> for GrantView {
    fn from(g: &Grant) -> Self {
        let subject = match &g.subject {
            Subject::Email(e) => serde_json::json!({"email": e}),
            Subject::Group(n) => serde_json::json!({"group": n}),
            Subject::Tag { key, value } => serde_json::json!({"tag": {"key": key, "value": value}}),
        };
        Self {
            id: g.id,
            role: g.role.to_string(),
            subject,
            created_at: g.created_at,
        }
    }
}

/// Grants of an application.
#[utoipa::path(get, path = "/api/v1/apps/{id}/grants", tag = "access",
    params(("id" = String, Path, description = "Application id")),
    responses((status = 200, body = [GrantView]), (status = 404, body = Problem)),
    security(("admin_token" = [])))]
pub async fn list(
    State(s): State<AppState>,
    Admin(_): Admin,
    AppPath(app): AppPath,
) -> Result<Response, HttpError> {
    Ok(ok(s
        .gh()
        .access()
        .grants(app)
        .await?
        .iter()
        .map(GrantView::from)
        .collect::<Vec<_>>()))
}

/// Grant a role to a user (`email`), an IdP group (`group`) or a tag condition (`tag`).
#[utoipa::path(post, path = "/api/v1/apps/{id}/grants", tag = "access", request_body = GrantInput,
    params(("id" = String, Path, description = "Application id")),
    responses((status = 201, body = GrantView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("admin_token" = [])))]
pub async fn create(
    State(s): State<AppState>,
    Admin(ctx): Admin,
    AppPath(app): AppPath,
    ApiJson(input): ApiJson<GrantInput>,
) -> Result<Response, HttpError> {
    let g = s
        .gh()
        .access()
        .create_grant(app, input.validate()?, &ctx)
        .await?;
    let location = format!("/api/v1/apps/{app}/grants/{}", g.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        axum::Json(GrantView::from(&g)),
    )
        .into_response())
}

/// Take a grant back; it applies on the next request.
#[utoipa::path(delete, path = "/api/v1/apps/{id}/grants/{grant_id}", tag = "access",
    params(("id" = String, Path, description = "Application id"), ("grant_id" = String, Path, description = "Grant id")),
    responses((status = 204, description = "Deleted"), (status = 404, body = Problem)),
    security(("admin_token" = [])))]
pub async fn delete(
    State(s): State<AppState>,
    Admin(ctx): Admin,
    Path((id, grant)): Path<(String, String)>,
) -> Result<Response, HttpError> {
    let app: AppId = parse_id(&id, "Application")?;
    let grant: GrantId = parse_id(&grant, "Grant")?;
    s.gh().access().delete_grant(app, grant, &ctx).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The access policy: the default role of users no grant matches (none: deny), and per-route rules.
#[utoipa::path(get, path = "/api/v1/apps/{id}/access", tag = "access",
    params(("id" = String, Path, description = "Application id")),
    responses((status = 200, body = AccessPolicy), (status = 404, body = Problem)),
    security(("admin_token" = [])))]
pub async fn get_access(
    State(s): State<AppState>,
    Admin(_): Admin,
    AppPath(app): AppPath,
) -> Result<Response, HttpError> {
    Ok(ok(s.gh().access().policy(app).await?))
}

/// Replace the access policy.
#[utoipa::path(put, path = "/api/v1/apps/{id}/access", tag = "access", request_body = AccessPolicyInput,
    params(("id" = String, Path, description = "Application id")),
    responses((status = 200, body = AccessPolicy), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("admin_token" = [])))]
pub async fn put_access(
    State(s): State<AppState>,
    Admin(ctx): Admin,
    AppPath(app): AppPath,
    ApiJson(p): ApiJson<AccessPolicyInput>,
) -> Result<Response, HttpError> {
    Ok(ok(s.gh().access().put_policy(app, p, &ctx).await?))
}
