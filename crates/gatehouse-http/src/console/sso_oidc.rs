//! Settings > Integrations > SSO OIDC: the form of the reference document,
//! Test connection and Try sign-in.

use crate::extract::Query;
use crate::extract::{AdminForm, Form};
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use gatehouse_core::Application;
use gatehouse_core::sso::{
    ClaimMappingsInput, ClientAuthMethod, OidcExtra, OidcSettingsInput, OtherMappingInput,
};
use gatehouse_service::ServiceError;
use gatehouse_service::apps::SsoView;
use secrecy::SecretString;
use serde::Deserialize;

use super::{Chrome, ConsoleAdmin, Errors, Pairs, field, fields, render};
use crate::api::v1::views::CheckView;
use crate::error::HttpError;
use crate::extract::AppPath;
use crate::state::AppState;

/// The values the form shows.
pub(crate) struct SsoValues {
    pub(crate) enabled: bool,
    pub(crate) issuer_url: String,
    pub(crate) client_id: String,
    pub(crate) scopes: String,
    pub(crate) claim_email: String,
    pub(crate) claim_first_name: String,
    pub(crate) claim_last_name: String,
    pub(crate) other: Vec<(String, String)>,
    pub(crate) other_open: bool,
    pub(crate) groups_claim: String,
    pub(crate) method: String,
    pub(crate) trust_email: bool,
    pub(crate) clock_skew: String,
    pub(crate) auth_params: String,
    pub(crate) refresh_sessions: bool,
    pub(crate) hosted_domain: String,
    pub(crate) entra_multi_tenant: bool,
    pub(crate) entra_allowed_tenants: String,
    pub(crate) id_token_alg: String,
    pub(crate) claim_source_hosts: String,
}

/// Empty rows shown under "Edit other claim mappings" for adding mappings without JavaScript.
const SPARE_ROWS: usize = 2;

impl SsoValues {
    pub(crate) fn from_view(v: &SsoView) -> Self {
        let s = &v.settings;
        let mut other: Vec<(String, String)> = s
            .claim_mappings
            .other
            .iter()
            .map(|o| (o.claim.to_string(), o.tag.to_string()))
            .collect();
        let other_open = !other.is_empty();
        other.extend(std::iter::repeat_n(
            (String::new(), String::new()),
            SPARE_ROWS,
        ));
        Self {
            enabled: s.enabled,
            issuer_url: s
                .issuer_url
                .as_ref()
                .map(|i| i.as_str().to_owned())
                .unwrap_or_default(),
            client_id: s.client_id.clone(),
            scopes: s.scopes.clone(),
            claim_email: s.claim_mappings.email.to_string(),
            claim_first_name: s.claim_mappings.first_name.to_string(),
            claim_last_name: s
                .claim_mappings
                .last_name
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            other,
            other_open,
            groups_claim: s
                .groups_claim
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            method: s.token_endpoint_auth_method.as_str().to_owned(),
            trust_email: s.trust_email,
            clock_skew: s.extra.clock_skew_seconds.to_string(),
            auth_params: s
                .extra
                .auth_params
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("\n"),
            refresh_sessions: s.extra.refresh_sessions,
            hosted_domain: s.extra.hosted_domain.clone().unwrap_or_default(),
            entra_multi_tenant: s.extra.entra_multi_tenant,
            entra_allowed_tenants: s.extra.entra_allowed_tenants.join("\n"),
            id_token_alg: s.extra.id_token_signed_response_alg.as_str().to_owned(),
            claim_source_hosts: s.extra.claim_source_hosts.join("\n"),
        }
    }

    pub(crate) fn from_form(f: &Pairs, extra_rows: usize) -> Self {
        let claims = fields(f, "other_claim");
        let tags = fields(f, "other_tag");
        let mut other: Vec<(String, String)> = claims
            .iter()
            .zip(tags.iter())
            .filter(|(c, t)| !c.trim().is_empty() || !t.trim().is_empty())
            .map(|(c, t)| ((*c).to_owned(), (*t).to_owned()))
            .collect();
        let other_open = !other.is_empty() || extra_rows > 0;
        other.extend(std::iter::repeat_n(
            (String::new(), String::new()),
            SPARE_ROWS + extra_rows,
        ));
        Self {
            enabled: !field(f, "enabled").is_empty(),
            issuer_url: field(f, "issuer_url").to_owned(),
            client_id: field(f, "client_id").to_owned(),
            scopes: field(f, "scopes").to_owned(),
            claim_email: field(f, "claim_email").to_owned(),
            claim_first_name: field(f, "claim_first_name").to_owned(),
            claim_last_name: field(f, "claim_last_name").to_owned(),
            other,
            other_open,
            groups_claim: field(f, "groups_claim").to_owned(),
            method: field(f, "token_endpoint_auth_method").to_owned(),
            trust_email: !field(f, "trust_email").is_empty(),
            clock_skew: field(f, "clock_skew_seconds").to_owned(),
            auth_params: field(f, "auth_params").to_owned(),
            refresh_sessions: !field(f, "refresh_sessions").is_empty(),
            hosted_domain: field(f, "hosted_domain").to_owned(),
            entra_multi_tenant: !field(f, "entra_multi_tenant").is_empty(),
            entra_allowed_tenants: field(f, "entra_allowed_tenants").to_owned(),
            id_token_alg: field(f, "id_token_signed_response_alg").to_owned(),
            claim_source_hosts: field(f, "claim_source_hosts").to_owned(),
        }
    }
}

/// The result of Test connection, for the page.
struct TestReport {
    ok: bool,
    checks: Vec<CheckView>,
}

#[derive(Template)]
#[template(path = "console/sso_oidc.html")]
struct SsoPage {
    chrome: Chrome,
    app_id: String,
    app_name: String,
    created: bool,
    saved: bool,
    v: SsoValues,
    errors: Errors,
    secret_set: bool,
    callback_urls: Vec<String>,
    logout_urls: Vec<String>,
    backchannel_urls: Vec<String>,
    client_jwks: Option<String>,
    client_jwks_urls: Vec<String>,
    test: Option<TestReport>,
    try_url: Option<String>,
    id_token_algs: Vec<&'static str>,
}

fn page_for(
    s: &AppState,
    admin: &ConsoleAdmin,
    app: &Application,
    view: &SsoView,
    v: SsoValues,
    errors: Errors,
    test: Option<TestReport>,
) -> Result<SsoPage, HttpError> {
    let try_url = match (
        &view.settings.issuer_url,
        view.settings.client_id.is_empty(),
        app.hosts.first(),
    ) {
        (Some(_), false, Some(host)) => {
            let token = s.gh().sign_in().try_token(app.id, &admin.admin.email)?;
            let t: String = form_urlencoded::byte_serialize(token.as_bytes()).collect();
            Some(format!(
                "{}://{host}{}/try?t={t}",
                app.scheme, app.auth_prefix
            ))
        }
        _ => None,
    };
    Ok(SsoPage {
        chrome: Chrome::app(admin, app, "sso"),
        app_id: app.id.to_string(),
        app_name: app.name.clone(),
        created: false,
        saved: false,
        v,
        errors,
        secret_set: view.client_secret_set,
        callback_urls: view.callback_urls.clone(),
        logout_urls: view.logout_redirect_urls.clone(),
        backchannel_urls: view.backchannel_logout_urls.clone(),
        client_jwks: view
            .client_jwks
            .as_ref()
            .map(|j| serde_json::to_string_pretty(j).unwrap_or_default()),
        client_jwks_urls: view.client_jwks_urls.clone(),
        test,
        try_url,
        id_token_algs: gatehouse_core::sso::SigningAlg::ALL
            .iter()
            .map(|a| a.as_str())
            .collect(),
    })
}

/// Flags after a redirect.
#[derive(Deserialize)]
pub struct Flags {
    saved: Option<String>,
    created: Option<String>,
}

/// `GET /admin/apps/{id}/sso`.
pub async fn page(
    State(s): State<AppState>,
    admin: ConsoleAdmin,
    AppPath(id): AppPath,
    Query(q): Query<Flags>,
) -> Result<Response, HttpError> {
    let app = s.gh().apps().get(id).await?;
    let view = s.gh().apps().sso(id).await?;
    let mut p = page_for(
        &s,
        &admin,
        &app,
        &view,
        SsoValues::from_view(&view),
        Errors::default(),
        None,
    )?;
    p.saved = q.saved.is_some();
    p.created = q.created.is_some();
    Ok(render(StatusCode::OK, &p))
}

fn lines(v: &str) -> impl Iterator<Item = &str> {
    v.lines().map(str::trim).filter(|l| !l.is_empty())
}

/// The form as the service's input; form-only errors (not a number, bad line) are added to `errors`.
pub(crate) fn input_from_form(f: &Pairs, v: &SsoValues, errors: &mut Errors) -> OidcSettingsInput {
    let client_secret = if !field(f, "remove_secret").is_empty() {
        Some(SecretString::from(String::new()))
    } else {
        let s = field(f, "client_secret");
        (!s.is_empty()).then(|| SecretString::from(s.to_owned()))
    };
    let method = match v.method.as_str() {
        "client_secret_post" => ClientAuthMethod::ClientSecretPost,
        "private_key_jwt" => ClientAuthMethod::PrivateKeyJwt,
        "client_secret_jwt" => ClientAuthMethod::ClientSecretJwt,
        _ => ClientAuthMethod::ClientSecretBasic,
    };
    let clock_skew_seconds = match v.clock_skew.trim() {
        "" => OidcExtra::default().clock_skew_seconds,
        raw => raw.parse().unwrap_or_else(|_| {
            errors.push(
                "extra.clock_skew_seconds",
                "must be a number of seconds from 0 to 300",
            );
            0
        }),
    };
    let id_token_signed_response_alg = match v.id_token_alg.trim() {
        "" => gatehouse_core::sso::SigningAlg::default(),
        raw => gatehouse_core::sso::SigningAlg::parse(raw).unwrap_or_else(|| {
            errors.push(
                "extra.id_token_signed_response_alg",
                "choose one of the listed algorithms",
            );
            gatehouse_core::sso::SigningAlg::default()
        }),
    };
    let mut auth_params = std::collections::BTreeMap::new();
    for line in lines(&v.auth_params) {
        match line.split_once('=') {
            Some((k, val)) if !k.trim().is_empty() => {
                auth_params.insert(k.trim().to_owned(), val.trim().to_owned());
            }
            _ => errors.push("extra.auth_params", format!("\"{line}\" is not name=value")),
        }
    }
    OidcSettingsInput {
        enabled: v.enabled,
        issuer_url: v.issuer_url.clone(),
        client_id: v.client_id.clone(),
        client_secret,
        scopes: Some(v.scopes.clone()),
        claim_mappings: ClaimMappingsInput {
            email: Some(v.claim_email.clone()),
            first_name: Some(v.claim_first_name.clone()),
            last_name: Some(v.claim_last_name.clone()),
            other: v
                .other
                .iter()
                .filter(|(c, t)| !c.trim().is_empty() || !t.trim().is_empty())
                .map(|(c, t)| OtherMappingInput {
                    claim: c.clone(),
                    tag: t.clone(),
                })
                .collect(),
        },
        groups_claim: Some(v.groups_claim.clone()),
        token_endpoint_auth_method: Some(method),
        trust_email: v.trust_email,
        extra: OidcExtra {
            clock_skew_seconds,
            auth_params,
            refresh_sessions: v.refresh_sessions,
            hosted_domain: Some(v.hosted_domain.trim().to_owned()).filter(|d| !d.is_empty()),
            entra_multi_tenant: v.entra_multi_tenant,
            entra_allowed_tenants: lines(&v.entra_allowed_tenants).map(str::to_owned).collect(),
            id_token_signed_response_alg,
            claim_source_hosts: lines(&v.claim_source_hosts).map(str::to_owned).collect(),
        },
    }
}

/// `POST /admin/apps/{id}/sso`: save, or add a mapping row (without JavaScript).
pub async fn save(
    State(s): State<AppState>,
    admin: ConsoleAdmin,
    AppPath(id): AppPath,
    Form(f): AdminForm<Pairs>,
) -> Result<Response, HttpError> {
    let app = s.gh().apps().get(id).await?;
    let adding = field(&f, "action") == "add_row";
    let v = SsoValues::from_form(&f, usize::from(adding));
    if adding {
        let view = s.gh().apps().sso(id).await?;
        let p = page_for(&s, &admin, &app, &view, v, Errors::default(), None)?;
        return Ok(render(StatusCode::OK, &p));
    }
    let mut errors = Errors::default();
    let input = input_from_form(&f, &v, &mut errors);
    if errors.is_empty() {
        match s.gh().apps().put_sso(id, input, &admin.ctx()).await {
            Ok(_) => {
                return Ok(Redirect::to(&format!("/admin/apps/{id}/sso?saved=1")).into_response());
            }
            Err(ServiceError::Invalid(inv)) => errors = Errors::from_invalid(&inv),
            Err(e) => return Err(e.into()),
        }
    }
    let view = s.gh().apps().sso(id).await?;
    let p = page_for(&s, &admin, &app, &view, v, errors, None)?;
    Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &p))
}

/// `POST /admin/apps/{id}/sso/test`.
pub async fn test(
    State(s): State<AppState>,
    admin: ConsoleAdmin,
    AppPath(id): AppPath,
) -> Result<Response, HttpError> {
    let app = s.gh().apps().get(id).await?;
    let report = s.gh().apps().test_sso(id, &admin.ctx()).await?;
    let view = s.gh().apps().sso(id).await?;
    let test = TestReport {
        ok: report.ok,
        checks: report.checks.iter().map(CheckView::from).collect(),
    };
    let p = page_for(
        &s,
        &admin,
        &app,
        &view,
        SsoValues::from_view(&view),
        Errors::default(),
        Some(test),
    )?;
    Ok(render(StatusCode::OK, &p))
}
