//! `GET <prefix>/callback`: the Callback URL. Completes the sign-in the
//! flow cookie describes and returns to `rd`; every failure is a page with
//! the reason, a correlation id and a way to start again.

use crate::extract::Query;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use gatehouse_service::oidc::{CallbackParams, SignInDone, SignInError, flow_cookie_name};
use secrecy::ExposeSecret;

use super::{cookie_header, labelled, session_cookie};
use crate::error::HttpError;
use crate::extract::{AppRoute, Client};
use crate::pages::{BRAND, TryPage, css, html};
use crate::state::AppState;

/// The page a failed sign-in shows.
pub(crate) fn sign_in_failure(e: SignInError, login_url: String) -> HttpError {
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
        SignInError::Disabled { .. } => HttpError::new(
            StatusCode::FORBIDDEN,
            "user_disabled",
            "Your account is disabled",
            "Your account in this application is disabled. Ask your administrator.",
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

/// `Set-Cookie` removing a flow cookie.
fn clear_flow_cookie(route: &AppRoute, name: &str) -> Option<HeaderValue> {
    let app = &route.rt.app;
    cookie_header(
        name,
        "",
        &format!("{}/callback", app.auth_prefix),
        app.scheme,
        time::Duration::ZERO,
    )
}

/// `GET /callback`.
pub async fn callback(
    State(state): State<AppState>,
    route: AppRoute,
    client: Client,
    headers: HeaderMap,
    Query(params): Query<CallbackParams>,
) -> Response {
    let app = &route.rt.app;
    let started = std::time::Instant::now();
    let login_url = format!("{}/login", app.auth_prefix);
    let result = state
        .gh()
        .complete_oidc_sign_in(
            &route.rt,
            &params,
            |name| crate::cookies::first(&headers, name).map(str::to_owned),
            &client.info,
        )
        .await;
    let mut resp = match result {
        Ok(SignInDone::SignedIn {
            issued,
            rd,
            idp_time,
            ..
        }) => {
            state.metrics().observe_signin("oidc", "succeeded");
            state
                .metrics()
                .observe_callback(started.elapsed(), idp_time);
            let mut resp = Redirect::to(rd.as_str()).into_response();
            let max_age = issued.expires_at - state.gh().now();
            if let Some(c) = session_cookie(
                &crate::cookies::session_name(&state.settings().session_cookie, app),
                issued.token.expose_secret(),
                app.scheme,
                max_age,
            ) {
                resp.headers_mut().append(header::SET_COOKIE, c);
            }
            resp
        }
        Ok(SignInDone::Admin { .. }) => {
            HttpError::bad_request("This callback is for the console, not for this application.")
                .into_response()
        }
        Ok(SignInDone::Tried(result)) => html(
            StatusCode::OK,
            &TryPage {
                brand: BRAND,
                css: css(),
                app_name: &app.name,
                result: &result,
            },
        ),
        Err(e) => {
            state.metrics().observe_signin("oidc", e.reason());
            sign_in_failure(e, login_url).into_response()
        }
    };
    if let Some(s) = params.state.as_deref()
        && let Some(c) = clear_flow_cookie(&route, &flow_cookie_name(s))
    {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    labelled("auth_callback", resp)
}
