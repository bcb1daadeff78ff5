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
            let err = HttpError::sign_in(e, login_url);
            refused_elsewhere(&state, &route, &client, &err).unwrap_or_else(|| err.into_response())
        }
    };
    if let Some(s) = params.state.as_deref()
        && let Some(c) = clear_flow_cookie(&route, &flow_cookie_name(s))
    {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    labelled("auth_callback", resp)
}

/// The cookie carrying a refused sign-in's page to `<prefix>/refused`.
pub(crate) const REFUSAL_COOKIE: &str = "gatehouse_refusal";

/// A refusal of someone the IdP signed in (no role, deactivated, not
/// provisioned, ...) is shown on a clean URL: a redirect to
/// `<prefix>/refused` with the page sealed in a short-lived cookie, so a
/// reload does not replay the used authorization code. `None` for other
/// errors (they are shown here).
fn refused_elsewhere(
    state: &AppState,
    route: &AppRoute,
    client: &Client,
    err: &HttpError,
) -> Option<Response> {
    let app = &route.rt.app;
    let note = serde_json::to_value(err.refusal_note(client.correlation_id.clone())?).ok()?;
    let sealed = match state.gh().sign_in().seal_refusal(app.id, &note) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot seal a refusal note; showing the page at the callback");
            return None;
        }
    };
    let path = format!("{}/refused", app.auth_prefix);
    let max_age = time::Duration::seconds(
        i64::try_from(gatehouse_service::oidc::REFUSAL_TTL.as_secs()).unwrap_or(600),
    );
    let cookie = cookie_header(REFUSAL_COOKIE, &sealed, &path, app.scheme, max_age)?;
    tracing::info!(
        reason = err.log_reason(),
        "sign-in refused; the page is shown at {path}"
    );
    let mut resp = Redirect::to(&path).into_response();
    resp.headers_mut().append(header::SET_COOKIE, cookie);
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Some(resp)
}

/// `GET <prefix>/refused`: the page of a sign-in refused at the callback.
pub async fn refused(
    State(state): State<AppState>,
    route: AppRoute,
    headers: HeaderMap,
) -> Response {
    let app = &route.rt.app;
    let note = crate::cookies::first(&headers, REFUSAL_COOKIE)
        .and_then(|t| state.gh().sign_in().open_refusal(app.id, t))
        .and_then(|v| serde_json::from_value::<crate::error::RefusalNote>(v).ok());
    let mut resp = match note {
        Some(n) => HttpError::from_refusal_note(&n).into_response(),
        None => HttpError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "Nothing to show",
            "This page shows why a sign-in was refused, for a few minutes after it happened. Sign in again.",
        )
        .link(format!("{}/login", app.auth_prefix), "Sign in")
        .into_response(),
    };
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    labelled("auth_refused", resp)
}
