//! `GET|POST <prefix>/login`: the application's local sign-in page (when SSO
//! OIDC is disabled).

use crate::extract::Form;
use crate::extract::Query;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use gatehouse_core::ReturnPath;
use gatehouse_service::oidc::Purpose;
use gatehouse_service::{Context, ServiceError};
use secrecy::SecretString;
use serde::Deserialize;

use super::{cookie_header, labelled, session_cookie};
use crate::error::HttpError;
use crate::extract::{AppRoute, Client};
use crate::pages::{BRAND, LoginPage, css, html};
use crate::state::AppState;

/// Form of a password sign-in (`POST /auth/login` and the console's).
#[derive(Deserialize)]
pub struct LoginForm {
    pub(crate) email: String,
    pub(crate) password: SecretString,
    #[serde(default)]
    pub(crate) rd: Option<String>,
}

/// The return path, never back into Gatehouse's own routes.
pub(crate) fn return_path(route: &AppRoute, rd: Option<&str>) -> ReturnPath {
    let rd = ReturnPath::parse_or_root(rd);
    if rd.is_under(route.rt.app.auth_prefix.as_str()) {
        ReturnPath::root()
    } else {
        rd
    }
}

fn render(
    route: &AppRoute,
    rd: &ReturnPath,
    email: &str,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    html(
        status,
        &LoginPage {
            brand: BRAND,
            css: css(),
            app_name: &route.rt.app.name,
            action: format!("{}/login", route.rt.app.auth_prefix),
            rd: rd.as_str(),
            email,
            error,
        },
    )
}

/// Show the sign-in form, or with SSO OIDC enabled start the sign-in at the
/// IdP (there is no standalone login page then); go straight back when
/// already signed in.
async fn show(
    state: &AppState,
    route: &AppRoute,
    client: &Client,
    headers: &axum::http::HeaderMap,
    query: &[(String, String)],
) -> Result<Response, HttpError> {
    let rd = query
        .iter()
        .find(|(k, _)| k == "rd")
        .map(|(_, v)| v.as_str());
    let rd = return_path(route, rd);
    if crate::identity::find_session(state, &route.rt, headers)
        .await?
        .is_some()
    {
        return Ok(Redirect::to(rd.as_str()).into_response());
    }
    if !route.rt.sso_enabled() {
        return Ok(render(route, &rd, "", None, StatusCode::OK));
    }
    let started = state
        .gh()
        .sign_in()
        .start_oidc(
            &route.rt,
            &route.entry,
            &rd,
            query,
            Purpose::SignIn,
            &client.info,
        )
        .await;
    match started {
        Ok(start) => Ok(super::to_idp(&route.rt.app, &start)),
        Err(e) => {
            state.metrics().observe_signin("oidc", e.reason());
            Err(HttpError::sign_in(
                e,
                format!("{}/login", route.rt.app.auth_prefix),
            ))
        }
    }
}

/// `GET /login`: every query parameter but `rd` is forwarded to the IdP
/// (the protocol's own are never overridden).
pub async fn page(
    State(state): State<AppState>,
    route: AppRoute,
    client: Client,
    headers: axum::http::HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    labelled(
        "auth_login",
        show(&state, &route, &client, &headers, &query).await,
    )
}

/// `POST /login`: check the credentials, issue the session, go back to `rd`.
pub async fn submit(
    State(state): State<AppState>,
    route: AppRoute,
    client: Client,
    headers: axum::http::HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let rd = return_path(&route, form.rd.as_deref());
    if route.rt.sso_enabled() {
        return labelled(
            "auth_login",
            HttpError::new(
                StatusCode::FORBIDDEN,
                "password_sign_in_off",
                "Sign in with your organisation",
                "This application signs users in through its identity provider; passwords are not accepted here.",
            )
            .link(format!("{}/login", route.rt.app.auth_prefix), "Sign in"),
        );
    }
    let ctx = Context {
        actor: gatehouse_core::Actor::Anonymous {
            ip: client.info.ip.clone().unwrap_or_default(),
        },
        correlation_id: client.correlation_id.clone(),
    };
    let app = &route.rt.app;
    let device_name = crate::cookies::device_name(app);
    let device = crate::cookies::first(&headers, &device_name);
    let result = state
        .gh()
        .sign_in()
        .with_password(app, &form.email, form.password, device, &client.info, &ctx)
        .await;
    let resp = match result {
        Ok(issued) => {
            state.metrics().observe_signin("password", "succeeded");
            let max_age = issued.expires_at - state.gh().now();
            let mut resp = Redirect::to(rd.as_str()).into_response();
            use secrecy::ExposeSecret;
            if let Some(c) = session_cookie(
                &crate::cookies::session_name(&state.settings().session_cookie, app),
                issued.token.expose_secret(),
                app.scheme,
                max_age,
            ) {
                resp.headers_mut().insert(header::SET_COOKIE, c);
            }
            // This browser has now signed in to this account: its later
            // attempts are not locked out by someone else's guessing.
            if let Some(token) = state.gh().sign_in().device_token(app.id, &form.email)
                && let Some(c) = cookie_header(
                    &device_name,
                    &token,
                    &app.auth_prefix.to_string(),
                    app.scheme,
                    gatehouse_service::local_login::DEVICE_TTL,
                )
            {
                resp.headers_mut().append(header::SET_COOKIE, c);
            }
            resp
        }
        Err(e) => {
            state.metrics().observe_signin("password", e.reason());
            password_refusal(&route, &rd, form.email.trim(), e)
        }
    };
    labelled("auth_login", resp)
}

/// The answer to a refused password sign-in: the form again with the
/// reason where the person can fix it, the error page otherwise.
fn password_refusal(
    route: &AppRoute,
    rd: &gatehouse_core::ReturnPath,
    email: &str,
    e: ServiceError,
) -> Response {
    let app = &route.rt.app;
    match e {
        ServiceError::InvalidCredentials => render(
            route,
            rd,
            email,
            Some("The e-mail or password is not correct.".to_owned()),
            StatusCode::UNAUTHORIZED,
        ),
        ServiceError::RateLimited { retry_after } => {
            let mut resp = render(
                route,
                rd,
                email,
                Some(format!(
                    "Too many sign-in attempts. Try again in {} seconds.",
                    retry_after.as_secs().max(1)
                )),
                StatusCode::TOO_MANY_REQUESTS,
            );
            if let Ok(v) = retry_after.as_secs().max(1).to_string().parse() {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            resp
        }
        ServiceError::NoAccess { email } => HttpError::no_access(&email, None)
            .link(
                format!("{}/login", app.auth_prefix),
                "Sign in as someone else",
            )
            .into_response(),
        e => HttpError::from(e).into_response(),
    }
}
