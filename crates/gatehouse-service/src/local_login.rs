//! Local sign-in with e-mail and password, the default when SSO OIDC is
//! disabled. Attempts are rate limited per account and per client address,
//! every failure is audited with its reason, and the answer never says
//! whether the e-mail or the password was wrong.

use gatehouse_crypto::SealContext;
use std::num::NonZeroU32;
use std::time::Duration;

use gatehouse_core::user::Email;
use gatehouse_core::{AppId, Application};
use gatehouse_crypto::password;
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use secrecy::SecretString;

use crate::oidc::SignIn;
use crate::sessions::{ClientInfo, IdpSessionData, IssuedSession};
use crate::{Context, ServiceError, Settings};

/// The longest e-mail address there is (RFC 5321 path limit); a longer
/// one is refused before it reaches the limiter, the audit log or a log line.
pub const MAX_EMAIL_LEN: usize = 254;

/// The most keys a limiter table holds before new keys share one bucket.
const MAX_LIMITER_KEYS: usize = 100_000;

/// How long a device cookie vouches for a browser.
pub const DEVICE_TTL: time::Duration = time::Duration::days(180);

/// Attempt limits (token buckets refilled over a minute), in the way OWASP
/// recommends against both guessing and lock-out:
///
/// - per account *and source* (`login_attempts_per_account`): a guesser is
///   slowed down without locking the owner out from elsewhere;
/// - per account from everywhere, ten times as many: distributed guessing
///   still hits a limit; a browser holding a device cookie for the account
///   (it signed in with it before) is not counted against this one, so an
///   attacker cannot lock the owner out;
/// - per source (`login_attempts_per_ip`).
pub(crate) struct LoginLimiter {
    per_account_source: DefaultKeyedRateLimiter<(AppId, String, String)>,
    per_account: DefaultKeyedRateLimiter<(AppId, String)>,
    per_ip: DefaultKeyedRateLimiter<String>,
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN))
}

/// `key`, or one shared overflow key when the table is full: a flood of
/// new keys cannot grow memory, it only shares one bucket.
fn bounded_key<K: std::hash::Hash + Eq + Clone>(
    limiter: &DefaultKeyedRateLimiter<K>,
    key: K,
    overflow: K,
) -> K {
    if limiter.len() >= MAX_LIMITER_KEYS {
        limiter.retain_recent();
        if limiter.len() >= MAX_LIMITER_KEYS {
            return overflow;
        }
    }
    key
}

impl LoginLimiter {
    pub fn new(settings: &Settings) -> Self {
        Self {
            per_account_source: RateLimiter::keyed(per_minute(settings.login_attempts_per_account)),
            per_account: RateLimiter::keyed(per_minute(
                settings.login_attempts_per_account.saturating_mul(10),
            )),
            per_ip: RateLimiter::keyed(per_minute(settings.login_attempts_per_ip)),
        }
    }

    /// Take one attempt for this address and account, or say how long to
    /// wait. `known_device`: the browser holds a device cookie for the account.
    pub(crate) fn check(
        &self,
        app: AppId,
        email: &str,
        ip: Option<&str>,
        known_device: bool,
    ) -> Result<(), Duration> {
        let now = DefaultClock::default().now();
        let source = ip.unwrap_or("").to_owned();
        if let Some(ip) = ip {
            let key = bounded_key(&self.per_ip, ip.to_owned(), "*".to_owned());
            self.per_ip
                .check_key(&key)
                .map_err(|not_until| not_until.wait_time_from(now))?;
        }
        let key = bounded_key(
            &self.per_account_source,
            (app, email.to_owned(), source),
            (app, "*".to_owned(), "*".to_owned()),
        );
        self.per_account_source
            .check_key(&key)
            .map_err(|not_until| not_until.wait_time_from(now))?;
        if known_device {
            return Ok(());
        }
        let key = bounded_key(
            &self.per_account,
            (app, email.to_owned()),
            (app, "*".to_owned()),
        );
        self.per_account
            .check_key(&key)
            .map_err(|not_until| not_until.wait_time_from(now))
    }

    pub fn forget_idle(&self) {
        self.per_account_source.retain_recent();
        self.per_account.retain_recent();
        self.per_ip.retain_recent();
    }
}

impl SignIn<'_> {
    /// Sign in with e-mail and password and issue a session.
    #[tracing::instrument(level = "info", skip_all, fields(app = %app.slug), err(level = "debug"))]
    pub async fn with_password(
        &self,
        app: &Application,
        email: &str,
        password: SecretString,
        device: Option<&str>,
        client: &ClientInfo,
        ctx: &Context,
    ) -> Result<IssuedSession, ServiceError> {
        let now = self.shared.now();
        let too_long = email.trim().len() > MAX_EMAIL_LEN;
        let email = gatehouse_core::audit::truncate(email.trim().to_owned(), MAX_EMAIL_LEN);
        let email = email.as_str();
        let email_lower = email.to_lowercase();
        let source = client.ip.clone().unwrap_or_default();
        let fail = |reason: &str| {
            ctx.event(Some(app.id), now, "signin.failed")
                .target(email.trim())
                .detail("method", "password")
                .detail("reason", reason)
                .detail("ip", client.ip.clone().unwrap_or_default())
        };

        let known_device = device.is_some_and(|d| self.device_vouches(app.id, d, &email_lower));
        if let Err(wait) =
            self.limiter
                .check(app.id, &email_lower, client.ip.as_deref(), known_device)
        {
            if self
                .refusals
                .audit(self.shared, fail("rate_limited"), &source, "rate_limited")
                .await?
            {
                tracing::warn!(app = %app.slug, outcome = "rate_limited", "sign-in refused: too many attempts");
            }
            return Err(ServiceError::RateLimited {
                retry_after: wait.max(Duration::from_secs(1)),
            });
        }

        let found = match Email::parse(&email_lower) {
            Ok(_) if !too_long => {
                self.shared
                    .store
                    .find_user_by_email(app.id, &email_lower)
                    .await?
            }
            _ => None,
        };
        let (user, hash) = match found {
            Some((user, Some(hash))) => (user, hash),
            other => {
                // Spend the same time as a real check, so timing does not tell
                // whether the account exists.
                let pw = password.clone();
                let _ = tokio::task::spawn_blocking(move || password::verify_dummy(&pw)).await;
                let reason = if other.is_some() {
                    "no_password"
                } else {
                    "unknown_user"
                };
                if self
                    .refusals
                    .audit(self.shared, fail(reason), &source, reason)
                    .await?
                {
                    tracing::info!(app = %app.slug, outcome = "failed", reason, "sign-in refused");
                }
                return Err(ServiceError::InvalidCredentials);
            }
        };
        let ok = tokio::task::spawn_blocking(move || password::verify(&password, &hash))
            .await
            .map_err(|e| ServiceError::Internal(format!("password check failed: {e}")))?;
        if !ok {
            if self
                .refusals
                .audit(self.shared, fail("bad_password"), &source, "bad_password")
                .await?
            {
                tracing::info!(app = %app.slug, outcome = "failed", reason = "bad_password", "sign-in refused");
            }
            return Err(ServiceError::InvalidCredentials);
        }
        // Deactivated (by an administrator or provisioning), or not
        // provisioned where only provisioned users may sign in: refused as a
        // wrong password is (nobody learns which accounts exist).
        let provisioned_only = self
            .router
            .current()
            .get(app.id)
            .is_some_and(|rt| rt.provisioning.provisioned_only);
        let reason = if !user.may_sign_in() {
            Some("disabled")
        } else if provisioned_only && !user.provisioned {
            Some("not_provisioned")
        } else {
            None
        };
        if let Some(reason) = reason {
            if self
                .refusals
                .audit(self.shared, fail(reason), &source, reason)
                .await?
            {
                tracing::info!(app = %app.slug, outcome = "failed", reason, "sign-in refused");
            }
            return Err(ServiceError::InvalidCredentials);
        }
        let no_access = self
            .router
            .current()
            .get(app.id)
            .is_none_or(|rt| !rt.decide(&user).allowed());
        if no_access {
            if self
                .refusals
                .audit(self.shared, fail("no_access"), &source, "no_access")
                .await?
            {
                tracing::info!(app = %app.slug, outcome = "failed", reason = "no_access", "sign-in refused");
            }
            return Err(ServiceError::NoAccess {
                email: user.email.to_string(),
            });
        }
        let ctx = Context {
            actor: gatehouse_core::Actor::User {
                id: user.id.to_string(),
                email: user.email.to_string(),
            },
            correlation_id: ctx.correlation_id.clone(),
        };
        let issued = self
            .sessions()
            .create(
                app,
                &user,
                gatehouse_core::session::SignInMethod::Password,
                client,
                IdpSessionData::default(),
                &ctx,
            )
            .await?;
        tracing::info!(app = %app.slug, outcome = "succeeded", method = "password", "signed in");
        Ok(issued)
    }

    /// A device cookie for `email` in `app`, given to a browser that signed
    /// in with a password: later attempts from it are not counted against
    /// the account's lock-out (OWASP "device cookies").
    pub fn device_token(&self, app: AppId, email: &str) -> Option<String> {
        let body = serde_json::json!({
            "e": email.trim().to_lowercase(),
            "exp": (self.shared.now() + DEVICE_TTL).unix_timestamp(),
        });
        self.shared
            .keys
            .seal(body.to_string().as_bytes(), SealContext::LoginDevice(app))
            .ok()
            .map(String::from)
    }

    /// Whether `token` is a live device cookie for `email_lower` in `app`.
    fn device_vouches(&self, app: AppId, token: &str, email_lower: &str) -> bool {
        let Some(token) = gatehouse_core::Sealed::parse(token) else {
            return false;
        };
        let Ok(bytes) = self.shared.keys.open(&token, SealContext::LoginDevice(app)) else {
            return false;
        };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            return false;
        };
        v.get("e").and_then(serde_json::Value::as_str) == Some(email_lower)
            && v.get("exp")
                .and_then(serde_json::Value::as_i64)
                .is_some_and(|exp| exp > self.shared.now().unix_timestamp())
    }
}
