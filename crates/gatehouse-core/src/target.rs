//! The canonical request target: the one reading of a request's path that
//! route rules, Gatehouse's own routes and the upstream all share.
//!
//! Upstreams read paths in their own ways: some decode `%2F` into `/`, some
//! treat `\` as `/`, Java servlet containers drop `;param` segments, IIS is
//! case-insensitive and ignores trailing dots. A route rule holds only if it
//! holds for every such reading, so [`canonicalize`]
//!
//! - decodes percent-escapes of unreserved characters (`%61` → `a`) and
//!   upper-cases the hex digits of the others (RFC 3986 §6.2.2);
//! - resolves `.` and `..` segments (RFC 3986 §5.2.4) and merges repeated
//!   slashes;
//! - refuses what different readers read differently: an encoded `/`
//!   (unless the application passes them) or `\`, a raw `\`, an encoded dot
//!   segment, `;` in a segment (raw or encoded), a NUL or other control
//!   byte, `%u` escapes, malformed escapes, escapes of `%` that would decode
//!   into another escape (double encoding), and bytes that are not UTF-8
//!   (overlong forms included);
//! - with Windows semantics, also refuses 8.3 short names (`ADMINI~1`) and
//!   NTFS stream names (`:`), and matches by a key with letters lower-cased
//!   and trailing dots and spaces removed from each segment.
//!
//! The query string is never rewritten. The result is idempotent:
//! canonicalizing a canonical path gives it back unchanged.

use std::fmt;

use thiserror::Error;

/// The longest path accepted, in bytes.
pub const MAX_PATH_LEN: usize = 8192;

/// Per-application options for reading paths.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PathOptions {
    /// Pass `%2F` through unchanged (for upstreams that need encoded
    /// slashes in a segment, such as artifact stores). Route rules then
    /// treat `%2F` as part of a segment, never as a separator.
    pub pass_encoded_slashes: bool,
    /// Windows/IIS semantics: rules match case-insensitively and ignore
    /// trailing dots and spaces of a segment; short names and streams are
    /// refused.
    pub windows: bool,
}

/// Why a request target was refused. Every variant is a 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TargetError {
    /// Not an origin-form target starting with `/` (`*`, authority form, empty).
    #[error("the request target is not a path starting with '/'")]
    NotAPath,
    /// Longer than [`MAX_PATH_LEN`].
    #[error("the path is too long")]
    TooLong,
    /// `%2F` in a segment.
    #[error("the path contains an encoded slash (%2F)")]
    EncodedSlash,
    /// A raw or encoded backslash.
    #[error("the path contains a backslash")]
    Backslash,
    /// A segment that is `.` or `..` once decoded but was encoded.
    #[error("the path contains an encoded dot segment")]
    EncodedDotSegment,
    /// `;` in a segment (matrix parameters), raw or encoded.
    #[error("the path contains ';' (a path parameter)")]
    Semicolon,
    /// A NUL or another control byte, raw or encoded.
    #[error("the path contains a control character")]
    Control,
    /// `%u` escapes, a `%` not followed by two hex digits, or `%25`
    /// followed by two hex digits (double encoding).
    #[error("the path contains an invalid or double percent-escape")]
    BadEscape,
    /// The decoded bytes are not UTF-8 (overlong forms included).
    #[error("the path is not valid UTF-8")]
    InvalidUtf8,
    /// A fragment (`#`) in a target.
    #[error("the request target contains a fragment ('#')")]
    Fragment,
    /// Windows semantics: an 8.3 short name (`~1`) or a stream name (`:`).
    #[error("the path contains a Windows short name or stream name")]
    WindowsAlias,
}

/// A path that passed [`canonicalize`]: what the upstream receives and
/// what route rules match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalPath {
    path: String,
    key: Option<String>,
}

impl CanonicalPath {
    /// The canonical path (escapes of non-unreserved bytes kept, upper-case hex).
    pub fn as_str(&self) -> &str {
        &self.path
    }

    /// What route rules compare with: the path itself, or with Windows
    /// semantics the case-folded key without trailing dots and spaces.
    pub fn match_key(&self) -> &str {
        self.key.as_deref().unwrap_or(&self.path)
    }
}

impl fmt::Display for CanonicalPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path)
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Bytes allowed raw in a canonical segment (RFC 3986 `pchar` without `%`
/// and `;`): unreserved, sub-delims but `;`, `:` and `@`.
fn is_raw_pchar(b: u8) -> bool {
    is_unreserved(b)
        || matches!(
            b,
            b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b'=' | b':' | b'@'
        )
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// One segment: decoded bytes (for the UTF-8 and dot checks) and its
/// canonical spelling.
fn segment(raw: &[u8], opts: PathOptions) -> Result<String, TargetError> {
    let mut out = String::with_capacity(raw.len());
    let mut decoded: Vec<u8> = Vec::with_capacity(raw.len());
    let mut had_escape = false;
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        match b {
            b'%' => {
                let (Some(h), Some(l)) = (
                    raw.get(i + 1).copied().and_then(hex),
                    raw.get(i + 2).copied().and_then(hex),
                ) else {
                    return Err(TargetError::BadEscape);
                };
                let v = h * 16 + l;
                match v {
                    b'/' if !opts.pass_encoded_slashes => return Err(TargetError::EncodedSlash),
                    b'\\' => return Err(TargetError::Backslash),
                    b';' => return Err(TargetError::Semicolon),
                    0..=0x1f | 0x7f => return Err(TargetError::Control),
                    _ => {}
                }
                had_escape = true;
                decoded.push(v);
                if is_unreserved(v) {
                    out.push(char::from(v));
                } else {
                    out.push('%');
                    out.push(char::from(HEX[usize::from(v >> 4)]));
                    out.push(char::from(HEX[usize::from(v & 15)]));
                }
                i += 3;
            }
            b'\\' => return Err(TargetError::Backslash),
            b';' => return Err(TargetError::Semicolon),
            b'#' => return Err(TargetError::Fragment),
            0..=0x1f | 0x7f => return Err(TargetError::Control),
            _ if is_raw_pchar(b) => {
                decoded.push(b);
                out.push(char::from(b));
                i += 1;
            }
            _ => {
                // Bytes a client should have encoded (space, quotes, braces,
                // non-ASCII): encode them, so the canonical form is one spelling.
                decoded.push(b);
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 15)]));
                i += 1;
            }
        }
    }
    // A `%` that decodes into another escape (`%2561`, `%25%36%31`, `%25u0061`)
    // means one thing to an upstream that decodes once and another to one
    // that decodes twice.
    let double = decoded.iter().enumerate().any(|(j, b)| {
        *b == b'%'
            && (matches!(decoded.get(j + 1), Some(b'u' | b'U'))
                || (decoded.get(j + 1).copied().and_then(hex).is_some()
                    && decoded.get(j + 2).copied().and_then(hex).is_some()))
    });
    if double {
        return Err(TargetError::BadEscape);
    }
    let Ok(text) = std::str::from_utf8(&decoded) else {
        return Err(TargetError::InvalidUtf8);
    };
    if had_escape && (decoded == b"." || decoded == b"..") {
        return Err(TargetError::EncodedDotSegment);
    }
    if opts.windows {
        let tilde_digit = decoded
            .windows(2)
            .any(|w| w[0] == b'~' && w[1].is_ascii_digit());
        // U+212A KELVIN SIGN and U+0130 fold to ASCII letters.
        let folds_to_ascii = text.contains(['\u{212A}', '\u{130}']);
        if tilde_digit || decoded.contains(&b':') || folds_to_ascii {
            return Err(TargetError::WindowsAlias);
        }
        if decoded != b"." && decoded != b".." && windows_key(&out).is_empty() {
            // "..." or ". ": a name Windows reads as nothing.
            return Err(TargetError::WindowsAlias);
        }
    }
    Ok(out)
}

/// The Windows match key of one canonical segment: trailing dots and
/// spaces (raw or `%20`) removed, ASCII letters lower-cased.
fn windows_key(seg: &str) -> String {
    let mut s = seg;
    loop {
        let before = s.len();
        s = s.trim_end_matches('.');
        s = s.strip_suffix("%20").unwrap_or(s);
        if s.len() == before {
            break;
        }
    }
    // Hex digits of escapes are upper-case already; lower-casing them too
    // keeps the key unambiguous because it is compared only with keys.
    s.to_ascii_lowercase()
}

/// Canonicalize the path of a request target (without the query).
pub fn canonicalize(raw: &str, opts: PathOptions) -> Result<CanonicalPath, TargetError> {
    if raw.len() > MAX_PATH_LEN {
        return Err(TargetError::TooLong);
    }
    let bytes = raw.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(TargetError::NotAPath);
    }
    let trailing_slash = bytes.len() > 1 && bytes.ends_with(b"/");
    let mut stack: Vec<String> = Vec::new();
    let mut last_was_dir = false;
    for raw_seg in bytes[1..].split(|b| *b == b'/') {
        if raw_seg.is_empty() {
            continue;
        }
        let seg = segment(raw_seg, opts)?;
        match seg.as_str() {
            "." => last_was_dir = true,
            ".." => {
                stack.pop();
                last_was_dir = true;
            }
            _ => {
                stack.push(seg);
                last_was_dir = false;
            }
        }
    }
    let mut path = String::with_capacity(raw.len());
    for s in &stack {
        path.push('/');
        path.push_str(s);
    }
    if path.is_empty() || trailing_slash || last_was_dir {
        path.push('/');
    }
    let key = opts.windows.then(|| {
        let mut k = String::with_capacity(path.len());
        for s in &stack {
            k.push('/');
            k.push_str(&windows_key(s));
        }
        if k.is_empty() || path.ends_with('/') {
            k.push('/');
        }
        k
    });
    Ok(CanonicalPath { path, key })
}

/// Whether a route rule's `prefix` covers `path` (a match key), by whole
/// segment and read the way the most lenient upstream would:
///
/// - `/admin` covers `/admin`, `/admin/` and `/admin/x`, never
///   `/administrator`; the prefix `/` covers everything;
/// - ASCII letters match in any case (`/ADMIN`): Express, ASP.NET Core and
///   many other routers match paths case-insensitively;
/// - the prefix's last segment also covers that segment with a suffix after
///   a dot (`/admin.json`, `/admin.`): Rails and Spring read a format
///   suffix as the same route.
///
/// Rules only ever restrict, so reading a path as covered by more rules
/// than a strict reader would can refuse an unusual spelling, never let
/// one through.
pub fn under_prefix(path: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        return true;
    }
    let (path, prefix) = (path.as_bytes(), prefix.as_bytes());
    if path.len() < prefix.len() || !path[..prefix.len()].eq_ignore_ascii_case(prefix) {
        return false;
    }
    match path.get(prefix.len()) {
        None | Some(b'/') => true,
        // A suffix after a dot, within the same segment.
        Some(b'.') => true,
        Some(_) => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const STRICT: PathOptions = PathOptions {
        pass_encoded_slashes: false,
        windows: false,
    };
    const WINDOWS: PathOptions = PathOptions {
        pass_encoded_slashes: false,
        windows: true,
    };

    fn c(raw: &str) -> Result<String, TargetError> {
        canonicalize(raw, STRICT).map(|p| p.as_str().to_owned())
    }

    #[test]
    fn spellings_of_one_path_become_one_path() {
        for raw in [
            "/admin",
            "//admin",
            "/./admin",
            "/x/../admin",
            "/%61dmin",
            "/%61%64%6D%69%6e",
            "///admin",
            "/x/y/../../admin",
            "/../admin",
            "/admin/.",
            "/admin/x/..",
        ] {
            let got = c(raw).unwrap();
            assert!(
                got == "/admin" || got == "/admin/",
                "{raw:?} became {got:?}"
            );
        }
        assert_eq!(c("/").unwrap(), "/");
        assert_eq!(c("/a//b/").unwrap(), "/a/b/");
        assert_eq!(c("/a%2fb"), Err(TargetError::EncodedSlash));
        assert_eq!(c("/caf%c3%a9").unwrap(), "/caf%C3%A9");
        assert_eq!(c("/a b").unwrap(), "/a%20b");
        assert_eq!(c("/a%3Fb").unwrap(), "/a%3Fb");
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        for (raw, why) in [
            ("/admin%2F", TargetError::EncodedSlash),
            ("/x%2F..%2Fadmin", TargetError::EncodedSlash),
            ("/admin%5cx", TargetError::Backslash),
            ("/\\admin", TargetError::Backslash),
            ("/x/%2e%2e/admin", TargetError::EncodedDotSegment),
            ("/x/.%2E/admin", TargetError::EncodedDotSegment),
            ("/%2e/admin", TargetError::EncodedDotSegment),
            ("/admin;jsessionid=1", TargetError::Semicolon),
            ("/admin%3bx", TargetError::Semicolon),
            ("/admin%00.png", TargetError::Control),
            ("/admin\u{0}", TargetError::Control),
            ("/admin%0a", TargetError::Control),
            ("/%u0061dmin", TargetError::BadEscape),
            ("/%25u0061dmin", TargetError::BadEscape),
            ("/%2561dmin", TargetError::BadEscape),
            ("/%25%36%31dmin", TargetError::BadEscape),
            ("/a%zz", TargetError::BadEscape),
            ("/a%4", TargetError::BadEscape),
            ("/%c0%af", TargetError::InvalidUtf8),
            ("/%c0%ae%c0%ae/admin", TargetError::InvalidUtf8),
            ("/%ff", TargetError::InvalidUtf8),
            ("/a#b", TargetError::Fragment),
            ("*", TargetError::NotAPath),
            ("", TargetError::NotAPath),
            ("example.com:443", TargetError::NotAPath),
        ] {
            assert_eq!(c(raw), Err(why), "{raw:?}");
        }
        assert_eq!(
            c(&format!("/{}", "a".repeat(MAX_PATH_LEN))),
            Err(TargetError::TooLong)
        );
    }

    #[test]
    fn encoded_slashes_pass_when_the_application_asks() {
        let opts = PathOptions {
            pass_encoded_slashes: true,
            windows: false,
        };
        let p = canonicalize("/repo/a%2fb/../c", opts).unwrap();
        assert_eq!(p.as_str(), "/repo/c");
        let p = canonicalize("/repo/a%2fb", opts).unwrap();
        assert_eq!(p.as_str(), "/repo/a%2Fb");
        assert!(!under_prefix(p.match_key(), "/repo/a"));
        assert_eq!(
            canonicalize("/a%5cb", opts).map(|_| ()),
            Err(TargetError::Backslash)
        );
    }

    #[test]
    fn windows_semantics_fold_case_and_trailing_dots() {
        let key = |raw: &str| {
            canonicalize(raw, WINDOWS)
                .map(|p| p.match_key().to_owned())
                .unwrap()
        };
        assert_eq!(key("/ADMIN"), "/admin");
        assert_eq!(key("/Admin./x"), "/admin/x");
        assert_eq!(key("/admin%20/x"), "/admin/x");
        assert_eq!(key("/admin.%20./"), "/admin/");
        assert_eq!(canonicalize("/ADMIN", WINDOWS).unwrap().as_str(), "/ADMIN");
        assert_eq!(
            canonicalize("/ADMINI~1/x", WINDOWS),
            Err(TargetError::WindowsAlias)
        );
        assert_eq!(
            canonicalize("/admin::$DATA", WINDOWS),
            Err(TargetError::WindowsAlias)
        );
        assert!(canonicalize("/ADMINI~1/x", STRICT).is_ok());
    }

    #[test]
    fn prefixes_match_whole_segments() {
        assert!(under_prefix("/admin", "/admin"));
        assert!(under_prefix("/admin/", "/admin"));
        assert!(under_prefix("/admin/x", "/admin"));
        assert!(!under_prefix("/administrator", "/admin"));
        assert!(!under_prefix("/", "/admin"));
        assert!(under_prefix("/anything", "/"));
    }

    #[test]
    fn prefixes_match_in_any_case_and_with_a_format_suffix() {
        for covered in [
            "/ADMIN",
            "/Admin/x",
            "/admin.json",
            "/admin.",
            "/ADMIN.html/x",
        ] {
            assert!(under_prefix(covered, "/admin"), "{covered}");
        }
        for not in [
            "/administrator",
            "/admin-x",
            "/adminjson",
            "/x/admin",
            "/.admin",
        ] {
            assert!(!under_prefix(not, "/admin"), "{not}");
        }
        assert!(under_prefix("/API/V1/users", "/api/v1"));
        assert!(!under_prefix("/api.v1/users", "/api/v1"));
    }

    /// Whole-segment prefix matching with nothing lenient about it: what
    /// the oracle's reading is compared with.
    fn strictly_under(path: &str, prefix: &str) -> bool {
        path == prefix
            || path
                .strip_prefix(prefix)
                .is_some_and(|r| r.starts_with('/'))
    }

    /// The oracle: an independent, deliberately aggressive reader of paths,
    /// the worst an upstream might do. Percent-decodes everything (twice),
    /// reads `\` as `/`, drops `;` parameters and everything after a NUL,
    /// resolves dot segments, merges slashes, lower-cases ASCII letters
    /// (Express, ASP.NET Core) and drops a format suffix from the last
    /// segment (`admin.json`, as Rails and Spring read it); with `fold`,
    /// also lower-cases everything and drops trailing dots and spaces of
    /// segments.
    fn aggressive(raw: &str, fold: bool) -> String {
        fn decode(s: &[u8]) -> Vec<u8> {
            let mut out = Vec::new();
            let mut i = 0;
            while i < s.len() {
                if s[i] == b'%'
                    && let (Some(h), Some(l)) = (
                        s.get(i + 1).copied().and_then(hex),
                        s.get(i + 2).copied().and_then(hex),
                    )
                {
                    out.push(h * 16 + l);
                    i += 3;
                } else if s[i] == b'%'
                    && matches!(s.get(i + 1), Some(b'u' | b'U'))
                    && let Some(v) = s
                        .get(i + 2..i + 6)
                        .and_then(|h| std::str::from_utf8(h).ok())
                        .and_then(|h| u32::from_str_radix(h, 16).ok())
                        .and_then(char::from_u32)
                {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(v.encode_utf8(&mut buf).as_bytes());
                    i += 6;
                } else {
                    out.push(s[i]);
                    i += 1;
                }
            }
            out
        }
        let once = decode(raw.as_bytes());
        let twice = decode(&once);
        let mut bytes: Vec<u8> = twice.split(|b| *b == 0).next().unwrap_or(&[]).to_vec();
        for b in bytes.iter_mut() {
            if *b == b'\\' {
                *b = b'/';
            }
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let mut stack: Vec<String> = Vec::new();
        for seg in text.split('/') {
            let seg = seg.split(';').next().unwrap_or("");
            let mut seg = seg.to_owned();
            if fold && seg != "." && seg != ".." {
                seg = seg.trim_end_matches(['.', ' ']).to_lowercase();
            }
            seg.make_ascii_lowercase();
            match seg.as_str() {
                "" | "." => {}
                ".." => {
                    stack.pop();
                }
                _ => stack.push(seg),
            }
        }
        if let Some(last) = stack.last_mut()
            && let Some(dot) = last.find('.')
            && dot > 0
        {
            last.truncate(dot);
        }
        let mut out = String::new();
        for s in stack {
            out.push('/');
            out.push_str(&s);
        }
        if out.is_empty() {
            out.push('/');
        }
        out
    }

    /// Raw paths built from the pieces attacks are made of.
    fn hostile_path() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("admin".to_owned()),
            Just("ADMIN".to_owned()),
            Just("Admin.".to_owned()),
            Just("admin ".to_owned()),
            Just(".json".to_owned()),
            Just("aDmIn".to_owned()),
            Just("x".to_owned()),
            Just(".".to_owned()),
            Just("..".to_owned()),
            Just("/".to_owned()),
            Just("//".to_owned()),
            Just("\\".to_owned()),
            Just(";".to_owned()),
            Just(";p=1".to_owned()),
            Just("%2f".to_owned()),
            Just("%2F".to_owned()),
            Just("%5c".to_owned()),
            Just("%2e".to_owned()),
            Just("%2E%2e".to_owned()),
            Just("%61".to_owned()),
            Just("%41".to_owned()),
            Just("%64min".to_owned()),
            Just("%25".to_owned()),
            Just("%2561".to_owned()),
            Just("%252f".to_owned()),
            Just("%u0061".to_owned()),
            Just("%3b".to_owned()),
            Just("%00".to_owned()),
            Just("%20".to_owned()),
            Just("%c0%af".to_owned()),
            Just("~1".to_owned()),
            "[a-z%.;/\\\\]{1,3}",
        ];
        proptest::collection::vec(piece, 1..8).prop_map(|v| format!("/{}", v.concat()))
    }

    const PREFIXES: [&str; 3] = ["/admin", "/x/admin", "/admin/x"];

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4000, .. ProptestConfig::default() })]

        #[test]
        fn no_spelling_escapes_a_rule(raw in hostile_path()) {
            let worst = aggressive(&raw, false);
            if let Ok(p) = canonicalize(&raw, STRICT) {
                for prefix in PREFIXES {
                    if strictly_under(&worst, prefix) {
                        prop_assert!(under_prefix(p.match_key(), prefix),
                            "{raw:?}: upstream may read {worst:?}, rules saw {:?}", p.as_str());
                    }
                }
            }
        }

        #[test]
        fn no_spelling_escapes_a_rule_on_windows(raw in hostile_path()) {
            let worst = aggressive(&raw, true);
            if let Ok(p) = canonicalize(&raw, WINDOWS) {
                for prefix in PREFIXES {
                    if strictly_under(&worst, prefix) {
                        prop_assert!(under_prefix(p.match_key(), prefix),
                            "{raw:?}: upstream may read {worst:?}, rules saw {:?}", p.match_key());
                    }
                }
            }
        }

        #[test]
        fn canonicalizing_twice_changes_nothing(raw in hostile_path(), windows in any::<bool>(), slashes in any::<bool>()) {
            let opts = PathOptions { pass_encoded_slashes: slashes, windows };
            if let Ok(p) = canonicalize(&raw, opts) {
                let again = canonicalize(p.as_str(), opts);
                prop_assert_eq!(again.as_ref().map(CanonicalPath::as_str), Ok(p.as_str()));
                prop_assert_eq!(again.as_ref().map(CanonicalPath::match_key), Ok(p.match_key()));
            }
        }

        #[test]
        fn safe_paths_round_trip(segs in proptest::collection::vec("[A-Za-z0-9_~-][A-Za-z0-9._~!$&'()*+,=:@-]{0,12}", 0..6), slash in any::<bool>()) {
            let mut raw: String = segs.iter().map(|s| format!("/{s}")).collect();
            if raw.is_empty() || slash { raw.push('/'); }
            let p = canonicalize(&raw, STRICT);
            prop_assert_eq!(p.as_ref().map(CanonicalPath::as_str), Ok(raw.as_str()));
        }
    }
}
