//! A value sealed under the master key, in its text form
//! (`v1.<key id>.<nonce, ciphertext and tag, base64url>`): what the store
//! keeps for secrets and tokens, and what sealed cookies and links carry.
//! Only `gatehouse-crypto` makes one from plaintext or opens one; anything
//! else can only pass it along. Parsing checks the shape, not the content
//! (opening it checks that).

use serde::{Deserialize, Serialize};

/// A sealed value (see the module). Its `Debug` form hides the ciphertext.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sealed(String);

impl Sealed {
    /// A sealed value read from the store or received from a client: `None`
    /// unless it has the shape of one.
    pub fn parse(raw: &str) -> Option<Self> {
        let mut parts = raw.splitn(3, '.');
        let ok = matches!(
            (parts.next(), parts.next(), parts.next()),
            (Some("v1"), Some(kid), Some(data))
                if !kid.is_empty()
                    && !data.is_empty()
                    && data.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        ok.then(|| Self(raw.to_owned()))
    }

    /// The text form, for the store, a cookie or a link.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id of the key it is sealed under, and the sealed data.
    pub fn parts(&self) -> (&str, &str) {
        let mut parts = self.0.splitn(3, '.').skip(1);
        (parts.next().unwrap_or(""), parts.next().unwrap_or(""))
    }

    /// Made by `gatehouse-crypto` from a key id and the encoded data.
    #[doc(hidden)]
    pub fn from_parts(kid: &str, data: &str) -> Self {
        Self(format!("v1.{kid}.{data}"))
    }
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealed({}, ..)", self.parts().0)
    }
}

impl TryFrom<String> for Sealed {
    type Error = &'static str;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw).ok_or("not a sealed value")
    }
}

impl From<Sealed> for String {
    fn from(s: Sealed) -> Self {
        s.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_sealed_shape_parses() {
        let s = Sealed::parse("v1.k1.AbC-_9").unwrap_or_else(|| panic!("valid"));
        assert_eq!(s.parts(), ("k1", "AbC-_9"));
        assert_eq!(s.as_str(), "v1.k1.AbC-_9");
        for bad in [
            "",
            "v1",
            "v1.k1",
            "v1..abc",
            "v2.k1.abc",
            "v1.k1.a b",
            "v1.k1.a/b",
        ] {
            assert!(Sealed::parse(bad).is_none(), "{bad:?}");
        }
        assert!(!format!("{s:?}").contains("AbC"), "Debug hides the data");
    }
}
