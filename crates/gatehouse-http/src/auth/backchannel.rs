//! `POST <prefix>/backchannel-logout`: OpenID Connect Back-Channel Logout
//! 1.0. Answers 200 when the logout token is valid (the sessions it names
//! end on every node), 400 `invalid_request` otherwise (§2.8).

use crate::extract::Form;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::labelled;
use crate::error::HttpError;
use crate::extract::{AppRoute, Client};
use crate::state::AppState;

/// The form the IdP posts.
#[derive(Deserialize)]
pub struct LogoutForm {
    logout_token: Option<String>,
}

/// `POST /backchannel-logout`.
pub async fn backchannel(
    State(state): State<AppState>,
    route: AppRoute,
    client: Client,
    Form(form): Form<LogoutForm, { 16 * 1024 }>,
) -> Response {
    let resp = match form.logout_token.filter(|t| !t.is_empty()) {
        None => HttpError::protocol(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some("logout_token is missing".into()),
        )
        .into_response(),
        Some(token) => match state
            .gh()
            .sign_in()
            .backchannel(&route.rt, &token, client.correlation_id.clone())
            .await
        {
            Ok(_) => {
                let mut ok = StatusCode::OK.into_response();
                ok.headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                ok
            }
            Err(e) => HttpError::from(e).into_response(),
        },
    };
    labelled("auth_backchannel", resp)
}
