//! `/api/v1/keys`: the instance's keys that sign `X-Gatehouse-Assertion`.

use axum::extract::State;
use axum::response::Response;
use gatehouse_service::assertion::KeyInfo;
use serde::Serialize;
use utoipa::ToSchema;

use super::ok;
use super::views::Problem;
use crate::error::HttpError;
use crate::extract::Admin;
use crate::state::AppState;

/// The assertion keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeysView {
    /// The issuer (`iss`) of assertions.
    pub issuer: String,
    /// Where upstreams fetch the public keys.
    pub jwks_path: &'static str,
    /// The keys: the active one, the next one (published ahead), and retired ones still published.
    pub keys: Vec<KeyInfo>,
}

fn view(s: &AppState, keys: Vec<KeyInfo>) -> KeysView {
    KeysView {
        issuer: s.gh().assertions().issuer().to_owned(),
        jwks_path: "/.well-known/jwks.json",
        keys,
    }
}

/// The assertion signing keys and their states.
#[utoipa::path(get, path = "/api/v1/keys", tag = "keys",
    responses((status = 200, body = KeysView), (status = 401, body = Problem)),
    security(("admin_token" = [])))]
pub async fn list(State(s): State<AppState>, Admin(_): Admin) -> Result<Response, HttpError> {
    let keys = s.gh().assertions().keys();
    Ok(ok(view(&s, keys)))
}

/// Rotate: the next key (already published) starts signing, a new next key
/// is made, and the retired key stays published for a day.
#[utoipa::path(post, path = "/api/v1/keys/rotate", tag = "keys",
    responses((status = 200, body = KeysView), (status = 401, body = Problem)),
    security(("admin_token" = [])))]
pub async fn rotate(State(s): State<AppState>, Admin(ctx): Admin) -> Result<Response, HttpError> {
    s.gh().assertions().rotate(&ctx).await?;
    let keys = s.gh().assertions().keys();
    Ok(ok(view(&s, keys)))
}
