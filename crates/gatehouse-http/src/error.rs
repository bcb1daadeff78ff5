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
use gatehouse_service::api_access::BearerError;
use gatehouse_service::oidc::SignInError;

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
    /// Why, one sentence each, for the person refused (an access refusal
    /// names the rule and the roles it needs); on the page and in the
    /// problem document.
    pub reasons: Vec<String>,
    /// A `WWW-Authenticate` challenge (RFC 6750 §3) for a refused bearer token.
    pub challenge: Option<String>,
    /// The body a protocol prescribes (OAuth's `{"error": …}`, SCIM's
    /// error document), sent as `application/json` (or
    /// [`ErrorReport::protocol_type`]) with `Cache-Control: no-store`
    /// instead of a page or a problem document.
    pub protocol_body: Option<serde_json::Value>,
    /// The content type of `protocol_body`, when not `application/json`.
    pub protocol_type: Option<&'static str>,
}

/// An error a handler returns.
#[derive(Debug)]
pub struct HttpError(Box<ErrorReport>);

/// A refused sign-in's page, carried (sealed, in a short-lived cookie) from
/// the callback to the clean URL that shows it.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct RefusalNote {
    status: u16,
    code: String,
    title: String,
    detail: String,
    link: Option<String>,
    /// The correlation id the refusal was logged with at the callback.
    #[serde(default)]
    cid: Option<String>,
    /// Why, one sentence each (an access refusal's rule and roles).
    #[serde(default)]
    reasons: Vec<String>,
}

/// The (code, title) pairs of the pages a refused sign-in shows: a note
/// names one of these (titles and codes are static text).
const REFUSAL_PAGES: &[(&str, &str)] = &[
    ("idp_error", "Sign-in was cancelled"),
    ("idp_error", "The identity provider refused the sign-in"),
    ("missing_claim", "Your account is missing information"),
    ("email_not_verified", "Your e-mail address is not verified"),
    ("email_taken", "This e-mail is already in use"),
    ("user_disabled", "Your account is disabled"),
    ("user_deactivated", "Your account is deactivated"),
    (
        "not_provisioned",
        "Your account is not set up for this application",
    ),
    ("no_access", "You have no access to this application"),
];

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
            reasons: Vec::new(),
            challenge: None,
            protocol_body: None,
            protocol_type: None,
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

    /// A `WWW-Authenticate: Bearer error="invalid_token"` challenge with
    /// `description` (quotes, backslashes and controls dropped, 200 characters at most).
    #[must_use]
    pub fn bearer_challenge(mut self, description: &str) -> Self {
        let clean: String = description
            .chars()
            .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
            .take(200)
            .collect();
        self.0.challenge = Some(format!(
            "Bearer error=\"invalid_token\", error_description=\"{clean}\""
        ));
        self
    }

    /// An OAuth-style protocol error (`{"error": code, "error_description": …}`),
    /// as Back-Channel Logout 1.0 §2.8 prescribes.
    pub fn protocol(status: StatusCode, error: &'static str, description: Option<String>) -> Self {
        let mut body = serde_json::json!({ "error": error });
        if let Some(d) = &description {
            body["error_description"] = serde_json::Value::String(d.clone());
        }
        let mut err = Self::new(
            status,
            error,
            "Protocol error",
            description.unwrap_or_default(),
        );
        err.0.protocol_body = Some(body);
        err
    }

    /// A SCIM error (RFC 7644 §3.12): the error document as the body, as
    /// `application/scim+json`.
    pub fn scim(e: &gatehouse_scim::ScimError) -> Self {
        let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
        let code = e.scim_type.map_or(
            if e.status == 404 {
                "not_found"
            } else {
                "scim_error"
            },
            gatehouse_scim::ScimType::as_str,
        );
        let mut err = Self::new(status, code, "SCIM error", e.detail.clone());
        err.0.protocol_body = Some(e.document());
        err.0.protocol_type = Some("application/scim+json");
        err
    }

    /// A refusal of a signed-in person (403, 409) as a note to show after
    /// a redirect; `None` for other errors.
    pub(crate) fn refusal_note(&self, cid: Option<String>) -> Option<RefusalNote> {
        let r = &self.0;
        (matches!(r.status, StatusCode::FORBIDDEN | StatusCode::CONFLICT)
            && REFUSAL_PAGES.contains(&(r.code, r.title)))
        .then(|| RefusalNote {
            status: r.status.as_u16(),
            code: r.code.to_owned(),
            title: r.title.to_owned(),
            detail: r.detail.clone(),
            link: r.link.as_ref().map(|(href, _)| href.clone()),
            cid,
            reasons: r.reasons.clone(),
        })
    }

    /// The page a [`RefusalNote`] describes.
    pub(crate) fn from_refusal_note(n: &RefusalNote) -> Self {
        let (code, title) = REFUSAL_PAGES
            .iter()
            .find(|(c, t)| *c == n.code && *t == n.title)
            .copied()
            .unwrap_or(("refused", "Sign-in refused"));
        let status = match n.status {
            409 => StatusCode::CONFLICT,
            _ => StatusCode::FORBIDDEN,
        };
        let mut err = Self::new(status, code, title, n.detail.clone()).reason(format!(
            "the page of a refused sign-in ({code}), shown again; the refusal was logged with correlation id {}",
            n.cid.as_deref().unwrap_or("-")
        ));
        err.0.reasons.clone_from(&n.reasons);
        match &n.link {
            // Only a path on this host (never `//host` or `/\host`).
            Some(href)
                if href.starts_with('/')
                    && !href.starts_with("//")
                    && !href.contains('\\')
                    && !href.chars().any(char::is_control) =>
            {
                err.link(href.clone(), "Try again")
            }
            _ => err,
        }
    }

    /// Why, for the log.
    pub(crate) fn log_reason(&self) -> &str {
        &self.0.reason
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

impl From<gatehouse_core::Invalid> for HttpError {
    fn from(e: gatehouse_core::Invalid) -> Self {
        Self::from(ServiceError::Invalid(e))
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
    /// The page a failed sign-in shows, with a way to start again.
    pub fn sign_in(e: SignInError, login_url: String) -> Self {
        let again = |err: HttpError| err.link(login_url.clone(), "Try again");
        let reason = e.to_string();
        let err = match &e {
            SignInError::NotConfigured(why) => HttpError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "sso_not_configured",
                "Sign-in is not set up",
                format!(
                    "Single sign-on for this application is not fully set up ({why}). Ask your administrator."
                ),
            ),
            SignInError::IdpError { error, description } if error == "access_denied" => {
                again(HttpError::new(
                    StatusCode::FORBIDDEN,
                    "idp_error",
                    "Sign-in was cancelled",
                    format!(
                        "The identity provider did not sign you in{}.",
                        description
                            .as_deref()
                            .map(|d| format!(": {d}"))
                            .unwrap_or_default()
                    ),
                ))
            }
            SignInError::IdpError { error, description } => again(HttpError::new(
                StatusCode::FORBIDDEN,
                "idp_error",
                "The identity provider refused the sign-in",
                format!(
                    "The identity provider answered \"{error}\"{}.",
                    description
                        .as_deref()
                        .map(|d| format!(": {d}"))
                        .unwrap_or_default()
                ),
            )),
            SignInError::StateMismatch => again(HttpError::new(
                StatusCode::BAD_REQUEST,
                "state_mismatch",
                "This sign-in could not be completed",
                "It was not started in this browser, or your browser did not keep its cookie. Start the sign-in again.",
            )),
            SignInError::Expired => again(HttpError::new(
                StatusCode::BAD_REQUEST,
                "expired_login",
                "The sign-in took too long",
                "Sign-ins must be completed within 10 minutes. Start again.",
            )),
            SignInError::Replayed => again(HttpError::new(
                StatusCode::BAD_REQUEST,
                "replayed",
                "This sign-in was already completed",
                "This sign-in link was already used. Start a new sign-in.",
            )),
            SignInError::Unavailable(_) => again(HttpError::new(
                StatusCode::BAD_GATEWAY,
                "idp_unreachable",
                "The identity provider is not reachable",
                "Gatehouse could not reach the identity provider to complete the sign-in. Try again in a moment.",
            )),
            SignInError::TokenRefused(inner) => again(HttpError::new(
                StatusCode::BAD_GATEWAY,
                "token_error",
                "The identity provider did not complete the sign-in",
                format!("{inner}."),
            )),
            SignInError::InvalidToken(inner) => again(HttpError::new(
                StatusCode::BAD_GATEWAY,
                "invalid_token",
                "The identity provider's answer was refused",
                format!("Gatehouse refused it because {inner}. No session was created."),
            )),
            SignInError::Mapping(m) => HttpError::new(
                StatusCode::FORBIDDEN,
                "missing_claim",
                "Your account is missing information",
                format!(
                    "The sign-in cannot finish: {m}. An administrator can fix this in Settings > Integrations > SSO OIDC > Claim Mappings, or at the identity provider."
                ),
            ),
            SignInError::EmailNotVerified { .. } => HttpError::new(
                StatusCode::FORBIDDEN,
                "email_not_verified",
                "Your e-mail address is not verified",
                format!(
                    "{e}. Verify your address at the identity provider, or ask an administrator to link the accounts."
                ),
            ),
            SignInError::EmailTaken { .. } => HttpError::new(
                StatusCode::CONFLICT,
                "email_taken",
                "This e-mail is already in use",
                format!("{e}."),
            ),
            SignInError::Disabled {
                why: gatehouse_core::user::Deactivation::DisabledByAdmin,
                ..
            } => HttpError::new(
                StatusCode::FORBIDDEN,
                "user_disabled",
                "Your account is disabled",
                "Your account in this application is disabled. Ask your administrator.",
            ),
            SignInError::Disabled { why, .. } => HttpError::new(
                StatusCode::FORBIDDEN,
                "user_deactivated",
                "Your account is deactivated",
                "Your account in this application was deactivated by your organisation's directory. Ask your administrator if you need access again.",
            )
            .reason(format!("sign-in refused: {}", why.reason())),
            SignInError::NotProvisioned { email } => HttpError::new(
                StatusCode::FORBIDDEN,
                "not_provisioned",
                "Your account is not set up for this application",
                format!("{email} has not been given this application by your organisation's directory. Ask your administrator to assign it to you."),
            ),
            SignInError::NoAccess { email } => HttpError::no_access(email, None),
            SignInError::Service(gatehouse_service::ServiceError::Unavailable(_)) => again(
                HttpError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "Sign-in is unavailable right now",
                    "Gatehouse cannot reach its database, so nobody can sign in at the moment. People already signed in are not affected. Try again shortly.",
                )
                .retry_after(std::time::Duration::from_secs(5)),
            ),
            SignInError::Service(_) => HttpError::internal(e.to_string()),
            _ => HttpError::internal(e.to_string()),
        };
        err.reason(format!("sign-in refused ({}): {reason}", e.reason()))
    }

    /// 403 for an access decision that refused: the page says who is signed
    /// in, the rule that refused and the roles it needs.
    pub fn denied(email: &str, denied: &gatehouse_core::access::Denied) -> Self {
        let mut err = Self::no_access(email, denied.rule.as_ref())
            .reason(format!("{email}: {}", denied.reasons.join(" ")));
        err.0.reasons.clone_from(&denied.reasons);
        err
    }

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
                    gatehouse_core::access::Role::join(&r.roles, " or ")
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

/// A 401 for a bearer token that was not accepted (RFC 6750 §3).
fn invalid_token(detail: String) -> HttpError {
    HttpError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        "Invalid bearer token",
        detail.clone(),
    )
    .bearer_challenge(&detail)
}

impl From<BearerError> for HttpError {
    fn from(e: BearerError) -> Self {
        match e {
        BearerError::Invalid(why) => invalid_token(format!("The bearer token was refused: {why}.")),
        BearerError::Unidentified(why) => {
            invalid_token(format!("The bearer token names no known user: {why}."))
        }
        BearerError::NotAccepted => {
            invalid_token("This application does not accept bearer tokens.".into())
        }
        BearerError::Forbidden { email, why } => HttpError::new(
            StatusCode::FORBIDDEN,
            "no_access",
            "You have no access to this application",
            format!("{email} may not use this application: {why}."),
        )
        ,
        BearerError::KeysUnavailable { why, retry_after } => HttpError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "idp_unavailable",
                "The identity provider is not reachable",
                "Bearer tokens cannot be checked because the identity provider's keys cannot be fetched. Try again shortly.",
            )
        .reason(why)
        .retry_after(retry_after)
        ,
        BearerError::Service(s) => HttpError::from(s),
    }
    }
}

impl From<gatehouse_service::provisioning::ProvisioningError> for HttpError {
    fn from(e: gatehouse_service::provisioning::ProvisioningError) -> Self {
        use gatehouse_service::provisioning::ProvisioningError as P;
        let status_only = |status: u16, detail: &str| gatehouse_scim::ScimError {
            status,
            scim_type: None,
            detail: detail.to_owned(),
        };
        match e {
            P::Scim(s) => HttpError::scim(&s),
            P::Unauthorized => {
                let mut err = HttpError::scim(&status_only(
                    401,
                    "A SCIM token of this application is required (Authorization: Bearer ghscim_...).",
                ))
                .reason("SCIM request without a valid token of this application");
                err.0.challenge = Some("Bearer realm=\"scim\"".to_owned());
                err
            }
            P::Stale => HttpError::scim(&status_only(
                409,
                "The resource kept changing while this request was applied; send it again.",
            )),
            P::RateLimited { retry_after } => HttpError::scim(&status_only(
                429,
                "Too many requests with this SCIM token; retry after the time Retry-After gives.",
            ))
            .retry_after(retry_after),
            P::Service(ServiceError::Unavailable(why)) => HttpError::scim(&status_only(
                503,
                "The directory is unavailable right now; retry shortly.",
            ))
            .reason(why)
            .retry_after(Duration::from_secs(5)),
            P::Service(ServiceError::NotFound(what)) => {
                HttpError::scim(&status_only(404, &format!("no such {what}")))
            }
            P::Service(ServiceError::Invalid(inv)) => {
                HttpError::scim(&gatehouse_scim::ScimError::bad_request(
                    gatehouse_scim::ScimType::InvalidValue,
                    inv.to_string(),
                ))
            }
            P::Service(other) => HttpError::scim(&status_only(
                500,
                "The request could not be completed; the correlation id is in the log.",
            ))
            .reason(other.to_string()),
        }
    }
}

impl From<gatehouse_service::oidc::BackchannelError> for HttpError {
    fn from(e: gatehouse_service::oidc::BackchannelError) -> Self {
        match e {
            gatehouse_service::oidc::BackchannelError::Service(s) => HttpError::protocol(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                None,
            )
            .reason(format!("back-channel logout failed: {s}")),
            other => HttpError::protocol(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                Some(other.to_string()),
            )
            .reason(format!("back-channel logout refused: {other}")),
        }
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
        if let Some(challenge) = &self.0.challenge
            && let Ok(v) = axum::http::HeaderValue::from_str(challenge)
        {
            resp.headers_mut()
                .insert(axum::http::header::WWW_AUTHENTICATE, v);
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
