//! `/api/v1/apps/{id}/users`: users.

use crate::extract::Query;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gatehouse_core::{AppId, UserId};
use gatehouse_service::users::{NewUser, UserPatch};
use gatehouse_store::UserQuery;
use serde::Deserialize;
use utoipa::IntoParams;

use super::views::{Problem, UserView};
use super::{ok, parse_id};
use crate::error::HttpError;
use crate::extract::{Admin, ApiJson, AppPath};
use crate::state::AppState;

/// Query of the user list.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// Text found in e-mail, names, a tag (`key=value` or value) or a group.
    pub q: Option<String>,
    /// Page size (1-500, default 100).
    pub limit: Option<u32>,
    /// Skip this many.
    pub offset: Option<u32>,
}

/// Users of an application, by e-mail. When more follow, a `Link: <…>; rel="next"` header points to them.
#[utoipa::path(get, path = "/api/v1/apps/{id}/users", tag = "users",
    params(("id" = String, Path, description = "Application id"), ListQuery),
    responses((status = 200, body = [UserView]), (status = 404, body = Problem)),
    security(("admin_token" = [])))]
pub async fn list(
    State(s): State<AppState>,
    Admin(_): Admin,
    AppPath(app): AppPath,
    Query(q): Query<ListQuery>,
) -> Result<Response, HttpError> {
    let limit = q.limit.unwrap_or(100).clamp(1, 500);
    let offset = q.offset.unwrap_or(0);
    let users = s
        .gh()
        .directory()
        .list(
            app,
            UserQuery {
                search: q.q.clone(),
                limit,
                offset,
            },
        )
        .await?;
    let full = users.len() as u32 == limit;
    let mut resp = ok(users.iter().map(UserView::from).collect::<Vec<_>>());
    if full {
        let mut next = format!(
            "/api/v1/apps/{app}/users?limit={limit}&offset={}",
            offset + limit
        );
        if let Some(text) = &q.q {
            next.push_str("&q=");
            next.extend(form_urlencoded::byte_serialize(text.as_bytes()));
        }
        if let Ok(v) = HeaderValue::from_str(&format!("<{next}>; rel=\"next\"")) {
            resp.headers_mut().insert(header::LINK, v);
        }
    }
    Ok(resp)
}

/// Create a local user (`password` is write-only).
#[utoipa::path(post, path = "/api/v1/apps/{id}/users", tag = "users", request_body = NewUser,
    params(("id" = String, Path, description = "Application id")),
    responses((status = 201, body = UserView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("admin_token" = [])))]
pub async fn create(
    State(s): State<AppState>,
    Admin(ctx): Admin,
    AppPath(app): AppPath,
    ApiJson(input): ApiJson<NewUser>,
) -> Result<Response, HttpError> {
    let user = s.gh().directory().create(app, input, &ctx).await?;
    let location = format!("/api/v1/apps/{app}/users/{}", user.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        axum::Json(UserView::from(&user)),
    )
        .into_response())
}

fn ids(id: &str, user_id: &str) -> Result<(AppId, UserId), HttpError> {
    Ok((parse_id(id, "Application")?, parse_id(user_id, "User")?))
}

/// One user.
#[utoipa::path(get, path = "/api/v1/apps/{id}/users/{user_id}", tag = "users",
    params(("id" = String, Path, description = "Application id"), ("user_id" = String, Path, description = "User id")),
    responses((status = 200, body = UserView), (status = 404, body = Problem)),
    security(("admin_token" = [])))]
pub async fn get(
    State(s): State<AppState>,
    Admin(_): Admin,
    Path((id, user_id)): Path<(String, String)>,
) -> Result<Response, HttpError> {
    let (app, user) = ids(&id, &user_id)?;
    Ok(ok(UserView::from(
        &s.gh().directory().get(app, user).await?,
    )))
}

/// Change a user. `status: "disabled"` also ends the user's sessions.
#[utoipa::path(patch, path = "/api/v1/apps/{id}/users/{user_id}", tag = "users", request_body = UserPatch,
    params(("id" = String, Path, description = "Application id"), ("user_id" = String, Path, description = "User id")),
    responses((status = 200, body = UserView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("admin_token" = [])))]
pub async fn update(
    State(s): State<AppState>,
    Admin(ctx): Admin,
    Path((id, user_id)): Path<(String, String)>,
    ApiJson(patch): ApiJson<UserPatch>,
) -> Result<Response, HttpError> {
    let (app, user) = ids(&id, &user_id)?;
    Ok(ok(UserView::from(
        &s.gh().directory().update(app, user, patch, &ctx).await?,
    )))
}

/// Delete a user and end their sessions.
#[utoipa::path(delete, path = "/api/v1/apps/{id}/users/{user_id}", tag = "users",
    params(("id" = String, Path, description = "Application id"), ("user_id" = String, Path, description = "User id")),
    responses((status = 204, description = "Deleted"), (status = 404, body = Problem)),
    security(("admin_token" = [])))]
pub async fn delete(
    State(s): State<AppState>,
    Admin(ctx): Admin,
    Path((id, user_id)): Path<(String, String)>,
) -> Result<Response, HttpError> {
    let (app, user) = ids(&id, &user_id)?;
    s.gh().directory().delete(app, user, &ctx).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
