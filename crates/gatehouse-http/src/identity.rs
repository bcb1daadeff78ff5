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
use gatehouse_service::sessions::Peek;

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
    for value in crate::cookies::session_values(headers, &state.settings().session_cookie, &rt.app)
    {
        if let Some(s) = state.gh().sessions().lookup(rt.app.id, value).await? {
            return Ok(Some((s, value)));
        }
    }
    Ok(None)
}

/// Who the request is for and whether `path` is theirs to request.
/// `Ok(None)`: nobody is signed in (the caller decides between a redirect
/// and a 401). `Err`: the answer to send (invalid token, no access).
///
/// Answered from memory when it can ([`identify_cached`]: a cached session
/// or bearer token, allowed); otherwise on the control runtime, which owns
/// the store and the IdP client (the first request of a session on this
/// node, a token not seen before, a refusal, which is logged and audited).
pub async fn identify(
    state: &AppState,
    route: &AppRoute,
    headers: &HeaderMap,
    correlation_id: Option<&str>,
    path: &str,
) -> Result<Option<Identified>, Response> {
    if let Some(known) = identify_cached(state, route, headers, path) {
        return Ok(known);
    }
    let (state2, route2, headers2, path2) = (
        state.clone(),
        route.clone(),
        headers.clone(),
        path.to_owned(),
    );
    let cid = correlation_id.map(str::to_owned);
    // Boxed: the service's futures (session loads, token verification,
    // IdP fetches) are large, and held inline they would make every
    // request's future as large, copied whenever it is moved.
    let answered = Box::pin(state.on_control(async move {
        identify_here(&state2, &route2, &headers2, cid.as_deref(), &path2).await
    }))
    .await;
    match answered {
        Ok(answer) => answer,
        Err(e) => Err(HttpError::internal(e.to_string()).into_response()),
    }
}

/// The caller, when memory alone tells and they are allowed: `Some(None)`
/// nobody is signed in (no session cookie, or only ones known to sign
/// nobody in); `Some(Some(_))` a cached session or bearer token whose user
/// may make this request. `None`: [`identify`] must ask the service.
fn identify_cached(
    state: &AppState,
    route: &AppRoute,
    headers: &HeaderMap,
    path: &str,
) -> Option<Option<Identified>> {
    let rt = &route.rt;
    let (user, via) = match bearer_token(headers).filter(|_| rt.api.is_some()) {
        Some(token) => (state.gh().bearer().peek(rt, token)?, Via::Bearer),
        None => {
            let sessions = state.gh().sessions();
            let mut found = None;
            for value in
                crate::cookies::session_values(headers, &state.settings().session_cookie, &rt.app)
            {
                match sessions.peek(rt.app.id, value) {
                    Peek::Active(s) => {
                        found = Some(s.user);
                        break;
                    }
                    Peek::Nobody => {}
                    Peek::Unknown => return None,
                }
            }
            match found {
                Some(user) => (user, Via::Session),
                None => return Some(None),
            }
        }
    };
    match gatehouse_core::access::authorize(&user, &rt.grants, &rt.access, path) {
        Authorization::Allowed { roles } => Some(Some(Identified { user, roles, via })),
        // A refusal is logged and audited by the service.
        Authorization::Denied(_) => None,
    }
}

/// [`identify`] through the service, on the runtime that runs it.
async fn identify_here(
    state: &AppState,
    route: &AppRoute,
    headers: &HeaderMap,
    correlation_id: Option<&str>,
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
        correlation_id,
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
///
/// The header values are prepared once per assertion and reused while the
/// service hands out the same one: an assertion is re-signed whenever the
/// user's snapshot, their roles, the host (its `aud`) or the signing key
/// change, and before it expires, so one signed assertion stands for
/// exactly one set of header values. Each worker thread keeps its own
/// table of them (no lock), holding each assertion it is keyed by (so its
/// address is never reused while the entry lives), at most
/// [`PREPARED_PER_THREAD`] entries.
pub fn identity_headers(
    state: &AppState,
    route: &AppRoute,
    who: &Identified,
    headers: &mut HeaderMap,
) -> Result<(), HttpError> {
    let assertion = state
        .gh()
        .assertions()
        .sign(
            route.rt.app.slug.as_str(),
            route.entry.as_str(),
            &who.user,
            &who.roles,
        )
        .map_err(|e| HttpError::internal(format!("cannot sign the assertion: {e}")))?;
    let prepared = PREPARED.with(|table| {
        let key = Arc::as_ptr(&assertion).cast::<u8>() as usize;
        if let Some(p) = table.borrow().get(&key)
            && Arc::ptr_eq(&p.assertion, &assertion)
        {
            return Ok(p.clone());
        }
        let p = std::rc::Rc::new(Prepared::new(who, assertion.clone())?);
        let mut table = table.borrow_mut();
        if table.len() >= PREPARED_PER_THREAD {
            table.clear();
        }
        table.insert(key, p.clone());
        Ok::<_, HttpError>(p)
    })?;
    for (name, value) in &prepared.headers {
        headers.insert(name.clone(), value.clone());
    }
    Ok(())
}

/// The most prepared identity header sets a thread keeps (the table is
/// emptied when full: a user's next request prepares theirs again).
pub const PREPARED_PER_THREAD: usize = 4096;

/// Identity header values, ready to copy onto requests (a copy is a
/// reference count).
struct Prepared {
    assertion: Arc<str>,
    headers: Vec<(axum::http::HeaderName, HeaderValue)>,
}

impl Prepared {
    fn new(who: &Identified, assertion: Arc<str>) -> Result<Self, HttpError> {
        let mut map = HeaderMap::new();
        crate::proxy::headers::add_identity(&mut map, &who.user, &who.roles);
        let v = HeaderValue::from_maybe_shared(bytes::Bytes::copy_from_slice(assertion.as_bytes()))
            .map_err(|_| HttpError::internal("the assertion is not a header value"))?;
        map.insert("x-gatehouse-assertion", v);
        let headers = map
            .into_iter()
            .filter_map(|(name, value)| Some((name?, value)))
            .collect();
        Ok(Self { assertion, headers })
    }
}

thread_local! {
    static PREPARED: std::cell::RefCell<std::collections::HashMap<usize, std::rc::Rc<Prepared>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
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
