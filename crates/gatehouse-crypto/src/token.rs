//! Random tokens (session ids, admin API tokens), the SHA-256 hashes they are
//! stored and looked up by, and constant-time comparison.

use aws_lc_rs::{constant_time, digest, rand};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};

/// `bytes` random bytes, base64url without padding. 32 bytes = 256 bits.
pub fn random_token(bytes: usize) -> SecretString {
    let mut buf = vec![0u8; bytes];
    // aws-lc's DRBG only fails if the OS entropy source is gone; there is no
    // safe fallback, so abort rather than hand out a predictable token.
    if rand::fill(&mut buf).is_err() {
        std::process::abort();
    }
    SecretString::from(URL_SAFE_NO_PAD.encode(buf))
}

/// The SHA-256 of a token, hex: what the database stores and looks up by.
pub fn lookup_hash(token: &str) -> gatehouse_core::TokenHash {
    gatehouse_core::TokenHash::from_bytes(&lookup_key(token))
}

/// The SHA-256 of a token as raw bytes (in-memory cache keys).
pub fn lookup_key(token: &str) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Compare two secrets in constant time (for equal lengths; the length
/// itself is not secret). Compares the SHA-256 of both, so the lengths of the
/// inputs leak nothing either.
pub fn secrets_equal(a: &SecretString, b: &str) -> bool {
    let ha = lookup_key(a.expose_secret());
    let hb = lookup_key(b);
    constant_time::verify_slices_are_equal(&ha, &hb).is_ok()
}

/// SHA-256 of `data`, base64 (standard, padded): the form CSP hashes use.
pub fn sha256_base64(data: &[u8]) -> String {
    use base64::engine::general_purpose::STANDARD;
    STANDARD.encode(digest::digest(&digest::SHA256, data).as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_long() {
        let a = random_token(32);
        let b = random_token(32);
        assert_eq!(a.expose_secret().len(), 43);
        assert_ne!(a.expose_secret(), b.expose_secret());
    }

    #[test]
    fn hashes_and_comparison() {
        assert_eq!(lookup_hash("abc").as_str().len(), 64);
        assert!(gatehouse_core::TokenHash::parse(lookup_hash("abc").as_str()).is_ok());
        assert!(secrets_equal(&SecretString::from("x"), "x"));
        assert!(!secrets_equal(&SecretString::from("x"), "y"));
    }
}
