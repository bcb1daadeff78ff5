//! `POST <prefix>/backchannel-logout`: OpenID Connect Back-Channel Logout
//! 1.0. Answers 200 when the logout token is valid (the sessions it names
//! end on every node), 400 `invalid_request` otherwise (§2.8).

use crate::extract::Form;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::labelled;
use crate::extract::{AppRoute, Client};
use crate::state::AppState;

/// The form the IdP posts.
#[derive(Deserialize)]
pub struct LogoutForm {
    logout_token: Option<String>,
}

fn answer(status: StatusCode, body: Option<serde_json::Value>) -> Response {
    let mut resp = match body {
        Some(b) => (status, axum::Json(b)).into_response(),
        None => status.into_response(),
    };
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    labelled("auth_backchannel", resp)
}

/// `POST /backchannel-logout`.
pub async fn backchannel(
    State(state): State<AppState>,
    route: AppRoute,
    client: Client,
    Form(form): Form<LogoutForm, { 16 * 1024 }>,
) -> Response {
    let Some(token) = form.logout_token.filter(|t| !t.is_empty()) else {
        tracing::warn!(app = %route.rt.app.slug, "back-channel logout without a logout_token");
        return answer(
            StatusCode::BAD_REQUEST,
            Some(
                serde_json::json!({"error": "invalid_request", "error_description": "logout_token is missing"}),
            ),
        );
    };
    match state
        .gh()
        .backchannel_logout(&route.rt, &token, client.correlation_id.clone())
        .await
    {
        Ok(_) => answer(StatusCode::OK, None),
        Err(gatehouse_service::oidc::BackchannelError::Service(e)) => {
            tracing::error!(app = %route.rt.app.slug, error = %e, "back-channel logout failed");
            answer(
                StatusCode::SERVICE_UNAVAILABLE,
                Some(serde_json::json!({"error": "temporarily_unavailable"})),
            )
        }
        Err(e) => {
            tracing::warn!(app = %route.rt.app.slug, correlation_id = client.correlation_id.as_deref().unwrap_or(""), error = %e, "back-channel logout refused");
            answer(
                StatusCode::BAD_REQUEST,
                Some(
                    serde_json::json!({"error": "invalid_request", "error_description": e.to_string()}),
                ),
            )
        }
    }
}
