//! `GET|POST <prefix>/logout`: end the session and show the signed-out page.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use gatehouse_service::Context;
use gatehouse_service::oidc::LogoutTarget;

use super::{clear_cookie, labelled};
use crate::error::HttpError;
use crate::extract::{AppRoute, Client};
use crate::state::AppState;

/// End the local session (if any), clear the cookie, go to the signed-out page.
pub async fn logout(
    State(state): State<AppState>,
    route: AppRoute,
    client: Client,
    headers: axum::http::HeaderMap,
) -> Response {
    labelled("auth_logout", run(&state, &route, &client, &headers).await)
}

async fn run(
    state: &AppState,
    route: &AppRoute,
    client: &Client,
    headers: &axum::http::HeaderMap,
) -> Result<Response, HttpError> {
    let app = &route.rt.app;
    let found = crate::identity::find_session(state, &route.rt, headers).await?;
    let c = found.as_ref().map(|(_, c)| *c);
    let actor = match &found {
        Some((s, _)) => gatehouse_core::Actor::User {
            id: s.user.id.to_string(),
            email: s.user.email.to_string(),
        },
        None => gatehouse_core::Actor::Anonymous {
            ip: client.info.ip.clone().unwrap_or_default(),
        },
    };
    let ctx = Context {
        actor,
        correlation_id: client.correlation_id.clone(),
    };
    let outcome = state
        .gh()
        .sign_in()
        .logout(&route.rt, &route.entry, c, &ctx)
        .await?;
    if outcome.ended {
        tracing::info!(app = %app.slug, "signed out");
    }
    let location = match outcome.target {
        LogoutTarget::Idp(url) => url,
        LogoutTarget::LoggedOut { idp_note: true } => {
            format!("{}/logged-out?idp=1", app.auth_prefix)
        }
        LogoutTarget::LoggedOut { idp_note: false } => format!("{}/logged-out", app.auth_prefix),
    };
    let mut resp = Redirect::to(&location).into_response();
    let name = crate::cookies::session_name(&state.settings().session_cookie, app);
    if let Some(c) = clear_cookie(&name, app.scheme) {
        resp.headers_mut().insert(header::SET_COOKIE, c);
    }
    Ok(resp)
}
