//! Dispatch by `Host`: an application host gets its `<prefix>/*` routes and
//! the proxy; the admin host gets the admin API and health endpoints; any
//! other host gets a 404 page (and `/healthz`, `/readyz` for load balancers
//! that probe by address).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use gatehouse_core::RequestHost;
use gatehouse_core::target::{CanonicalPath, PathOptions};
use gatehouse_service::AppRuntime;
use tower::ServiceExt;

use crate::auth::labelled;
use crate::error::HttpError;
use crate::extract::AppRoute;
use crate::pages::{BRAND, SignedInPage, css, html};
use crate::state::AppState;
use crate::{api, auth, health, identity, middleware, proxy};

#[derive(Clone)]
struct Routers {
    auth: Router,
    admin: Router,
}

/// The server's entry point: [`middleware::observed`] around [`dispatch`],
/// called directly (no router, no per-request service clone or boxing
/// beyond the one future the server boxes). What `dispatch` hands to the
/// auth and admin routers keeps their whole stack.
pub(crate) fn handler(state: AppState) -> crate::server::Handler {
    let routers = Routers {
        auth: auth::router(state.clone()),
        admin: admin_router(state.clone()),
    };
    std::sync::Arc::new(move |req: Request| {
        let (state, routers) = (state.clone(), routers.clone());
        Box::pin(async move {
            middleware::observed(&state, req, |req| dispatch(state.clone(), routers, req)).await
        })
    })
}

fn admin_router(state: AppState) -> Router {
    Router::new()
        .merge(health::router())
        .merge(health::metrics_router())
        .nest("/api/v1", api::v1::router())
        .nest("/admin", crate::console::router())
        .fallback(|| async { labelled("admin", HttpError::not_found("Page")) })
        .layer(axum::middleware::map_response(
            crate::error::method_not_allowed,
        ))
        .with_state(state)
}

/// The canonical path of the request (see [`gatehouse_core::target`]),
/// computed once here; the request's URI is rewritten to it.
#[derive(Debug, Clone)]
pub struct Canonical(pub CanonicalPath);

/// Framing the request must not have: several `Host` headers, a `Host`
/// that disagrees with an absolute-form target (or HTTP/2's
/// `:authority`), `CONNECT`.
fn framing(req: &Request) -> Result<(), &'static str> {
    if req.method() == Method::CONNECT {
        return Err("CONNECT is not served");
    }
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err("the request has more than one Host header");
    }
    if let (Some(host), Some(authority)) = (host, req.uri().authority())
        && !host
            .as_bytes()
            .trim_ascii()
            .eq_ignore_ascii_case(authority.as_str().as_bytes())
    {
        return Err("the Host header disagrees with the request target");
    }
    Ok(())
}

/// Rewrite the request's URI to its canonical path (the query unchanged).
fn canonicalize(req: &mut Request, opts: PathOptions) -> Result<(), HttpError> {
    let canonical = match gatehouse_core::target::canonicalize(req.uri().path(), opts) {
        Ok(c) => c,
        Err(e) => {
            let shown: String = req.uri().path().chars().take(200).collect();
            return Err(HttpError::bad_request(
                "The address of this request can be read in more than one way, so it was refused.",
            )
            .reason(format!("refused path {shown:?}: {e}")));
        }
    };
    if canonical.as_str() != req.uri().path() || req.uri().authority().is_some() {
        let pq = match req.uri().query() {
            Some(q) => format!("{canonical}?{q}"),
            None => canonical.to_string(),
        };
        match pq.parse::<Uri>() {
            Ok(uri) => *req.uri_mut() = uri,
            Err(_) => {
                return Err(HttpError::bad_request("Invalid path."));
            }
        }
    }
    req.extensions_mut().insert(Canonical(canonical));
    Ok(())
}

/// The host a request names: `Host`, or the authority of an absolute-form URI.
fn request_host(req: &Request) -> Option<RequestHost> {
    let raw = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))?;
    RequestHost::parse(raw)
}

async fn dispatch(state: AppState, routers: Routers, mut req: Request) -> Response {
    if let Err(why) = framing(&req) {
        return labelled(
            "bad_request",
            HttpError::bad_request("The request is malformed.").reason(why),
        );
    }
    let Some(host) = request_host(&req) else {
        return labelled(
            "unknown_host",
            HttpError::bad_request("The request has no valid Host header."),
        );
    };
    let rt = state.gh().routes().find(&host).cloned();
    if let Some(rt) = rt {
        let entry = rt
            .app
            .matching_host(&host)
            .or_else(|| rt.app.hosts.first())
            .cloned();
        if let Some(entry) = entry {
            if let Err(e) = canonicalize(&mut req, rt.access.path_options()) {
                return labelled("bad_request", e);
            }
            return app_request(&state, &routers, AppRoute { rt, host, entry }, req).await;
        }
    }
    if let Err(e) = canonicalize(&mut req, PathOptions::default()) {
        return labelled("bad_request", e);
    }
    // Forward-auth from a proxy that calls Gatehouse by its own address
    // (Traefik): the application is the one `X-Forwarded-Host` names.
    if let Some(route) = forwarded_verify(&state, &req) {
        return app_request(&state, &routers, route, req).await;
    }
    if state.gh().settings().admin_host.matches(&host) {
        return on_control(&state, routers.admin, req).await;
    }
    match req.uri().path() {
        "/healthz" | "/readyz" | "/.well-known/jwks.json" => {
            let router = health::router().with_state(state.clone());
            on_control(&state, router, req).await
        }
        _ => labelled(
            "unknown_host",
            HttpError::not_found("Application")
                .reason(format!("no application has the host {host}")),
        ),
    }
}

/// A forward-auth check for the application `X-Forwarded-Host` names, when
/// the path is that application's `<prefix>/verify`.
fn forwarded_verify(state: &AppState, req: &Request) -> Option<AppRoute> {
    if !crate::extract::from_trusted_proxy(&state.settings().trusted_proxies, req.extensions()) {
        return None;
    }
    let host = req
        .headers()
        .get("x-forwarded-host")
        .and_then(|v| v.to_str().ok())
        .and_then(RequestHost::parse)?;
    let rt = state.gh().routes().find(&host).cloned()?;
    let rest = rt.app.auth_prefix.route(req.uri().path())?;
    if rest != "verify" {
        return None;
    }
    let entry = rt
        .app
        .matching_host(&host)
        .or_else(|| rt.app.hosts.first())
        .cloned()?;
    Some(AppRoute { rt, host, entry })
}

async fn oneshot(router: Router, req: Request) -> Response {
    match router.oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    }
}

/// `router` answers `req` on the control runtime (see [`crate::server`]):
/// the console, the admin API, sign-in and sign-out await the store and
/// the IdP, and may hash a password.
async fn on_control(state: &AppState, router: Router, req: Request) -> Response {
    // Boxed, so the hot path's future does not carry this one's size.
    match Box::pin(state.on_control(oneshot(router, req))).await {
        Ok(r) => r,
        Err(e) => labelled("control", HttpError::internal(e.to_string())),
    }
}

async fn app_request(
    state: &AppState,
    routers: &Routers,
    route: AppRoute,
    mut req: Request,
) -> Response {
    let app = &route.rt.app;
    if let Some(rest) = app.auth_prefix.route(req.uri().path()) {
        // Forward-auth checks are the hot path: answered here, from memory
        // when they can be (`identify` hands the rest to the control
        // runtime), and without the auth router (`<prefix>/verify` has no
        // layer there: any method, no CSRF check).
        if rest == "verify" {
            return auth::verify::verify(State(state.clone()), route, req).await;
        }
        let rewritten = match req.uri().query() {
            Some(q) => format!("/{rest}?{q}"),
            None => format!("/{rest}"),
        };
        match rewritten.parse::<Uri>() {
            Ok(uri) => *req.uri_mut() = uri,
            Err(_) => return labelled("auth", HttpError::bad_request("Invalid path.")),
        }
        req.extensions_mut().insert(route);
        return on_control(state, routers.auth.clone(), req).await;
    }
    match protected(state, &route, req).await {
        Ok(r) => r,
        Err(e) => labelled("proxy", e),
    }
}

/// A request for the application itself: proxied for a signed-in user (or
/// a valid bearer token) with a role; otherwise a redirect to sign in
/// (browsers) or 401 (API callers).
async fn protected(
    state: &AppState,
    route: &AppRoute,
    req: Request,
) -> Result<Response, HttpError> {
    let rt: &Arc<AppRuntime> = &route.rt;
    let key = req
        .extensions()
        .get::<Canonical>()
        .map_or_else(|| req.uri().path(), |c| c.0.match_key());
    let who = match identity::identify(
        state,
        route,
        req.headers(),
        crate::middleware::RequestId::of(req.extensions()),
        key,
    )
    .await
    {
        Ok(Some(who)) => who,
        Ok(None) => return Ok(unauthenticated(route, &req)),
        Err(resp) => return Ok(labelled("proxy", resp)),
    };
    if rt.app.upstream_url.is_none() {
        return Ok(labelled(
            "signed_in",
            html(
                StatusCode::OK,
                &SignedInPage {
                    brand: BRAND,
                    css: css(),
                    app_name: &rt.app.name,
                    email: who.user.email.as_str(),
                    logout_url: format!("{}/logout", rt.app.auth_prefix),
                },
            ),
        ));
    }
    let resp = proxy::forward(state, route, &who, req).await?;
    Ok(labelled("proxy", resp))
}

fn unauthenticated(route: &AppRoute, req: &Request) -> Response {
    let app = &route.rt.app;
    if middleware::wants_json(req.headers()) {
        let mut resp = labelled(
            "unauthenticated",
            HttpError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Sign-in required",
                "This request needs a signed-in session or a valid bearer token.",
            ),
        );
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return resp;
    }
    let pq = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let rd: String = form_urlencoded::byte_serialize(pq.as_bytes()).collect();
    let mut resp = Redirect::to(&format!("{}/login?rd={rd}", app.auth_prefix)).into_response();
    resp.extensions_mut()
        .insert(middleware::RouteLabel("unauthenticated"));
    resp
}
