//! Applications: list, create, edit, delete (with confirmation).

use crate::extract::Query;
use crate::extract::{AdminForm, Form};
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use gatehouse_core::Application;
use gatehouse_service::ServiceError;
use gatehouse_service::apps::{AppPatch, NewApp};
use serde::Deserialize;

use super::{Chrome, ConsoleAdmin, Errors, Pairs, field, render};
use crate::error::HttpError;
use crate::extract::AppPath;
use crate::state::AppState;

pub(crate) struct AppRow {
    id: String,
    name: String,
    slug: String,
    hosts: Vec<String>,
    upstream: String,
    sso: bool,
}

#[derive(Template)]
#[template(path = "console/apps.html")]
struct AppsPage {
    chrome: Chrome,
    apps: Vec<AppRow>,
}

/// Values shown in the application form.
#[derive(Default)]
struct AppValues {
    name: String,
    slug: String,
    hosts: String,
    upstream: String,
    scheme: String,
}

impl From<&Application> for AppValues {
    fn from(a: &Application) -> Self {
        Self {
            name: a.name.clone(),
            slug: a.slug.to_string(),
            hosts: a
                .hosts
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
            upstream: a
                .upstream_url
                .as_ref()
                .map(|u| u.as_str().to_owned())
                .unwrap_or_default(),
            scheme: a.scheme.to_string(),
        }
    }
}

impl AppValues {
    fn from_form(f: &Pairs) -> Self {
        Self {
            name: field(f, "name").to_owned(),
            slug: field(f, "slug").to_owned(),
            hosts: field(f, "hosts").to_owned(),
            upstream: field(f, "upstream_url").to_owned(),
            scheme: field(f, "scheme").to_owned(),
        }
    }

    fn host_list(&self) -> Vec<String> {
        self.hosts
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

#[derive(Template)]
#[template(path = "console/app_form.html")]
struct AppForm {
    chrome: Chrome,
    heading: String,
    action: String,
    is_new: bool,
    saved: bool,
    v: AppValues,
    errors: Errors,
}

#[derive(Template)]
#[template(path = "console/confirm.html")]
pub(crate) struct ConfirmPage {
    pub chrome: Chrome,
    pub heading: String,
    pub message: String,
    pub action: String,
    pub back: String,
    pub button: &'static str,
    pub type_to_confirm: Option<String>,
    pub error: Option<String>,
}

/// `GET /admin/apps`.
pub async fn list(State(s): State<AppState>, admin: ConsoleAdmin) -> Result<Response, HttpError> {
    let routes = s.gh().routes();
    let apps = s
        .gh()
        .apps()
        .list()
        .await?
        .iter()
        .map(|a| AppRow {
            id: a.id.to_string(),
            name: a.name.clone(),
            slug: a.slug.to_string(),
            hosts: a.hosts.iter().map(ToString::to_string).collect(),
            upstream: a
                .upstream_url
                .as_ref()
                .map(|u| u.as_str().to_owned())
                .unwrap_or_default(),
            sso: routes.get(a.id).is_some_and(|rt| rt.sso_enabled()),
        })
        .collect();
    Ok(render(
        StatusCode::OK,
        &AppsPage {
            chrome: Chrome::top(&admin),
            apps,
        },
    ))
}

/// The "New application" form, empty or re-shown with its errors.
fn new_app_form(
    admin: &ConsoleAdmin,
    v: AppValues,
    errors: Errors,
    status: StatusCode,
) -> Response {
    render(
        status,
        &AppForm {
            chrome: Chrome::top(admin),
            heading: "New application".into(),
            action: "/admin/apps/new".into(),
            is_new: true,
            saved: false,
            v,
            errors,
        },
    )
}

/// `GET /admin/apps/new`.
pub async fn new_page(admin: ConsoleAdmin) -> Response {
    new_app_form(
        &admin,
        AppValues::default(),
        Errors::default(),
        StatusCode::OK,
    )
}

fn optional(v: &str) -> Option<String> {
    let v = v.trim();
    (!v.is_empty()).then(|| v.to_owned())
}

fn form_errors(e: ServiceError) -> Result<Errors, HttpError> {
    match e {
        ServiceError::Invalid(inv) => Ok(Errors::from_invalid(&inv)),
        ServiceError::Conflict { field, message } => {
            let mut errs = Errors::default();
            errs.push(field, message);
            Ok(errs)
        }
        other => Err(other.into()),
    }
}

/// `POST /admin/apps/new`.
pub async fn create(
    State(s): State<AppState>,
    admin: ConsoleAdmin,
    Form(f): AdminForm<Pairs>,
) -> Result<Response, HttpError> {
    let v = AppValues::from_form(&f);
    let input = NewApp {
        name: v.name.clone(),
        slug: optional(&v.slug),
        hosts: v.host_list(),
        upstream_url: optional(&v.upstream),
        scheme: optional(&v.scheme),
        auth_prefix: None,
    };
    match s.gh().apps().create(input, &admin.ctx()).await {
        Ok(app) => {
            Ok(Redirect::to(&format!("/admin/apps/{}/sso?created=1", app.id)).into_response())
        }
        Err(e) => {
            let errors = form_errors(e)?;
            Ok(new_app_form(
                &admin,
                v,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            ))
        }
    }
}

/// A "saved" flag after a redirect.
#[derive(Deserialize)]
pub struct Saved {
    saved: Option<String>,
}

/// `GET /admin/apps/{id}`.
pub async fn edit_page(
    State(s): State<AppState>,
    admin: ConsoleAdmin,
    AppPath(id): AppPath,
    Query(q): Query<Saved>,
) -> Result<Response, HttpError> {
    let app = s.gh().apps().get(id).await?;
    Ok(render(
        StatusCode::OK,
        &AppForm {
            chrome: Chrome::app(&admin, &app, "overview"),
            heading: app.name.clone(),
            action: format!("/admin/apps/{}", app.id),
            is_new: false,
            saved: q.saved.is_some(),
            v: AppValues::from(&app),
            errors: Errors::default(),
        },
    ))
}

/// `POST /admin/apps/{id}`.
pub async fn update(
    State(s): State<AppState>,
    admin: ConsoleAdmin,
    AppPath(id): AppPath,
    Form(f): AdminForm<Pairs>,
) -> Result<Response, HttpError> {
    let app = s.gh().apps().get(id).await?;
    let v = AppValues::from_form(&f);
    let patch = AppPatch {
        name: Some(v.name.clone()),
        slug: Some(v.slug.clone()),
        hosts: Some(v.host_list()),
        upstream_url: Some(optional(&v.upstream)),
        scheme: optional(&v.scheme),
        auth_prefix: None,
    };
    match s.gh().apps().update(id, patch, &admin.ctx()).await {
        Ok(_) => Ok(Redirect::to(&format!("/admin/apps/{id}?saved=1")).into_response()),
        Err(e) => {
            let errors = form_errors(e)?;
            Ok(render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &AppForm {
                    chrome: Chrome::app(&admin, &app, "overview"),
                    heading: app.name.clone(),
                    action: format!("/admin/apps/{id}"),
                    is_new: false,
                    saved: false,
                    v,
                    errors,
                },
            ))
        }
    }
}

/// `GET /admin/apps/{id}/delete`.
pub async fn delete_page(
    State(s): State<AppState>,
    admin: ConsoleAdmin,
    AppPath(id): AppPath,
) -> Result<Response, HttpError> {
    let app = s.gh().apps().get(id).await?;
    Ok(render(StatusCode::OK, &delete_confirm(&admin, &app, None)))
}

fn delete_confirm(admin: &ConsoleAdmin, app: &Application, error: Option<String>) -> ConfirmPage {
    ConfirmPage {
        chrome: Chrome::app(admin, app, "overview"),
        heading: format!("Delete {}?", app.name),
        message: format!(
            "This deletes the application {} with its users, settings and audit trail links, and ends every session. It cannot be undone.",
            app.name
        ),
        action: format!("/admin/apps/{}/delete", app.id),
        back: format!("/admin/apps/{}", app.id),
        button: "Delete application",
        type_to_confirm: Some(app.slug.to_string()),
        error,
    }
}

/// `POST /admin/apps/{id}/delete`.
pub async fn delete(
    State(s): State<AppState>,
    admin: ConsoleAdmin,
    AppPath(id): AppPath,
    Form(f): AdminForm<Pairs>,
) -> Result<Response, HttpError> {
    let app = s.gh().apps().get(id).await?;
    if field(&f, "confirm").trim() != app.slug.as_str() {
        let page = delete_confirm(
            &admin,
            &app,
            Some(format!("Type {} exactly to delete.", app.slug)),
        );
        return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page));
    }
    s.gh().apps().delete(app.id, &admin.ctx()).await?;
    Ok(Redirect::to("/admin/apps").into_response())
}
