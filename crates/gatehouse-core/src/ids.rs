//! Identifiers: typed wrappers so an application id can never be passed where
//! a user id is expected, and slugs that are valid by construction.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::validation::Invalid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new, time-ordered id (UUID v7).
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// The id as a UUID.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }

            /// Wrap an existing UUID (read back from storage).
            pub fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// An application (tenant).
    AppId
);
uuid_id!(
    /// A user of one application.
    UserId
);
uuid_id!(
    /// The public id of a session, as listed and revoked through the API.
    /// It is not the secret in the session cookie.
    SessionId
);
uuid_id!(
    /// An admin API token (the record, not the secret).
    TokenId
);
uuid_id!(
    /// An access grant (a role granted to a user, group or tag condition).
    GrantId
);
uuid_id!(
    /// An administrator of the console.
    AdminId
);
uuid_id!(
    /// A group of one application (from provisioning or the groups claim).
    GroupId
);
uuid_id!(
    /// A SCIM bearer token of one application (the record, not the secret).
    ScimTokenId
);

/// A URL-safe short name of an application: lowercase letters, digits and
/// single hyphens, 1 to 63 characters, starting and ending with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Slug(String);

impl Slug {
    /// `console`: the slug of the console as a pseudo-application.
    pub fn console() -> Self {
        Self("console".to_owned())
    }

    /// Parse a slug given by an operator.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let ok = !raw.is_empty()
            && raw.len() <= 63
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !raw.starts_with('-')
            && !raw.ends_with('-')
            && !raw.contains("--");
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Invalid::field(
                "slug",
                "must be 1-63 lowercase letters, digits and single hyphens, not starting or ending with a hyphen",
            ))
        }
    }

    /// Derive a slug from an application's name ("My App!" → "my-app").
    /// Returns `None` when the name has no letter or digit to build from.
    pub fn from_name(name: &str) -> Option<Self> {
        let mut out = String::new();
        for c in name.chars().flat_map(char::to_lowercase) {
            if c.is_ascii_alphanumeric() {
                out.push(c);
            } else if !out.is_empty() && !out.ends_with('-') {
                out.push('-');
            }
            if out.len() >= 63 {
                break;
            }
        }
        let trimmed = out.trim_end_matches('-');
        Self::parse(trimmed).ok()
    }

    /// The slug as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Slug {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Slug::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// The SHA-256 of a secret token (a session cookie, an admin token), in
/// lowercase hex: what the database stores and looks sessions up by. Made
/// only by hashing (`gatehouse_crypto::token::lookup_hash`) or by reading a
/// stored value back ([`TokenHash::parse`]), so a token itself can never be
/// passed where its hash belongs.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct TokenHash(String);

impl TokenHash {
    /// Parse a stored hash: 64 lowercase hex digits.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.len() == 64
            && raw
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Invalid::field(
                "token_hash",
                "must be 64 lowercase hex digits",
            ))
        }
    }

    /// The hash of 32 digest bytes (`gatehouse-crypto` hashes; the session
    /// cache keys by the bytes).
    pub fn from_bytes(digest: &[u8; 32]) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut hex = String::with_capacity(64);
        for b in digest {
            hex.push(char::from(HEX[usize::from(b >> 4)]));
            hex.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
        Self(hex)
    }

    /// The 32 digest bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        let nibble = |c: u8| {
            if c.is_ascii_digit() {
                c - b'0'
            } else {
                c - b'a' + 10
            }
        };
        let mut out = [0u8; 32];
        for (o, pair) in out.iter_mut().zip(self.0.as_bytes().chunks_exact(2)) {
            *o = (nibble(pair[0]) << 4) | nibble(pair[1]);
        }
        out
    }

    /// The hash as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A hash is no secret, but an abbreviated one is all a log needs.
        write!(f, "TokenHash({}…)", &self.0[..self.0.len().min(8)])
    }
}

impl fmt::Display for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TokenHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        TokenHash::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_derived_from_names() {
        assert_eq!(
            Slug::from_name("My App!").map(|s| s.0),
            Some("my-app".into())
        );
        assert_eq!(
            Slug::from_name("  Billing -- EU ").map(|s| s.0),
            Some("billing-eu".into())
        );
        assert_eq!(Slug::from_name("!!!"), None);
    }

    #[test]
    fn token_hashes_are_hex_of_their_bytes() {
        let bytes: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(37));
        let h = TokenHash::from_bytes(&bytes);
        assert_eq!(TokenHash::parse(h.as_str()).ok(), Some(h.clone()));
        assert_eq!(h.to_bytes(), bytes);
        for bad in ["", "AB", &"A".repeat(64), &"g".repeat(64), &"a".repeat(63)] {
            assert!(TokenHash::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn bad_slugs_are_refused() {
        for bad in ["", "-a", "a-", "a--b", "A", "a_b", &"x".repeat(64)] {
            assert!(Slug::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(Slug::parse("app-1").is_ok());
        assert_eq!(Slug::parse("console").ok(), Some(Slug::console()));
    }
}
