//! Extractors: what a handler needs from a request, parsed at the edge.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use gatehouse_core::RequestHost;
use gatehouse_service::{AppRuntime, ClientInfo, Context};
use serde::de::DeserializeOwned;

use crate::error::HttpError;
use crate::middleware::RequestId;
use crate::state::AppState;

/// The application a request on an application host is for (set by the dispatcher).
#[derive(Debug, Clone)]
pub struct AppRoute {
    /// The application and its settings.
    pub rt: Arc<AppRuntime>,
    /// The host the request was sent to.
    pub host: RequestHost,
    /// The application's host entry it matched (generated URLs use it as written).
    pub entry: gatehouse_core::HostPattern,
}

impl<S: Send + Sync> FromRequestParts<S> for AppRoute {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<AppRoute>()
            .cloned()
            .ok_or_else(|| HttpError::internal("auth route reached without an application"))
    }
}

/// The host a request was sent to, as a host entry (for URLs generated for the console).
pub fn public_host(
    parts: &Parts,
    fallback: &gatehouse_core::HostPattern,
) -> gatehouse_core::HostPattern {
    parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| gatehouse_core::HostPattern::parse(h).ok())
        .unwrap_or_else(|| fallback.clone())
}

/// The host the console is reached at, for generated URLs.
#[derive(Debug, Clone)]
pub struct PublicHost(pub gatehouse_core::HostPattern);

impl FromRequestParts<AppState> for PublicHost {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(public_host(parts, &state.gh().settings().admin_host)))
    }
}

/// The request's correlation id.
pub fn request_id(parts: &Parts) -> Option<String> {
    parts
        .extensions
        .get::<RequestId>()
        .map(|r| r.as_str().to_owned())
}

/// The client's address as a trusted proxy reported it (set by the
/// request middleware; see [`forwarded_client`]).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

/// The client's address: what a trusted proxy reported, else the TCP peer.
pub fn client_ip(extensions: &axum::http::Extensions) -> Option<String> {
    client_addr(extensions).map(|ip| ip.to_string())
}

/// [`client_ip`] as an address.
pub fn client_addr(extensions: &axum::http::Extensions) -> Option<IpAddr> {
    if let Some(ClientAddr(ip)) = extensions.get::<ClientAddr>() {
        return Some(*ip);
    }
    peer_ip(extensions)
}

/// Whether the TCP peer is one of `trusted_proxies` (whose `X-Forwarded-*`
/// and `X-Original-URI` headers are believed).
pub fn from_trusted_proxy(trusted: &[ipnet::IpNet], extensions: &axum::http::Extensions) -> bool {
    peer_ip(extensions).is_some_and(|ip| trusted.iter().any(|n| n.contains(&ip)))
}

/// The TCP peer's address.
pub fn peer_ip(extensions: &axum::http::Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip())
}

/// One `trusted_proxies` entry: an address (`10.0.0.5`, `::1`) or a
/// network (`10.0.0.0/8`).
pub fn parse_trusted_proxy(s: &str) -> Option<ipnet::IpNet> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(ipnet::IpNet::from))
}

/// The client behind trusted proxies: when `peer` is one of `trusted`, walk
/// `X-Forwarded-For` from the right (the entry the nearest proxy added)
/// past trusted addresses; the first untrusted one is the client. Entries
/// left of it were written by the client and are not believed. `None`
/// when the peer is not trusted or the header is missing or malformed
/// (then the peer is the client).
pub fn forwarded_client(
    trusted: &[ipnet::IpNet],
    peer: IpAddr,
    headers: &axum::http::HeaderMap,
) -> Option<IpAddr> {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return None;
    }
    let mut hops = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        for entry in value.to_str().ok()?.split(',') {
            hops.push(entry.trim().parse::<IpAddr>().ok()?);
        }
    }
    let mut client = None;
    for ip in hops.into_iter().rev() {
        client = Some(ip);
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

/// The client's address and browser.
pub fn client_info(parts: &Parts) -> ClientInfo {
    let ip = client_ip(&parts.extensions);
    let user_agent = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(256).collect());
    ClientInfo {
        ip,
        user_agent,
        correlation_id: request_id(parts),
    }
}

/// Who a request comes from and its correlation id, for service calls that
/// are not admin calls.
#[derive(Debug, Clone)]
pub struct Client {
    /// Address and browser.
    pub info: ClientInfo,
    /// Correlation id.
    pub correlation_id: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self {
            info: client_info(parts),
            correlation_id: request_id(parts),
        })
    }
}

/// The application id of a route with one `{id}` path parameter, parsed:
/// an id that is not one answers 404 "Application not found".
#[derive(Debug, Clone, Copy)]
pub struct AppPath(pub gatehouse_core::AppId);

impl<S: Send + Sync> FromRequestParts<S> for AppPath {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|_| HttpError::not_found("Application"))?;
        raw.parse()
            .map(Self)
            .map_err(|_| HttpError::not_found("Application"))
    }
}

/// An authenticated admin API call: `Authorization: Bearer <admin token>`.
#[derive(Debug, Clone)]
pub struct Admin(pub Context);

impl FromRequestParts<AppState> for Admin {
    type Rejection = HttpError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let unauthorized = |why: &str| {
            HttpError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Unauthorized",
                "A valid admin token is required: Authorization: Bearer <token>.",
            )
            .reason(why.to_owned())
        };
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("no Authorization header"))?;
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                let (scheme, rest) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unauthorized("Authorization is not a Bearer token"))?;
        let actor = match state.gh().admin().authenticate(token).await {
            Ok(a) => a,
            Err(gatehouse_service::ServiceError::Unauthorized) => {
                return Err(unauthorized("unknown or revoked admin token"));
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Self(state.gh().admin().context(actor, request_id(parts))))
    }
}

/// A JSON body, with errors that name the field at fault: malformed JSON is
/// a 400, a wrong or unknown field a 422 with its path.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = HttpError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| {
                let mime = ct.split(';').next().unwrap_or("").trim();
                mime.eq_ignore_ascii_case("application/json")
                    || mime.to_ascii_lowercase().ends_with("+json")
            });
        if !is_json {
            return Err(HttpError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type",
                "Send a JSON body with Content-Type: application/json.",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| HttpError::new(e.status(), "bad_request", "Bad request", e.body_text()))?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Deserialize JSON, naming the field at fault.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, HttpError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let message = inner.to_string();
                let message = message
                    .split(" at line ")
                    .next()
                    .unwrap_or(&message)
                    .to_owned();
                let field = if path == "." { "body".to_owned() } else { path };
                HttpError::invalid_field(field, message)
            }
            _ => HttpError::bad_request(format!("The body is not valid JSON: {inner}")),
        }
    })
}

/// The largest form body accepted on application hosts (sign-in, logout).
pub const MAX_FORM_BYTES: usize = 8 * 1024;

/// The largest form body accepted from signed-in administrators (the
/// console's settings forms carry PEM keys and route lists).
pub const MAX_ADMIN_FORM_BYTES: usize = 64 * 1024;

/// A query string, parsed; a query that does not fit (a parameter twice,
/// a missing one) is the 400 error page with a correlation id, never the
/// framework's plain-text rejection.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|axum::extract::Query(v)| Self(v))
            .map_err(|e| {
                HttpError::bad_request("The parameters of this address cannot be read.")
                    .reason(format!("query refused: {}", e.body_text()))
            })
    }
}

/// A URL-encoded form of at most `LIMIT` bytes, parsed; anything else is
/// the error page (400, 413 or 415) with a correlation id.
#[derive(Debug)]
pub struct Form<T, const LIMIT: usize = MAX_FORM_BYTES>(pub T);

/// A console form (see [`MAX_ADMIN_FORM_BYTES`]).
pub type AdminForm<T> = Form<T, MAX_ADMIN_FORM_BYTES>;

impl<T: DeserializeOwned, S: Send + Sync, const LIMIT: usize> FromRequest<S> for Form<T, LIMIT> {
    type Rejection = HttpError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let too_large = || {
            HttpError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "The form is too large",
                "This form sent more data than Gatehouse accepts.",
            )
            .reason(format!("form body over {LIMIT} bytes"))
        };
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > LIMIT as u64) {
            return Err(too_large());
        }
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, LIMIT)
            .await
            .map_err(|_| too_large())?;
        let req = Request::from_parts(parts, axum::body::Body::from(bytes));
        axum::Form::<T>::from_request(req, state)
            .await
            .map(|axum::Form(v)| Self(v))
            .map_err(|e| {
                let status = if e.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE {
                    e.status()
                } else {
                    StatusCode::BAD_REQUEST
                };
                HttpError::new(
                    status,
                    "bad_form",
                    "The form cannot be read",
                    "The form that was sent is malformed. Open the page again and retry.",
                )
                .reason(format!("form refused: {}", e.body_text()))
            })
    }
}

/// The value of the session cookie, if the request carries one.
pub fn cookie<'h>(headers: &'h axum::http::HeaderMap, name: &str) -> Option<&'h str> {
    crate::cookies::first(headers, name)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn xff(values: &[&str]) -> axum::http::HeaderMap {
        let mut h = axum::http::HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn nets(list: &[&str]) -> Vec<ipnet::IpNet> {
        list.iter()
            .map(|s| parse_trusted_proxy(s).unwrap())
            .collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_client_is_the_first_untrusted_hop_from_the_right() {
        let trusted = nets(&["10.0.0.0/8", "192.0.2.1"]);
        let lb = ip("10.0.0.5");
        // The client wrote a fake first entry; the proxies appended the truth.
        let h = xff(&["1.1.1.1, 203.0.113.7", "10.1.2.3"]);
        assert_eq!(forwarded_client(&trusted, lb, &h), Some(ip("203.0.113.7")));
        assert_eq!(
            forwarded_client(&trusted, ip("192.0.2.1"), &xff(&["2001:db8::1"])),
            Some(ip("2001:db8::1"))
        );
        // All hops trusted: the leftmost is the best there is.
        assert_eq!(
            forwarded_client(&trusted, lb, &xff(&["10.9.9.9, 10.1.1.1"])),
            Some(ip("10.9.9.9"))
        );
    }

    #[test]
    fn untrusted_peers_and_bad_headers_are_not_believed() {
        let trusted = nets(&["10.0.0.0/8"]);
        let h = xff(&["203.0.113.7"]);
        assert_eq!(forwarded_client(&trusted, ip("198.51.100.1"), &h), None);
        assert_eq!(forwarded_client(&[], ip("10.0.0.5"), &h), None);
        assert_eq!(forwarded_client(&trusted, ip("10.0.0.5"), &xff(&[])), None);
        for bad in ["203.0.113.7, nonsense", "203.0.113.7:443", ""] {
            assert_eq!(
                forwarded_client(&trusted, ip("10.0.0.5"), &xff(&[bad])),
                None,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn trusted_proxy_entries_are_addresses_or_networks() {
        assert_eq!(
            parse_trusted_proxy("127.0.0.1").unwrap().to_string(),
            "127.0.0.1/32"
        );
        assert_eq!(
            parse_trusted_proxy(" 10.0.0.0/8 ").unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(parse_trusted_proxy("::1").unwrap().to_string(), "::1/128");
        assert!(parse_trusted_proxy("10.0.0.0/33").is_none());
        assert!(parse_trusted_proxy("lb.example.com").is_none());
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        hosts: Vec<String>,
        inner: Option<Inner>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        enabled: bool,
    }

    fn field(json: &str) -> Option<String> {
        parse_json::<Body>(json.as_bytes())
            .err()
            .and_then(|e| e.report().fields.first().map(|f| f.field.clone()))
    }

    #[test]
    fn json_errors_name_the_field() {
        assert_eq!(
            field(r#"{"name": 1, "hosts": []}"#).as_deref(),
            Some("name")
        );
        assert_eq!(
            field(r#"{"name": "a", "hosts": ["x", 2]}"#).as_deref(),
            Some("hosts[1]")
        );
        assert_eq!(
            field(r#"{"name": "a", "hosts": [], "bogus": 1}"#).as_deref(),
            Some("bogus")
        );
        assert_eq!(
            field(r#"{"name": "a", "hosts": [], "inner": {"enabled": "yes"}}"#).as_deref(),
            Some("inner.enabled")
        );
        assert_eq!(
            field(r#"{"name": "a", "hosts": [], "inner": {"x": 1}}"#).as_deref(),
            Some("inner.x")
        );
        let syntax = parse_json::<Body>(b"{not json")
            .err()
            .map(|e| e.report().status);
        assert_eq!(syntax, Some(StatusCode::BAD_REQUEST));
    }

    #[test]
    fn cookies_are_found() {
        let mut h = axum::http::HeaderMap::new();
        h.insert(
            header::COOKIE,
            axum::http::HeaderValue::from_static("a=1; gatehouse_session=abc; b=2"),
        );
        assert_eq!(cookie(&h, "gatehouse_session"), Some("abc"));
        assert_eq!(cookie(&h, "c"), None);
    }
}
