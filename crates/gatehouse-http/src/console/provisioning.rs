//! Provisioning (SCIM): the application's SCIM base URLs with copy buttons,
//! its SCIM tokens (a new one shown once), the "attribute → tag" mappings
//! and the provisioning switches.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use gatehouse_core::AppId;
use gatehouse_core::ScimTokenId;
use gatehouse_core::provisioning::GroupsClaimValues;
use gatehouse_service::ServiceError;
use gatehouse_service::provisioning::{AttributeTagInput, ProvisioningInput};
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::{Chrome, ConsoleAdmin, Errors, Pairs, app_id, field, fields, render, when};
use crate::error::HttpError;
use crate::extract::{AdminForm, AppPath, Form, Query};
use crate::state::AppState;

struct TokenRow {
    id: String,
    name: String,
    created: String,
    last_used: String,
    revoked: Option<String>,
}

#[derive(Template)]
#[template(path = "console/provisioning.html")]
struct ProvisioningPage {
    chrome: Chrome,
    app_id: String,
    app_name: String,
    base_urls: Vec<String>,
    tokens: Vec<TokenRow>,
    /// A token just made: shown this once.
    new_token: Option<(String, String)>,
    mappings: Vec<(String, String)>,
    groups_ids: bool,
    link_claim: String,
    provisioned_only: bool,
    errors: Errors,
    notice: Option<String>,
}

/// An attribute as people read it: without the enterprise extension's URN
/// when the short name means the same attribute (it is read back through
/// the same parser when saved).
fn short_name(attribute: &str) -> String {
    let short = attribute
        .rsplit_once(':')
        .map_or(attribute, |(_, name)| name);
    let short = short.strip_suffix(".value").unwrap_or(short);
    match (
        gatehouse_scim::resource::AttrRef::parse(short),
        gatehouse_scim::resource::AttrRef::parse(attribute),
    ) {
        (Ok(a), Ok(b)) if a.canonical() == b.canonical() => short.to_owned(),
        _ => attribute.to_owned(),
    }
}

/// A notice after a redirect.
#[derive(Deserialize)]
pub struct Notice {
    done: Option<String>,
}

async fn view(
    s: &AppState,
    admin: &ConsoleAdmin,
    id: AppId,
) -> Result<ProvisioningPage, HttpError> {
    let app = s.gh().apps().get(id).await?;
    let p = s.gh().provisioning();
    let tokens = p.tokens(id).await?;
    let settings = p.settings(id).await?;
    let mut mappings: Vec<(String, String)> = settings
        .attribute_tags
        .iter()
        .map(|m| (short_name(&m.attribute), m.tag.to_string()))
        .collect();
    mappings.push((String::new(), String::new()));
    Ok(ProvisioningPage {
        chrome: Chrome::app(admin, &app, "provisioning"),
        app_id: id.to_string(),
        app_name: app.name.clone(),
        base_urls: app.scim_base_urls(),
        tokens: tokens
            .iter()
            .map(|t| TokenRow {
                id: t.id.to_string(),
                name: t.name.clone(),
                created: when(&t.created_at),
                last_used: t
                    .last_used_at
                    .as_ref()
                    .map_or_else(|| "never".to_owned(), when),
                revoked: t.revoked_at.as_ref().map(when),
            })
            .collect(),
        new_token: None,
        mappings,
        groups_ids: settings.groups_claim_values == GroupsClaimValues::Ids,
        link_claim: settings.link_claim.to_string(),
        provisioned_only: settings.provisioned_only,
        errors: Errors::default(),
        notice: None,
    })
}

/// `GET /admin/apps/{id}/provisioning`.
pub async fn page(
    State(s): State<AppState>,
    admin: ConsoleAdmin,
    AppPath(id): AppPath,
    Query(n): Query<Notice>,
) -> Result<Response, HttpError> {
    let mut p = view(&s, &admin, id).await?;
    p.notice = n.done.map(|d| match d.as_str() {
        "revoked" => "Token revoked. The identity provider can no longer use it.".to_owned(),
        _ => "Saved.".to_owned(),
    });
    Ok(render(StatusCode::OK, &p))
}

/// `POST /admin/apps/{id}/provisioning/tokens`: a new token, shown once on
/// the page this answers with (never in a URL).
pub async fn create_token(
    State(s): State<AppState>,
    admin: ConsoleAdmin,
    AppPath(id): AppPath,
    Form(f): AdminForm<Pairs>,
) -> Result<Response, HttpError> {
    match s
        .gh()
        .provisioning()
        .create_token(id, field(&f, "name"), &admin.ctx())
        .await
    {
        Ok((record, secret)) => {
            let mut p = view(&s, &admin, id).await?;
            p.new_token = Some((record.name, secret.expose_secret().to_owned()));
            let mut resp = render(StatusCode::OK, &p);
            resp.headers_mut().insert(
                axum::http::header::CACHE_CONTROL,
                axum::http::HeaderValue::from_static("no-store"),
            );
            Ok(resp)
        }
        Err(ServiceError::Invalid(inv)) => {
            let mut p = view(&s, &admin, id).await?;
            p.errors = Errors::from_invalid(&inv);
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &p))
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /admin/apps/{id}/provisioning/tokens/{token_id}/revoke`.
pub async fn revoke_token(
    State(s): State<AppState>,
    admin: ConsoleAdmin,
    Path((id, token)): Path<(String, String)>,
) -> Result<Response, HttpError> {
    let id = app_id(&id)?;
    let token: ScimTokenId = token
        .parse()
        .map_err(|_| HttpError::not_found("SCIM token"))?;
    s.gh()
        .provisioning()
        .revoke_token(id, token, &admin.ctx())
        .await?;
    Ok(Redirect::to(&format!("/admin/apps/{id}/provisioning?done=revoked")).into_response())
}

/// `POST /admin/apps/{id}/provisioning`: mappings and switches.
pub async fn save(
    State(s): State<AppState>,
    admin: ConsoleAdmin,
    AppPath(id): AppPath,
    Form(f): AdminForm<Pairs>,
) -> Result<Response, HttpError> {
    let attributes = fields(&f, "attribute");
    let tags = fields(&f, "tag");
    let pairs: Vec<(String, String)> = attributes
        .iter()
        .zip(tags.iter().chain(std::iter::repeat(&"")))
        .map(|(a, t)| (a.trim().to_owned(), t.trim().to_owned()))
        .collect();
    let input = ProvisioningInput {
        attribute_tags: Some(
            pairs
                .iter()
                .filter(|(a, t)| !a.is_empty() || !t.is_empty())
                .map(|(a, t)| AttributeTagInput {
                    attribute: a.clone(),
                    tag: t.clone(),
                })
                .collect(),
        ),
        groups_claim_values: Some(if field(&f, "groups_claim_values") == "ids" {
            GroupsClaimValues::Ids
        } else {
            GroupsClaimValues::Names
        }),
        link_claim: Some(field(&f, "link_claim").trim().to_owned()),
        provisioned_only: Some(field(&f, "provisioned_only") == "1"),
    };
    match s
        .gh()
        .provisioning()
        .put_settings(id, input, &admin.ctx())
        .await
    {
        Ok(_) => {
            Ok(Redirect::to(&format!("/admin/apps/{id}/provisioning?done=saved")).into_response())
        }
        Err(ServiceError::Invalid(inv)) => {
            let mut p = view(&s, &admin, id).await?;
            p.errors = Errors::from_invalid(&inv);
            p.mappings = pairs;
            p.mappings.push((String::new(), String::new()));
            p.groups_ids = field(&f, "groups_claim_values") == "ids";
            p.link_claim = field(&f, "link_claim").to_owned();
            p.provisioned_only = field(&f, "provisioned_only") == "1";
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &p))
        }
        Err(e) => Err(e.into()),
    }
}
