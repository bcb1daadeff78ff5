//! Who a request on an application host is for, and whether they may make
//! it: a bearer token (when the application accepts them and one is sent)
//! or the session cookie; then the user's roles and the per-route rules.
//! The proxy and forward-auth (`/auth/verify`) share this one decision.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gatehouse_core::user::User;
use gatehouse_service::api_access::BearerError;

use crate::error::HttpError;
use crate::extract::AppRoute;
use crate::state::AppState;

/// How the caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The session cookie.
    Session,
    /// `Authorization: Bearer`.
    Bearer,
}

/// A caller allowed to make the request.
#[derive(Debug, Clone)]
pub struct Identified {
    /// The user.
    pub user: Arc<User>,
    /// Their roles in the application.
    pub roles: Vec<String>,
    /// How they were identified.
    pub via: Via,
}

/// The bearer token of a request, if it sends one.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// A 401 for a bearer token that was not accepted (RFC 6750 §3).
fn invalid_token(detail: String) -> Response {
    let mut resp = HttpError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        "Invalid bearer token",
        detail.clone(),
    )
    .into_response();
    let challenge = format!(
        "Bearer error=\"invalid_token\", error_description=\"{}\"",
        detail
            .chars()
            .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
            .take(200)
            .collect::<String>()
    );
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

fn bearer_refusal(e: BearerError) -> Response {
    match e {
        BearerError::Invalid(why) => invalid_token(format!("The bearer token was refused: {why}.")),
        BearerError::Unidentified(why) => {
            invalid_token(format!("The bearer token names no known user: {why}."))
        }
        BearerError::NotAccepted => {
            invalid_token("This application does not accept bearer tokens.".into())
        }
        BearerError::Forbidden { email, why } => HttpError::new(
            StatusCode::FORBIDDEN,
            "no_access",
            "You have no access to this application",
            format!("{email} may not use this application: {why}."),
        )
        .into_response(),
        BearerError::KeysUnavailable { why, retry_after } => HttpError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "idp_unavailable",
                "The identity provider is not reachable",
                "Bearer tokens cannot be checked because the identity provider's keys cannot be fetched. Try again shortly.",
            )
        .reason(why)
        .retry_after(retry_after)
        .into_response(),
        BearerError::Service(s) => HttpError::from(s).into_response(),
    }
}

/// The session of the request, trying each cookie with the application's
/// session cookie name (a sibling subdomain may have tossed in its own):
/// the session and the cookie value that named it.
pub async fn find_session<'h>(
    state: &AppState,
    rt: &gatehouse_service::AppRuntime,
    headers: &'h HeaderMap,
) -> Result<Option<(gatehouse_service::sessions::ActiveSession, &'h str)>, HttpError> {
    let name = crate::cookies::session_name(&state.settings().session_cookie, &rt.app);
    for value in crate::cookies::values(headers, &name) {
        if let Some(s) = state.gh().session(rt.app.id, value).await? {
            return Ok(Some((s, value)));
        }
    }
    Ok(None)
}

/// Who the request is for and whether `path` is theirs to request.
/// `Ok(None)`: nobody is signed in (the caller decides between a redirect
/// and a 401). `Err`: the answer to send (invalid token, no access).
pub async fn identify(
    state: &AppState,
    route: &AppRoute,
    headers: &HeaderMap,
    path: &str,
) -> Result<Option<Identified>, Response> {
    let rt = &route.rt;
    let (user, via) = match bearer_token(headers).filter(|_| rt.api.is_some()) {
        Some(token) => match state.gh().authenticate_bearer(rt, token).await {
            Ok(user) => (user, Via::Bearer),
            Err(e) => return Err(bearer_refusal(e)),
        },
        None => {
            match find_session(state, rt, headers)
                .await
                .map_err(IntoResponse::into_response)?
            {
                Some((s, _)) => (s.user, Via::Session),
                None => return Ok(None),
            }
        }
    };
    let decision = rt.decide(&user);
    if !decision.allowed() {
        let mut err = HttpError::no_access(user.email.as_str(), None)
            .reason(format!("{} has no role in {}", user.email, rt.app.slug));
        if via == Via::Session {
            err = err.link(format!("{}/logout", rt.app.auth_prefix), "Sign out");
        }
        return Err(err.into_response());
    }
    if let Err(rule) = gatehouse_core::access::route_allows(&rt.access, path, &decision.roles) {
        return Err(HttpError::no_access(user.email.as_str(), Some(rule))
            .reason(format!(
                "{} lacks {:?} for {}",
                user.email, rule.roles, rule.prefix
            ))
            .into_response());
    }
    Ok(Some(Identified {
        user,
        roles: decision.roles,
        via,
    }))
}

/// The identity headers of PRODUCT.md and the signed assertion, for the
/// upstream (proxy) or the reverse proxy in front (forward-auth).
pub fn identity_headers(
    state: &AppState,
    route: &AppRoute,
    who: &Identified,
    headers: &mut HeaderMap,
) -> Result<(), HttpError> {
    crate::proxy::headers::add_identity(headers, &who.user, &who.roles);
    let assertion = state
        .gh()
        .assertion(
            route.rt.app.slug.as_str(),
            &route.entry.to_string(),
            &who.user,
            &who.roles,
        )
        .map_err(|e| HttpError::internal(format!("cannot sign the assertion: {e}")))?;
    let v = HeaderValue::from_str(&assertion)
        .map_err(|_| HttpError::internal("the assertion is not a header value"))?;
    headers.insert("x-gatehouse-assertion", v);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_from_authorization() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer_token(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer_token(&h), None);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer  a.b.c "),
        );
        assert_eq!(bearer_token(&h), Some("a.b.c"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer_token(&h), None);
    }
}
