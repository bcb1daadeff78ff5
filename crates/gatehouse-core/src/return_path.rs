//! The open-redirect guard: `rd`, the path a user returns to after signing in
//! or out, must stay on the host the request came to.

use std::fmt;

use thiserror::Error;

/// A same-host, absolute path with an optional query, safe to put in a
/// `Location` header: `/x?y`. Never `//evil`, `/\evil`, `https:…`, or a path
/// with control characters or spaces that a browser would strip or rewrite
/// into another host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnPath(String);

/// Why a return path was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ReturnPathError {
    /// It does not start with a single `/`.
    #[error("the return path must be a path on this host starting with a single '/'")]
    NotAPath,
    /// It has characters a browser may rewrite (backslash, controls, spaces, non-ASCII).
    #[error("the return path contains characters that are not allowed")]
    BadCharacters,
    /// It is longer than 2048 bytes.
    #[error("the return path is too long")]
    TooLong,
}

impl ReturnPath {
    /// The longest accepted return path, in bytes.
    pub const MAX_LEN: usize = 2048;

    /// Accepts only same-host absolute paths: `/x?y`, never `//evil`,
    /// `/\evil`, `https:…`, `/%09/evil`-style tricks that decode into the authority.
    pub fn parse(raw: &str) -> Result<Self, ReturnPathError> {
        if raw.len() > Self::MAX_LEN {
            return Err(ReturnPathError::TooLong);
        }
        // Only visible ASCII: browsers strip tabs and newlines and treat '\'
        // as '/' in special-scheme URLs, so "/\t/evil" and "/\\evil" become
        // "//evil", a scheme-relative URL to another host.
        if !raw.bytes().all(|b| (0x21..=0x7e).contains(&b)) || raw.contains('\\') {
            return Err(ReturnPathError::BadCharacters);
        }
        let bytes = raw.as_bytes();
        if bytes.first() != Some(&b'/') || bytes.get(1) == Some(&b'/') {
            return Err(ReturnPathError::NotAPath);
        }
        // "/%2F/evil" or "/%5C..." stays a path in every browser, but some
        // upstream frameworks decode and redirect again; refuse encoded
        // slashes and backslashes at the start of the path.
        let lower = raw.to_ascii_lowercase();
        if lower.starts_with("/%2f") || lower.starts_with("/%5c") {
            return Err(ReturnPathError::NotAPath);
        }
        Ok(Self(raw.to_owned()))
    }

    /// Parse, falling back to `/` for anything missing or refused.
    pub fn parse_or_root(raw: Option<&str>) -> Self {
        raw.and_then(|r| Self::parse(r).ok())
            .unwrap_or_else(Self::root)
    }

    /// `/`.
    pub fn root() -> Self {
        Self("/".to_owned())
    }

    /// The path (with query) as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the path lies under `prefix` (e.g. Gatehouse's own `/auth`
    /// routes, which are no place to return to).
    pub fn is_under(&self, prefix: &str) -> bool {
        let path = self.0.split(['?', '#']).next().unwrap_or("");
        path == prefix || path.starts_with(&format!("{prefix}/"))
    }
}

impl fmt::Display for ReturnPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_paths_are_accepted() {
        for ok in ["/", "/x", "/x/y?z=1&w=%2F", "/a#frag", "/.well-known/x"] {
            assert_eq!(ReturnPath::parse(ok).map(|p| p.0), Ok(ok.to_owned()));
        }
    }

    #[test]
    fn open_redirect_attempts_are_refused() {
        for bad in [
            "//evil.com",
            "/\\evil.com",
            "\\\\evil.com",
            "https://evil.com",
            "http:evil.com",
            "evil.com",
            "/\t/evil.com",
            "/\n/evil.com",
            " /x",
            "/%2F%2Fevil.com",
            "/%5cevil.com",
            "",
            "javascript:alert(1)",
            "/ü",
        ] {
            assert!(ReturnPath::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn reserved_prefix_is_detected() {
        let p = ReturnPath::parse("/auth/logout?x").unwrap_or_else(|e| panic!("{e}"));
        assert!(p.is_under("/auth"));
        assert!(
            !ReturnPath::parse("/authx")
                .unwrap_or_else(|e| panic!("{e}"))
                .is_under("/auth")
        );
    }

    /// What a browser would do with `Location: <path>` on https://app.example:
    /// resolve it with the WHATWG URL parser and check the host did not change.
    fn stays_on_host(path: &str) -> bool {
        let base = url::Url::parse("https://app.example/").unwrap_or_else(|e| panic!("{e}"));
        match base.join(path) {
            Ok(u) => u.host_str() == Some("app.example") && u.scheme() == "https",
            Err(_) => true,
        }
    }

    proptest! {
        #[test]
        fn every_accepted_path_stays_on_the_host(raw in "[/\\\\a-z:.%0-9\t\n ?#@]{0,12}") {
            if let Ok(p) = ReturnPath::parse(&raw) {
                prop_assert!(stays_on_host(p.as_str()), "{raw:?} leaves the host");
            }
        }

        #[test]
        fn arbitrary_input_never_panics(raw in "\\PC{0,64}") {
            let _ = ReturnPath::parse(&raw);
        }
    }
}
