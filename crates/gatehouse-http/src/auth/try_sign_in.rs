//! `GET <prefix>/try?t=...`: "Try sign-in" from the console. The token
//! (sealed, 10 minutes) proves an administrator started it; the flow goes to
//! the IdP like a sign-in, and the callback shows the claims and mappings
//! instead of creating a session.

use crate::extract::Query;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gatehouse_core::ReturnPath;
use gatehouse_service::oidc::Purpose;
use serde::Deserialize;

use super::labelled;
use crate::error::HttpError;
use crate::extract::{AppRoute, Client};
use crate::state::AppState;

/// Query of `/try`.
#[derive(Deserialize)]
pub struct TryQuery {
    t: Option<String>,
}

/// `GET /try`.
pub async fn try_sign_in(
    State(state): State<AppState>,
    route: AppRoute,
    client: Client,
    Query(q): Query<TryQuery>,
) -> Response {
    let app = &route.rt.app;
    let Some(by) =
        q.t.as_deref()
            .and_then(|t| state.gh().sign_in().open_try_token(app.id, t))
    else {
        return labelled(
            "auth_try",
            HttpError::new(
                StatusCode::FORBIDDEN,
                "try_link_invalid",
                "This Try sign-in link is not valid",
                "Try sign-in links are made by the console and work for 10 minutes. Open the SSO OIDC page again.",
            ),
        );
    };
    let started = state
        .gh()
        .sign_in()
        .start_oidc(
            &route.rt,
            &route.entry,
            &ReturnPath::root(),
            &[],
            Purpose::TrySignIn { by },
            &client.info,
        )
        .await;
    let resp = match started {
        Ok(start) => super::to_idp(app, &start),
        Err(e) => HttpError::sign_in(e, format!("{}/try", app.auth_prefix)).into_response(),
    };
    labelled("auth_try", resp)
}
