//! One mapping from every error to HTTP. A handler returns an [`HttpError`];
//! its `IntoResponse` only sets the status and attaches an [`ErrorReport`]
//! to the response. The `render_errors` middleware then logs the report in
//! the request's span and renders it as an HTML page or an RFC 9457 problem
//! document, with the correlation id in both.

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gatehouse_core::FieldError;
use gatehouse_service::ServiceError;

/// Everything needed to render and log an error.
#[derive(Debug, Clone)]
pub struct ErrorReport {
    /// The status.
    pub status: StatusCode,
    /// A stable machine name (`validation`, `not_found`, ...), the problem type.
    pub code: &'static str,
    /// A short human title.
    pub title: &'static str,
    /// What happened, for the person or program that asked.
    pub detail: String,
    /// Why, for the log (never secrets).
    pub reason: String,
    /// Fields at fault.
    pub fields: Vec<FieldError>,
    /// For 429 and 503: when to retry.
    pub retry_after: Option<Duration>,
    /// A way forward for people: (href, label), e.g. "Try again".
    pub link: Option<(String, &'static str)>,
}

/// An error a handler returns.
#[derive(Debug)]
pub struct HttpError(Box<ErrorReport>);

impl HttpError {
    /// A new error.
    pub fn new(
        status: StatusCode,
        code: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        let detail = detail.into();
        Self(Box::new(ErrorReport {
            status,
            code,
            title,
            reason: detail.clone(),
            detail,
            fields: Vec::new(),
            retry_after: None,
            link: None,
        }))
    }

    /// Set the reason logged (when it differs from what is shown).
    #[must_use]
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.0.reason = reason.into();
        self
    }

    /// Ask the client to retry after `after` (429, 503).
    #[must_use]
    pub fn retry_after(mut self, after: Duration) -> Self {
        self.0.retry_after = Some(after);
        self
    }

    /// Offer a link on the HTML page.
    #[must_use]
    pub fn link(mut self, href: impl Into<String>, label: &'static str) -> Self {
        self.0.link = Some((href.into(), label));
        self
    }

    /// 404.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "Not found",
            format!("{what} not found"),
        )
    }

    /// 400.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "Bad request",
            detail,
        )
    }

    /// 422 naming one field.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let fe = FieldError::new(field, message);
        let mut e = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "Invalid input",
            format!("{}: {}", fe.field, fe.message),
        );
        e.0.fields.push(fe);
        e
    }

    /// The report.
    pub fn report(&self) -> &ErrorReport {
        &self.0
    }
}

impl From<ServiceError> for HttpError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid(inv) => {
                let mut err = Self::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation",
                    "Invalid input",
                    inv.to_string(),
                );
                err.0.fields = inv.errors;
                err
            }
            ServiceError::NotFound(what) => Self::not_found(capitalize(what).as_str()),
            ServiceError::Conflict { field, message } => {
                let mut err = Self::new(
                    StatusCode::CONFLICT,
                    "conflict",
                    "Conflict",
                    format!("{field}: {message}"),
                );
                err.0.fields.push(FieldError::new(field, message));
                err
            }
            ServiceError::InvalidCredentials => Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "Sign-in failed",
                "The e-mail or password is not correct.",
            ),
            ServiceError::RateLimited { retry_after } => {
                let mut err = Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    "Too many attempts",
                    format!(
                        "Too many attempts. Try again in {} seconds.",
                        retry_after.as_secs().max(1)
                    ),
                );
                err.0.retry_after = Some(retry_after);
                err
            }
            ServiceError::NoAccess { email } => Self::no_access(&email, None),
            ServiceError::Unauthorized => Self::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Unauthorized",
                "A valid admin token is required: Authorization: Bearer <token>.",
            ),
            ServiceError::Unavailable(m) => {
                let mut err = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "Service unavailable",
                    "Gatehouse cannot reach its database right now. Try again shortly.",
                )
                .reason(format!("storage unavailable: {m}"));
                err.0.retry_after = Some(Duration::from_secs(5));
                err
            }
            ServiceError::Internal(m) => Self::internal(m),
            other => Self::internal(other.to_string()),
        }
    }
}

impl HttpError {
    /// 403: signed in, but no role grants the application (or this path).
    pub fn no_access(email: &str, rule: Option<&gatehouse_core::access::RouteRule>) -> Self {
        match rule {
            None => Self::new(
                StatusCode::FORBIDDEN,
                "no_access",
                "You have no access to this application",
                format!(
                    "You are signed in as {email}, but no role grants you access to this application. Ask an administrator to grant you access."
                ),
            ),
            Some(r) => Self::new(
                StatusCode::FORBIDDEN,
                "no_access",
                "You have no access to this page",
                format!(
                    "You are signed in as {email}. This part of the application ({}) needs the role {}. Ask an administrator to grant it.",
                    r.prefix,
                    r.roles.join(" or ")
                ),
            ),
        }
    }

    /// 500 with a generic message; the reason goes to the log only.
    pub fn internal(reason: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Something went wrong",
            "Gatehouse could not complete this request. The error was logged.",
        )
        .reason(reason)
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let mut resp = self.0.status.into_response();
        if let Some(after) = self.0.retry_after
            && let Ok(v) = axum::http::HeaderValue::from_str(&after.as_secs().max(1).to_string())
        {
            resp.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, v);
        }
        resp.extensions_mut().insert(*self.0);
        resp
    }
}

/// The framework's own 405 (a Gatehouse route asked with a method it does
/// not serve) as the error page or problem document, with its `Allow`
/// header kept. Answers that already carry a report pass unchanged.
pub(crate) async fn method_not_allowed(resp: Response) -> Response {
    if resp.status() != StatusCode::METHOD_NOT_ALLOWED
        || resp.extensions().get::<ErrorReport>().is_some()
    {
        return resp;
    }
    let allow = resp.headers().get(axum::http::header::ALLOW).cloned();
    let label = resp
        .extensions()
        .get::<crate::middleware::RouteLabel>()
        .copied();
    let mut out = HttpError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "Method not allowed",
        "This address does not accept this kind of request.",
    )
    .into_response();
    if let Some(allow) = allow {
        out.headers_mut().insert(axum::http::header::ALLOW, allow);
    }
    if let Some(label) = label {
        out.extensions_mut().insert(label);
    }
    out
}
