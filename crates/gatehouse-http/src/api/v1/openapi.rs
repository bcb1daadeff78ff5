//! The OpenAPI document of the admin API, generated from the handlers'
//! annotations and the request/response types.

use axum::response::Response;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{api_access, apply, apps, audit, grants, keys, scim, sessions, sso, users, views};
use crate::auth::labelled;

struct AdminToken;

impl Modify for AdminToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Gatehouse admin API", description = "Everything the console does. Authenticate with `Authorization: Bearer <admin token>`. Errors are RFC 9457 problem documents naming the field at fault."),
    paths(
        apps::create, apps::list, apps::get, apps::update, apps::delete,
        sso::get, sso::put, sso::test, sso::get_admin, sso::put_admin,
        users::list, users::create, users::get, users::update, users::delete,
        sessions::list, sessions::revoke, sessions::revoke_user,
        audit::list,
        grants::list, grants::create, grants::delete, grants::get_access, grants::put_access,
        api_access::get, api_access::put,
        scim::info, scim::list_tokens, scim::create_token, scim::revoke_token,
        scim::get_settings, scim::put_settings,
        keys::list, keys::rotate,
        apply::apply, apply::export,
    ),
    components(schemas(views::Problem, views::FieldErrorView)),
    modifiers(&AdminToken),
    tags(
        (name = "apps", description = "Applications"),
        (name = "sso", description = "SSO OIDC settings"),
        (name = "users", description = "Users"),
        (name = "sessions", description = "Sessions"),
        (name = "audit", description = "Audit log"),
        (name = "access", description = "Grants of roles, the access policy and bearer-token access"),
        (name = "provisioning", description = "Provisioning (SCIM 2.0): base URLs, SCIM tokens, settings"),
        (name = "keys", description = "The keys that sign X-Gatehouse-Assertion"),
    )
)]
pub struct ApiDoc;

/// `GET /api/v1/openapi.json`.
pub async fn document() -> Response {
    labelled("api", axum::Json(ApiDoc::openapi()))
}
