//! `<prefix>/scim/v2/...`: the application's SCIM 2.0 service provider
//! (RFC 7644) for identity providers that provision users and groups.
//! Every request carries a SCIM token of this application (a token of
//! another application, or an admin token, is refused like an unknown one);
//! bodies are JSON (`application/scim+json` or `application/json`) up to
//! [`MAX_BODY`]; answers are `application/scim+json`, errors SCIM error
//! documents. The handlers read the request and call one use case of
//! `gh.provisioning()`.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use gatehouse_scim::schema::{GROUP, USER};
use gatehouse_scim::{Projection, ScimError, ScimType, discovery};
use gatehouse_service::provisioning::{ListQuery, ProvisioningError, ScimCaller};
use serde_json::Value;

use super::labelled;
use crate::error::HttpError;
use crate::extract::{AppRoute, Client};
use crate::state::AppState;

/// The largest request body: a group PATCH with thousands of members fits.
pub const MAX_BODY: usize = 1024 * 1024;

/// The SCIM content type.
const SCIM_JSON: &str = "application/scim+json";

/// The routes below `<prefix>/scim/v2`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ServiceProviderConfig", get(service_provider_config))
        .route("/ResourceTypes", get(resource_types))
        .route("/ResourceTypes/{name}", get(resource_type))
        .route("/Schemas", get(schemas))
        .route("/Schemas/{id}", get(schema))
        .route("/Users", get(list_users).post(create_user))
        .route("/Users/.search", post(search_users))
        .route(
            "/Users/{id}",
            get(get_user)
                .put(replace_user)
                .patch(patch_user)
                .delete(delete_user),
        )
        .route("/Groups", get(list_groups).post(create_group))
        .route("/Groups/.search", post(search_groups))
        .route(
            "/Groups/{id}",
            get(get_group)
                .put(replace_group)
                .patch(patch_group)
                .delete(delete_group),
        )
        .route("/.search", post(search_all))
        .method_not_allowed_fallback(|| async {
            scim_error(&ScimError {
                status: 405,
                scim_type: None,
                detail: "this SCIM endpoint does not take this method".into(),
            })
        })
        .fallback(|| async {
            scim_error(&ScimError {
                status: 404,
                scim_type: None,
                detail: "no such SCIM endpoint".into(),
            })
        })
}

fn scim_error(e: &ScimError) -> Response {
    labelled("scim", HttpError::scim(e))
}

fn failed(e: ProvisioningError) -> Response {
    labelled("scim", HttpError::from(e))
}

/// A SCIM answer: `status`, the document, `Location` when given.
fn answer(status: StatusCode, doc: &Value, location: Option<&str>) -> Response {
    let mut resp = (status, doc.to_string()).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(l) = location.and_then(|l| HeaderValue::from_str(l).ok()) {
        h.insert(header::LOCATION, l);
    }
    labelled("scim", resp)
}

/// `<scheme>://<host as the application lists it><prefix>/scim/v2`.
fn base(route: &AppRoute) -> String {
    format!(
        "{}://{}{}/scim/v2",
        route.rt.app.scheme, route.entry, route.rt.app.auth_prefix
    )
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    // Several Authorization headers are ambiguous: refused, whichever first.
    let mut all = headers.get_all(header::AUTHORIZATION).iter();
    let v = all.next()?;
    if all.next().is_some() {
        return None;
    }
    let v = v.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The caller of a SCIM request, or the 401/429 to answer.
async fn caller(
    state: &AppState,
    route: &AppRoute,
    headers: &HeaderMap,
    client: &Client,
) -> Result<ScimCaller, Response> {
    state
        .gh()
        .provisioning()
        .authenticate(
            route.rt.app.id,
            bearer(headers),
            client.correlation_id.clone(),
        )
        .await
        .map_err(failed)
}

/// A JSON body (up to [`MAX_BODY`]); `invalidSyntax` otherwise.
async fn json_body(req: Request) -> Result<Value, Response> {
    let ok_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|t| {
            t.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .is_none_or(|t| t == SCIM_JSON || t == "application/json" || t.is_empty());
    if !ok_type {
        return Err(scim_error(&ScimError::bad_request(
            ScimType::InvalidSyntax,
            "the body must be application/scim+json or application/json",
        )));
    }
    let bytes: Bytes = match axum::body::to_bytes(req.into_body(), MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return Err(scim_error(&ScimError {
                status: 413,
                scim_type: None,
                detail: format!("the body is larger than {MAX_BODY} bytes"),
            }));
        }
    };
    serde_json::from_slice(&bytes).map_err(|e| {
        scim_error(&ScimError::bad_request(
            ScimType::InvalidSyntax,
            format!("the body is not JSON: {e}"),
        ))
    })
}

/// The parameters of a GET (`filter`, `startIndex`, `count`,
/// `attributes`, `excludedAttributes`; names in any case, others ignored).
/// A parameter given twice is refused (`invalidValue`): which one counts
/// would be a guess.
fn params(raw: Option<&str>) -> Result<ListQuery, ScimError> {
    let mut q = ListQuery::default();
    for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        let slot = match k.to_ascii_lowercase().as_str() {
            "filter" => &mut q.filter,
            "startindex" => &mut q.start_index,
            "count" => &mut q.count,
            "attributes" => &mut q.attributes,
            "excludedattributes" => &mut q.excluded_attributes,
            _ => continue,
        };
        if slot.is_some() {
            return Err(ScimError::bad_request(
                ScimType::InvalidValue,
                format!("the query parameter {k} is given more than once"),
            ));
        }
        *slot = Some(v.into_owned());
    }
    Ok(q)
}

/// A search body (`SearchRequest`, RFC 7644 §3.4.3).
async fn search_body(req: Request) -> Result<ListQuery, Response> {
    let body = json_body(req).await?;
    serde_json::from_value(body).map_err(|e| {
        scim_error(&ScimError::bad_request(
            ScimType::InvalidSyntax,
            format!("the search request cannot be read: {e}"),
        ))
    })
}

// ---- discovery ----------------------------------------------------------------

async fn service_provider_config(
    State(state): State<AppState>,
    route: AppRoute,
    client: Client,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = caller(&state, &route, &headers, &client).await {
        return r;
    }
    let b = base(&route);
    answer(
        StatusCode::OK,
        &discovery::service_provider_config(
            &b,
            "https://github.com/gatehouse/gatehouse/blob/main/docs/provisioning.md",
        ),
        None,
    )
}

fn list_of(items: Vec<Value>) -> Value {
    let n = items.len();
    gatehouse_scim::list_response(
        n,
        gatehouse_scim::Page {
            start_index: 1,
            count: n,
        },
        items,
    )
}

async fn resource_types(
    State(state): State<AppState>,
    route: AppRoute,
    client: Client,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = caller(&state, &route, &headers, &client).await {
        return r;
    }
    answer(
        StatusCode::OK,
        &list_of(discovery::resource_types(&base(&route))),
        None,
    )
}

async fn resource_type(
    State(state): State<AppState>,
    route: AppRoute,
    client: Client,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    if let Err(r) = caller(&state, &route, &headers, &client).await {
        return r;
    }
    one_of(discovery::resource_types(&base(&route)), "id", &name)
}

async fn schemas(
    State(state): State<AppState>,
    route: AppRoute,
    client: Client,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = caller(&state, &route, &headers, &client).await {
        return r;
    }
    answer(
        StatusCode::OK,
        &list_of(discovery::schemas(&base(&route))),
        None,
    )
}

async fn schema(
    State(state): State<AppState>,
    route: AppRoute,
    client: Client,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = caller(&state, &route, &headers, &client).await {
        return r;
    }
    one_of(discovery::schemas(&base(&route)), "id", &id)
}

fn one_of(items: Vec<Value>, key: &str, want: &str) -> Response {
    match items
        .into_iter()
        .find(|i| i.get(key).and_then(Value::as_str) == Some(want))
    {
        Some(doc) => answer(StatusCode::OK, &doc, None),
        None => scim_error(&ScimError {
            status: 404,
            scim_type: None,
            detail: format!("no {want:?}"),
        }),
    }
}

// ---- users --------------------------------------------------------------------

async fn list_users(
    State(state): State<AppState>,
    route: AppRoute,
    client: Client,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let who = match caller(&state, &route, &headers, &client).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let q = match params(raw.as_deref()) {
        Ok(q) => q,
        Err(e) => return scim_error(&e),
    };
    match state
        .gh()
        .provisioning()
        .list_users(&who, &base(&route), &q)
        .await
    {
        Ok(doc) => answer(StatusCode::OK, &doc, None),
        Err(e) => failed(e),
    }
}

async fn search_users(
    State(state): State<AppState>,
    route: AppRoute,
    client: Client,
    req: Request,
) -> Response {
    let who = match caller(&state, &route, req.headers(), &client).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let q = match search_body(req).await {
        Ok(q) => q,
        Err(r) => return r,
    };
    match state
        .gh()
        .provisioning()
        .list_users(&who, &base(&route), &q)
        .await
    {
        Ok(doc) => answer(StatusCode::OK, &doc, None),
        Err(e) => failed(e),
    }
}

async fn get_user(
    State(state): State<AppState>,
    route: AppRoute,
    client: Client,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let who = match caller(&state, &route, &headers, &client).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let p = match params(raw.as_deref()) {
        Ok(q) => q,
        Err(e) => return scim_error(&e),
    };
    let projection = Projection::parse(
        p.attributes.as_deref(),
        p.excluded_attributes.as_deref(),
        &USER,
    );
    match state
        .gh()
        .provisioning()
        .get_user(&who, &base(&route), &id, &projection)
        .await
    {
        Ok(doc) => answer(StatusCode::OK, &doc, None),
        Err(e) => failed(e),
    }
}

fn location(doc: &Value) -> Option<&str> {
    doc.pointer("/meta/location").and_then(Value::as_str)
}

async fn create_user(
    State(state): State<AppState>,
    route: AppRoute,
    client: Client,
    req: Request,
) -> Response {
    let who = match caller(&state, &route, req.headers(), &client).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let body = match json_body(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    match state
        .gh()
        .provisioning()
        .create_user(&who, &base(&route), &body)
        .await
    {
        Ok(doc) => answer(StatusCode::CREATED, &doc, location(&doc)),
        Err(e) => failed(e),
    }
}

async fn replace_user(
    State(state): State<AppState>,
    route: AppRoute,
    client: Client,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    let who = match caller(&state, &route, req.headers(), &client).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let body = match json_body(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    match state
        .gh()
        .provisioning()
        .replace_user(&who, &base(&route), &id, &body)
        .await
    {
        Ok(doc) => answer(StatusCode::OK, &doc, None),
        Err(e) => failed(e),
    }
}

async fn patch_user(
    State(state): State<AppState>,
    route: AppRoute,
    client: Client,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    let who = match caller(&state, &route, req.headers(), &client).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let body = match json_body(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    match state
        .gh()
        .provisioning()
        .patch_user(&who, &base(&route), &id, &body)
        .await
    {
        Ok(doc) => answer(StatusCode::OK, &doc, None),
        Err(e) => failed(e),
    }
}

async fn delete_user(
    State(state): State<AppState>,
    route: AppRoute,
    client: Client,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let who = match caller(&state, &route, &headers, &client).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    match state.gh().provisioning().delete_user(&who, &id).await {
        Ok(()) => no_content(),
        Err(e) => failed(e),
    }
}

fn no_content() -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    labelled("scim", resp)
}

// ---- groups -------------------------------------------------------------------

async fn list_groups(
    State(state): State<AppState>,
    route: AppRoute,
    client: Client,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let who = match caller(&state, &route, &headers, &client).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let q = match params(raw.as_deref()) {
        Ok(q) => q,
        Err(e) => return scim_error(&e),
    };
    match state
        .gh()
        .provisioning()
        .list_groups(&who, &base(&route), &q)
        .await
    {
        Ok(doc) => answer(StatusCode::OK, &doc, None),
        Err(e) => failed(e),
    }
}

async fn search_groups(
    State(state): State<AppState>,
    route: AppRoute,
    client: Client,
    req: Request,
) -> Response {
    let who = match caller(&state, &route, req.headers(), &client).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let q = match search_body(req).await {
        Ok(q) => q,
        Err(r) => return r,
    };
    match state
        .gh()
        .provisioning()
        .list_groups(&who, &base(&route), &q)
        .await
    {
        Ok(doc) => answer(StatusCode::OK, &doc, None),
        Err(e) => failed(e),
    }
}

/// `POST /.search` at the root: users, then groups, that match, paged as
/// one list (RFC 7644 §3.4.3).
async fn search_all(
    State(state): State<AppState>,
    route: AppRoute,
    client: Client,
    req: Request,
) -> Response {
    let who = match caller(&state, &route, req.headers(), &client).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let q = match search_body(req).await {
        Ok(q) => q,
        Err(r) => return r,
    };
    match state
        .gh()
        .provisioning()
        .search_all(&who, &base(&route), &q)
        .await
    {
        Ok(doc) => answer(StatusCode::OK, &doc, None),
        Err(e) => failed(e),
    }
}

async fn get_group(
    State(state): State<AppState>,
    route: AppRoute,
    client: Client,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let who = match caller(&state, &route, &headers, &client).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let p = match params(raw.as_deref()) {
        Ok(q) => q,
        Err(e) => return scim_error(&e),
    };
    let projection = Projection::parse(
        p.attributes.as_deref(),
        p.excluded_attributes.as_deref(),
        &GROUP,
    );
    match state
        .gh()
        .provisioning()
        .get_group(&who, &base(&route), &id, &projection)
        .await
    {
        Ok(doc) => answer(StatusCode::OK, &doc, None),
        Err(e) => failed(e),
    }
}

async fn create_group(
    State(state): State<AppState>,
    route: AppRoute,
    client: Client,
    req: Request,
) -> Response {
    let who = match caller(&state, &route, req.headers(), &client).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let body = match json_body(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    match state
        .gh()
        .provisioning()
        .create_group(&who, &base(&route), &body)
        .await
    {
        Ok(doc) => answer(StatusCode::CREATED, &doc, location(&doc)),
        Err(e) => failed(e),
    }
}

async fn replace_group(
    State(state): State<AppState>,
    route: AppRoute,
    client: Client,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    let who = match caller(&state, &route, req.headers(), &client).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let body = match json_body(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    match state
        .gh()
        .provisioning()
        .replace_group(&who, &base(&route), &id, &body)
        .await
    {
        Ok(doc) => answer(StatusCode::OK, &doc, None),
        Err(e) => failed(e),
    }
}

async fn patch_group(
    State(state): State<AppState>,
    route: AppRoute,
    client: Client,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    let who = match caller(&state, &route, req.headers(), &client).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let body = match json_body(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    match state
        .gh()
        .provisioning()
        .patch_group(&who, &base(&route), &id, &body)
        .await
    {
        Ok(Some(doc)) => answer(StatusCode::OK, &doc, None),
        Ok(None) => no_content(),
        Err(e) => failed(e),
    }
}

async fn delete_group(
    State(state): State<AppState>,
    route: AppRoute,
    client: Client,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let who = match caller(&state, &route, &headers, &client).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    match state.gh().provisioning().delete_group(&who, &id).await {
        Ok(()) => no_content(),
        Err(e) => failed(e),
    }
}
