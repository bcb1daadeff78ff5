//! Secrets at rest: AES-256-GCM with a random nonce (aws-lc-rs
//! `RandomizedNonceKey`) under the instance's master key.
//!
//! A sealed value reads `v1.<kid>.<base64url(nonce ‖ ciphertext ‖ tag)>`. The
//! key id names the master key that sealed it, so keys can be rotated: the
//! active key seals, older keys still open. Every value is sealed with
//! additional authenticated data naming what it is and whose it is
//! ([`SealContext`], e.g. `sso_client_secret:<app id>`), so a sealed value
//! copied into another row or another application does not open.

use gatehouse_core::Sealed;
use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use secrecy::{ExposeSecret, SecretString};
use thiserror::Error;

/// What a sealed value is, and whose: its additional authenticated data.
/// The one list of every kind of secret Gatehouse keeps sealed; the text of
/// each is stored with nothing, but must never change (stored values would
/// no longer open).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SealContext {
    /// An application's OIDC client secret.
    ClientSecret(gatehouse_core::AppId),
    /// An application's `private_key_jwt` client key (PKCS#8).
    ClientKey(gatehouse_core::AppId),
    /// The console's own OIDC client secret.
    AdminClientSecret,
    /// A session's ID token (kept for logout's `id_token_hint`).
    IdToken(gatehouse_core::AppId),
    /// A session's refresh token.
    RefreshToken(gatehouse_core::AppId),
    /// An authorization flow in flight (state, nonce, PKCE verifier).
    LoginFlow(gatehouse_core::AppId),
    /// An administrator's "Try sign-in" result.
    TrySignIn(gatehouse_core::AppId),
    /// A browser's "known device" mark for local sign-in.
    LoginDevice(gatehouse_core::AppId),
    /// Why a sign-in was refused, carried from the callback to the page
    /// that shows it.
    Refusal(gatehouse_core::AppId),
    /// The instance's assertion signing keys.
    AssertionKeys,
}

impl SealContext {
    /// The associated data, as sealed values have always been sealed with.
    fn aad(self) -> String {
        match self {
            Self::ClientSecret(app) => format!("sso_client_secret:{app}"),
            Self::ClientKey(app) => format!("sso_client_key:{app}"),
            Self::AdminClientSecret => "admin_sso_client_secret".to_owned(),
            Self::IdToken(app) => format!("id_token:{app}"),
            Self::RefreshToken(app) => format!("refresh_token:{app}"),
            Self::LoginFlow(app) => format!("login_flow:{app}"),
            Self::TrySignIn(app) => format!("try_signin:{app}"),
            Self::LoginDevice(app) => format!("login_device:{app}"),
            Self::Refusal(app) => format!("refusal:{app}"),
            Self::AssertionKeys => "assertion_keys".to_owned(),
        }
    }
}

/// Why a master key could not be used or a sealed value not opened.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SealError {
    /// The master key is not 32 bytes of base64.
    #[error("the master key must be 32 bytes, base64-encoded (e.g. `openssl rand -base64 32`)")]
    BadKey,
    /// The sealed value is not in the `v1.<kid>.<data>` form.
    #[error("the sealed value is malformed")]
    Malformed,
    /// No configured master key has the value's key id.
    #[error("the value was sealed with master key {0}, which is not configured")]
    UnknownKey(String),
    /// Authentication failed: wrong key, wrong context, or tampered data.
    #[error(
        "the sealed value does not open with master key {0} (tampered, or sealed for another context)"
    )]
    Open(String),
    /// The library refused to seal (should not happen).
    #[error("sealing failed")]
    Seal,
}

/// One 256-bit master key and its id.
pub struct MasterKey {
    kid: String,
    key: RandomizedNonceKey,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl MasterKey {
    /// Parse a base64 (standard or URL-safe, padding optional) 32-byte key.
    pub fn from_base64(encoded: &SecretString) -> Result<Self, SealError> {
        let text = encoded.expose_secret().trim();
        let bytes = STANDARD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
            .map_err(|_| SealError::BadKey)?;
        Self::from_bytes(&bytes)
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self, SealError> {
        if bytes.len() != 32 {
            return Err(SealError::BadKey);
        }
        let key = RandomizedNonceKey::new(&AES_256_GCM, bytes).map_err(|_| SealError::BadKey)?;
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(b"gatehouse master key id\0");
        ctx.update(bytes);
        let kid = hex(&ctx.finish().as_ref()[..4]);
        Ok(Self { kid, key })
    }

    /// Make a new random key, returned base64-encoded (to write to a file).
    pub fn generate_base64() -> Result<SecretString, SealError> {
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| SealError::Seal)?;
        Ok(SecretString::from(STANDARD.encode(bytes)))
    }

    /// The key id (8 hex digits derived from the key; reveals nothing of it).
    pub fn kid(&self) -> &str {
        &self.kid
    }
}

/// The active master key and the older ones kept for opening.
#[derive(Debug)]
pub struct MasterKeys {
    active: MasterKey,
    older: Vec<MasterKey>,
}

impl MasterKeys {
    /// The active key seals; older keys only open.
    pub fn new(active: MasterKey, older: Vec<MasterKey>) -> Self {
        Self { active, older }
    }

    /// The active key's id.
    pub fn active_kid(&self) -> &str {
        self.active.kid()
    }

    /// Seal `plaintext` for `context`.
    pub fn seal(&self, plaintext: &[u8], context: SealContext) -> Result<Sealed, SealError> {
        let aad = context.aad();
        let mut buf = plaintext.to_vec();
        let nonce = self
            .active
            .key
            .seal_in_place_append_tag(Aad::from(aad.as_bytes()), &mut buf)
            .map_err(|_| SealError::Seal)?;
        let mut out = Vec::with_capacity(NONCE_LEN + buf.len());
        out.extend_from_slice(nonce.as_ref());
        out.extend_from_slice(&buf);
        Ok(Sealed::from_parts(
            &self.active.kid,
            &URL_SAFE_NO_PAD.encode(out),
        ))
    }

    /// Seal a secret string.
    pub fn seal_secret(
        &self,
        secret: &SecretString,
        context: SealContext,
    ) -> Result<Sealed, SealError> {
        self.seal(secret.expose_secret().as_bytes(), context)
    }

    /// Open a value sealed for `context`.
    pub fn open(&self, sealed: &Sealed, context: SealContext) -> Result<Vec<u8>, SealError> {
        let aad = context.aad();
        let (kid, data) = sealed.parts();
        let key = std::iter::once(&self.active)
            .chain(&self.older)
            .find(|k| k.kid == kid)
            .ok_or_else(|| SealError::UnknownKey(kid.to_owned()))?;
        let bytes = URL_SAFE_NO_PAD
            .decode(data)
            .map_err(|_| SealError::Malformed)?;
        if bytes.len() < NONCE_LEN {
            return Err(SealError::Malformed);
        }
        let (nonce, ct) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Malformed)?;
        let mut ct = ct.to_vec();
        let plain = key
            .key
            .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut ct)
            .map_err(|_| SealError::Open(kid.to_owned()))?;
        Ok(plain.to_vec())
    }

    /// Open a sealed UTF-8 secret.
    pub fn open_secret(
        &self,
        sealed: &Sealed,
        context: SealContext,
    ) -> Result<SecretString, SealError> {
        let bytes = self.open(sealed, context)?;
        String::from_utf8(bytes)
            .map(SecretString::from)
            .map_err(|_| SealError::Malformed)
    }

    /// Whether `sealed` was sealed by an older key (to re-seal after rotation).
    pub fn needs_reseal(&self, sealed: &Sealed) -> bool {
        sealed.parts().0 != self.active.kid.as_str()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const A: SealContext = SealContext::AssertionKeys;
    const B: SealContext = SealContext::AdminClientSecret;

    fn key() -> MasterKey {
        MasterKey::from_base64(&MasterKey::generate_base64().unwrap()).unwrap()
    }

    #[test]
    fn seals_and_opens_in_context() {
        let keys = MasterKeys::new(key(), vec![]);
        let sealed = keys.seal(b"hunter2-secret", A).unwrap();
        assert!(
            sealed
                .as_str()
                .starts_with(&format!("v1.{}.", keys.active_kid()))
        );
        assert!(!sealed.as_str().contains("hunter2"));
        assert_eq!(keys.open(&sealed, A).unwrap(), b"hunter2-secret");
        assert!(matches!(keys.open(&sealed, B), Err(SealError::Open(_))));
    }

    #[test]
    fn contexts_bind_the_application() {
        let keys = MasterKeys::new(key(), vec![]);
        let (a, b) = (gatehouse_core::AppId::new(), gatehouse_core::AppId::new());
        let sealed = keys.seal(b"s", SealContext::ClientSecret(a)).unwrap();
        assert!(keys.open(&sealed, SealContext::ClientSecret(b)).is_err());
        assert!(keys.open(&sealed, SealContext::ClientKey(a)).is_err());
        assert_eq!(
            keys.open(&sealed, SealContext::ClientSecret(a)).unwrap(),
            b"s"
        );
        // The stored form of the associated data never changes.
        assert_eq!(
            SealContext::ClientSecret(a).aad(),
            format!("sso_client_secret:{a}")
        );
    }

    #[test]
    fn the_same_secret_seals_differently_each_time() {
        let keys = MasterKeys::new(key(), vec![]);
        assert_ne!(keys.seal(b"x", A).unwrap(), keys.seal(b"x", A).unwrap());
    }

    #[test]
    fn tampering_is_detected() {
        let keys = MasterKeys::new(key(), vec![]);
        let sealed = keys.seal(b"secret", A).unwrap();
        let mut bytes = String::from(sealed).into_bytes();
        let last = bytes.len() - 3;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let tampered = Sealed::parse(&String::from_utf8(bytes).unwrap()).unwrap();
        assert!(keys.open(&tampered, A).is_err());
        let short = Sealed::parse("v1.x.y").unwrap();
        assert_eq!(keys.open(&short, A), Err(SealError::UnknownKey("x".into())));
    }

    #[test]
    fn rotated_keys_still_open_old_values() {
        let old_b64 = MasterKey::generate_base64().unwrap();
        let old = MasterKeys::new(MasterKey::from_base64(&old_b64).unwrap(), vec![]);
        let sealed = old.seal(b"s", A).unwrap();
        let rotated = MasterKeys::new(key(), vec![MasterKey::from_base64(&old_b64).unwrap()]);
        assert!(rotated.needs_reseal(&sealed));
        assert_eq!(rotated.open(&sealed, A).unwrap(), b"s");
        let without_old = MasterKeys::new(key(), vec![]);
        assert!(matches!(
            without_old.open(&sealed, A),
            Err(SealError::UnknownKey(_))
        ));
    }

    #[test]
    fn bad_keys_are_refused() {
        for bad in ["", "abc", "AAAA", &STANDARD.encode([0u8; 31])] {
            assert_eq!(
                MasterKey::from_base64(&SecretString::from(bad)).err(),
                Some(SealError::BadKey)
            );
        }
        assert!(
            MasterKey::from_base64(&SecretString::from(URL_SAFE_NO_PAD.encode([7u8; 32]))).is_ok()
        );
    }
}
