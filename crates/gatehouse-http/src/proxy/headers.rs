//! Header hygiene for proxied requests: hop-by-hop headers removed (RFC 9110
//! §7.6.1), every identity header a client sent removed before Gatehouse
//! adds its own, the session cookie kept from the upstream, and the
//! `X-Forwarded-*` headers set.

use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use gatehouse_core::user::User;

/// Header name prefixes Gatehouse owns: anything a client sends with them is dropped.
const IDENTITY_PREFIXES: [&str; 2] = ["x-auth-request-", "x-gatehouse-"];

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

/// Whether a request or response asks to switch protocols (WebSocket).
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

/// Remove every header in Gatehouse's identity namespaces.
pub fn strip_identity_headers(headers: &mut HeaderMap) {
    let spoofed: Vec<HeaderName> = headers
        .keys()
        .filter(|k| IDENTITY_PREFIXES.iter().any(|p| k.as_str().starts_with(p)))
        .cloned()
        .collect();
    for k in spoofed {
        headers.remove(k);
    }
}

/// Remove the cookie `name` from `Cookie` headers (the upstream never sees the session).
pub fn remove_cookie(headers: &mut HeaderMap, name: &str) {
    let values: Vec<HeaderValue> = headers.get_all(header::COOKIE).iter().cloned().collect();
    if values.is_empty() {
        return;
    }
    let kept: Vec<&str> = values
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|pair| {
            !pair.is_empty() && pair.split_once('=').is_none_or(|(k, _)| k.trim() != name)
        })
        .collect();
    headers.remove(header::COOKIE);
    if !kept.is_empty()
        && let Ok(v) = HeaderValue::from_str(&kept.join("; "))
    {
        headers.insert(header::COOKIE, v);
    }
}

fn set(headers: &mut HeaderMap, name: &'static str, value: &str) {
    // Values are validated at the edge (no control characters); a value that
    // still cannot be a header is left out rather than sent mangled.
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), v);
    }
}

/// Add the identity headers of PRODUCT.md for `user`.
pub fn add_identity(headers: &mut HeaderMap, user: &User, roles: &[String]) {
    set(headers, "x-auth-request-user", &user.id.to_string());
    set(headers, "x-auth-request-email", user.email.as_str());
    set(headers, "x-auth-request-groups", &user.groups.join(","));
    set(headers, "x-auth-request-roles", &roles.join(","));
    set(headers, "x-auth-request-first-name", &user.first_name);
    set(headers, "x-auth-request-last-name", &user.last_name);
}

/// Set `X-Forwarded-For`, `-Proto` and `-Host` (replacing what the client sent).
pub fn set_forwarded(headers: &mut HeaderMap, client_ip: Option<&str>, proto: &str, host: &str) {
    match client_ip {
        Some(ip) => set(headers, "x-forwarded-for", ip),
        None => {
            headers.remove("x-forwarded-for");
        }
    }
    set(headers, "x-forwarded-proto", proto);
    set(headers, "x-forwarded-host", host);
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
        strip_identity_headers(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-other"));
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
    fn the_session_cookie_never_reaches_the_upstream() {
        let mut h = map(&[
            ("cookie", "a=1; gatehouse_session=secret; b=2"),
            ("cookie", "gatehouse_session=x"),
        ]);
        remove_cookie(&mut h, "gatehouse_session");
        assert_eq!(
            h.get("cookie").map(|v| v.to_str().unwrap_or("")),
            Some("a=1; b=2")
        );
        let mut only = map(&[("cookie", "gatehouse_session=secret")]);
        remove_cookie(&mut only, "gatehouse_session");
        assert!(!only.contains_key("cookie"));
    }
}
