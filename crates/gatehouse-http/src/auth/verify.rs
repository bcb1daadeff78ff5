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
use crate::error::HttpError;
use crate::extract::AppRoute;
use crate::identity::{identify, identity_headers};
use crate::state::AppState;

/// Whether the query asks to answer browsers that are not signed in with
/// a redirect rather than 401 (`redirect=1`, `true` or `yes`).
fn redirect_mode(query: Option<&str>) -> bool {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .any(|(k, v)| k == "redirect" && matches!(v.as_ref(), "1" | "true" | "yes"))
}

/// Why the original URI of a check cannot be believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ambiguous {
    Repeated,
    Conflicting,
    NotText,
    NotAPath,
    Missing,
}

impl Ambiguous {
    fn reason(self) -> &'static str {
        match self {
            Self::Repeated => "X-Original-URI or X-Forwarded-Uri arrived more than once",
            Self::Conflicting => "X-Original-URI and X-Forwarded-Uri disagree",
            Self::NotText => "the original URI is not visible ASCII",
            Self::NotAPath => "the original URI is not a path with an optional query",
            Self::Missing => {
                "no X-Original-URI or X-Forwarded-Uri from a trusted proxy, and route rules exist"
            }
        }
    }
}

/// The path and query the browser asked the reverse proxy for, from
/// `X-Original-URI` (nginx) or `X-Forwarded-Uri` (Traefik, Caddy), believed
/// only from a trusted proxy. `Ok(None)`: none arrived.
fn original_uri(headers: &HeaderMap, trusted: bool) -> Result<Option<&str>, Ambiguous> {
    if !trusted {
        return Ok(None);
    }
    let mut found: Option<&str> = None;
    for name in ["x-original-uri", "x-forwarded-uri"] {
        let mut values = headers.get_all(name).iter();
        let Some(v) = values.next() else { continue };
        if values.next().is_some() {
            return Err(Ambiguous::Repeated);
        }
        let v = v.to_str().map_err(|_| Ambiguous::NotText)?.trim();
        match found {
            Some(f) if f != v => return Err(Ambiguous::Conflicting),
            _ => found = Some(v),
        }
    }
    match found {
        Some(u) if !u.starts_with('/') || u.contains('#') => Err(Ambiguous::NotAPath),
        other => Ok(other),
    }
}

/// The original request as checked: its canonical path's match key and
/// the canonical path and query (for the sign-in return path).
fn checked_target(
    headers: &HeaderMap,
    trusted: bool,
    route: &AppRoute,
) -> Result<(String, String), HttpError> {
    let refuse = |why: String| {
        HttpError::bad_request(
            "The original address of this request is ambiguous, so it was refused.",
        )
        .reason(why)
    };
    let raw = match original_uri(headers, trusted) {
        Ok(Some(u)) => u,
        Ok(None) if route.rt.access.routes.is_empty() => "/",
        Ok(None) => return Err(refuse(Ambiguous::Missing.reason().to_owned())),
        Err(a) => return Err(refuse(a.reason().to_owned())),
    };
    let (path, query) = match raw.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (raw, None),
    };
    let canonical = gatehouse_core::target::canonicalize(path, route.rt.access.path_options())
        .map_err(|e| {
            let shown: String = path.chars().take(200).collect();
            refuse(format!("original URI {shown:?}: {e}"))
        })?;
    let pq = match query {
        Some(q) => format!("{canonical}?{q}"),
        None => canonical.to_string(),
    };
    Ok((canonical.match_key().to_owned(), pq))
}

/// The forward-auth check.
pub async fn verify(
    axum::extract::State(state): axum::extract::State<AppState>,
    route: AppRoute,
    req: Request,
) -> Response {
    let redirect = redirect_mode(req.uri().query());
    let trusted =
        crate::extract::from_trusted_proxy(&state.settings().trusted_proxies, req.extensions());
    let (key, original) = match checked_target(req.headers(), trusted, &route) {
        Ok(t) => t,
        Err(e) => return labelled("verify", e),
    };
    let who = match identify(
        &state,
        &route,
        req.headers(),
        crate::middleware::RequestId::of(req.extensions()),
        &key,
    )
    .await
    {
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
    fn the_original_uri_comes_only_from_a_trusted_proxy() {
        let mut h = HeaderMap::new();
        assert_eq!(original_uri(&h, true), Ok(None));
        h.insert("x-forwarded-uri", HeaderValue::from_static("/admin/x?y=1"));
        assert_eq!(original_uri(&h, true), Ok(Some("/admin/x?y=1")));
        assert_eq!(
            original_uri(&h, false),
            Ok(None),
            "untrusted peers are not believed"
        );
        h.insert("x-original-uri", HeaderValue::from_static("/admin/x?y=1"));
        assert_eq!(
            original_uri(&h, true),
            Ok(Some("/admin/x?y=1")),
            "agreeing headers"
        );
        h.insert("x-original-uri", HeaderValue::from_static("/public"));
        assert_eq!(original_uri(&h, true), Err(Ambiguous::Conflicting));
        let mut twice = HeaderMap::new();
        twice.append("x-original-uri", HeaderValue::from_static("/public"));
        twice.append("x-original-uri", HeaderValue::from_static("/admin"));
        assert_eq!(original_uri(&twice, true), Err(Ambiguous::Repeated));
        let mut abs = HeaderMap::new();
        abs.insert(
            "x-original-uri",
            HeaderValue::from_static("http://evil/admin"),
        );
        assert_eq!(original_uri(&abs, true), Err(Ambiguous::NotAPath));
    }
}
