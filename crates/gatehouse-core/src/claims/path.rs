//! A claim name in a mapping: a top-level claim (`email`,
//! `https://example.com/roles`) or a dotted path into nested objects
//! (`address.locality`).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::validation::Invalid;

/// The name of a claim as an operator writes it in a mapping.
///
/// Resolution first looks for a top-level claim with exactly this name (so
/// Auth0-style namespaced claims such as `https://example.com/roles` work),
/// then follows the dotted path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClaimPath(String);

impl ClaimPath {
    /// A standard claim name known to be valid (the defaults of the mappings).
    pub(crate) fn standard(name: &'static str) -> Self {
        Self(name.to_owned())
    }

    /// Parse a claim name given for `field`: 1-256 characters, no whitespace or
    /// control characters, no empty path segment.
    pub fn parse(raw: &str, field: &str) -> Result<Self, Invalid> {
        let raw = raw.trim();
        let ok = !raw.is_empty()
            && raw.len() <= 256
            && !raw.chars().any(|c| c.is_whitespace() || c.is_control())
            && !raw.split('.').any(str::is_empty);
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Invalid::field(
                field,
                "must be a claim name such as \"email\" or a dotted path such as \"address.locality\"",
            ))
        }
    }

    /// The claim name as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Find the claim in a JSON object of claims.
    pub fn resolve<'c>(
        &self,
        claims: &'c serde_json::Map<String, serde_json::Value>,
    ) -> Option<&'c serde_json::Value> {
        if let Some(v) = claims.get(&self.0) {
            return Some(v);
        }
        let mut segments = self.0.split('.');
        let first = segments.next()?;
        let mut cur = claims.get(first)?;
        for seg in segments {
            cur = cur.as_object()?.get(seg)?;
        }
        Some(cur)
    }
}

impl fmt::Display for ClaimPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for ClaimPath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ClaimPath {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        ClaimPath::parse(&raw, "claim").map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_claims_parse() {
        for name in ["email", "given_name", "family_name"] {
            assert_eq!(
                ClaimPath::parse(name, "x").ok(),
                Some(ClaimPath::standard(name))
            );
        }
    }
    use serde_json::json;

    fn path(s: &str) -> ClaimPath {
        ClaimPath::parse(s, "x").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn resolves_top_level_nested_and_namespaced_claims() {
        let claims = json!({
            "email": "a@b.c",
            "address": {"locality": "Porto"},
            "https://example.com/roles": ["x"]
        });
        let claims = claims.as_object().unwrap_or_else(|| panic!());
        assert_eq!(path("email").resolve(claims), Some(&json!("a@b.c")));
        assert_eq!(
            path("address.locality").resolve(claims),
            Some(&json!("Porto"))
        );
        assert_eq!(
            path("https://example.com/roles").resolve(claims),
            Some(&json!(["x"]))
        );
        assert_eq!(path("address.street").resolve(claims), None);
        assert_eq!(path("email.x").resolve(claims), None);
    }

    #[test]
    fn bad_paths_are_refused() {
        for bad in ["", "a..b", ".a", "a.", "a b", "x\ny"] {
            assert!(ClaimPath::parse(bad, "f").is_err(), "{bad:?}");
        }
    }
}
