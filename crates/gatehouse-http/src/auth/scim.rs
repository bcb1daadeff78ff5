//! `<prefix>/scim/v2/...`: the application's SCIM 2.0 service provider
//! (RFC 7644) for identity providers that provision users and groups.
//! Every request carries a SCIM token of this application (a token of
//! another application, or an admin token, is refused like an unknown one);
//! bodies are JSON (`application/scim+json` or `application/json`) up to
//! [`MAX_BODY`]; answers are `application/scim+json`, errors SCIM error
//! documents. The handlers read the request and call one use case of
//! `gh.provisioning()`.

use axum::Router;
use axum::body::Body;
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

/// A refusal, as the SCIM answer to send (handlers return
/// `Result<Response, Failure>` and use `?`).
struct Failure(Box<Response>);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        *self.0
    }
}

impl From<ScimError> for Failure {
    fn from(e: ScimError) -> Self {
        Self(Box::new(scim_error(&e)))
    }
}

impl From<ProvisioningError> for Failure {
    fn from(e: ProvisioningError) -> Self {
        Self(Box::new(failed(e)))
    }
}

/// What every SCIM request has once authenticated: the caller and the
/// application's base URL (as the host the request came to lists it).
struct Cx {
    who: ScimCaller,
    base: String,
}

/// Authenticate a SCIM request: the caller, or the 401/429 to answer.
async fn cx(
    state: &AppState,
    route: &AppRoute,
    headers: &HeaderMap,
    client: &Client,
) -> Result<Cx, Failure> {
    let who = state
        .gh()
        .provisioning()
        .authenticate(
            route.rt.app.id,
            bearer(headers),
            client.correlation_id.clone(),
        )
        .await?;
    Ok(Cx {
        who,
        base: base(route),
    })
}

/// Authenticate, then read the JSON body (authentication first: a body is
/// not read for someone without a token).
async fn cx_body(
    state: &AppState,
    route: &AppRoute,
    client: &Client,
    req: Request,
) -> Result<(Cx, Value), Failure> {
    let cx = cx(state, route, req.headers(), client).await?;
    let body = json_body(req).await?;
    Ok((cx, body))
}

/// A JSON body (up to [`MAX_BODY`]); `invalidSyntax` otherwise.
async fn json_body(req: Request) -> Result<Value, Failure> {
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
        return Err(ScimError::bad_request(
            ScimType::InvalidSyntax,
            "the body must be application/scim+json or application/json",
        )
        .into());
    }
    let Ok(bytes) = axum::body::to_bytes(req.into_body(), MAX_BODY).await else {
        return Err(ScimError {
            status: 413,
            scim_type: None,
            detail: format!("the body is larger than {MAX_BODY} bytes"),
        }
        .into());
    };
    serde_json::from_slice(&bytes).map_err(|e| {
        ScimError::bad_request(
            ScimType::InvalidSyntax,
            format!("the body is not JSON: {e}"),
        )
        .into()
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
fn search_query(body: Value) -> Result<ListQuery, ScimError> {
    serde_json::from_value(body).map_err(|e| {
        ScimError::bad_request(
            ScimType::InvalidSyntax,
            format!("the search request cannot be read: {e}"),
        )
    })
}

/// The projection of a GET of one resource.
fn projection(
    raw: Option<&str>,
    schema: &gatehouse_scim::schema::ResourceSchema,
) -> Result<Projection, ScimError> {
    let p = params(raw)?;
    Ok(Projection::parse(
        p.attributes.as_deref(),
        p.excluded_attributes.as_deref(),
        schema,
    ))
}

fn ok(doc: &Value) -> Response {
    answer(StatusCode::OK, doc, None)
}

fn created(doc: &Value) -> Response {
    answer(
        StatusCode::CREATED,
        doc,
        doc.pointer("/meta/location").and_then(Value::as_str),
    )
}

fn no_content() -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    labelled("scim", resp)
}

/// The handlers' common arguments.
type Args = (State<AppState>, AppRoute, Client);

// ---- discovery ----------------------------------------------------------------

async fn service_provider_config(
    State(state): State<AppState>,
    route: AppRoute,
    client: Client,
    headers: HeaderMap,
) -> Result<Response, Failure> {
    let cx = cx(&state, &route, &headers, &client).await?;
    Ok(ok(&discovery::service_provider_config(
        &cx.base,
        "https://github.com/gatehouse/gatehouse/blob/main/docs/provisioning.md",
    )))
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
) -> Result<Response, Failure> {
    let cx = cx(&state, &route, &headers, &client).await?;
    Ok(ok(&list_of(discovery::resource_types(&cx.base))))
}

async fn resource_type(
    State(state): State<AppState>,
    route: AppRoute,
    client: Client,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Response, Failure> {
    let cx = cx(&state, &route, &headers, &client).await?;
    one_of(discovery::resource_types(&cx.base), &name)
}

async fn schemas(
    State(state): State<AppState>,
    route: AppRoute,
    client: Client,
    headers: HeaderMap,
) -> Result<Response, Failure> {
    let cx = cx(&state, &route, &headers, &client).await?;
    Ok(ok(&list_of(discovery::schemas(&cx.base))))
}

async fn schema(
    State(state): State<AppState>,
    route: AppRoute,
    client: Client,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Failure> {
    let cx = cx(&state, &route, &headers, &client).await?;
    one_of(discovery::schemas(&cx.base), &id)
}

/// The item of `items` whose `id` is `want`, or 404.
fn one_of(items: Vec<Value>, want: &str) -> Result<Response, Failure> {
    items
        .into_iter()
        .find(|i| i.get("id").and_then(Value::as_str) == Some(want))
        .map(|doc| ok(&doc))
        .ok_or_else(|| {
            ScimError {
                status: 404,
                scim_type: None,
                detail: format!("no {want:?}"),
            }
            .into()
        })
}

// ---- users --------------------------------------------------------------------

async fn list_users(
    (State(s), route, client): Args,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, Failure> {
    let cx = cx(&s, &route, &headers, &client).await?;
    let q = params(raw.as_deref())?;
    Ok(ok(&s
        .gh()
        .provisioning()
        .list_users(&cx.who, &cx.base, &q)
        .await?))
}

async fn search_users((State(s), route, client): Args, req: Request) -> Result<Response, Failure> {
    let (cx, body) = cx_body(&s, &route, &client, req).await?;
    let q = search_query(body)?;
    Ok(ok(&s
        .gh()
        .provisioning()
        .list_users(&cx.who, &cx.base, &q)
        .await?))
}

async fn get_user(
    (State(s), route, client): Args,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, Failure> {
    let cx = cx(&s, &route, &headers, &client).await?;
    let p = projection(raw.as_deref(), &USER)?;
    Ok(ok(&s
        .gh()
        .provisioning()
        .get_user(&cx.who, &cx.base, &id, &p)
        .await?))
}

async fn create_user((State(s), route, client): Args, req: Request) -> Result<Response, Failure> {
    let (cx, body) = cx_body(&s, &route, &client, req).await?;
    Ok(created(
        &s.gh()
            .provisioning()
            .create_user(&cx.who, &cx.base, &body)
            .await?,
    ))
}

async fn replace_user(
    (State(s), route, client): Args,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, Failure> {
    let (cx, body) = cx_body(&s, &route, &client, req).await?;
    let p = s.gh().provisioning();
    Ok(ok(&p.replace_user(&cx.who, &cx.base, &id, &body).await?))
}

async fn patch_user(
    (State(s), route, client): Args,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, Failure> {
    let (cx, body) = cx_body(&s, &route, &client, req).await?;
    let p = s.gh().provisioning();
    Ok(ok(&p.patch_user(&cx.who, &cx.base, &id, &body).await?))
}

async fn delete_user(
    (State(s), route, client): Args,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Failure> {
    let cx = cx(&s, &route, &headers, &client).await?;
    s.gh().provisioning().delete_user(&cx.who, &id).await?;
    Ok(no_content())
}

// ---- groups -------------------------------------------------------------------

async fn list_groups(
    (State(s), route, client): Args,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, Failure> {
    let cx = cx(&s, &route, &headers, &client).await?;
    let q = params(raw.as_deref())?;
    Ok(ok(&s
        .gh()
        .provisioning()
        .list_groups(&cx.who, &cx.base, &q)
        .await?))
}

async fn search_groups((State(s), route, client): Args, req: Request) -> Result<Response, Failure> {
    let (cx, body) = cx_body(&s, &route, &client, req).await?;
    let q = search_query(body)?;
    Ok(ok(&s
        .gh()
        .provisioning()
        .list_groups(&cx.who, &cx.base, &q)
        .await?))
}

/// `POST /.search` at the root: users, then groups, that match, paged as
/// one list (RFC 7644 §3.4.3).
async fn search_all((State(s), route, client): Args, req: Request) -> Result<Response, Failure> {
    let (cx, body) = cx_body(&s, &route, &client, req).await?;
    let q = search_query(body)?;
    Ok(ok(&s
        .gh()
        .provisioning()
        .search_all(&cx.who, &cx.base, &q)
        .await?))
}

async fn get_group(
    (State(s), route, client): Args,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, Failure> {
    let cx = cx(&s, &route, &headers, &client).await?;
    let p = projection(raw.as_deref(), &GROUP)?;
    Ok(ok(&s
        .gh()
        .provisioning()
        .get_group(&cx.who, &cx.base, &id, &p)
        .await?))
}

async fn create_group((State(s), route, client): Args, req: Request) -> Result<Response, Failure> {
    let (cx, body) = cx_body(&s, &route, &client, req).await?;
    Ok(created(
        &s.gh()
            .provisioning()
            .create_group(&cx.who, &cx.base, &body)
            .await?,
    ))
}

async fn replace_group(
    (State(s), route, client): Args,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, Failure> {
    let (cx, body) = cx_body(&s, &route, &client, req).await?;
    let p = s.gh().provisioning();
    Ok(ok(&p.replace_group(&cx.who, &cx.base, &id, &body).await?))
}

async fn patch_group(
    (State(s), route, client): Args,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, Failure> {
    let (cx, body) = cx_body(&s, &route, &client, req).await?;
    let p = s.gh().provisioning();
    Ok(match p.patch_group(&cx.who, &cx.base, &id, &body).await? {
        Some(doc) => ok(&doc),
        None => no_content(),
    })
}

async fn delete_group(
    (State(s), route, client): Args,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Failure> {
    let cx = cx(&s, &route, &headers, &client).await?;
    s.gh().provisioning().delete_group(&cx.who, &id).await?;
    Ok(no_content())
}
