//! `/api/v1/apps/{id}/scim`: an application's provisioning (SCIM 2.0): its
//! SCIM base URLs for the IdP's provisioning settings, its SCIM tokens
//! (shown once at creation, stored hashed), and its provisioning settings.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use gatehouse_core::provisioning::ProvisioningSettings;
use gatehouse_core::{AppId, ScimTokenId};
use gatehouse_service::provisioning::ProvisioningInput;
use gatehouse_store::ScimTokenRecord;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::views::Problem;
use super::{ok, parse_id};
use crate::error::HttpError;
use crate::extract::{Admin, ApiJson, AppPath};
use crate::state::AppState;

/// Where the IdP provisions this application.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScimInfo {
    /// `<scheme>://<host><prefix>/scim/v2`, one per host.
    pub base_urls: Vec<String>,
    /// The authentication the IdP uses: a bearer SCIM token.
    pub authentication: &'static str,
}

/// A SCIM token (never the token itself, but at creation).
#[derive(Debug, Serialize, ToSchema)]
pub struct ScimTokenView {
    /// Id.
    #[schema(value_type = String, format = Uuid)]
    pub id: ScimTokenId,
    /// The name.
    pub name: String,
    /// The token: only in the answer to its creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: time::OffsetDateTime,
    /// Last used (to the minute).
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<time::OffsetDateTime>,
    /// Revoked.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<time::OffsetDateTime>,
}

impl From<&ScimTokenRecord> for ScimTokenView {
    fn from(t: &ScimTokenRecord) -> Self {
        Self {
            id: t.id,
            name: t.name.clone(),
            token: None,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
        }
    }
}

/// A new SCIM token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewScimToken {
    /// A name for people ("okta", "entra").
    pub name: String,
}

/// The SCIM base URLs of an application.
#[utoipa::path(get, path = "/api/v1/apps/{id}/scim", tag = "provisioning",
    params(("id" = String, Path, description = "Application id")),
    responses((status = 200, body = ScimInfo), (status = 404, body = Problem)),
    security(("admin_token" = [])))]
pub async fn info(
    State(s): State<AppState>,
    Admin(_): Admin,
    AppPath(app): AppPath,
) -> Result<Response, HttpError> {
    let app = s.gh().apps().get(app).await?;
    Ok(ok(ScimInfo {
        base_urls: app.scim_base_urls(),
        authentication: "Authorization: Bearer <SCIM token of this application>",
    }))
}

/// The SCIM tokens of an application, newest first (revoked ones too).
#[utoipa::path(get, path = "/api/v1/apps/{id}/scim/tokens", tag = "provisioning",
    params(("id" = String, Path, description = "Application id")),
    responses((status = 200, body = [ScimTokenView]), (status = 404, body = Problem)),
    security(("admin_token" = [])))]
pub async fn list_tokens(
    State(s): State<AppState>,
    Admin(_): Admin,
    AppPath(app): AppPath,
) -> Result<Response, HttpError> {
    Ok(ok(s
        .gh()
        .provisioning()
        .tokens(app)
        .await?
        .iter()
        .map(ScimTokenView::from)
        .collect::<Vec<_>>()))
}

/// Create a SCIM token; the answer carries the token, once.
#[utoipa::path(post, path = "/api/v1/apps/{id}/scim/tokens", tag = "provisioning", request_body = NewScimToken,
    params(("id" = String, Path, description = "Application id")),
    responses((status = 201, body = ScimTokenView), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("admin_token" = [])))]
pub async fn create_token(
    State(s): State<AppState>,
    Admin(ctx): Admin,
    AppPath(app): AppPath,
    ApiJson(input): ApiJson<NewScimToken>,
) -> Result<Response, HttpError> {
    let (record, secret) = s
        .gh()
        .provisioning()
        .create_token(app, &input.name, &ctx)
        .await?;
    let mut view = ScimTokenView::from(&record);
    view.token = Some(secret.expose_secret().to_owned());
    let location = format!("/api/v1/apps/{app}/scim/tokens/{}", record.id);
    Ok((
        StatusCode::CREATED,
        [
            (header::LOCATION, location),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        axum::Json(view),
    )
        .into_response())
}

/// Revoke a SCIM token: refused from the next request on, on every node.
#[utoipa::path(delete, path = "/api/v1/apps/{id}/scim/tokens/{token_id}", tag = "provisioning",
    params(("id" = String, Path, description = "Application id"), ("token_id" = String, Path, description = "Token id")),
    responses((status = 204, description = "Revoked"), (status = 404, body = Problem)),
    security(("admin_token" = [])))]
pub async fn revoke_token(
    State(s): State<AppState>,
    Admin(ctx): Admin,
    Path((id, token)): Path<(String, String)>,
) -> Result<Response, HttpError> {
    let app: AppId = parse_id(&id, "Application")?;
    let token: ScimTokenId = parse_id(&token, "SCIM token")?;
    s.gh().provisioning().revoke_token(app, token, &ctx).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The provisioning settings: SCIM attributes mapped to tags, what the
/// groups claim carries, the claim that links a sign-in to a provisioned
/// user, and whether only provisioned users may sign in.
#[utoipa::path(get, path = "/api/v1/apps/{id}/scim/settings", tag = "provisioning",
    params(("id" = String, Path, description = "Application id")),
    responses((status = 200, body = ProvisioningSettings), (status = 404, body = Problem)),
    security(("admin_token" = [])))]
pub async fn get_settings(
    State(s): State<AppState>,
    Admin(_): Admin,
    AppPath(app): AppPath,
) -> Result<Response, HttpError> {
    Ok(ok(s.gh().provisioning().settings(app).await?))
}

/// Change the provisioning settings (absent fields stay).
#[utoipa::path(put, path = "/api/v1/apps/{id}/scim/settings", tag = "provisioning", request_body = ProvisioningInput,
    params(("id" = String, Path, description = "Application id")),
    responses((status = 200, body = ProvisioningSettings), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("admin_token" = [])))]
pub async fn put_settings(
    State(s): State<AppState>,
    Admin(ctx): Admin,
    AppPath(app): AppPath,
    ApiJson(input): ApiJson<ProvisioningInput>,
) -> Result<Response, HttpError> {
    Ok(ok(s
        .gh()
        .provisioning()
        .put_settings(app, input, &ctx)
        .await?))
}
