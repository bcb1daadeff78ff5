//! `/api/v1/apps/{id}/sessions`: list and revoke sessions.

use crate::extract::Query;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gatehouse_core::{AppId, SessionId, UserId};
use serde::Deserialize;
use utoipa::IntoParams;

use super::views::{Problem, SessionView};
use super::{ok, parse_id};
use crate::error::HttpError;
use crate::extract::Admin;
use crate::extract::AppPath;
use crate::state::AppState;

/// Query of the session list.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// Only this user's sessions.
    pub user_id: Option<String>,
}

/// Sessions that have not ended, newest first.
#[utoipa::path(get, path = "/api/v1/apps/{id}/sessions", tag = "sessions",
    params(("id" = String, Path, description = "Application id"), ListQuery),
    responses((status = 200, body = [SessionView]), (status = 404, body = Problem)),
    security(("admin_token" = [])))]
pub async fn list(
    State(s): State<AppState>,
    Admin(_): Admin,
    AppPath(app): AppPath,
    Query(q): Query<ListQuery>,
) -> Result<Response, HttpError> {
    let user = match q.user_id.as_deref() {
        Some(u) => Some(
            u.parse::<UserId>()
                .map_err(|_| HttpError::invalid_field("user_id", "must be a user id"))?,
        ),
        None => None,
    };
    let sessions = s.gh().sessions().list(app, user).await?;
    Ok(ok(sessions
        .iter()
        .map(SessionView::from)
        .collect::<Vec<_>>()))
}

/// Revoke a session: it stops working at once.
#[utoipa::path(delete, path = "/api/v1/apps/{id}/sessions/{session_id}", tag = "sessions",
    params(("id" = String, Path, description = "Application id"), ("session_id" = String, Path, description = "Session id")),
    responses((status = 204, description = "Revoked"), (status = 404, body = Problem)),
    security(("admin_token" = [])))]
pub async fn revoke(
    State(s): State<AppState>,
    Admin(ctx): Admin,
    Path((id, session_id)): Path<(String, String)>,
) -> Result<Response, HttpError> {
    let app: AppId = parse_id(&id, "Application")?;
    let session: SessionId = parse_id(&session_id, "Session")?;
    s.gh().sessions().revoke(app, session, &ctx).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Revoke every session of a user.
#[utoipa::path(delete, path = "/api/v1/apps/{id}/users/{user_id}/sessions", tag = "sessions",
    params(("id" = String, Path, description = "Application id"), ("user_id" = String, Path, description = "User id")),
    responses((status = 204, description = "Revoked"), (status = 404, body = Problem)),
    security(("admin_token" = [])))]
pub async fn revoke_user(
    State(s): State<AppState>,
    Admin(ctx): Admin,
    Path((id, user_id)): Path<(String, String)>,
) -> Result<Response, HttpError> {
    let app: AppId = parse_id(&id, "Application")?;
    let user: UserId = parse_id(&user_id, "User")?;
    s.gh().directory().end_sessions(app, user, &ctx).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
