//! Access: grants of roles (to an e-mail, a group or a tag condition), the
//! default role, and per-route rules.

use crate::extract::Query;
use crate::extract::{AdminForm, Form};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use gatehouse_core::AppId;
use gatehouse_core::access::{
    AccessPolicy, AccessPolicyInput, NewGrant, Role, RouteRuleInput, Subject,
};
use gatehouse_core::api_access::{ALGORITHMS, ApiAccessInput};
use gatehouse_core::ids::GrantId;
use gatehouse_service::ServiceError;
use serde::Deserialize;

use super::{Chrome, ConsoleAdmin, Errors, Pairs, app_id, field, fields, render, when};
use crate::error::HttpError;
use crate::extract::AppPath;
use crate::state::AppState;

struct GrantRow {
    id: String,
    role: String,
    subject: String,
    created: String,
}

#[derive(Template)]
#[template(path = "console/access.html")]
struct AccessPage {
    chrome: Chrome,
    app_id: String,
    app_name: String,
    grants: Vec<GrantRow>,
    default_role: String,
    routes: String,
    form_role: String,
    form_kind: String,
    form_value: String,
    errors: Errors,
    notice: Option<String>,
    api: ApiForm,
}

/// The bearer-token form, as shown.
struct ApiForm {
    enabled: bool,
    audience: String,
    issuer: String,
    jwks_url: String,
    public_key_pem: String,
    algorithms: Vec<(&'static str, bool)>,
    default_audience: String,
    default_issuer: String,
    assertion_issuer: String,
}

impl ApiForm {
    fn new(a: &ApiAccessInput, oidc_issuer: &str, client_id: &str, assertion_issuer: &str) -> Self {
        Self {
            enabled: a.enabled,
            audience: a.audience.clone().unwrap_or_default(),
            issuer: a.issuer.clone().unwrap_or_default(),
            jwks_url: a.jwks_url.clone().unwrap_or_default(),
            public_key_pem: a.public_key_pem.clone().unwrap_or_default(),
            algorithms: ALGORITHMS
                .iter()
                .map(|n| (*n, a.algorithms.iter().any(|x| x == n)))
                .collect(),
            default_audience: if client_id.is_empty() {
                "required (no SSO Client ID)".into()
            } else {
                format!("the SSO Client ID: {client_id}")
            },
            default_issuer: if oidc_issuer.is_empty() {
                "required (no SSO Issuer URL)".into()
            } else {
                format!("the SSO Issuer URL: {oidc_issuer}")
            },
            assertion_issuer: assertion_issuer.to_owned(),
        }
    }
}

/// A notice after a redirect.
#[derive(Deserialize)]
pub struct Notice {
    done: Option<String>,
}

fn routes_text(p: &AccessPolicy) -> String {
    p.routes
        .iter()
        .map(|r| format!("{} = {}", r.prefix, Role::join(&r.roles, ", ")))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn view(s: &AppState, admin: &ConsoleAdmin, id: AppId) -> Result<AccessPage, HttpError> {
    let app = s.gh().apps().get(id).await?;
    let grants = s.gh().access().grants(id).await?;
    let policy = s.gh().access().policy(id).await?;
    let api: ApiAccessInput = s.gh().api_access().get(id).await?.into();
    let oidc = s.gh().apps().sso(id).await?.settings;
    let oidc_issuer = oidc.issuer_url.as_ref().map_or("", |i| i.as_str());
    let api = ApiForm::new(
        &api,
        oidc_issuer,
        &oidc.client_id,
        s.gh().assertions().issuer(),
    );
    Ok(AccessPage {
        chrome: Chrome::app(admin, &app, "access"),
        app_id: id.to_string(),
        app_name: app.name.clone(),
        grants: grants
            .iter()
            .map(|g| GrantRow {
                id: g.id.to_string(),
                role: g.role.to_string(),
                subject: g.subject.describe(),
                created: when(&g.created_at),
            })
            .collect(),
        default_role: policy
            .default_role
            .as_ref()
            .map(Role::to_string)
            .unwrap_or_default(),
        routes: routes_text(&policy),
        form_role: String::new(),
        form_kind: "email".into(),
        form_value: String::new(),
        errors: Errors::default(),
        notice: None,
        api,
    })
}

/// `GET /admin/apps/{id}/access`.
pub async fn page(
    State(s): State<AppState>,
    admin: ConsoleAdmin,
    AppPath(id): AppPath,
    Query(n): Query<Notice>,
) -> Result<Response, HttpError> {
    let mut p = view(&s, &admin, id).await?;
    p.notice = n.done.map(|d| match d.as_str() {
        "granted" => "Role granted.".to_owned(),
        "removed" => "Grant removed.".to_owned(),
        "api" => "Bearer-token settings saved.".to_owned(),
        _ => "Saved.".to_owned(),
    });
    Ok(render(StatusCode::OK, &p))
}

/// `POST /admin/apps/{id}/access/grants`.
pub async fn grant(
    State(s): State<AppState>,
    admin: ConsoleAdmin,
    AppPath(id): AppPath,
    Form(f): AdminForm<Pairs>,
) -> Result<Response, HttpError> {
    let kind = field(&f, "kind");
    let value = field(&f, "value").trim();
    let subject = match kind {
        "group" => Subject::group(value),
        "tag" => {
            let (k, v) = value.split_once('=').unwrap_or((value, ""));
            Subject::tag(k, v.trim())
        }
        _ => Subject::email(value),
    };
    let made = match NewGrant::new(field(&f, "role"), subject) {
        Ok(grant) => s.gh().access().create_grant(id, grant, &admin.ctx()).await,
        Err(inv) => Err(ServiceError::Invalid(inv)),
    };
    match made {
        Ok(_) => Ok(Redirect::to(&format!("/admin/apps/{id}/access?done=granted")).into_response()),
        Err(e @ (ServiceError::Invalid(_) | ServiceError::Conflict { .. })) => {
            let mut p = view(&s, &admin, id).await?;
            p.errors = match e {
                ServiceError::Invalid(inv) => Errors::from_invalid(&inv),
                ServiceError::Conflict { message, .. } => {
                    let mut errs = Errors::default();
                    errs.push("subject", message);
                    errs
                }
                _ => Errors::default(),
            };
            p.form_role = field(&f, "role").to_owned();
            p.form_kind = kind.to_owned();
            p.form_value = value.to_owned();
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &p))
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /admin/apps/{id}/access/grants/{grant_id}/delete`.
pub async fn remove(
    State(s): State<AppState>,
    admin: ConsoleAdmin,
    Path((id, grant)): Path<(String, String)>,
) -> Result<Response, HttpError> {
    let id = app_id(&id)?;
    let grant: GrantId = grant.parse().map_err(|_| HttpError::not_found("Grant"))?;
    s.gh()
        .access()
        .delete_grant(id, grant, &admin.ctx())
        .await?;
    Ok(Redirect::to(&format!("/admin/apps/{id}/access?done=removed")).into_response())
}

/// `POST /admin/apps/{id}/access`: default role and route rules.
pub async fn save(
    State(s): State<AppState>,
    admin: ConsoleAdmin,
    AppPath(id): AppPath,
    Form(f): AdminForm<Pairs>,
) -> Result<Response, HttpError> {
    let mut errors = Errors::default();
    let mut routes = Vec::new();
    for (i, line) in field(&f, "routes")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        match line.split_once('=') {
            Some((prefix, roles)) => routes.push(RouteRuleInput {
                prefix: prefix.trim().to_owned(),
                roles: roles
                    .split(',')
                    .map(str::trim)
                    .filter(|r| !r.is_empty())
                    .map(str::to_owned)
                    .collect(),
            }),
            None => errors.push(
                &format!("routes[{i}]"),
                format!("\"{line}\" is not /prefix = role, role"),
            ),
        }
    }
    let default_role = Some(field(&f, "default_role").trim().to_owned()).filter(|r| !r.is_empty());
    if errors.is_empty() {
        // The path-reading switches are set through the API and apps as
        // code; saving this form keeps them.
        let current = s.gh().access().policy(id).await?;
        match s
            .gh()
            .access()
            .put_policy(
                id,
                AccessPolicyInput {
                    default_role,
                    routes,
                    ..current.into()
                },
                &admin.ctx(),
            )
            .await
        {
            Ok(_) => {
                return Ok(
                    Redirect::to(&format!("/admin/apps/{id}/access?done=saved")).into_response()
                );
            }
            Err(ServiceError::Invalid(inv)) => errors = Errors::from_invalid(&inv),
            Err(e) => return Err(e.into()),
        }
    }
    let mut p = view(&s, &admin, id).await?;
    p.errors = errors;
    p.default_role = field(&f, "default_role").to_owned();
    p.routes = field(&f, "routes").to_owned();
    Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &p))
}

/// `POST /admin/apps/{id}/access/api`: bearer-token settings.
pub async fn save_api(
    State(s): State<AppState>,
    admin: ConsoleAdmin,
    AppPath(id): AppPath,
    Form(f): AdminForm<Pairs>,
) -> Result<Response, HttpError> {
    let text = |name: &str| Some(field(&f, name).trim().to_owned()).filter(|v| !v.is_empty());
    let input = ApiAccessInput {
        enabled: field(&f, "enabled") == "1",
        audience: text("audience"),
        issuer: text("issuer"),
        jwks_url: text("jwks_url"),
        public_key_pem: text("public_key_pem"),
        algorithms: fields(&f, "algorithms")
            .into_iter()
            .map(str::to_owned)
            .collect(),
    };
    match s
        .gh()
        .api_access()
        .put(id, input.clone(), &admin.ctx())
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/admin/apps/{id}/access?done=api")).into_response()),
        Err(ServiceError::Invalid(inv)) => {
            let mut p = view(&s, &admin, id).await?;
            p.errors = Errors::from_invalid(&inv);
            let (default_audience, default_issuer, assertion_issuer) = (
                std::mem::take(&mut p.api.default_audience),
                std::mem::take(&mut p.api.default_issuer),
                std::mem::take(&mut p.api.assertion_issuer),
            );
            p.api = ApiForm::new(&input, "", "", &assertion_issuer);
            p.api.default_audience = default_audience;
            p.api.default_issuer = default_issuer;
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &p))
        }
        Err(e) => Err(e.into()),
    }
}
