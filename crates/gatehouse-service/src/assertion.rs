//! `X-Gatehouse-Assertion`: a short-lived ES256 JWT that tells the upstream
//! who the request is for, signed with the instance's keys and verifiable
//! with the JWK Set at `/.well-known/jwks.json`.
//!
//! The key ring lives in the instance settings (the private keys sealed
//! under the master key) and always holds the active key and the next one,
//! both published; a rotation makes the next key active (so every upstream
//! that fetched the JWK Set since the last rotation already knows it) and
//! keeps the retired key published for [`RETIRED_KEY_PUBLISHED`], far longer
//! than any assertion it signed lives. Every node follows through the
//! change feed.
//!
//! Signed assertions are cached per user and host for half their lifetime,
//! so the proxy signs at most once per user every [`REUSE_MIN_REMAINING`]
//! rather than on every request.

use gatehouse_crypto::SealContext;
use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use gatehouse_core::access::Role;
use gatehouse_core::user::User;
use gatehouse_core::{Actor, UserId};
use gatehouse_crypto::MasterKeys;
use gatehouse_crypto::signing::EcKey;
use quick_cache::sync::Cache;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

use crate::{Context, ServiceError};

/// The instance setting holding the key ring.
pub const KEYS_SETTING: &str = "assertion_keys";
/// How long an assertion is valid.
pub const ASSERTION_TTL: i64 = 60;
/// A cached assertion is reused while at least this many seconds remain.
pub const REUSE_MIN_REMAINING: i64 = 30;
/// How long a retired key stays in the JWK Set.
pub const RETIRED_KEY_PUBLISHED: time::Duration = time::Duration::days(1);

/// The state of one key in the ring.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    /// Signs assertions now.
    Active,
    /// Published, signs after the next rotation.
    Next,
    /// Signed before the last rotation; published until `published_until`.
    Retired,
}

/// One key of the ring, as stored (public facts only).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInfo {
    /// The key id (RFC 7638 thumbprint).
    pub kid: String,
    /// Its state.
    pub status: KeyStatus,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
    /// For a retired key: when it leaves the JWK Set.
    #[serde(with = "time::serde::rfc3339::option", default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub published_until: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RingDoc {
    keys: Vec<KeyInfo>,
}

/// The opened key ring: the active key, and the JWK Set to publish.
pub struct KeyRing {
    active: Arc<EcKey>,
    infos: Vec<KeyInfo>,
    jwks: Arc<str>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("active", &self.active.kid())
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    /// The key that signs now.
    pub fn active(&self) -> &Arc<EcKey> {
        &self.active
    }

    /// The JWK Set document.
    pub fn jwks(&self) -> Arc<str> {
        self.jwks.clone()
    }

    /// The keys and their states.
    pub fn keys(&self) -> &[KeyInfo] {
        &self.infos
    }

    fn jwk(key: &EcKey) -> serde_json::Value {
        let (x, y) = key.public_xy();
        json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": key.kid(), "alg": "ES256", "use": "sig"})
    }

    /// Open a stored ring. `now` drops retired keys past their publication.
    fn open(
        value: serde_json::Value,
        sealed: &gatehouse_core::Sealed,
        keys: &MasterKeys,
        now: OffsetDateTime,
    ) -> Result<Self, ServiceError> {
        let bad = |why: String| ServiceError::Internal(format!("assertion keys: {why}"));
        let doc: RingDoc = serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
        let plain = keys
            .open(sealed, SealContext::AssertionKeys)
            .map_err(|e| bad(e.to_string()))?;
        let private: HashMap<String, String> =
            serde_json::from_slice(&plain).map_err(|e| bad(e.to_string()))?;
        let mut active = None;
        let mut published = Vec::new();
        let mut infos = Vec::new();
        for info in doc.keys {
            if info.status == KeyStatus::Retired && info.published_until.is_some_and(|u| u <= now) {
                continue;
            }
            let der = private
                .get(&info.kid)
                .and_then(|b| STANDARD.decode(b).ok())
                .ok_or_else(|| bad(format!("no private key for {}", info.kid)))?;
            let key = Arc::new(EcKey::from_pkcs8(&der).map_err(|e| bad(e.to_string()))?);
            if info.status == KeyStatus::Active {
                active = Some(key.clone());
            }
            published.push(Self::jwk(&key));
            infos.push(info);
        }
        let active = active.ok_or_else(|| bad("no active key".into()))?;
        let jwks = json!({ "keys": published }).to_string();
        Ok(Self {
            active,
            infos,
            jwks: jwks.into(),
        })
    }
}

/// Read the ring from the store (`None` when none was made yet).
pub(crate) async fn load(
    store: &dyn gatehouse_store::Store,
    keys: &MasterKeys,
    now: OffsetDateTime,
) -> Result<Option<Arc<KeyRing>>, ServiceError> {
    match store.get_setting(KEYS_SETTING).await? {
        Some((value, Some(sealed))) => {
            Ok(Some(Arc::new(KeyRing::open(value, &sealed, keys, now)?)))
        }
        Some((_, None)) => Err(ServiceError::Internal(
            "assertion keys: the private keys are missing".into(),
        )),
        None => Ok(None),
    }
}

/// A key, its private half encoded for the sealed map.
fn fresh_key() -> Result<(EcKey, String), ServiceError> {
    let key = EcKey::generate().map_err(|e| ServiceError::Internal(e.to_string()))?;
    let der = STANDARD.encode(key.pkcs8());
    Ok((key, der))
}

/// A signed assertion, cached.
struct Signed {
    user: Arc<User>,
    roles: Vec<Role>,
    aud: String,
    kid: String,
    exp: i64,
    token: Arc<str>,
}

/// Signed assertions by user (a user belongs to one application) and host.
pub(crate) struct AssertionCache {
    signed: Cache<(UserId, u64), Arc<Signed>>,
}

impl AssertionCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            signed: Cache::new(capacity),
        }
    }
}

fn host_key(aud: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    aud.hash(&mut h);
    h.finish()
}

/// The identity assertions (`X-Gatehouse-Assertion`): signing them (cached
/// per user and host), the key ring and its rotation. Holds the store, the
/// routing snapshot (the key ring lives in it) and the assertion cache.
pub struct Assertions<'a> {
    pub(crate) shared: &'a crate::Shared,
    pub(crate) router: &'a crate::routing::Router,
    pub(crate) cache: &'a AssertionCache,
}

impl Assertions<'_> {
    /// Make the key ring if there is none yet (at start-up).
    pub(crate) async fn ensure_keys(&self) -> Result<(), ServiceError> {
        if self.shared.store.get_setting(KEYS_SETTING).await?.is_some() {
            return Ok(());
        }
        let now = self.shared.now();
        let (active, active_der) = fresh_key()?;
        let (next, next_der) = fresh_key()?;
        let doc = RingDoc {
            keys: vec![
                KeyInfo {
                    kid: active.kid().to_owned(),
                    status: KeyStatus::Active,
                    created_at: now,
                    published_until: None,
                },
                KeyInfo {
                    kid: next.kid().to_owned(),
                    status: KeyStatus::Next,
                    created_at: now,
                    published_until: None,
                },
            ],
        };
        let private = HashMap::from([
            (active.kid().to_owned(), active_der),
            (next.kid().to_owned(), next_der),
        ]);
        let ctx = Context {
            actor: Actor::System,
            correlation_id: None,
        };
        self.save_ring(&doc, &private, &ctx, "assertion_keys.created")
            .await?;
        tracing::info!(
            kid = active.kid(),
            "made the instance's assertion signing keys"
        );
        Ok(())
    }

    async fn save_ring(
        &self,
        doc: &RingDoc,
        private: &HashMap<String, String>,
        ctx: &Context,
        action: &str,
    ) -> Result<(), ServiceError> {
        let now = self.shared.now();
        let plain =
            serde_json::to_vec(private).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let sealed = self
            .shared
            .keys
            .seal(&plain, SealContext::AssertionKeys)
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        let value = serde_json::to_value(doc).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let active = doc
            .keys
            .iter()
            .find(|k| k.status == KeyStatus::Active)
            .map(|k| k.kid.clone())
            .unwrap_or_default();
        let audit = ctx.event(None, now, action).detail("active_kid", active);
        self.shared
            .store
            .put_setting(KEYS_SETTING, &value, Some(Some(&sealed)), now, &audit)
            .await?;
        Ok(())
    }

    /// Rotate the assertion keys: the next key becomes active, a new next
    /// key is made, the active one is retired (published for a day more).
    pub async fn rotate(&self, ctx: &Context) -> Result<Vec<KeyInfo>, ServiceError> {
        self.ensure_keys().await?;
        let now = self.shared.now();
        let Some((value, Some(sealed))) = self.shared.store.get_setting(KEYS_SETTING).await? else {
            return Err(ServiceError::Internal("assertion keys vanished".into()));
        };
        let bad = |why: String| ServiceError::Internal(format!("assertion keys: {why}"));
        let mut doc: RingDoc = serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
        let plain = self
            .shared
            .keys
            .open(&sealed, SealContext::AssertionKeys)
            .map_err(|e| bad(e.to_string()))?;
        let mut private: HashMap<String, String> =
            serde_json::from_slice(&plain).map_err(|e| bad(e.to_string()))?;
        doc.keys.retain(|k| {
            !(k.status == KeyStatus::Retired && k.published_until.is_some_and(|u| u <= now))
        });
        let has_next = doc.keys.iter().any(|k| k.status == KeyStatus::Next);
        for k in &mut doc.keys {
            match k.status {
                KeyStatus::Active => {
                    k.status = KeyStatus::Retired;
                    k.published_until = Some(now + RETIRED_KEY_PUBLISHED);
                }
                KeyStatus::Next => k.status = KeyStatus::Active,
                KeyStatus::Retired => {}
            }
        }
        let (next, next_der) = fresh_key()?;
        let status = if has_next {
            KeyStatus::Next
        } else {
            KeyStatus::Active
        };
        doc.keys.push(KeyInfo {
            kid: next.kid().to_owned(),
            status,
            created_at: now,
            published_until: None,
        });
        private.insert(next.kid().to_owned(), next_der);
        private.retain(|kid, _| doc.keys.iter().any(|k| &k.kid == kid));
        self.save_ring(&doc, &private, ctx, "assertion_keys.rotated")
            .await?;
        self.router.reload(self.shared).await?;
        Ok(doc.keys)
    }

    /// The assertion keys and their states.
    pub fn keys(&self) -> Vec<KeyInfo> {
        self.router
            .current()
            .signer()
            .map(|r| r.keys().to_vec())
            .unwrap_or_default()
    }

    /// The JWK Set publishing the assertion keys.
    pub fn jwks(&self) -> Arc<str> {
        self.router
            .current()
            .signer()
            .map_or_else(|| Arc::from(r#"{"keys":[]}"#), |r| r.jwks())
    }

    /// The issuer (`iss`) of assertions.
    pub fn issuer(&self) -> &str {
        &self.shared.settings.assertion_issuer
    }

    /// The `X-Gatehouse-Assertion` for `user` with `roles` on the host `aud`
    /// of application `app`: from the cache while it has at least
    /// [`REUSE_MIN_REMAINING`] seconds left and nothing in it changed.
    pub fn sign(
        &self,
        app_slug: &str,
        aud: &str,
        user: &Arc<User>,
        roles: &[Role],
    ) -> Result<Arc<str>, ServiceError> {
        let routes = self.router.current();
        let Some(ring) = routes.signer() else {
            return Err(ServiceError::Internal("no assertion keys loaded".into()));
        };
        let key = ring.active();
        let now = self.shared.now().unix_timestamp();
        let cache_key = (user.id, host_key(aud));
        if let Some(s) = self.cache.signed.get(&cache_key)
            && s.exp - now >= REUSE_MIN_REMAINING
            && Arc::ptr_eq(&s.user, user)
            && s.roles == roles
            && s.aud == aud
            && s.kid == key.kid()
        {
            return Ok(s.token.clone());
        }
        let exp = now + ASSERTION_TTL;
        let mut tags: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
        for t in &user.tags {
            tags.entry(t.key.as_str()).or_default().push(&t.value);
        }
        let name = if user.last_name.is_empty() {
            user.first_name.clone()
        } else {
            format!("{} {}", user.first_name, user.last_name)
        };
        let claims = json!({
            "iss": self.issuer(),
            "aud": aud,
            "sub": user.id.to_string(),
            "email": user.email.as_str(),
            "given_name": user.first_name,
            "family_name": user.last_name,
            "name": name,
            "groups": user.group_names(),
            "roles": roles.iter().map(Role::as_str).collect::<Vec<_>>(),
            "tags": tags,
            "app": app_slug,
            "iat": now,
            "nbf": now,
            "exp": exp,
        });
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": key.kid()});
        let token: Arc<str> = key
            .sign_jws(&header.to_string(), &claims.to_string())
            .map_err(|e| ServiceError::Internal(e.to_string()))?
            .into();
        self.cache.signed.insert(
            cache_key,
            Arc::new(Signed {
                user: user.clone(),
                roles: roles.to_vec(),
                aud: aud.to_owned(),
                kid: key.kid().to_owned(),
                exp,
                token: token.clone(),
            }),
        );
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_crypto::sealed::MasterKey;

    fn keys() -> MasterKeys {
        MasterKeys::new(
            MasterKey::from_base64(&secrecy::SecretString::from(
                "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=".to_owned(),
            ))
            .unwrap_or_else(|e| panic!("{e}")),
            Vec::new(),
        )
    }

    #[test]
    fn retired_keys_leave_the_jwk_set_after_their_time() {
        let keys = keys();
        let now = OffsetDateTime::now_utc();
        let (a, a_der) = fresh_key().unwrap_or_else(|e| panic!("{e}"));
        let (r, r_der) = fresh_key().unwrap_or_else(|e| panic!("{e}"));
        let doc = RingDoc {
            keys: vec![
                KeyInfo {
                    kid: a.kid().into(),
                    status: KeyStatus::Active,
                    created_at: now,
                    published_until: None,
                },
                KeyInfo {
                    kid: r.kid().into(),
                    status: KeyStatus::Retired,
                    created_at: now,
                    published_until: Some(now + time::Duration::hours(1)),
                },
            ],
        };
        let private = HashMap::from([(a.kid().to_owned(), a_der), (r.kid().to_owned(), r_der)]);
        let sealed = keys
            .seal(
                &serde_json::to_vec(&private).unwrap_or_default(),
                SealContext::AssertionKeys,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let value = serde_json::to_value(&doc).unwrap_or_default();
        let ring =
            KeyRing::open(value.clone(), &sealed, &keys, now).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ring.keys().len(), 2);
        assert_eq!(ring.active().kid(), a.kid());
        let later = KeyRing::open(value, &sealed, &keys, now + time::Duration::hours(2))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(later.keys().len(), 1);
        let jwks: serde_json::Value = serde_json::from_str(&later.jwks()).unwrap_or_default();
        assert_eq!(jwks["keys"][0]["kid"], a.kid());
        // Sealed for another context, the keys do not open.
        let wrong = keys
            .seal(
                &serde_json::to_vec(&private).unwrap_or_default(),
                SealContext::AdminClientSecret,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            KeyRing::open(
                serde_json::to_value(&doc).unwrap_or_default(),
                &wrong,
                &keys,
                now
            )
            .is_err()
        );
    }
}
