//! Correlation ids: a short random id per request, shown on error pages, in
//! problem documents, in the `X-Request-Id` response header and in every log
//! line of the request.
//!
//! An id needs to be unique, and unpredictable to someone who has seen the
//! ids of other requests (they are sent to every client), not secret: each
//! thread computes them as a keyed PRF (SipHash-1-3, the standard library's
//! `RandomState`, whose keys come from the operating system's random
//! source) over a counter, so a request costs neither a system call nor a
//! lock.

use std::cell::Cell;
use std::fmt;
use std::hash::BuildHasher;

/// The alphabet of ids: URL-safe base64.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The correlation id of a request: 12 characters (72 bits).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RequestId([u8; 12]);

thread_local! {
    /// This thread's secret key and counter.
    static PRF: (std::collections::hash_map::RandomState, Cell<u64>) =
        (std::collections::hash_map::RandomState::new(), Cell::new(0));
}

/// 72 pseudo-random bits: two PRF outputs, 36 bits of each.
fn next_bits() -> (u64, u64) {
    PRF.with(|(key, counter)| {
        let n = counter.get();
        counter.set(n.wrapping_add(2));
        (key.hash_one(n), key.hash_one(n.wrapping_add(1)))
    })
}

impl RequestId {
    /// A new id.
    pub fn generate() -> Self {
        let (a, b) = next_bits();
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
