//! Users: search, the user page (fields, tags, groups, identities, sessions),
//! disable / enable, delete, revoke sessions.

use crate::extract::Query;
use crate::extract::{AdminForm, Form};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use gatehouse_core::user::{Deactivation, User, UserStatus};
use gatehouse_core::{AppId, UserId};
use gatehouse_service::users::UserPatch;
use gatehouse_store::UserQuery;
use serde::Deserialize;

use super::apps::ConfirmPage;
use super::sessions::SessionRow;
use super::{Chrome, ConsoleAdmin, Pairs, app_id, field, render, when};
use crate::error::HttpError;
use crate::extract::AppPath;
use crate::state::AppState;

const PAGE: u32 = 50;

struct UserRow {
    id: String,
    email: String,
    name: String,
    groups: Vec<String>,
    tags: Vec<String>,
    active: bool,
    last_login: String,
}

impl From<&User> for UserRow {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.to_string(),
            email: u.email.to_string(),
            name: format!("{} {}", u.first_name, u.last_name)
                .trim()
                .to_owned(),
            groups: u.group_names().into_iter().map(str::to_owned).collect(),
            tags: u
                .tags
                .iter()
                .map(|t| format!("{}={}", t.key, t.value))
                .collect(),
            active: u.may_sign_in(),
            last_login: u
                .last_login_at
                .as_ref()
                .map_or_else(|| "never".to_owned(), when),
        }
    }
}

#[derive(Template)]
#[template(path = "console/users.html")]
struct UsersPage {
    chrome: Chrome,
    app_id: String,
    app_name: String,
    q: String,
    users: Vec<UserRow>,
    prev: Option<String>,
    next: Option<String>,
}

/// Query of the user list.
#[derive(Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    offset: Option<u32>,
}

/// `GET /admin/apps/{id}/users`.
pub async fn list(
    State(s): State<AppState>,
    admin: ConsoleAdmin,
    AppPath(id): AppPath,
    Query(q): Query<ListQuery>,
) -> Result<Response, HttpError> {
    let app = s.gh().apps().get(id).await?;
    let search = q.q.clone().unwrap_or_default();
    let offset = q.offset.unwrap_or(0);
    let users = s
        .gh()
        .directory()
        .list(
            id,
            UserQuery {
                search: Some(search.clone()),
                limit: PAGE,
                offset,
            },
        )
        .await?;
    let qs: String = form_urlencoded::byte_serialize(search.as_bytes()).collect();
    let next = (users.len() as u32 == PAGE).then(|| format!("?q={qs}&offset={}", offset + PAGE));
    let prev = (offset > 0).then(|| format!("?q={qs}&offset={}", offset.saturating_sub(PAGE)));
    Ok(render(
        StatusCode::OK,
        &UsersPage {
            chrome: Chrome::app(&admin, &app, "users"),
            app_id: id.to_string(),
            app_name: app.name.clone(),
            q: search,
            users: users.iter().map(UserRow::from).collect(),
            prev,
            next,
        },
    ))
}

struct UserDetail {
    id: String,
    email: String,
    first_name: String,
    last_name: String,
    active: bool,
    has_password: bool,
    created: String,
    last_login: String,
    tags: Vec<(String, String, &'static str)>,
    groups: Vec<(String, &'static str)>,
    identities: Vec<(String, String)>,
    /// Why the user may not sign in, for people; `None`: they may.
    deactivated: Option<&'static str>,
    /// SCIM's userName and externalId, when provisioned.
    provisioned: Option<(String, String)>,
    /// Provisioning says active while an administrator disabled the user.
    admin_disable_kept: bool,
}

#[derive(Template)]
#[template(path = "console/user.html")]
struct UserPage {
    chrome: Chrome,
    app_id: String,
    app_name: String,
    u: UserDetail,
    sessions: Vec<SessionRow>,
    notice: Option<String>,
}

/// A notice after a redirect.
#[derive(Deserialize)]
pub struct Notice {
    done: Option<String>,
}

fn ids(id: &str, user: &str) -> Result<(AppId, UserId), HttpError> {
    Ok((
        app_id(id)?,
        user.parse().map_err(|_| HttpError::not_found("User"))?,
    ))
}

/// `GET /admin/apps/{id}/users/{user_id}`.
pub async fn page(
    State(s): State<AppState>,
    admin: ConsoleAdmin,
    Path((id, user)): Path<(String, String)>,
    Query(n): Query<Notice>,
) -> Result<Response, HttpError> {
    let (id, uid) = ids(&id, &user)?;
    let app = s.gh().apps().get(id).await?;
    let u = s.gh().directory().get(id, uid).await?;
    let sessions = s.gh().sessions().list(id, Some(uid)).await?;
    let notice = n.done.as_deref().map(|d| match d {
        "revoked" => "Sessions revoked.".to_owned(),
        "status" => "Status changed.".to_owned(),
        other => other.to_owned(),
    });
    let detail = UserDetail {
        id: u.id.to_string(),
        email: u.email.to_string(),
        first_name: u.first_name.clone(),
        last_name: u.last_name.clone(),
        active: u.status == UserStatus::Active,
        has_password: u.has_password,
        created: when(&u.created_at),
        last_login: u
            .last_login_at
            .as_ref()
            .map_or_else(|| "never".to_owned(), when),
        tags: u
            .tags
            .iter()
            .map(|t| (t.key.to_string(), t.value.clone(), t.source.as_str()))
            .collect(),
        groups: u
            .groups
            .iter()
            .map(|m| (m.name.clone(), m.source.as_str()))
            .collect(),
        deactivated: u.deactivation().map(|d| match d {
            Deactivation::DisabledByAdmin => "disabled by an administrator",
            Deactivation::DeactivatedByProvisioning => {
                "deactivated by provisioning (SCIM active: false)"
            }
            Deactivation::DeletedByProvisioning => {
                "deleted by provisioning; the next sign-in is refused"
            }
        }),
        provisioned: u.provisioned.then(|| {
            (
                u.user_name.clone(),
                u.external_id.clone().unwrap_or_else(|| "(none)".to_owned()),
            )
        }),
        admin_disable_kept: u.provisioned
            && u.scim_active
            && u.deprovisioned_at.is_none()
            && u.status != UserStatus::Active,
        identities: u
            .identities
            .iter()
            .map(|i| (i.issuer.to_string(), i.subject.clone()))
            .collect(),
    };
    Ok(render(
        StatusCode::OK,
        &UserPage {
            chrome: Chrome::app(&admin, &app, "users"),
            app_id: id.to_string(),
            app_name: app.name.clone(),
            u: detail,
            sessions: sessions
                .iter()
                .map(|r| SessionRow::new(r, u.email.as_str()))
                .collect(),
            notice,
        },
    ))
}

/// `POST /admin/apps/{id}/users/{user_id}/status`.
pub async fn set_status(
    State(s): State<AppState>,
    admin: ConsoleAdmin,
    Path((id, user)): Path<(String, String)>,
    Form(f): AdminForm<Pairs>,
) -> Result<Response, HttpError> {
    let (id, uid) = ids(&id, &user)?;
    let status = match field(&f, "status") {
        "disabled" => UserStatus::Disabled,
        "active" => UserStatus::Active,
        _ => {
            return Err(HttpError::invalid_field(
                "status",
                "must be active or disabled",
            ));
        }
    };
    s.gh()
        .directory()
        .update(
            id,
            uid,
            UserPatch {
                status: Some(status),
                ..UserPatch::default()
            },
            &admin.ctx(),
        )
        .await?;
    Ok(Redirect::to(&format!("/admin/apps/{id}/users/{uid}?done=status")).into_response())
}

/// `POST /admin/apps/{id}/users/{user_id}/sessions/revoke`.
pub async fn revoke_sessions(
    State(s): State<AppState>,
    admin: ConsoleAdmin,
    Path((id, user)): Path<(String, String)>,
) -> Result<Response, HttpError> {
    let (id, uid) = ids(&id, &user)?;
    s.gh()
        .directory()
        .end_sessions(id, uid, &admin.ctx())
        .await?;
    Ok(Redirect::to(&format!("/admin/apps/{id}/users/{uid}?done=revoked")).into_response())
}

/// `GET /admin/apps/{id}/users/{user_id}/delete`.
pub async fn delete_page(
    State(s): State<AppState>,
    admin: ConsoleAdmin,
    Path((id, user)): Path<(String, String)>,
) -> Result<Response, HttpError> {
    let (id, uid) = ids(&id, &user)?;
    let app = s.gh().apps().get(id).await?;
    let u = s.gh().directory().get(id, uid).await?;
    Ok(render(
        StatusCode::OK,
        &ConfirmPage {
            chrome: Chrome::app(&admin, &app, "users"),
            heading: format!("Delete {}?", u.email),
            message: format!(
                "This deletes the user {} of {} and ends their sessions. If they sign in through the IdP again, a new user is created.",
                u.email, app.name
            ),
            action: format!("/admin/apps/{id}/users/{uid}/delete"),
            back: format!("/admin/apps/{id}/users/{uid}"),
            button: "Delete user",
            type_to_confirm: None,
            error: None,
        },
    ))
}

/// `POST /admin/apps/{id}/users/{user_id}/delete`.
pub async fn delete(
    State(s): State<AppState>,
    admin: ConsoleAdmin,
    Path((id, user)): Path<(String, String)>,
) -> Result<Response, HttpError> {
    let (id, uid) = ids(&id, &user)?;
    s.gh().directory().delete(id, uid, &admin.ctx()).await?;
    Ok(Redirect::to(&format!("/admin/apps/{id}/users")).into_response())
}
