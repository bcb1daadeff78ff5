//! The pages Gatehouse itself shows on application hosts: sign-in, errors,
//! signed-out, signed-in. Server-rendered (askama, auto-escaped), styled by
//! one inline stylesheet allowed by its hash in a strict CSP, no script.

use std::sync::OnceLock;

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gatehouse_core::FieldError;

const CSS: &str = include_str!("../static/page.css");

fn csp() -> &'static HeaderValue {
    static CSP: OnceLock<HeaderValue> = OnceLock::new();
    CSP.get_or_init(|| {
        let hash = gatehouse_crypto::token::sha256_base64(CSS.as_bytes());
        HeaderValue::from_str(&format!(
            "default-src 'none'; style-src 'sha256-{hash}'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        ))
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"))
    })
}

/// Render a page with the security headers of Gatehouse's own pages.
pub(crate) fn html(status: StatusCode, page: &impl Template) -> Response {
    render_with(status, page, csp().clone())
}

/// Render a template as an HTML answer with Gatehouse's security headers
/// and the page's content security policy: the one place both the sign-in
/// pages and the console set them.
pub(crate) fn render_with(status: StatusCode, page: &impl Template, csp: HeaderValue) -> Response {
    match page.render() {
        Ok(body) => {
            let mut resp = (status, body).into_response();
            let h = resp.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            h.insert(header::CONTENT_SECURITY_POLICY, csp);
            h.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
            h.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("same-origin"),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Err(e) => {
            tracing::error!(error = %e, "page template failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Gatehouse could not render this page.",
            )
                .into_response()
        }
    }
}

/// The refusal of a cross-site form post (the CSRF layer of the sign-in
/// routes and of the console).
pub(crate) fn csrf_refused(e: tower_http::csrf::ProtectionError) -> Response {
    crate::error::HttpError::new(
        StatusCode::FORBIDDEN,
        "csrf",
        "Request refused",
        "This form was sent from another site, so it was refused. Open the page again and retry.",
    )
    .reason(format!("cross-site request refused: {e}"))
    .into_response()
}

#[derive(Template)]
#[template(path = "pages/login.html")]
pub(crate) struct LoginPage<'a> {
    pub brand: &'a str,
    pub css: &'a str,
    pub app_name: &'a str,
    pub action: String,
    pub rd: &'a str,
    pub email: &'a str,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/error.html")]
pub(crate) struct ErrorPage<'a> {
    pub brand: &'a str,
    pub css: &'a str,
    pub title: &'a str,
    pub detail: &'a str,
    pub fields: &'a [FieldError],
    pub reasons: &'a [String],
    pub link: Option<(String, &'a str)>,
    pub correlation_id: &'a str,
}

#[derive(Template)]
#[template(path = "pages/logged_out.html")]
pub(crate) struct LoggedOutPage<'a> {
    pub brand: &'a str,
    pub css: &'a str,
    pub app_name: &'a str,
    pub login_url: String,
    pub note: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "pages/signed_in.html")]
pub(crate) struct SignedInPage<'a> {
    pub brand: &'a str,
    pub css: &'a str,
    pub app_name: &'a str,
    pub email: &'a str,
    pub logout_url: String,
}

#[derive(Template)]
#[template(path = "pages/try.html")]
pub(crate) struct TryPage<'a> {
    pub brand: &'a str,
    pub css: &'a str,
    pub app_name: &'a str,
    pub result: &'a gatehouse_service::oidc::TryResult,
}

impl TryPage<'_> {
    fn claims_json(&self) -> String {
        serde_json::to_string_pretty(&self.result.claims).unwrap_or_default()
    }

    fn checks(&self) -> Vec<(&'static str, &'static str, String)> {
        use gatehouse_oidc::Outcome;
        self.result
            .checks
            .iter()
            .map(|c| match &c.outcome {
                Outcome::Ok => (c.name, "ok", String::new()),
                Outcome::Failed(m) => (c.name, "failed", m.clone()),
                Outcome::Warning(m) => (c.name, "warning", m.clone()),
                Outcome::Skipped(m) => (c.name, "skipped", m.clone()),
            })
            .collect()
    }
}

/// The stylesheet (for templates).
pub(crate) fn css() -> &'static str {
    CSS
}

/// The brand shown in titles.
pub(crate) const BRAND: &str = "Gatehouse";
