//! The admin console at `/admin` on the admin host: server-rendered HTML
//! (askama) that works without JavaScript, with a few progressive
//! enhancements (copy buttons, adding mapping rows). Every form is
//! CSRF-checked (`Sec-Fetch-Site` / `Origin`), every page needs a console
//! session, and every action calls the same service layer as the API.

pub mod access;
pub mod admin_sso;
pub mod apps;
pub mod audit;
pub mod login;
pub mod provisioning;
pub mod sessions;
pub mod sso_oidc;
pub mod users;

use askama::Template;
use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use gatehouse_core::{AppId, Application};
use gatehouse_service::AdminView;
use tower_http::csrf::CsrfLayer;

use crate::auth::labelled;
use crate::error::HttpError;
use crate::extract::cookie;
use crate::state::AppState;

/// The console's session cookie.
pub const ADMIN_COOKIE: &str = "gatehouse_admin";

/// The console routes (nested under `/admin`).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/admin/apps") }))
        .route("/login", get(login::page).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/setup", get(login::setup_page).post(login::setup_submit))
        .route("/auth/login", get(admin_sso::start))
        .route("/auth/callback", get(admin_sso::callback))
        .route("/settings/sso", get(admin_sso::page).post(admin_sso::save))
        .route("/apps", get(apps::list))
        .route("/apps/new", get(apps::new_page).post(apps::create))
        .route("/apps/{id}", get(apps::edit_page).post(apps::update))
        .route(
            "/apps/{id}/delete",
            get(apps::delete_page).post(apps::delete),
        )
        .route("/apps/{id}/sso", get(sso_oidc::page).post(sso_oidc::save))
        .route("/apps/{id}/sso/test", post(sso_oidc::test))
        .route(
            "/apps/{id}/provisioning",
            get(provisioning::page).post(provisioning::save),
        )
        .route(
            "/apps/{id}/provisioning/tokens",
            post(provisioning::create_token),
        )
        .route(
            "/apps/{id}/provisioning/tokens/{token_id}/revoke",
            post(provisioning::revoke_token),
        )
        .route("/apps/{id}/users", get(users::list))
        .route("/apps/{id}/users/{user_id}", get(users::page))
        .route("/apps/{id}/users/{user_id}/status", post(users::set_status))
        .route(
            "/apps/{id}/users/{user_id}/delete",
            get(users::delete_page).post(users::delete),
        )
        .route(
            "/apps/{id}/users/{user_id}/sessions/revoke",
            post(users::revoke_sessions),
        )
        .route("/apps/{id}/sessions", get(sessions::list))
        .route(
            "/apps/{id}/sessions/{session_id}/revoke",
            post(sessions::revoke),
        )
        .route("/apps/{id}/audit", get(audit::list))
        .route("/apps/{id}/access", get(access::page).post(access::save))
        .route("/apps/{id}/access/grants", post(access::grant))
        .route("/apps/{id}/access/api", post(access::save_api))
        .route(
            "/apps/{id}/access/grants/{grant_id}/delete",
            post(access::remove),
        )
        .fallback(|| async { labelled("admin", HttpError::not_found("Page")) })
        .layer(CsrfLayer::new().with_rejection_response(crate::pages::csrf_refused))
        .route(
            "/assets/console.css",
            get(|| async {
                asset(
                    "text/css; charset=utf-8",
                    include_str!("../../static/console.css"),
                )
            }),
        )
        .route(
            "/assets/console.js",
            get(|| async {
                asset(
                    "text/javascript; charset=utf-8",
                    include_str!("../../static/console.js"),
                )
            }),
        )
        .layer(axum::middleware::map_response(|r: Response| async move {
            let mut r = r;
            if r.extensions()
                .get::<crate::middleware::RouteLabel>()
                .is_none()
            {
                r.extensions_mut()
                    .insert(crate::middleware::RouteLabel("admin"));
            }
            r
        }))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut r = body.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    r
}

/// The signed-in administrator of a console request; anyone else is sent to sign in.
pub struct ConsoleAdmin {
    /// Who.
    pub admin: AdminView,
    /// The correlation id.
    pub correlation_id: Option<String>,
}

impl ConsoleAdmin {
    /// The service context of this administrator's actions.
    pub fn ctx(&self) -> gatehouse_service::Context {
        self.admin.context(self.correlation_id.clone())
    }
}

impl FromRequestParts<AppState> for ConsoleAdmin {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let correlation_id = crate::extract::request_id(parts);
        if let Some(c) = cookie(&parts.headers, ADMIN_COOKIE) {
            match state.gh().admin().session(c).await {
                Ok(Some(admin)) => {
                    return Ok(Self {
                        admin,
                        correlation_id,
                    });
                }
                Ok(None) => {}
                Err(e) => return Err(HttpError::from(e).into_response()),
            }
        }
        // Nested under /admin: the original URI has the full path.
        let uri = parts
            .extensions
            .get::<axum::extract::OriginalUri>()
            .map_or_else(|| parts.uri.clone(), |o| o.0.clone());
        let path = uri.path_and_query().map_or("/admin", |p| p.as_str());
        let rd: String = form_urlencoded::byte_serialize(path.as_bytes()).collect();
        Err(Redirect::to(&format!("/admin/login?rd={rd}")).into_response())
    }
}

/// The chrome around every console page.
pub(crate) struct Chrome {
    pub admin: String,
    pub app: Option<AppNav>,
    pub active: &'static str,
}

/// The application a page is about.
pub(crate) struct AppNav {
    pub id: String,
    pub name: String,
    pub slug: String,
}

impl Chrome {
    pub fn top(admin: &ConsoleAdmin) -> Self {
        Self {
            admin: admin.admin.email.clone(),
            app: None,
            active: "",
        }
    }

    pub fn app(admin: &ConsoleAdmin, app: &Application, active: &'static str) -> Self {
        Self {
            admin: admin.admin.email.clone(),
            app: Some(AppNav {
                id: app.id.to_string(),
                name: app.name.clone(),
                slug: app.slug.to_string(),
            }),
            active,
        }
    }
}

fn csp() -> HeaderValue {
    HeaderValue::from_static(
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    )
}

/// Render a console page with its security headers.
pub(crate) fn render(status: StatusCode, tpl: &impl Template) -> Response {
    crate::pages::render_with(status, tpl, csp())
}

/// Parse an application id from a console path.
pub(crate) fn app_id(raw: &str) -> Result<AppId, HttpError> {
    raw.parse().map_err(|_| HttpError::not_found("Application"))
}

/// A form's fields as pairs (repeated names keep their order).
pub(crate) type Pairs = Vec<(String, String)>;

/// The first value of a field.
pub(crate) fn field<'a>(pairs: &'a Pairs, name: &str) -> &'a str {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// Every value of a repeated field.
pub(crate) fn fields<'a>(pairs: &'a Pairs, name: &str) -> Vec<&'a str> {
    pairs
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// Field errors by field path, for showing each next to its field.
#[derive(Default)]
pub(crate) struct Errors(Vec<gatehouse_core::FieldError>);

impl Errors {
    pub fn from_invalid(inv: &gatehouse_core::Invalid) -> Self {
        Self(inv.errors.clone())
    }

    pub fn push(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(gatehouse_core::FieldError::new(field, message));
    }

    /// The message for `field`, if any.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }

    /// Messages for fields starting with `prefix`.
    pub fn under(&self, prefix: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|e| e.field.starts_with(prefix))
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Format a time for the console (UTC, to the minute).
pub(crate) fn when(t: &time::OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    t.format(f).unwrap_or_default()
}
