//! Header hygiene for proxied requests: hop-by-hop headers removed (RFC 9110
//! §7.6.1), every identity header a client sent removed before Gatehouse
//! adds its own, the session cookie kept from the upstream, and the
//! `X-Forwarded-*` headers set.

use axum::http::Method;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};

use gatehouse_core::access::Role;
use gatehouse_core::user::User;

/// Header name prefixes no client may send to an upstream (compared after
/// lower-casing and reading `_` as `-`, as WSGI, CGI and PHP do): Gatehouse's
/// own identity headers, the proxy headers it sets itself, and the identity
/// headers of other SSO gateways and platforms, which upstreams may trust.
const STRIPPED_PREFIXES: [&str; 10] = [
    "x-auth-request-",
    "x-gatehouse-",
    "x-forwarded-",
    "x-ms-client-principal",
    "x-webauth-",
    "remote-",
    "x-amzn-oidc-",
    "cf-access-",
    "x-goog-authenticated-",
    "x-goog-iap-",
];

/// Header names no client may send to an upstream (same comparison): the
/// client's address, scheme and host as proxies report them, and the
/// client-certificate headers TLS terminators set.
const STRIPPED_NAMES: [&str; 24] = [
    "forwarded",
    "x-real-ip",
    "x-original-url",
    "x-original-uri",
    "x-rewrite-url",
    "x-remote-user",
    "true-client-ip",
    "x-client-ip",
    "x-cluster-client-ip",
    "client-ip",
    "cf-connecting-ip",
    "fastly-client-ip",
    "x-host",
    "x-original-host",
    "x-http-host-override",
    "x-envoy-original-path",
    "x-url-scheme",
    "front-end-https",
    "ssl-client-cert",
    "x-ssl-client-cert",
    "x-ssl-client-dn",
    "x-client-cert",
    "x-arr-clientcert",
    "http2-settings",
];

const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

/// Whether a request asks for the one upgrade Gatehouse passes: a WebSocket
/// (`GET` with `Connection: upgrade` and `Upgrade: websocket`). Anything
/// else (`h2c`, TLS, ...) is not an upgrade: its headers are dropped and the
/// request is answered as plain HTTP/1.1.
pub fn is_websocket_upgrade(method: &Method, headers: &HeaderMap) -> bool {
    *method == Method::GET && is_upgrade(headers) && {
        let mut upgrades = headers.get_all(header::UPGRADE).iter();
        let only = upgrades.next();
        upgrades.next().is_none()
            && only.is_some_and(|v| v.as_bytes().trim_ascii().eq_ignore_ascii_case(b"websocket"))
    }
}

/// Whether a response agrees to switch protocols (`Connection: upgrade`).
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

/// Remove hop-by-hop headers, including those named in `Connection`.
/// With `keep_upgrade`, `Connection: upgrade` and `Upgrade` stay.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    // Most requests carry none of them: one pass over the names (standard
    // names compare as tags) instead of a hashed lookup for each.
    let any = headers
        .keys()
        .any(|k| *k == header::UPGRADE || HOP_BY_HOP.contains(k));
    if !any {
        if keep_upgrade {
            headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        }
        return;
    }
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .filter(|n| !(keep_upgrade && *n == header::UPGRADE))
        .collect();
    for n in named {
        headers.remove(n);
    }
    for n in &HOP_BY_HOP {
        headers.remove(n);
    }
    if keep_upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        headers.remove(header::UPGRADE);
    }
}

/// Whether byte `a` of a header name reads as byte `b` of a pattern
/// spelled as [`header_key`](gatehouse_core::access::header_key) spells names (lower case, `-`): `_` reads as
/// `-`. Header names from hyper are lower case already.
fn same(a: u8, b: u8) -> bool {
    a.to_ascii_lowercase() == b || (a == b'_' && b == b'-')
}

fn key_starts_with(name: &[u8], prefix: &str) -> bool {
    name.len() >= prefix.len() && name.iter().zip(prefix.bytes()).all(|(a, b)| same(*a, b))
}

fn key_eq(name: &[u8], key: &str) -> bool {
    name.len() == key.len() && key_starts_with(name, key)
}

/// Whether a client-sent header must not reach the upstream. `extra` holds
/// names as [`header_key`](gatehouse_core::access::header_key) spells them. Compares without allocating: this
/// runs for every header of every proxied request.
fn is_stripped(name: &str, extra: &[String]) -> bool {
    let name = name.as_bytes();
    STRIPPED_PREFIXES.iter().any(|p| key_starts_with(name, p))
        || STRIPPED_NAMES.iter().any(|n| key_eq(name, n))
        || extra.iter().any(|e| key_eq(name, e))
}

/// Remove every identity and proxy header a client sent, in any spelling
/// (any case, `_` for `-`), and the application's own list (`extra`, as
/// [`header_key`](gatehouse_core::access::header_key) spells names).
pub fn strip_identity_headers(headers: &mut HeaderMap, extra: &[String]) {
    let spoofed: Vec<HeaderName> = headers
        .keys()
        .filter(|k| is_stripped(k.as_str(), extra))
        .cloned()
        .collect();
    for k in spoofed {
        headers.remove(k);
    }
}

fn set(headers: &mut HeaderMap, name: &'static str, value: &str) {
    // Values are validated at the edge (no control characters); a value that
    // still cannot be a header is left out rather than sent mangled.
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), v);
    }
}

/// The longest `X-Auth-Request-Groups` value sent; past it the header is
/// left out and `X-Auth-Request-Groups-Omitted: 1` is sent instead (a
/// truncated list could fail open for an upstream that denies by group).
pub const MAX_GROUPS_HEADER: usize = 4096;

/// `X-Auth-Request-Groups`: the groups joined by `,`, each with `%` and `,`
/// percent-encoded, so a group named `a,b` is never read as two groups.
pub fn encode_groups<'g>(groups: impl IntoIterator<Item = &'g str>) -> String {
    let mut out = String::new();
    for (i, g) in groups.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for ch in g.chars() {
            match ch {
                '%' => out.push_str("%25"),
                ',' => out.push_str("%2C"),
                c => out.push(c),
            }
        }
    }
    out
}

/// Add the identity headers of PRODUCT.md for `user`.
pub fn add_identity(headers: &mut HeaderMap, user: &User, roles: &[Role]) {
    set(headers, "x-auth-request-user", &user.id.to_string());
    set(headers, "x-auth-request-email", user.email.as_str());
    let groups = encode_groups(user.group_names_iter());
    if groups.len() > MAX_GROUPS_HEADER || HeaderValue::from_str(&groups).is_err() {
        headers.remove("x-auth-request-groups");
        set(headers, "x-auth-request-groups-omitted", "1");
    } else {
        set(headers, "x-auth-request-groups", &groups);
    }
    set(headers, "x-auth-request-roles", &Role::join(roles, ","));
    set(headers, "x-auth-request-first-name", &user.first_name);
    set(headers, "x-auth-request-last-name", &user.last_name);
}

/// A header value written through a buffer on the stack (one allocation:
/// the value's own), or through a `String` when it is longer than a host
/// name with a port can be.
fn written(args: std::fmt::Arguments<'_>) -> Option<HeaderValue> {
    use std::io::Write;
    let mut buf = [0u8; 272];
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    if cursor.write_fmt(args).is_ok() {
        let n = usize::try_from(cursor.position()).ok()?;
        return HeaderValue::from_bytes(buf.get(..n)?).ok();
    }
    HeaderValue::from_str(&args.to_string()).ok()
}

/// Set `X-Forwarded-For`, `-Proto` and `-Host` (replacing what the client
/// sent). Each value is made in one allocation (the proto in none).
pub fn set_forwarded(
    headers: &mut HeaderMap,
    client_ip: Option<std::net::IpAddr>,
    proto: &'static str,
    host: &gatehouse_core::RequestHost,
) {
    match client_ip {
        Some(ip) => {
            if let Some(v) = written(format_args!("{ip}")) {
                headers.insert(HeaderName::from_static("x-forwarded-for"), v);
            }
        }
        None => {
            headers.remove("x-forwarded-for");
        }
    }
    headers.insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static(proto),
    );
    if let Some(v) = written(format_args!("{host}")) {
        headers.insert(HeaderName::from_static("x-forwarded-host"), v);
    }
    headers.remove(header::FORWARDED);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn identity_headers_from_clients_are_removed() {
        let mut h = map(&[
            ("x-auth-request-email", "evil@x"),
            ("x-auth-request-user", "1"),
            ("x-gatehouse-assertion", "forged"),
            ("x-other", "kept"),
        ]);
        strip_identity_headers(&mut h, &[]);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-other"));
    }

    #[test]
    fn every_spelling_of_other_gateways_and_client_address_headers_is_removed() {
        let mut h = map(&[
            ("x_amzn_oidc_data", "forged"),
            ("cf-access-authenticated-user-email", "boss@x"),
            ("x-goog-authenticated-user-email", "boss@x"),
            ("cf_connecting_ip", "203.0.113.9"),
            ("client-ip", "203.0.113.9"),
            ("x-ssl-client-dn", "CN=boss"),
            ("remote_groups", "admins"),
            ("x-tenant", "acme"),
            ("x_tenant", "acme"),
            ("x-remote", "kept"),
            ("x-forwardedfor", "kept"),
        ]);
        strip_identity_headers(&mut h, &["x-tenant".to_owned()]);
        let mut left: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, ["x-forwardedfor", "x-remote"]);
    }

    #[test]
    fn hop_by_hop_headers_are_removed() {
        let mut h = map(&[
            ("connection", "keep-alive, x-secret"),
            ("x-secret", "1"),
            ("te", "trailers"),
            ("accept", "*/*"),
        ]);
        strip_hop_by_hop(&mut h, false);
        assert_eq!(
            h.keys().map(|k| k.as_str()).collect::<Vec<_>>(),
            vec!["accept"]
        );
        let mut up = map(&[("connection", "Upgrade"), ("upgrade", "websocket")]);
        assert!(is_upgrade(&up));
        strip_hop_by_hop(&mut up, true);
        assert_eq!(
            up.get("upgrade").map(|v| v.as_bytes()),
            Some(&b"websocket"[..])
        );
    }

    #[test]
    fn every_spelling_of_an_identity_header_is_removed() {
        let mut h = HeaderMap::new();
        for name in [
            "x_auth_request_roles",
            "X-Auth_Request-Email",
            "x-forwarded-user",
            "x_forwarded_email",
            "x-forwarded-groups",
            "x-forwarded-preferred-username",
            "remote-user",
            "remote_groups",
            "x-webauth-user",
            "x-ms-client-principal-name",
            "x_ms_client_principal",
            "x-real-ip",
            "x-original-url",
            "x-rewrite-url",
            "forwarded",
            "http2-settings",
            "x-tenant",
            "x_tenant",
            "accept",
        ] {
            h.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap_or_else(|e| panic!("{e}")),
                HeaderValue::from_static("evil"),
            );
        }
        strip_identity_headers(&mut h, &["x-tenant".to_owned()]);
        assert_eq!(
            h.keys().map(|k| k.as_str()).collect::<Vec<_>>(),
            vec!["accept"]
        );
    }

    #[test]
    fn groups_are_encoded_exactly_or_left_out() {
        assert_eq!(encode_groups(["eng", "a,b", "100%"]), "eng,a%2Cb,100%25");
        assert_eq!(encode_groups([]), "");
        let big: Vec<String> = (0..1000).map(|i| format!("group-{i}")).collect();
        let big: Vec<&str> = big.iter().map(String::as_str).collect();
        assert!(encode_groups(big).len() > MAX_GROUPS_HEADER);
    }

    #[test]
    fn only_websocket_upgrades_on_get_pass() {
        let ws = map(&[("connection", "Upgrade"), ("upgrade", "websocket")]);
        assert!(is_websocket_upgrade(&Method::GET, &ws));
        assert!(!is_websocket_upgrade(&Method::POST, &ws));
        let h2c = map(&[
            ("connection", "Upgrade, HTTP2-Settings"),
            ("upgrade", "h2c"),
        ]);
        assert!(!is_websocket_upgrade(&Method::GET, &h2c));
        let both = map(&[
            ("connection", "upgrade"),
            ("upgrade", "websocket"),
            ("upgrade", "h2c"),
        ]);
        assert!(!is_websocket_upgrade(&Method::GET, &both));
        let list = map(&[("connection", "upgrade"), ("upgrade", "websocket, h2c")]);
        assert!(!is_websocket_upgrade(&Method::GET, &list));
    }
}
