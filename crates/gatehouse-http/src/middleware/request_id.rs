//! Correlation ids: a short random id per request, shown on error pages, in
//! problem documents, in the `X-Request-Id` response header and in every log
//! line of the request.
//!
//! An id needs to be unique and not guessable in advance by someone who
//! reads the logs of other requests, not secret: each thread draws them
//! from its own generator (SplitMix64 over a seed from the operating
//! system's random source, taken once per thread), so a request costs
//! neither a system call nor a lock.

use std::cell::Cell;
use std::fmt;

use secrecy::ExposeSecret;

/// The alphabet of ids: URL-safe base64.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The correlation id of a request: 12 characters (72 bits).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RequestId([u8; 12]);

thread_local! {
    static STATE: Cell<u64> = Cell::new(seed());
}

/// 64 bits from the operating system's random source.
fn seed() -> u64 {
    let token = gatehouse_crypto::token::random_token(8);
    token
        .expose_secret()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
}

/// SplitMix64's next output.
fn next(state: &Cell<u64>) -> u64 {
    let s = state.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
    state.set(s);
    let mut z = s;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl RequestId {
    /// A new id.
    pub fn generate() -> Self {
        let (a, b) = STATE.with(|s| (next(s), next(s)));
        let mut out = [0u8; 12];
        for (i, c) in out.iter_mut().enumerate() {
            let word = if i < 6 { a } else { b };
            let six = (word >> ((i % 6) * 6)) & 63;
            *c = ALPHABET[six as usize];
        }
        Self(out)
    }

    /// The id of the request with these extensions, if it has one.
    pub fn of(extensions: &axum::http::Extensions) -> Option<&str> {
        extensions.get::<Self>().map(Self::as_str)
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        // Always ASCII: every byte comes from ALPHABET.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_url_safe_and_do_not_repeat() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..100_000 {
            let id = RequestId::generate();
            assert_eq!(id.as_str().len(), 12);
            assert!(id.as_str().bytes().all(|b| ALPHABET.contains(&b)));
            assert!(seen.insert(id.as_str().to_owned()), "{id} repeated");
        }
    }

    #[test]
    fn threads_draw_different_ids() {
        let a = std::thread::spawn(|| RequestId::generate().as_str().to_owned()).join();
        let b = std::thread::spawn(|| RequestId::generate().as_str().to_owned()).join();
        assert_ne!(a.ok(), b.ok());
    }
}
