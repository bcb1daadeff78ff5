//! `<prefix>/verify`: forward-auth for a reverse proxy in front of the
//! application (nginx `auth_request`, Traefik ForwardAuth, Caddy
//! `forward_auth`). The proxy sends the browser's headers; Gatehouse answers
//!
//! - 200 with the identity headers and `X-Gatehouse-Assertion`, which the
//!   proxy copies onto the request it sends upstream;
//! - 401 with `X-Gatehouse-Login-Url` (the sign-in URL with the original
//!   path as `rd`), which nginx turns into a redirect; with `?redirect=1`
//!   (for Traefik and Caddy, which hand the answer to the browser) a
//!   browser gets a 302 to that URL instead;
//! - 403 when the user has no role for the application or the path.
//!
//! The original path comes from `X-Original-URI` (nginx) or
//! `X-Forwarded-Uri` (Traefik, Caddy), so per-route rules apply to it.

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::labelled;
use crate::extract::AppRoute;
use crate::identity::{identify, identity_headers};
use crate::state::AppState;

/// Whether the query asks to answer browsers that are not signed in with
/// a redirect rather than 401 (`redirect=1`, `true` or `yes`).
fn redirect_mode(query: Option<&str>) -> bool {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .any(|(k, v)| k == "redirect" && matches!(v.as_ref(), "1" | "true" | "yes"))
}

/// The path and query the browser asked the reverse proxy for.
fn original_uri(headers: &HeaderMap) -> String {
    ["x-original-uri", "x-forwarded-uri"]
        .iter()
        .filter_map(|h| headers.get(*h).and_then(|v| v.to_str().ok()))
        .map(str::trim)
        .find(|u| u.starts_with('/') && !u.starts_with("//"))
        .unwrap_or("/")
        .to_owned()
}

fn path_of(uri: &str) -> &str {
    uri.split(['?', '#']).next().unwrap_or("/")
}

/// The forward-auth check.
pub async fn verify(
    axum::extract::State(state): axum::extract::State<AppState>,
    route: AppRoute,
    req: Request,
) -> Response {
    let redirect = redirect_mode(req.uri().query());
    let original = original_uri(req.headers());
    let who = match identify(&state, &route, req.headers(), path_of(&original)).await {
        Ok(who) => who,
        Err(resp) => return labelled("verify", resp),
    };
    let Some(who) = who else {
        return labelled(
            "verify",
            unauthenticated(&route, &original, req.headers(), redirect),
        );
    };
    let mut resp = StatusCode::OK.into_response();
    if let Err(e) = identity_headers(&state, &route, &who, resp.headers_mut()) {
        return labelled("verify", e);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    labelled("verify", resp)
}

fn unauthenticated(
    route: &AppRoute,
    original: &str,
    headers: &HeaderMap,
    redirect: bool,
) -> Response {
    let app = &route.rt.app;
    let rd: String = form_urlencoded::byte_serialize(original.as_bytes()).collect();
    let login = format!(
        "{}://{}{}/login?rd={rd}",
        app.scheme.as_str(),
        route.host,
        app.auth_prefix
    );
    let mut resp = if redirect && !crate::middleware::wants_json(headers) {
        let mut r = StatusCode::FOUND.into_response();
        if let Ok(v) = HeaderValue::from_str(&login) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        r
    } else {
        let mut r = crate::error::HttpError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Sign-in required",
            "This request needs a signed-in session or a valid bearer token.",
        )
        .link(login.clone(), "Sign in")
        .into_response();
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        r
    };
    if let Ok(v) = HeaderValue::from_str(&login) {
        resp.headers_mut().insert("x-gatehouse-login-url", v);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_mode_is_asked_for_in_the_query() {
        assert!(redirect_mode(Some("redirect=1")));
        assert!(redirect_mode(Some("a=%zz&redirect=true")));
        assert!(!redirect_mode(Some("redirect=0")));
        assert!(!redirect_mode(None));
    }

    #[test]
    fn the_original_uri_comes_from_the_proxy_headers() {
        let mut h = HeaderMap::new();
        assert_eq!(original_uri(&h), "/");
        h.insert("x-forwarded-uri", HeaderValue::from_static("/admin/x?y=1"));
        assert_eq!(original_uri(&h), "/admin/x?y=1");
        assert_eq!(path_of(&original_uri(&h)), "/admin/x");
        h.insert(
            "x-original-uri",
            HeaderValue::from_static("//evil.example/"),
        );
        assert_eq!(original_uri(&h), "/admin/x?y=1");
        h.insert("x-original-uri", HeaderValue::from_static("/from-nginx"));
        assert_eq!(original_uri(&h), "/from-nginx");
    }
}
