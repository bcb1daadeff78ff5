//! `/api/v1/apps`: applications.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use gatehouse_service::apps::{AppPatch, NewApp};

use super::ok;
use super::views::{AppView, Problem};
use crate::error::HttpError;
use crate::extract::{Admin, ApiJson, AppPath};
use crate::state::AppState;

/// Create an application.
#[utoipa::path(post, path = "/api/v1/apps", tag = "apps", request_body = NewApp,
    responses(
        (status = 201, description = "Created", body = AppView),
        (status = 409, description = "Slug or host taken", body = Problem),
        (status = 422, description = "Invalid field", body = Problem),
    ),
    security(("admin_token" = [])))]
pub async fn create(
    State(s): State<AppState>,
    Admin(ctx): Admin,
    ApiJson(input): ApiJson<NewApp>,
) -> Result<Response, HttpError> {
    let app = s.gh().apps().create(input, &ctx).await?;
    let location = format!("/api/v1/apps/{}", app.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        axum::Json(AppView::from(&app)),
    )
        .into_response())
}

/// List applications.
#[utoipa::path(get, path = "/api/v1/apps", tag = "apps",
    responses((status = 200, description = "All applications", body = [AppView])),
    security(("admin_token" = [])))]
pub async fn list(State(s): State<AppState>, Admin(_): Admin) -> Result<Response, HttpError> {
    let apps = s.gh().apps().list().await?;
    Ok(ok(apps.iter().map(AppView::from).collect::<Vec<_>>()))
}

/// One application.
#[utoipa::path(get, path = "/api/v1/apps/{id}", tag = "apps",
    params(("id" = String, Path, description = "Application id")),
    responses((status = 200, body = AppView), (status = 404, body = Problem)),
    security(("admin_token" = [])))]
pub async fn get(
    State(s): State<AppState>,
    Admin(_): Admin,
    AppPath(id): AppPath,
) -> Result<Response, HttpError> {
    Ok(ok(AppView::from(&s.gh().apps().get(id).await?)))
}

/// Change an application (absent fields stay as they are).
#[utoipa::path(patch, path = "/api/v1/apps/{id}", tag = "apps", request_body = AppPatch,
    params(("id" = String, Path, description = "Application id")),
    responses((status = 200, body = AppView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("admin_token" = [])))]
pub async fn update(
    State(s): State<AppState>,
    Admin(ctx): Admin,
    AppPath(id): AppPath,
    ApiJson(patch): ApiJson<AppPatch>,
) -> Result<Response, HttpError> {
    Ok(ok(AppView::from(
        &s.gh().apps().update(id, patch, &ctx).await?,
    )))
}

/// Delete an application with its users, sessions and settings.
#[utoipa::path(delete, path = "/api/v1/apps/{id}", tag = "apps",
    params(("id" = String, Path, description = "Application id")),
    responses((status = 204, description = "Deleted"), (status = 404, body = Problem)),
    security(("admin_token" = [])))]
pub async fn delete(
    State(s): State<AppState>,
    Admin(ctx): Admin,
    AppPath(id): AppPath,
) -> Result<Response, HttpError> {
    s.gh().apps().delete(id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
