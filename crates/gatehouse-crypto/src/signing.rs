//! Gatehouse's own signing keys (ES256, P-256): the client keys an
//! application uses for `private_key_jwt`, and (later) the instance keys
//! behind `X-Gatehouse-Assertion`. Keys are PKCS#8 documents, sealed at rest
//! by the caller; the public half is published as a JWK whose `kid` is its
//! RFC 7638 thumbprint.

use std::fmt;

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use thiserror::Error;

/// A key could not be made, read or used.
#[derive(Debug, Error)]
#[error("signing key error: {0}")]
pub struct KeyError(&'static str);

/// An ES256 key pair.
pub struct EcKey {
    pair: EcdsaKeyPair,
    pkcs8: Vec<u8>,
    kid: String,
    x: String,
    y: String,
}

impl fmt::Debug for EcKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EcKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl EcKey {
    /// A new random key.
    pub fn generate() -> Result<Self, KeyError> {
        let doc =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|_| KeyError("cannot generate a P-256 key"))?;
        Self::from_pkcs8(doc.as_ref())
    }

    /// Read a key from its PKCS#8 document.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, KeyError> {
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
            .map_err(|_| KeyError("not a P-256 PKCS#8 key"))?;
        let point = pair.public_key().as_ref();
        // Uncompressed point: 0x04 || x (32) || y (32)
        if point.len() != 65 || point[0] != 4 {
            return Err(KeyError("unexpected public key encoding"));
        }
        let x = URL_SAFE_NO_PAD.encode(&point[1..33]);
        let y = URL_SAFE_NO_PAD.encode(&point[33..65]);
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let kid =
            URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref());
        Ok(Self {
            pair,
            pkcs8: der.to_vec(),
            kid,
            x,
            y,
        })
    }

    /// The PKCS#8 document (to seal and store).
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The key id: the RFC 7638 JWK thumbprint.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public JWK members `(x, y)`, base64url.
    pub fn public_xy(&self) -> (&str, &str) {
        (&self.x, &self.y)
    }

    /// Sign a JWS compact serialization: `header` and `payload` are JSON texts.
    pub fn sign_jws(&self, header_json: &str, payload_json: &str) -> Result<String, KeyError> {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header_json),
            URL_SAFE_NO_PAD.encode(payload_json)
        );
        let sig = self
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .map_err(|_| KeyError("signing failed"))?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref())))
    }
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, data).as_ref().to_vec()
}

/// SHA-384 of `data`.
pub fn sha384(data: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA384, data).as_ref().to_vec()
}

/// SHA-512 of `data`.
pub fn sha512(data: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA512, data).as_ref().to_vec()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};

    #[test]
    fn keys_roundtrip_and_signatures_verify() {
        let k = EcKey::generate().unwrap();
        let again = EcKey::from_pkcs8(k.pkcs8()).unwrap();
        assert_eq!(k.kid(), again.kid());
        let jws = k.sign_jws(r#"{"alg":"ES256"}"#, r#"{"a":1}"#).unwrap();
        let (input, sig) = jws.rsplit_once('.').unwrap();
        let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
        assert_eq!(sig.len(), 64, "JWS ES256 is r||s");
        let mut point = vec![4u8];
        point.extend(URL_SAFE_NO_PAD.decode(k.public_xy().0).unwrap());
        point.extend(URL_SAFE_NO_PAD.decode(k.public_xy().1).unwrap());
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point)
            .verify(input.as_bytes(), &sig)
            .unwrap();
    }
}
