//! `/api/v1/apps/{id}/sso/oidc`: SSO OIDC settings.

use axum::extract::State;
use axum::response::Response;
use gatehouse_core::sso::OidcSettingsInput;

use super::ok;
use super::views::{CheckView, ConnectionTestView, Problem, SsoOidcView};
use crate::error::HttpError;
use crate::extract::{Admin, ApiJson, AppPath, PublicHost};
use crate::state::AppState;

/// The SSO OIDC settings, with the URLs to register at the IdP. Never the client secret.
#[utoipa::path(get, path = "/api/v1/apps/{id}/sso/oidc", tag = "sso",
    params(("id" = String, Path, description = "Application id")),
    responses((status = 200, body = SsoOidcView), (status = 404, body = Problem)),
    security(("admin_token" = [])))]
pub async fn get(
    State(s): State<AppState>,
    Admin(_): Admin,
    AppPath(id): AppPath,
) -> Result<Response, HttpError> {
    Ok(ok(SsoOidcView::from(s.gh().apps().sso(id).await?)))
}

/// Test the saved settings against the IdP: discovery, issuer match, JWKS,
/// endpoints, PKCE, client authentication; each check with ok/failed and why.
#[utoipa::path(post, path = "/api/v1/apps/{id}/sso/oidc/test", tag = "sso",
    params(("id" = String, Path, description = "Application id")),
    responses((status = 200, body = ConnectionTestView), (status = 404, body = Problem)),
    security(("admin_token" = [])))]
pub async fn test(
    State(s): State<AppState>,
    Admin(ctx): Admin,
    AppPath(id): AppPath,
) -> Result<Response, HttpError> {
    let report = s.gh().apps().test_sso(id, &ctx).await?;
    Ok(ok(ConnectionTestView {
        ok: report.ok,
        checks: report.checks.iter().map(CheckView::from).collect(),
    }))
}

/// The console's own SSO OIDC settings (admin sign-in). Never the client secret.
#[utoipa::path(get, path = "/api/v1/admin/sso/oidc", tag = "sso",
    responses((status = 200, body = SsoOidcView)),
    security(("admin_token" = [])))]
pub async fn get_admin(
    State(s): State<AppState>,
    Admin(_): Admin,
    PublicHost(host): PublicHost,
) -> Result<Response, HttpError> {
    Ok(ok(SsoOidcView::from(s.gh().admin().sso(&host).await?)))
}

/// Replace the console's SSO OIDC settings. The e-mail and password sign-in
/// of administrators stays available.
#[utoipa::path(put, path = "/api/v1/admin/sso/oidc", tag = "sso", request_body = OidcSettingsInput,
    responses((status = 200, body = SsoOidcView), (status = 422, body = Problem)),
    security(("admin_token" = [])))]
pub async fn put_admin(
    State(s): State<AppState>,
    Admin(ctx): Admin,
    PublicHost(host): PublicHost,
    ApiJson(input): ApiJson<OidcSettingsInput>,
) -> Result<Response, HttpError> {
    Ok(ok(SsoOidcView::from(
        s.gh().admin().put_sso(input, &host, &ctx).await?,
    )))
}

/// Replace the SSO OIDC settings. `client_secret` absent keeps the stored
/// one, `""` removes it. Answers 422 naming the field at fault.
#[utoipa::path(put, path = "/api/v1/apps/{id}/sso/oidc", tag = "sso", request_body = OidcSettingsInput,
    params(("id" = String, Path, description = "Application id")),
    responses((status = 200, body = SsoOidcView), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("admin_token" = [])))]
pub async fn put(
    State(s): State<AppState>,
    Admin(ctx): Admin,
    AppPath(id): AppPath,
    ApiJson(input): ApiJson<OidcSettingsInput>,
) -> Result<Response, HttpError> {
    Ok(ok(SsoOidcView::from(
        s.gh().apps().put_sso(id, input, &ctx).await?,
    )))
}
