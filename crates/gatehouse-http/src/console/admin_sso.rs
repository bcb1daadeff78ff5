//! The console's own sign-in through SSO OIDC: its settings page, and the
//! `/admin/auth/login` → IdP → `/admin/auth/callback` flow. The e-mail and
//! password sign-in stays available (break-glass).

use crate::extract::Form;
use crate::extract::Query;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use gatehouse_core::ReturnPath;
use gatehouse_service::ServiceError;
use gatehouse_service::oidc::{CallbackParams, Purpose, SignInDone, flow_cookie_name};
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::sso_oidc::{SsoValues, input_from_form};
use super::{ADMIN_COOKIE, Chrome, ConsoleAdmin, Errors, Pairs, render};
use crate::auth::{cookie_header, session_cookie};
use crate::error::HttpError;
use crate::extract::{Client, PublicHost};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "console/admin_sso.html")]
struct AdminSsoPage {
    chrome: Chrome,
    v: SsoValues,
    errors: Errors,
    saved: bool,
    secret_set: bool,
    callback_urls: Vec<String>,
}

/// Flags after a redirect.
#[derive(Deserialize)]
pub struct Flags {
    saved: Option<String>,
}

/// `GET /admin/settings/sso`.
pub async fn page(
    State(s): State<AppState>,
    admin: ConsoleAdmin,
    PublicHost(host): PublicHost,
    Query(q): Query<Flags>,
) -> Result<Response, HttpError> {
    let view = s.gh().admin().sso(&host).await?;
    Ok(render(
        StatusCode::OK,
        &AdminSsoPage {
            chrome: Chrome::top(&admin),
            v: SsoValues::from_view(&view),
            errors: Errors::default(),
            saved: q.saved.is_some(),
            secret_set: view.client_secret_set,
            callback_urls: view.callback_urls,
        },
    ))
}

/// `POST /admin/settings/sso`.
pub async fn save(
    State(s): State<AppState>,
    admin: ConsoleAdmin,
    PublicHost(host): PublicHost,
    Form(f): Form<Pairs>,
) -> Result<Response, HttpError> {
    let v = SsoValues::from_form(&f, 0);
    let mut errors = Errors::default();
    let input = input_from_form(&f, &v, &mut errors);
    if errors.is_empty() {
        match s.gh().admin().put_sso(input, &host, &admin.ctx()).await {
            Ok(_) => return Ok(Redirect::to("/admin/settings/sso?saved=1").into_response()),
            Err(ServiceError::Invalid(inv)) => errors = Errors::from_invalid(&inv),
            Err(e) => return Err(e.into()),
        }
    }
    let view = s.gh().admin().sso(&host).await?;
    Ok(render(
        StatusCode::UNPROCESSABLE_ENTITY,
        &AdminSsoPage {
            chrome: Chrome::top(&admin),
            v,
            errors,
            saved: false,
            secret_set: view.client_secret_set,
            callback_urls: view.callback_urls,
        },
    ))
}

/// Query of `/admin/auth/login`.
#[derive(Deserialize)]
pub struct StartQuery {
    rd: Option<String>,
}

/// `GET /admin/auth/login`: to the IdP.
pub async fn start(
    State(s): State<AppState>,
    client: Client,
    PublicHost(entry): PublicHost,
    Query(q): Query<StartQuery>,
) -> Result<Response, HttpError> {
    let rt = s
        .gh()
        .routes()
        .console()
        .cloned()
        .filter(|rt| rt.sso_enabled())
        .ok_or_else(|| HttpError::not_found("Console sign-in through SSO"))?;
    let rd = ReturnPath::parse_or_root(q.rd.as_deref());
    let start = s
        .gh()
        .sign_in()
        .start_oidc(&rt, &entry, &rd, &[], Purpose::AdminSignIn, &client.info)
        .await
        .map_err(|e| HttpError::sign_in(e, "/admin/login".into()))?;
    let mut resp = Redirect::to(&start.redirect).into_response();
    let max_age = time::Duration::seconds(i64::try_from(start.max_age.as_secs()).unwrap_or(600));
    if let Some(c) = cookie_header(
        &start.cookie_name,
        &start.cookie_value,
        "/admin/auth/callback",
        rt.app.scheme,
        max_age,
    ) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(resp)
}

/// `GET /admin/auth/callback`: find the administrator and open a console session.
pub async fn callback(
    State(s): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Query(params): Query<CallbackParams>,
) -> Result<Response, HttpError> {
    let rt = s
        .gh()
        .routes()
        .console()
        .cloned()
        .ok_or_else(|| HttpError::not_found("Console sign-in through SSO"))?;
    let done = s
        .gh()
        .sign_in()
        .complete_oidc(
            &rt,
            &params,
            |name| crate::cookies::first(&headers, name).map(str::to_owned),
            &client.info,
        )
        .await
        .map_err(|e| HttpError::sign_in(e, "/admin/login".into()))?;
    let SignInDone::Admin {
        issuer,
        sub,
        mapped,
        rd,
    } = done
    else {
        return Err(HttpError::bad_request(
            "This callback is not a console sign-in.",
        ));
    };
    let (_, issued) = match s
        .gh()
        .admin()
        .sso_sign_in(&issuer, &sub, &mapped, &client.info)
        .await
    {
        Ok(ok) => ok,
        Err(ServiceError::Unauthorized) => {
            return Err(HttpError::new(
                StatusCode::FORBIDDEN,
                "not_an_admin",
                "You are not an administrator here",
                format!(
                    "{} signed in at the identity provider, but is not an administrator of this Gatehouse (or the IdP did not verify the e-mail). Ask an administrator to add you.",
                    mapped.email
                ),
            )
            .link("/admin/login", "Back to sign-in"));
        }
        Err(e) => return Err(e.into()),
    };
    let target = if rd.is_under("/admin") {
        rd.to_string()
    } else {
        "/admin/apps".to_owned()
    };
    let mut resp = Redirect::to(&target).into_response();
    let max_age = issued.expires_at - s.gh().now();
    if let Some(c) = session_cookie(
        ADMIN_COOKIE,
        issued.token.expose_secret(),
        s.settings().admin_scheme,
        max_age,
    ) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    if let Some(state) = params.state.as_deref()
        && let Some(c) = cookie_header(
            &flow_cookie_name(state),
            "",
            "/admin/auth/callback",
            s.settings().admin_scheme,
            time::Duration::ZERO,
        )
    {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(resp)
}
