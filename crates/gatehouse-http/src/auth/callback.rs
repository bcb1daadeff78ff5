//! `GET <prefix>/callback`: the Callback URL. Completes the sign-in the
//! flow cookie describes and returns to `rd`; every failure is a page with
//! the reason, a correlation id and a way to start again.

use crate::extract::Query;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use gatehouse_service::oidc::{CallbackParams, SignInDone, flow_cookie_name};
use secrecy::ExposeSecret;

use super::{cookie_header, labelled, session_cookie};
use crate::error::HttpError;
use crate::extract::{AppRoute, Client};
use crate::pages::{BRAND, TryPage, css, html};
use crate::state::AppState;

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
        .sign_in()
        .complete_oidc(
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
            HttpError::sign_in(e, login_url).into_response()
        }
    };
    if let Some(s) = params.state.as_deref()
        && let Some(c) = clear_flow_cookie(&route, &flow_cookie_name(s))
    {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    labelled("auth_callback", resp)
}
