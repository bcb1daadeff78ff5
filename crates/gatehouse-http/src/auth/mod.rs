//! Gatehouse's own routes on every application host, under the
//! application's prefix (default `/auth`). The dispatcher strips the prefix
//! and inserts the [`AppRoute`](crate::extract::AppRoute), so these handlers
//! see `/login`, `/logout`, ... and know their application.

pub mod backchannel;
pub mod callback;
pub mod client_jwks;
pub mod logged_out;
pub mod login;
pub mod logout;
pub mod scim;
pub mod try_sign_in;
pub mod verify;

use axum::Router;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cookie::{Cookie, SameSite};
use gatehouse_core::Scheme;
use tower_http::csrf::CsrfLayer;

use crate::error::HttpError;
use crate::middleware::RouteLabel;
use crate::state::AppState;

/// The routes below the prefix. Cross-site form posts are refused
/// (`Sec-Fetch-Site` / `Origin`), so nobody can sign a browser in to an
/// account of their choosing.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/login", get(login::page).post(login::submit))
        .route("/logout", get(logout::logout).post(logout::logout))
        .route("/logged-out", get(logged_out::page))
        .route("/callback", get(callback::callback))
        .route("/refused", get(callback::refused))
        .route("/jwks.json", get(client_jwks::jwks))
        .route("/try", get(try_sign_in::try_sign_in))
        .fallback(|| async { labelled("auth", HttpError::not_found("Page")) })
        .layer(axum::middleware::map_response(
            crate::error::method_not_allowed,
        ))
        .layer(CsrfLayer::new().with_rejection_response(crate::pages::csrf_refused))
        // Server-to-server from the IdP: no browser, no CSRF check.
        .route(
            "/backchannel-logout",
            axum::routing::post(backchannel::backchannel),
        )
        // Subrequests from the reverse proxy in front, with the browser's own
        // method: the application decides about cross-site requests.
        .route("/verify", axum::routing::any(verify::verify))
        // Server-to-server from the IdP's provisioning, with a SCIM token.
        .nest("/scim/v2", scim::router())
        .with_state(state)
}

/// The redirect that starts a sign-in at the IdP, with its flow cookie
/// (scoped to the callback path) and no caching.
pub(crate) fn to_idp(
    app: &gatehouse_core::Application,
    start: &gatehouse_service::oidc::LoginStart,
) -> Response {
    let mut resp = axum::response::Redirect::to(&start.redirect).into_response();
    let path = format!("{}/callback", app.auth_prefix);
    let max_age = time::Duration::seconds(i64::try_from(start.max_age.as_secs()).unwrap_or(600));
    if let Some(c) = cookie_header(
        &start.cookie_name,
        &start.cookie_value,
        &path,
        app.scheme,
        max_age,
    ) {
        resp.headers_mut().append(axum::http::header::SET_COOKIE, c);
    }
    resp.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    resp
}

/// Attach a route label for metrics.
pub(crate) fn labelled(label: &'static str, r: impl IntoResponse) -> Response {
    let mut resp = r.into_response();
    resp.extensions_mut().insert(RouteLabel(label));
    resp
}

/// `Set-Cookie` for a Gatehouse cookie: HttpOnly, SameSite=Lax, Secure on https.
pub(crate) fn cookie_header(
    name: &str,
    value: &str,
    path: &str,
    scheme: Scheme,
    max_age: time::Duration,
) -> Option<HeaderValue> {
    let c = Cookie::build((name.to_owned(), value.to_owned()))
        .path(path.to_owned())
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(scheme == Scheme::Https)
        .max_age(max_age)
        .build();
    HeaderValue::from_str(&c.to_string()).ok()
}

/// `Set-Cookie` for a new session.
pub(crate) fn session_cookie(
    name: &str,
    value: &str,
    scheme: Scheme,
    max_age: time::Duration,
) -> Option<HeaderValue> {
    cookie_header(name, value, "/", scheme, max_age)
}

/// `Set-Cookie` that removes the session cookie.
pub(crate) fn clear_cookie(name: &str, scheme: Scheme) -> Option<HeaderValue> {
    session_cookie(name, "", scheme, time::Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_cookies_are_httponly_lax_and_secure_on_https() {
        let c = session_cookie(
            "gatehouse_session",
            "abc",
            Scheme::Https,
            time::Duration::hours(1),
        )
        .map(|v| v.to_str().unwrap_or("").to_owned())
        .unwrap_or_default();
        for part in [
            "gatehouse_session=abc",
            "HttpOnly",
            "SameSite=Lax",
            "Secure",
            "Path=/",
            "Max-Age=3600",
        ] {
            assert!(c.contains(part), "{c} lacks {part}");
        }
        let plain = session_cookie("s", "v", Scheme::Http, time::Duration::hours(1))
            .map(|v| v.to_str().unwrap_or("").to_owned())
            .unwrap_or_default();
        assert!(!plain.contains("Secure"));
    }
}
