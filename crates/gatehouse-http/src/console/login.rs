//! Console sign-in, sign-out, and the one-time setup of the first administrator.

use crate::extract::Form;
use crate::extract::Query;
use askama::Template;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use gatehouse_core::ReturnPath;
use gatehouse_service::ServiceError;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{ADMIN_COOKIE, ConsoleAdmin, render};
use crate::auth::{clear_cookie, session_cookie};
use crate::error::HttpError;
use crate::extract::{Client, cookie};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage<'a> {
    title: &'a str,
    intro: &'a str,
    action: &'a str,
    button: &'a str,
    error: Option<String>,
    email: &'a str,
    name: &'a str,
    rd: &'a str,
    setup_token: Option<&'a str>,
    sso_url: Option<String>,
}

/// Query of the sign-in page.
#[derive(Deserialize)]
pub struct LoginQuery {
    rd: Option<String>,
}

fn console_rd(raw: Option<&str>) -> String {
    let rd = ReturnPath::parse_or_root(raw);
    if rd.is_under("/admin") && !rd.is_under("/admin/login") && !rd.is_under("/admin/logout") {
        rd.to_string()
    } else {
        "/admin/apps".to_owned()
    }
}

fn sign_in_page(error: Option<String>, email: &str, rd: &str, status: StatusCode) -> Response {
    render(
        status,
        &LoginPage {
            title: "Sign in to Gatehouse",
            intro: "Administrators of this Gatehouse instance sign in here.",
            action: "/admin/login",
            button: "Sign in",
            error,
            email,
            name: "",
            rd,
            setup_token: None,
            sso_url: None,
        },
    )
}

/// `GET /admin/login` (or the setup page while there is no administrator).
pub async fn page(
    State(state): State<AppState>,
    Query(q): Query<LoginQuery>,
) -> Result<Response, HttpError> {
    if state.gh().admin().count().await? == 0 {
        return Ok(sign_in_page(
            Some("There is no administrator yet. Use the setup link Gatehouse printed at start-up, or run `gatehouse admin create`.".into()),
            "",
            "",
            StatusCode::OK,
        ));
    }
    let rd = console_rd(q.rd.as_deref());
    let sso = state
        .gh()
        .routes()
        .console()
        .is_some_and(|rt| rt.sso_enabled());
    let mut resp = sign_in_page(None, "", &rd, StatusCode::OK);
    if sso {
        let url: String = form_urlencoded::byte_serialize(rd.as_bytes()).collect();
        resp = render(
            StatusCode::OK,
            &LoginPage {
                title: "Sign in to Gatehouse",
                intro: "Administrators of this Gatehouse instance sign in here.",
                action: "/admin/login",
                button: "Sign in with e-mail and password",
                error: None,
                email: "",
                name: "",
                rd: &rd,
                setup_token: None,
                sso_url: Some(format!("/admin/auth/login?rd={url}")),
            },
        );
    }
    Ok(resp)
}

fn with_admin_cookie(
    state: &AppState,
    mut resp: Response,
    token: &SecretString,
    expires: time::OffsetDateTime,
) -> Response {
    let max_age = expires - state.gh().now();
    if let Some(c) = session_cookie(
        ADMIN_COOKIE,
        token.expose_secret(),
        state.settings().admin_scheme,
        max_age,
    ) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

/// `POST /admin/login`.
pub async fn submit(
    State(state): State<AppState>,
    client: Client,
    Form(form): Form<crate::auth::login::LoginForm>,
) -> Response {
    let rd = console_rd(form.rd.as_deref());
    match state
        .gh()
        .admin()
        .sign_in(&form.email, form.password, &client.info)
        .await
    {
        Ok((_, issued)) => with_admin_cookie(
            &state,
            Redirect::to(&rd).into_response(),
            &issued.token,
            issued.expires_at,
        ),
        Err(ServiceError::InvalidCredentials) => sign_in_page(
            Some("The e-mail or password is not correct.".into()),
            form.email.trim(),
            &rd,
            StatusCode::UNAUTHORIZED,
        ),
        Err(ServiceError::RateLimited { retry_after }) => sign_in_page(
            Some(format!(
                "Too many sign-in attempts. Try again in {} seconds.",
                retry_after.as_secs().max(1)
            )),
            form.email.trim(),
            &rd,
            StatusCode::TOO_MANY_REQUESTS,
        ),
        Err(e) => HttpError::from(e).into_response(),
    }
}

/// `POST /admin/logout`.
pub async fn logout(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    headers: axum::http::HeaderMap,
) -> Result<Response, HttpError> {
    if let Some(c) = cookie(&headers, ADMIN_COOKIE) {
        state
            .gh()
            .admin()
            .sign_out(c, &admin.admin, admin.correlation_id.clone())
            .await?;
    }
    let mut resp = Redirect::to("/admin/login").into_response();
    if let Some(c) = clear_cookie(ADMIN_COOKIE, state.settings().admin_scheme) {
        resp.headers_mut().insert(header::SET_COOKIE, c);
    }
    Ok(resp)
}

/// Query of the setup link.
#[derive(Deserialize)]
pub struct SetupQuery {
    token: Option<String>,
}

/// Form of the setup page.
#[derive(Deserialize)]
pub struct SetupForm {
    token: String,
    name: String,
    email: String,
    password: SecretString,
}

fn setup_view(
    token: &str,
    error: Option<String>,
    name: &str,
    email: &str,
    status: StatusCode,
) -> Response {
    render(
        status,
        &LoginPage {
            title: "Set up Gatehouse",
            intro: "Create the first administrator. This link works once, until an administrator exists.",
            action: "/admin/setup",
            button: "Create administrator",
            error,
            email,
            name,
            rd: "",
            setup_token: Some(token),
            sso_url: None,
        },
    )
}

/// `GET /admin/setup?token=...`.
pub async fn setup_page(
    State(state): State<AppState>,
    Query(q): Query<SetupQuery>,
) -> Result<Response, HttpError> {
    let token = q.token.unwrap_or_default();
    if !state.gh().admin().check_setup_token(&token).await? {
        return Err(HttpError::new(
            StatusCode::NOT_FOUND,
            "setup_done",
            "Setup link not valid",
            "This setup link is not valid: an administrator exists already, or the link is from an earlier start.",
        )
        .link("/admin/login", "Sign in"));
    }
    Ok(setup_view(&token, None, "", "", StatusCode::OK))
}

/// `POST /admin/setup`: create the first administrator and sign them in.
pub async fn setup_submit(
    State(state): State<AppState>,
    client: Client,
    Form(form): Form<SetupForm>,
) -> Result<Response, HttpError> {
    if !state.gh().admin().check_setup_token(&form.token).await? {
        return Err(HttpError::new(
            StatusCode::NOT_FOUND,
            "setup_done",
            "Setup link not valid",
            "This setup link is not valid any more.",
        )
        .link("/admin/login", "Sign in"));
    }
    let ctx = gatehouse_service::Context {
        actor: gatehouse_core::Actor::Anonymous {
            ip: client.info.ip.clone().unwrap_or_default(),
        },
        correlation_id: client.correlation_id.clone(),
    };
    let admin = match state
        .gh()
        .admin()
        .create(&form.email, &form.name, Some(form.password), &ctx)
        .await
    {
        Ok(a) => a,
        Err(ServiceError::Invalid(inv)) => {
            return Ok(setup_view(
                &form.token,
                Some(inv.to_string()),
                &form.name,
                &form.email,
                StatusCode::UNPROCESSABLE_ENTITY,
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let (_, issued) = state
        .gh()
        .admin()
        .create_session(
            &admin,
            gatehouse_core::session::SignInMethod::Password,
            &client.info,
        )
        .await?;
    Ok(with_admin_cookie(
        &state,
        Redirect::to("/admin/apps").into_response(),
        &issued.token,
        issued.expires_at,
    ))
}
