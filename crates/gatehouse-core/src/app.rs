//! Applications (tenants) and how a request finds one: host entries with or
//! without a port, the scheme that generated URLs use, the reserved `/auth`
//! prefix, and the optional upstream that signed-in requests are proxied to.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::{AppId, Slug};
use crate::validation::Invalid;

/// The scheme users reach an application with. Decides the `Secure` cookie
/// flag and the scheme of generated Callback and Logout Redirect URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Plain HTTP (development, or TLS terminated in front with `http` toward users: rare).
    Http,
    /// HTTPS (the default: production).
    #[default]
    Https,
}

impl Scheme {
    /// Parse `http` or `https`.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match raw {
            "http" => Ok(Self::Http),
            "https" => Ok(Self::Https),
            _ => Err(Invalid::field("scheme", "must be \"http\" or \"https\"")),
        }
    }

    /// `"http"` or `"https"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A host entry of an application: `myapp.example.com` (any port) or
/// `myapp.localhost:8080` (only that port). Lowercase, validated DNS name or
/// IPv4 address.
#[derive(Debug, Clone)]
pub struct HostPattern {
    /// `host[:port]`, as shown: shared, so a request that carries its
    /// application's entry (the proxy's `aud`) copies no string.
    text: std::sync::Arc<str>,
    host_len: usize,
    port: Option<u16>,
}

impl PartialEq for HostPattern {
    fn eq(&self, other: &Self) -> bool {
        self.host() == other.host() && self.port == other.port
    }
}

impl Eq for HostPattern {}

impl std::hash::Hash for HostPattern {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.host().hash(state);
        self.port.hash(state);
    }
}

impl PartialOrd for HostPattern {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for HostPattern {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.host(), self.port).cmp(&(other.host(), other.port))
    }
}

impl HostPattern {
    /// `localhost`, any port: the default admin host.
    pub fn localhost() -> Self {
        Self::from_parts("localhost".to_owned(), None)
    }

    /// An entry from a checked host name and port.
    fn from_parts(host: String, port: Option<u16>) -> Self {
        let host_len = host.len();
        let text = match port {
            Some(p) => format!("{host}:{p}"),
            None => host,
        };
        Self {
            text: text.into(),
            host_len,
            port,
        }
    }

    /// `host[:port]`, as [`Display`](fmt::Display) writes it.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Parse a host entry as an operator writes it.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let err = |m: &str| Invalid::field("hosts", m.to_owned());
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(err("a host must not be empty"));
        }
        if raw.contains("://") || raw.contains('/') {
            return Err(err(
                "write the host only, e.g. \"myapp.example.com\" or \"myapp.localhost:8080\", without scheme or path",
            ));
        }
        let lower = raw.to_ascii_lowercase();
        let (host, port) = match lower.rsplit_once(':') {
            Some((h, p)) => {
                let digits =
                    !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && !p.starts_with('0');
                let port = digits
                    .then(|| p.parse::<u16>().ok())
                    .flatten()
                    .ok_or_else(|| err("the port must be a number from 1 to 65535"))?;
                (h.to_owned(), Some(port))
            }
            None => (lower, None),
        };
        let host = host.strip_suffix('.').unwrap_or(&host).to_owned();
        if !is_dns_name(&host) {
            return Err(err(
                "must be a DNS name such as \"myapp.example.com\" (letters, digits, hyphens, dots)",
            ));
        }
        Ok(Self::from_parts(host, port))
    }

    /// The host name, lowercase.
    pub fn host(&self) -> &str {
        &self.text[..self.host_len]
    }

    /// The port, when the entry is bound to one.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// Whether a request for `req` is for this entry: an entry with a port
    /// matches only that host and port, one without matches the host on any port.
    pub fn matches(&self, req: &RequestHost) -> bool {
        self.host() == req.host && self.port.is_none_or(|p| req.port == Some(p))
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for HostPattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HostPattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        HostPattern::parse(&raw).map_err(serde::de::Error::custom)
    }
}

fn is_dns_name(host: &str) -> bool {
    if host.is_empty() || host.len() > 253 {
        return false;
    }
    host.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    })
}

/// The host a request was sent to, from its `Host` header (or the authority of
/// an absolute-form URI): lowercase, trailing dot removed, port split off.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestHost {
    host: String,
    port: Option<u16>,
}

impl RequestHost {
    /// Parse a `Host` header value. Returns `None` for values no application
    /// could match (empty, malformed port, characters outside a host name).
    pub fn parse(raw: &str) -> Option<Self> {
        // One allocation: the lower-cased text, cut down to the host in place.
        let mut host = raw.trim().to_ascii_lowercase();
        let (host_len, port) = if let Some(rest) = host.strip_prefix('[') {
            // IPv6 literal: "[::1]" or "[::1]:8080"
            let (inner, after) = rest.split_once(']')?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':')?.parse::<u16>().ok()?),
            };
            (inner.len() + 2, port)
        } else {
            match host.rsplit_once(':') {
                Some((h, p)) => (h.len(), Some(p.parse::<u16>().ok()?)),
                None => (host.len(), None),
            }
        };
        host.truncate(host_len);
        if host.ends_with('.') {
            host.pop();
        }
        if host.is_empty()
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'[' | b']' | b':'))
        {
            return None;
        }
        Some(Self { host, port })
    }

    /// The host name, lowercase.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, when the request named one.
    pub fn port(&self) -> Option<u16> {
        self.port
    }
}

impl fmt::Display for RequestHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(p) => write!(f, "{}:{p}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

/// The path prefix under which Gatehouse's own routes live on an application
/// host (`/auth/login`, `/auth/callback`, ...). Default `/auth`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AuthPrefix(String);

impl AuthPrefix {
    /// `/admin/auth`: the prefix of the console's own sign-in routes.
    pub fn console() -> Self {
        Self("/admin/auth".to_owned())
    }

    /// Parse a prefix: `/` followed by one or more segments of lowercase letters,
    /// digits, `-`, `_` or `.`, no trailing slash.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let ok = raw.len() <= 64
            && raw.starts_with('/')
            && raw[1..].split('/').all(|seg| {
                !seg.is_empty()
                    && seg != "."
                    && seg != ".."
                    && seg.bytes().all(|b| {
                        b.is_ascii_lowercase()
                            || b.is_ascii_digit()
                            || matches!(b, b'-' | b'_' | b'.')
                    })
            });
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Invalid::field(
                "auth_prefix",
                "must look like \"/auth\": a slash and lowercase path segments, no trailing slash",
            ))
        }
    }

    /// The prefix, e.g. `/auth`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The route below the prefix that `path` names, e.g. `"login"` for
    /// `/auth/login`; `None` when `path` is outside the prefix.
    pub fn route<'p>(&self, path: &'p str) -> Option<&'p str> {
        let rest = path.strip_prefix(self.0.as_str())?;
        match rest {
            "" => Some(""),
            r => r.strip_prefix('/'),
        }
    }
}

impl Default for AuthPrefix {
    fn default() -> Self {
        Self("/auth".to_owned())
    }
}

impl fmt::Display for AuthPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for AuthPrefix {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Where signed-in requests of an application are proxied: an absolute
/// `http` or `https` URL, optionally with a base path, without query,
/// fragment or credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamUrl(url::Url);

impl UpstreamUrl {
    /// Parse an upstream URL.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let err = |m: &str| Invalid::field("upstream_url", m.to_owned());
        let url =
            url::Url::parse(raw.trim()).map_err(|e| err(&format!("not an absolute URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(err("the scheme must be http or https"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(err("the URL must name a host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(err("credentials in the URL are not allowed"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(err("the URL must not have a query or fragment"));
        }
        Ok(Self(url))
    }

    /// The URL.
    pub fn as_url(&self) -> &url::Url {
        &self.0
    }

    /// The URL as text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl Serialize for UpstreamUrl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.as_str())
    }
}

/// An application name as shown in the console: 1 to 100 characters, no
/// control characters, surrounding whitespace removed.
pub fn parse_app_name(raw: &str) -> Result<String, Invalid> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(Invalid::field(
            "name",
            "must be 1 to 100 characters without control characters",
        ));
    }
    Ok(name.to_owned())
}

/// An application: a tenant with its own hosts, settings, users and roles.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Application {
    /// Stable id.
    pub id: AppId,
    /// Display name.
    pub name: String,
    /// URL-safe short name, unique in the instance.
    pub slug: Slug,
    /// Host entries requests are routed by; never empty.
    pub hosts: Vec<HostPattern>,
    /// Where signed-in requests are proxied; none means Gatehouse answers
    /// signed-in requests itself with a small "signed in" page.
    pub upstream_url: Option<UpstreamUrl>,
    /// Scheme of the hosts as users reach them.
    pub scheme: Scheme,
    /// Prefix of Gatehouse's own routes.
    pub auth_prefix: AuthPrefix,
    /// When created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Application {
    /// `<scheme>://<host><prefix>/<route>` for every host, in host order.
    pub fn urls_for(&self, route: &str) -> Vec<String> {
        self.hosts
            .iter()
            .map(|h| format!("{}://{h}{}/{route}", self.scheme, self.auth_prefix))
            .collect()
    }

    /// The Callback URLs to register at the IdP.
    pub fn callback_urls(&self) -> Vec<String> {
        self.urls_for("callback")
    }

    /// The Logout Redirect URLs to register at the IdP.
    pub fn logout_redirect_urls(&self) -> Vec<String> {
        self.urls_for("logged-out")
    }

    /// The SCIM base URLs to give the IdP's provisioning settings.
    pub fn scim_base_urls(&self) -> Vec<String> {
        self.urls_for("scim/v2")
    }

    /// The Back-Channel Logout URLs to register at the IdP.
    pub fn backchannel_logout_urls(&self) -> Vec<String> {
        self.urls_for("backchannel-logout")
    }

    /// The host entry a request for `req` matched, if any.
    pub fn matching_host(&self, req: &RequestHost) -> Option<&HostPattern> {
        self.hosts
            .iter()
            .filter(|h| h.matches(req))
            .max_by_key(|h| h.port.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_built_in_values_are_what_parsing_gives() {
        assert_eq!(
            HostPattern::parse("localhost").ok(),
            Some(HostPattern::localhost())
        );
        assert_eq!(
            AuthPrefix::parse("/admin/auth").ok(),
            Some(AuthPrefix::console())
        );
    }

    #[test]
    fn host_entries_parse_with_and_without_port() {
        let h = HostPattern::parse("MyApp.Example.com").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(h.to_string(), "myapp.example.com");
        let h = HostPattern::parse("myapp.localhost:8080").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((h.host(), h.port()), ("myapp.localhost", Some(8080)));
        for bad in [
            "",
            "https://a.com",
            "a.com/x",
            "a..com",
            "-a.com",
            "a.com:0",
            "a.com:99999",
            "a.com:",
            "a_b.com",
            "a.com:08",
            "user@a.com",
        ] {
            assert!(HostPattern::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn an_entry_with_a_port_matches_only_that_port() {
        let with = HostPattern::parse("app.localhost:8080").unwrap_or_else(|e| panic!("{e}"));
        let without = HostPattern::parse("app.localhost").unwrap_or_else(|e| panic!("{e}"));
        let req = |s: &str| RequestHost::parse(s).unwrap_or_else(|| panic!("{s}"));
        assert!(with.matches(&req("app.localhost:8080")));
        assert!(!with.matches(&req("app.localhost:9090")));
        assert!(!with.matches(&req("app.localhost")));
        assert!(without.matches(&req("APP.localhost.:9090")));
        assert!(without.matches(&req("app.localhost")));
        assert!(!without.matches(&req("other.localhost")));
    }

    #[test]
    fn request_hosts_parse() {
        assert_eq!(
            RequestHost::parse("[::1]:80").map(|h| h.to_string()),
            Some("[::1]:80".into())
        );
        assert!(RequestHost::parse("a b").is_none());
        assert!(RequestHost::parse("a:b").is_none());
        assert!(RequestHost::parse("").is_none());
    }

    #[test]
    fn auth_prefix_routes() {
        let p = AuthPrefix::default();
        assert_eq!(p.route("/auth/login"), Some("login"));
        assert_eq!(p.route("/auth"), Some(""));
        assert_eq!(p.route("/authx"), None);
        assert_eq!(p.route("/x/auth/login"), None);
        assert!(AuthPrefix::parse("/_gate/auth").is_ok());
        for bad in ["", "/", "auth", "/auth/", "/a//b", "/../x", "/A"] {
            assert!(AuthPrefix::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn upstream_urls_are_checked() {
        assert!(UpstreamUrl::parse("http://127.0.0.1:9000/base").is_ok());
        for bad in [
            "ftp://x",
            "http://u:p@x",
            "http://x/?q",
            "/relative",
            "http://x/#f",
        ] {
            assert!(UpstreamUrl::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    proptest! {
        #[test]
        fn host_router_never_matches_another_host(a in "[a-z]{1,8}(\\.[a-z]{1,8}){0,2}", b in "[a-z]{1,8}(\\.[a-z]{1,8}){0,2}", port in proptest::option::of(1u16..), rport in proptest::option::of(1u16..)) {
            let entry = HostPattern::from_parts(a.clone(), port);
            let req = RequestHost { host: b.clone(), port: rport };
            let m = entry.matches(&req);
            prop_assert_eq!(m, a == b && (port.is_none() || port == rport));
        }

        #[test]
        fn host_parse_never_panics_and_roundtrips(raw in "\\PC{0,40}") {
            if let Ok(h) = HostPattern::parse(&raw) {
                let again = HostPattern::parse(&h.to_string());
                prop_assert_eq!(again.ok(), Some(h));
            }
            let _ = RequestHost::parse(&raw);
        }
    }
}
