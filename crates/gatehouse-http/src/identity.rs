//! Who a request on an application host is for, and whether they may make
//! it: a bearer token (when the application accepts them and one is sent)
//! or the session cookie; then the user's roles and the per-route rules.
//! The proxy and forward-auth (`/auth/verify`) share this one decision.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use gatehouse_core::access::Authorization;
use gatehouse_core::user::User;
use gatehouse_service::access::RequestFacts;

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
    pub roles: Vec<gatehouse_core::access::Role>,
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
        if let Some(s) = state.gh().sessions().lookup(rt.app.id, value).await? {
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
    extensions: &axum::http::Extensions,
    path: &str,
) -> Result<Option<Identified>, Response> {
    let rt = &route.rt;
    let (user, via) = match bearer_token(headers).filter(|_| rt.api.is_some()) {
        Some(token) => match state.gh().bearer().authenticate(rt, token).await {
            Ok(user) => (user, Via::Bearer),
            Err(e) => return Err(HttpError::from(e).into_response()),
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
    let facts = RequestFacts {
        path,
        via: match via {
            Via::Session => "session",
            Via::Bearer => "bearer",
        },
        correlation_id: extensions
            .get::<crate::middleware::RequestId>()
            .map(crate::middleware::RequestId::as_str),
    };
    match state.gh().access().authorize(rt, &user, facts).await {
        Authorization::Allowed { roles } => Ok(Some(Identified { user, roles, via })),
        Authorization::Denied(denied) => {
            let mut err = HttpError::denied(user.email.as_str(), &denied);
            if via == Via::Session && denied.rule.is_none() {
                err = err.link(format!("{}/logout", rt.app.auth_prefix), "Sign out");
            }
            Err(err.into_response())
        }
    }
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
        .assertions()
        .sign(
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
