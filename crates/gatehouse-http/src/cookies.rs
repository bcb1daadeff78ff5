//! Gatehouse's cookies among everyone else's.
//!
//! The `Cookie` header is read as bytes: other sites on the same host name
//! (a sibling port, an application's own cookies) may send any bytes, and a
//! cookie Gatehouse does not own must never cost the user their session.
//! Each application has its own session cookie name, so two applications on
//! one host name with different ports never share or leak a session; on
//! https it carries the `__Host-` prefix, which a sibling subdomain cannot
//! set. When several cookies carry our name (cookie tossing from a sibling
//! subdomain with `Domain=`), each is tried.
//!
//! Every cookie Gatehouse owns is removed before a request is proxied, and a
//! `Set-Cookie` from the upstream for one of our names is dropped.

use axum::http::header::{self, HeaderMap, HeaderValue};
use gatehouse_core::{Application, Scheme};

/// At most this many cookies with our name are tried per request.
pub const MAX_TRIED: usize = 4;

/// The `__Host-` prefix (RFC 6265bis §4.1.3.2).
const HOST_PREFIX: &str = "__Host-";

/// Every `name=value` pair of every `Cookie` header, as bytes. Pairs
/// without `=` are skipped; surrounding spaces and tabs are trimmed.
pub fn pairs(headers: &HeaderMap) -> impl Iterator<Item = (&[u8], &[u8])> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b';'))
        .filter_map(|pair| {
            let pair = pair.trim_ascii();
            let eq = pair.iter().position(|b| *b == b'=')?;
            Some((pair[..eq].trim_ascii(), pair[eq + 1..].trim_ascii()))
        })
}

/// The values of every cookie called `name` that could be one of ours
/// (visible ASCII, optionally quoted), in the order sent, at most
/// [`MAX_TRIED`].
pub fn values<'h>(headers: &'h HeaderMap, name: &str) -> Vec<&'h str> {
    named(headers, |k| k == name.as_bytes()).collect()
}

/// The values of every cookie whose name `is_name` accepts, as
/// [`values`], without collecting them.
fn named<'h, F: Fn(&[u8]) -> bool>(
    headers: &'h HeaderMap,
    is_name: F,
) -> impl Iterator<Item = &'h str> + use<'h, F> {
    pairs(headers)
        .filter(move |(k, _)| is_name(k))
        .filter_map(|(_, v)| {
            let v = v
                .strip_prefix(b"\"")
                .and_then(|v| v.strip_suffix(b"\""))
                .unwrap_or(v);
            if v.is_empty() || !v.iter().all(|b| (0x21..=0x7e).contains(b)) {
                return None;
            }
            std::str::from_utf8(v).ok()
        })
        .take(MAX_TRIED)
}

/// The values of `app`'s session cookie ([`session_name`]) in the order
/// sent, at most [`MAX_TRIED`]: the hot path's reading, which builds no
/// name and collects nothing.
pub fn session_values<'h, 'a>(
    headers: &'h HeaderMap,
    base: &'a str,
    app: &'a Application,
) -> impl Iterator<Item = &'h str> + use<'h, 'a> {
    named(headers, move |k| is_session_name(k, base, app))
}

/// Whether `name` is [`session_name`]`(base, app)`.
fn is_session_name(name: &[u8], base: &str, app: &Application) -> bool {
    let rest = match app.scheme {
        Scheme::Https => name.strip_prefix(HOST_PREFIX.as_bytes()),
        Scheme::Http => Some(name),
    };
    rest.and_then(|r| r.strip_prefix(base.as_bytes()))
        .and_then(|r| r.strip_prefix(b"_"))
        .is_some_and(|r| r == app.slug.as_str().as_bytes())
}

/// The first value of cookie `name` (for cookies that are never tossed:
/// the sign-in flow cookie, whose name is derived from `state`).
pub fn first<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    values(headers, name).into_iter().next()
}

/// The session cookie's name for `app`: `<base>_<slug>`, with `__Host-`
/// in front when the application is reached over https.
pub fn session_name(base: &str, app: &Application) -> String {
    match app.scheme {
        Scheme::Https => format!("{HOST_PREFIX}{base}_{}", app.slug.as_str()),
        Scheme::Http => format!("{base}_{}", app.slug.as_str()),
    }
}

/// The device cookie's name for `app` (see `gatehouse_service::local_login`):
/// `gatehouse_device_<slug>`, sent only to the application's auth prefix.
/// On https it is `__Secure-` prefixed (`__Host-` would need `Path=/`).
pub fn device_name(app: &Application) -> String {
    match app.scheme {
        Scheme::Https => format!("__Secure-gatehouse_device_{}", app.slug.as_str()),
        Scheme::Http => format!("gatehouse_device_{}", app.slug.as_str()),
    }
}

/// Whether a cookie name is one of Gatehouse's: the session cookies of any
/// application (`<base>_*`, with or without `__Host-`), and `gatehouse_*`
/// (sign-in flow, console).
pub fn is_ours(name: &[u8], base: &str) -> bool {
    let name = name.strip_prefix(HOST_PREFIX.as_bytes()).unwrap_or(name);
    let name = name.strip_prefix(b"__Secure-").unwrap_or(name);
    let base = base.as_bytes();
    name == base
        || name.starts_with(b"gatehouse_")
        || (name.len() > base.len() && name.starts_with(base) && name[base.len()] == b'_')
}

/// Remove every Gatehouse cookie from the request's `Cookie` headers; the
/// others are kept byte for byte, joined into one header (as HTTP/2's
/// split cookies must be for an HTTP/1.1 upstream, RFC 9113 §8.2.3).
pub fn strip_ours(headers: &mut HeaderMap, base: &str) {
    if !headers.contains_key(header::COOKIE) {
        return;
    }
    let mut kept: Vec<u8> = Vec::new();
    for value in headers.get_all(header::COOKIE) {
        for pair in value.as_bytes().split(|b| *b == b';') {
            let pair = pair.trim_ascii();
            if pair.is_empty() {
                continue;
            }
            let name = pair
                .iter()
                .position(|b| *b == b'=')
                .map_or(pair, |eq| pair[..eq].trim_ascii());
            if is_ours(name, base) {
                continue;
            }
            if !kept.is_empty() {
                kept.extend_from_slice(b"; ");
            }
            kept.extend_from_slice(pair);
        }
    }
    headers.remove(header::COOKIE);
    if !kept.is_empty()
        && let Ok(v) = HeaderValue::from_bytes(&kept)
    {
        headers.insert(header::COOKIE, v);
    }
}

/// Drop every `Set-Cookie` of an upstream response that would set one of
/// Gatehouse's cookies.
pub fn drop_upstream_set_cookies(headers: &mut HeaderMap, base: &str) {
    let all: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .cloned()
        .collect();
    let kept: Vec<HeaderValue> = all
        .into_iter()
        .filter(|v| {
            let b = v.as_bytes();
            let end = b
                .iter()
                .position(|c| *c == b'=' || *c == b';')
                .unwrap_or(b.len());
            let ours = is_ours(b[..end].trim_ascii(), base);
            if ours {
                tracing::warn!("dropped an upstream Set-Cookie for a Gatehouse cookie");
            }
            !ours
        })
        .collect();
    if headers.contains_key(header::SET_COOKIE) {
        headers.remove(header::SET_COOKIE);
        for v in kept {
            headers.append(header::SET_COOKIE, v);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn with_cookies(values: &[&[u8]]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::COOKIE, HeaderValue::from_bytes(v).unwrap());
        }
        h
    }

    #[test]
    fn a_foreign_cookie_with_any_bytes_never_hides_ours() {
        let h = with_cookies(&[b"theme=\xe9t\xe9; gatehouse_session_demo=abc; x=\xff\xfe"]);
        assert_eq!(values(&h, "gatehouse_session_demo"), vec!["abc"]);
        let h = with_cookies(&[b"broken; =; a=\"q\"", b"gatehouse_session_demo=\"abc\""]);
        assert_eq!(values(&h, "gatehouse_session_demo"), vec!["abc"]);
    }

    #[test]
    fn every_cookie_with_our_name_is_tried() {
        let h = with_cookies(&[b"s=tossed; s=real", b"s=third"]);
        assert_eq!(values(&h, "s"), vec!["tossed", "real", "third"]);
        let many = "s=1; ".repeat(20);
        assert_eq!(
            values(&with_cookies(&[many.as_bytes()]), "s").len(),
            MAX_TRIED
        );
    }

    #[test]
    fn our_cookies_are_stripped_and_the_rest_kept_byte_for_byte() {
        let mut h = with_cookies(&[
            b"a=1; gatehouse_session_demo=secret; b=\xe9",
            b"__Host-gatehouse_session_other=x; gatehouse_flow_0123=y; gatehouse_admin=z",
            b"gatehousex=kept",
        ]);
        strip_ours(&mut h, "gatehouse_session");
        assert_eq!(
            h.get(header::COOKIE).map(HeaderValue::as_bytes),
            Some(&b"a=1; b=\xe9; gatehousex=kept"[..])
        );
        let mut only = with_cookies(&[b"gatehouse_session_demo=secret"]);
        strip_ours(&mut only, "gatehouse_session");
        assert!(!only.contains_key(header::COOKIE));
    }

    #[test]
    fn upstreams_cannot_set_our_cookies() {
        let mut h = HeaderMap::new();
        for v in [
            "gatehouse_session_demo=forged; Path=/",
            "__Host-gatehouse_session_demo=forged; Secure; Path=/",
            "theme=dark; Path=/",
        ] {
            h.append(header::SET_COOKIE, HeaderValue::from_static(v));
        }
        drop_upstream_set_cookies(&mut h, "gatehouse_session");
        let left: Vec<&[u8]> = h
            .get_all(header::SET_COOKIE)
            .iter()
            .map(HeaderValue::as_bytes)
            .collect();
        assert_eq!(left, vec![&b"theme=dark; Path=/"[..]]);
    }

    fn app(slug: &str, scheme: gatehouse_core::Scheme) -> Application {
        let now = time::OffsetDateTime::UNIX_EPOCH;
        Application {
            id: gatehouse_core::AppId::new(),
            name: "Demo".into(),
            slug: gatehouse_core::Slug::parse(slug).unwrap(),
            hosts: vec![gatehouse_core::HostPattern::localhost()],
            upstream_url: None,
            scheme,
            auth_prefix: gatehouse_core::AuthPrefix::default(),
            created_at: now,
            updated_at: now,
        }
    }

    proptest! {
        /// The hot path's reading of the session cookie finds exactly what
        /// reading by the built name finds, whatever else is sent.
        #[test]
        fn session_values_match_values_by_name(
            names in proptest::collection::vec(prop_oneof![
                Just("gatehouse_session_demo"), Just("__Host-gatehouse_session_demo"),
                Just("gatehouse_session_demo2"), Just("gatehouse_session_dem"),
                Just("gatehouse_session"), Just("gatehouse_sessionXdemo"), Just("other"),
            ], 0..8),
            https in any::<bool>(),
        ) {
            let scheme = if https { Scheme::Https } else { Scheme::Http };
            let a = app("demo", scheme);
            let raw: Vec<String> = names.iter().enumerate().map(|(i, n)| format!("{n}=v{i}")).collect();
            let mut h = HeaderMap::new();
            h.insert(header::COOKIE, HeaderValue::from_str(&raw.join("; ")).unwrap());
            let fast: Vec<&str> = session_values(&h, "gatehouse_session", &a).collect();
            prop_assert_eq!(fast, values(&h, &session_name("gatehouse_session", &a)));
        }

        #[test]
        fn foreign_bytes_never_hide_or_leak_the_session(
            before in proptest::collection::vec(any::<u8>(), 0..40),
            after in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            // Header values cannot hold CR, LF or NUL; everything else may arrive.
            let clean = |v: Vec<u8>| -> Vec<u8> { v.into_iter().filter(|b| *b != b'\r' && *b != b'\n' && *b != 0 && *b != b';').collect() };
            let mut raw = b"x=".to_vec();
            raw.extend(clean(before));
            raw.extend_from_slice(b"; gatehouse_session_demo=tok; y=");
            raw.extend(clean(after));
            let Ok(v) = HeaderValue::from_bytes(&raw) else { return Ok(()) };
            let mut h = HeaderMap::new();
            h.insert(header::COOKIE, v);
            prop_assert_eq!(values(&h, "gatehouse_session_demo"), vec!["tok"]);
            strip_ours(&mut h, "gatehouse_session");
            let left = h.get(header::COOKIE).map(|v| v.as_bytes().to_vec()).unwrap_or_default();
            let name = b"gatehouse_session_demo";
            prop_assert!(!left.windows(name.len()).any(|w| w == name));
        }
    }
}
