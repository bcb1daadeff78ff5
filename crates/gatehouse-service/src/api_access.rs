//! API access with bearer tokens. A request carrying `Authorization: Bearer
//! <JWT>` for an application that accepts them is checked against the
//! application's rules (algorithm allow-list, keys, issuer, audience,
//! times); the claims are mapped as at sign-in and the user's roles
//! resolved. No session is made.
//!
//! Validated tokens are remembered by their SHA-256 until they expire, and
//! users by `(issuer, sub)`, so a known token costs one hash and two cache
//! lookups; a new token from a known user costs one signature check and no
//! database round trip unless its claims change the user.

use std::sync::Arc;

use gatehouse_core::AppId;
use gatehouse_core::api_access::{ApiAccess, ApiAccessInput};
use gatehouse_core::user::User;
use gatehouse_core::{Actor, UserId};
use gatehouse_oidc::bearer::{self, BearerRules};
use gatehouse_oidc::validate::Jwt;
use gatehouse_oidc::{Check, KeySource, OidcError};
use quick_cache::sync::Cache;
use serde_json::Value;

use crate::oidc::SignInError;
use crate::routing::AppRuntime;
use crate::{Context, ServiceError};

/// The application setting holding the bearer-token settings.
pub const API_KEY: &str = "api";

/// Why a bearer token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum BearerError {
    /// The application does not accept bearer tokens.
    #[error("this application does not accept bearer tokens")]
    NotAccepted,
    /// The token failed a check (401).
    #[error("the bearer token is invalid: {0}")]
    Invalid(String),
    /// The token is valid but names nobody Gatehouse can identify (401).
    #[error("{0}")]
    Unidentified(String),
    /// The user is known but may not use the application (403).
    #[error("{email} may not use this application: {why}")]
    Forbidden {
        /// Who.
        email: String,
        /// Why.
        why: String,
    },
    /// The keys cannot be fetched now (503 with `Retry-After`, so that
    /// clients keep their tokens and retry).
    #[error("the identity provider's keys cannot be fetched: {why}")]
    KeysUnavailable {
        /// Why.
        why: String,
        /// When to retry.
        retry_after: std::time::Duration,
    },
    /// Anything else.
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// A validated token, remembered until it expires.
#[derive(Clone, Copy)]
struct KnownToken {
    app: AppId,
    generation: u64,
    user: UserId,
    exp: i64,
}

/// The bearer-token caches.
pub(crate) struct BearerCache {
    tokens: Cache<[u8; 32], KnownToken>,
    subjects: Cache<(AppId, String, String), UserId>,
}

impl BearerCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            tokens: Cache::new(capacity),
            subjects: Cache::new(capacity),
        }
    }
}

fn failed_checks(checks: &[Check]) -> Option<String> {
    let failed: Vec<String> = checks
        .iter()
        .filter(|c| c.is_failed())
        .map(|c| match &c.outcome {
            gatehouse_oidc::Outcome::Failed(why) => format!("{}: {why}", c.name),
            _ => c.name.to_owned(),
        })
        .collect();
    (!failed.is_empty()).then(|| failed.join("; "))
}

/// API access with bearer tokens: the token check of the request path (the
/// settings are [`ApiAccessSettings`]). Holds the store, the user cache, the
/// relying party (keys), the outage state and its own cache of validated
/// tokens.
pub struct Bearer<'a> {
    pub(crate) shared: &'a crate::Shared,
    pub(crate) caches: &'a crate::cache::Caches,
    pub(crate) feed: &'a crate::feed::FeedState,
    pub(crate) rp: &'a gatehouse_oidc::RelyingParty,
    pub(crate) tokens: &'a BearerCache,
}

impl<'a> Bearer<'a> {
    /// The directory handle (a token of a new subject makes the user).
    fn directory(&self) -> crate::users::Directory<'a> {
        crate::users::Directory {
            shared: self.shared,
            caches: self.caches,
        }
    }
}

/// The bearer-token settings of applications, without the token check:
/// what administrators (and units of work) change. Holds the store and the
/// routing snapshot (reloaded after a change).
pub struct ApiAccessSettings<'a> {
    pub(crate) shared: &'a crate::Shared,
    pub(crate) router: &'a crate::routing::Router,
}

/// Bearer-token settings as sent, checked against the application's SSO
/// issuer and client id (the defaults of `issuer` and `audience`), with a
/// PEM key parsed.
pub(crate) fn check_settings(
    input: ApiAccessInput,
    sso_issuer: &str,
    client_id: &str,
) -> Result<ApiAccess, gatehouse_core::Invalid> {
    let settings = input.validate(sso_issuer, client_id)?;
    if let Some(pem) = &settings.public_key_pem {
        bearer::pem_key_set(pem)
            .map_err(|why| gatehouse_core::Invalid::field("public_key_pem", why))?;
    }
    Ok(settings)
}

impl ApiAccessSettings<'_> {
    /// The bearer-token settings of an application.
    pub async fn get(&self, app: AppId) -> Result<ApiAccess, ServiceError> {
        self.shared.app(app).await?;
        match self.shared.store.get_app_setting(app, API_KEY).await? {
            Some(v) => serde_json::from_value(v).map_err(|e| ServiceError::Internal(e.to_string())),
            None => Ok(ApiAccess::default()),
        }
    }

    /// Replace the bearer-token settings of an application.
    #[tracing::instrument(level = "info", skip_all, fields(app = %app), err(level = "debug"))]
    pub async fn put(
        &self,
        app: AppId,
        input: ApiAccessInput,
        ctx: &Context,
    ) -> Result<ApiAccess, ServiceError> {
        let application = self.shared.app(app).await?;
        let oidc = self
            .shared
            .store
            .get_oidc(app)
            .await?
            .map(|s| s.settings)
            .unwrap_or_default();
        let sso_issuer = oidc
            .issuer_url
            .as_ref()
            .map_or("", |i| i.as_str())
            .to_owned();
        let settings = check_settings(input, &sso_issuer, &oidc.client_id)?;
        let now = self.shared.now();
        let value =
            serde_json::to_value(&settings).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let audit = ctx
            .event(Some(app), now, "api_access.updated")
            .target(application.slug.as_str())
            .detail("enabled", settings.enabled)
            .detail("issuer", settings.effective_issuer(&sso_issuer))
            .detail("audience", settings.effective_audience(&oidc.client_id))
            .detail(
                "keys",
                match (&settings.public_key_pem, &settings.jwks_url) {
                    (Some(_), _) => "public key (PEM)".to_owned(),
                    (None, Some(u)) => u.clone(),
                    (None, None) => "the IdP's JWKS".to_owned(),
                },
            )
            .detail("algorithms", settings.algorithms.clone());
        self.shared
            .store
            .put_app_setting(app, API_KEY, &value, now, &audit)
            .await?;
        self.router.reload(self.shared).await?;
        Ok(settings)
    }
}

impl Bearer<'_> {
    /// The user of a bearer token this node has verified before and still
    /// holds, with nothing awaited (the hot path); `None`: only
    /// [`Self::authenticate`] can tell (a token not seen, or expired, the
    /// user not cached or not allowed, the database down).
    pub fn peek(&self, rt: &AppRuntime, token: &str) -> Option<Arc<User>> {
        rt.api.as_ref()?;
        if !self
            .feed
            .within_grace(self.shared.settings.database_outage_grace)
        {
            return None;
        }
        let hash: [u8; 32] = gatehouse_crypto::token::lookup_key(token);
        let known = self.verified_before(rt, &hash, self.shared.now())?;
        let user = self.caches.cached_user(rt.app.id, known)?;
        check_status(user, rt).ok()
    }

    /// The user of a token this node verified for `rt`'s application (in
    /// its current settings generation) and that has not expired.
    fn verified_before(
        &self,
        rt: &AppRuntime,
        hash: &[u8; 32],
        now: time::OffsetDateTime,
    ) -> Option<UserId> {
        let known = self.tokens.tokens.get(hash)?;
        let skew = rt.oidc.extra.clock_skew_seconds;
        (known.app == rt.app.id
            && known.generation == rt.generation
            && now.unix_timestamp() < known.exp.saturating_add(i64::from(skew)))
        .then_some(known.user)
    }

    /// The user a bearer token is for, in application `rt`. The caller
    /// resolves roles (as for a session).
    #[tracing::instrument(level = "debug", skip_all, fields(app = %rt.app.slug), err(level = "debug"))]
    pub async fn authenticate(
        &self,
        rt: &AppRuntime,
        token: &str,
    ) -> Result<Arc<User>, BearerError> {
        let Some(api) = rt.api.as_ref() else {
            return Err(BearerError::NotAccepted);
        };
        if !self
            .feed
            .within_grace(self.shared.settings.database_outage_grace)
        {
            return Err(BearerError::Service(ServiceError::Unavailable(
                "the database has not answered for longer than database_outage_grace".into(),
            )));
        }
        let now = self.shared.now();
        let hash: [u8; 32] = gatehouse_crypto::token::lookup_key(token);
        if let Some(user) = self.verified_before(rt, &hash, now) {
            return self.bearer_user(rt, user).await;
        }
        let jwt = Jwt::parse(token).map_err(|c| {
            BearerError::Invalid(failed_checks(std::slice::from_ref(&c)).unwrap_or_default())
        })?;
        let alg = bearer::check_alg(&jwt.header, &api.algorithms);
        if let Some(why) = failed_checks(std::slice::from_ref(&alg)) {
            return Err(BearerError::Invalid(why));
        }
        let source = match (&api.pem, &api.jwks_url) {
            (Some(set), _) => KeySource::Static(set),
            (None, Some(url)) => KeySource::Jwks(url),
            (None, None) => {
                let Some(issuer) = &api.discover else {
                    return Err(BearerError::Invalid(
                        "no key source is configured for bearer tokens".into(),
                    ));
                };
                let meta = self.rp.metadata(issuer).await.map_err(unavailable)?;
                return self
                    .finish_bearer(rt, api, jwt, KeySource::Jwks(&meta.jwks_uri), hash, now)
                    .await;
            }
        };
        self.finish_bearer(rt, api, jwt, source, hash, now).await
    }

    async fn finish_bearer(
        &self,
        rt: &AppRuntime,
        api: &crate::routing::ApiRuntime,
        jwt: Jwt<'_>,
        source: KeySource<'_>,
        hash: [u8; 32],
        now: time::OffsetDateTime,
    ) -> Result<Arc<User>, BearerError> {
        let verified = self
            .rp
            .verify_parsed(jwt, source, None, "bearer token")
            .await
            .map_err(|e| match e {
                OidcError::Invalid { checks, .. } => BearerError::Invalid(
                    failed_checks(&checks).unwrap_or_else(|| "the token is invalid".into()),
                ),
                other => unavailable(other),
            })?;
        let rules = BearerRules {
            issuer: &api.issuer,
            audience: &api.audience,
            algorithms: &api.algorithms,
            now,
            skew: std::time::Duration::from_secs(u64::from(rt.oidc.extra.clock_skew_seconds)),
        };
        if let Some(why) = failed_checks(&bearer::check(&verified.claims, &rules)) {
            return Err(BearerError::Invalid(why));
        }
        let claims = verified.claims;
        let iss = claims
            .get("iss")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let exp = bearer::expiry(&claims).unwrap_or(0);
        let app = rt.app.id;
        let subject_key = (app, iss.clone(), sub.clone());
        let known_user = self.tokens.subjects.get(&subject_key);
        let mapped = gatehouse_core::claims::mapping::map(
            &claims,
            &rt.oidc.claim_mappings,
            rt.oidc.groups_claim.as_ref(),
        );
        let user = match mapped {
            Ok(m) => {
                // Unchanged claims of a known user: nothing to write.
                let cached = match known_user {
                    Some(id) => self.caches.user(&*self.shared.store, app, id).await?,
                    None => None,
                };
                let verified = crate::oidc::users::bearer_verified(&rt.oidc, &m);
                match cached {
                    Some(u) if crate::oidc::users::unchanged(&u, &m, verified) => u,
                    _ => {
                        let ctx = Context {
                            actor: Actor::User {
                                id: String::new(),
                                email: m.email.to_string(),
                            },
                            correlation_id: None,
                        };
                        let issuer = gatehouse_core::sso::IssuerUrl::parse(&iss, "iss")
                            .map_err(|e| BearerError::Invalid(e.to_string()))?;
                        let user = self
                            .directory()
                            .sign_in_user(
                                app,
                                &gatehouse_core::user::Identity::of(&issuer, &sub),
                                &m,
                                verified,
                                crate::oidc::users::Link::from_claims(&rt.provisioning, &claims),
                                &ctx,
                            )
                            .await
                            .map_err(|e| match e {
                                SignInError::Service(s) => BearerError::Service(s),
                                other => BearerError::Unidentified(other.to_string()),
                            })?;
                        self.caches.forget_user(user.id);
                        match self.caches.user(&*self.shared.store, app, user.id).await? {
                            Some(u) => u,
                            None => Arc::new(user),
                        }
                    }
                }
            }
            Err(e) => {
                // A token without the identity claims (a typical access
                // token) names a user who signed in before by its subject.
                let id = match known_user {
                    Some(id) => Some(id),
                    None => self
                        .shared
                        .store
                        .find_user_by_identity(app, &iss, &sub)
                        .await
                        .map_err(ServiceError::from)?
                        .map(|u| u.id),
                };
                let user = match id {
                    Some(id) => self.caches.user(&*self.shared.store, app, id).await?,
                    None => None,
                };
                user.ok_or_else(|| {
                    BearerError::Unidentified(format!(
                        "{e}; a user without it must sign in through the browser once before using tokens"
                    ))
                })?
            }
        };
        self.tokens.subjects.insert(subject_key, user.id);
        self.tokens.tokens.insert(
            hash,
            KnownToken {
                app,
                generation: rt.generation,
                user: user.id,
                exp,
            },
        );
        check_status(user, rt)
    }

    async fn bearer_user(&self, rt: &AppRuntime, id: UserId) -> Result<Arc<User>, BearerError> {
        match self.caches.user(&*self.shared.store, rt.app.id, id).await? {
            Some(u) => check_status(u, rt),
            None => Err(BearerError::Unidentified(
                "the token's user no longer exists".into(),
            )),
        }
    }
}

fn check_status(user: Arc<User>, rt: &AppRuntime) -> Result<Arc<User>, BearerError> {
    let why = match user.deactivation() {
        Some(gatehouse_core::user::Deactivation::DisabledByAdmin) => "the account is disabled",
        Some(_) => "the account is deactivated",
        None if rt.provisioning.provisioned_only && !user.provisioned => {
            "the account was not provisioned to this application"
        }
        None => return Ok(user),
    };
    Err(BearerError::Forbidden {
        email: user.email.to_string(),
        why: why.into(),
    })
}

fn unavailable(e: OidcError) -> BearerError {
    BearerError::KeysUnavailable {
        retry_after: e.retry_after().unwrap_or(std::time::Duration::from_secs(5)),
        why: e.to_string(),
    }
}
