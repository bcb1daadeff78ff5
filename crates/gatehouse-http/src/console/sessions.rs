//! Sessions of an application: list and revoke.

use std::collections::HashMap;

use crate::extract::Query;
use crate::extract::{AdminForm, Form};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use gatehouse_core::{AppId, SessionId};
use gatehouse_store::SessionRecord;
use serde::Deserialize;

use super::{Chrome, ConsoleAdmin, Pairs, app_id, field, render, when};
use crate::error::HttpError;
use crate::extract::AppPath;
use crate::state::AppState;

pub(crate) struct SessionRow {
    pub id: String,
    pub user_id: String,
    pub user: String,
    pub method: String,
    pub created: String,
    pub last_seen: String,
    pub ip: String,
}

impl SessionRow {
    pub fn new(s: &SessionRecord, user: &str) -> Self {
        Self {
            id: s.base.id.to_string(),
            user_id: s.user_id.to_string(),
            user: user.to_owned(),
            method: s.base.method.to_string(),
            created: when(&s.base.created_at),
            last_seen: when(&s.base.last_seen_at),
            ip: s.base.ip.clone().unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "console/sessions.html")]
struct SessionsPage {
    chrome: Chrome,
    app_id: String,
    app_name: String,
    sessions: Vec<SessionRow>,
    notice: Option<String>,
}

/// A notice after a redirect.
#[derive(Deserialize)]
pub struct Notice {
    done: Option<String>,
}

/// `GET /admin/apps/{id}/sessions`.
pub async fn list(
    State(s): State<AppState>,
    admin: ConsoleAdmin,
    AppPath(id): AppPath,
    Query(n): Query<Notice>,
) -> Result<Response, HttpError> {
    let app = s.gh().apps().get(id).await?;
    let sessions = s.gh().sessions().list(id, None).await?;
    let mut emails: HashMap<gatehouse_core::UserId, String> = HashMap::new();
    let mut users: Vec<gatehouse_core::UserId> = sessions.iter().map(|r| r.user_id).collect();
    users.sort();
    users.dedup();
    for uid in users {
        let email = s
            .gh()
            .directory()
            .get(id, uid)
            .await
            .map(|u| u.email.to_string())
            .unwrap_or_else(|_| uid.to_string());
        emails.insert(uid, email);
    }
    let rows = sessions
        .iter()
        .map(|r| SessionRow::new(r, emails.get(&r.user_id).map_or("", String::as_str)))
        .collect();
    Ok(render(
        StatusCode::OK,
        &SessionsPage {
            chrome: Chrome::app(&admin, &app, "sessions"),
            app_id: id.to_string(),
            app_name: app.name.clone(),
            sessions: rows,
            notice: n.done.map(|_| "Session revoked.".to_owned()),
        },
    ))
}

/// `POST /admin/apps/{id}/sessions/{session_id}/revoke`.
pub async fn revoke(
    State(s): State<AppState>,
    admin: ConsoleAdmin,
    Path((id, session)): Path<(String, String)>,
    Form(f): AdminForm<Pairs>,
) -> Result<Response, HttpError> {
    let id: AppId = app_id(&id)?;
    let sid: SessionId = session
        .parse()
        .map_err(|_| HttpError::not_found("Session"))?;
    let record = s.gh().sessions().get(id, sid).await?;
    s.gh().sessions().revoke(id, sid, &admin.ctx()).await?;
    let back = match field(&f, "back") {
        "user" => format!("/admin/apps/{id}/users/{}?done=revoked", record.user_id),
        _ => format!("/admin/apps/{id}/sessions?done=revoked"),
    };
    Ok(Redirect::to(&back).into_response())
}
