//! Local passwords: argon2id PHC strings with the RustCrypto defaults (the
//! OWASP minimum: 19 MiB, 2 passes, 1 lane). Hashing is slow on purpose; call
//! these from a blocking thread.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use secrecy::{ExposeSecret, SecretString};
use thiserror::Error;

/// Hashing failed (the library refused the input; should not happen for valid passwords).
#[derive(Debug, Error)]
#[error("password hashing failed")]
pub struct HashError;

/// Hash a password to a PHC string.
pub fn hash(password: &SecretString) -> Result<String, HashError> {
    Argon2::default()
        .hash_password(password.expose_secret().as_bytes())
        .map(|h| h.to_string())
        .map_err(|_| HashError)
}

/// Whether `password` matches the PHC string `phc`. A malformed hash never matches.
pub fn verify(password: &SecretString, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.expose_secret().as_bytes(), &parsed)
        .is_ok()
}

/// Spend the time of one verification without a stored hash, so an unknown
/// account answers as slowly as a wrong password.
pub fn verify_dummy(password: &SecretString) {
    static DUMMY: OnceLock<Option<String>> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash(&crate::token::random_token(16)).ok());
    if let Some(phc) = dummy {
        let _ = verify(password, phc);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_wrong_passwords_fail() {
        let pw = SecretString::from("correct horse");
        let h = hash(&pw).unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify(&pw, &h));
        assert!(!verify(&SecretString::from("wrong"), &h));
        assert!(!verify(&pw, "not a hash"));
        verify_dummy(&pw);
    }
}
