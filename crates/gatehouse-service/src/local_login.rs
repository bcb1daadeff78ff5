//! Local sign-in with e-mail and password, the default when SSO OIDC is
//! disabled. Attempts are rate limited per account and per client address,
//! every failure is audited with its reason, and the answer never says
//! whether the e-mail or the password was wrong.

use std::num::NonZeroU32;
use std::time::Duration;

use gatehouse_core::user::{Email, UserStatus};
use gatehouse_core::{AppId, Application};
use gatehouse_crypto::password;
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use secrecy::SecretString;

use crate::sessions::{ClientInfo, IdpSessionData, IssuedSession};
use crate::{Context, Gatehouse, ServiceError, Settings};

/// Per-account and per-address attempt limits (token buckets refilled over a minute).
pub(crate) struct LoginLimiter {
    per_account: DefaultKeyedRateLimiter<(AppId, String)>,
    per_ip: DefaultKeyedRateLimiter<String>,
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN))
}

impl LoginLimiter {
    pub fn new(settings: &Settings) -> Self {
        Self {
            per_account: RateLimiter::keyed(per_minute(settings.login_attempts_per_account)),
            per_ip: RateLimiter::keyed(per_minute(settings.login_attempts_per_ip)),
        }
    }

    /// Take one attempt for this address and account, or say how long to wait.
    pub(crate) fn check(&self, app: AppId, email: &str, ip: Option<&str>) -> Result<(), Duration> {
        let now = DefaultClock::default().now();
        if let Some(ip) = ip {
            self.per_ip
                .check_key(&ip.to_owned())
                .map_err(|not_until| not_until.wait_time_from(now))?;
        }
        self.per_account
            .check_key(&(app, email.to_owned()))
            .map_err(|not_until| not_until.wait_time_from(now))
    }

    pub fn forget_idle(&self) {
        self.per_account.retain_recent();
        self.per_ip.retain_recent();
    }
}

impl Gatehouse {
    /// Sign in with e-mail and password and issue a session.
    pub async fn sign_in_with_password(
        &self,
        app: &Application,
        email: &str,
        password: SecretString,
        client: &ClientInfo,
        ctx: &Context,
    ) -> Result<IssuedSession, ServiceError> {
        let now = self.now();
        let email_lower = email.trim().to_lowercase();
        let fail = |reason: &str| {
            ctx.event(Some(app.id), now, "signin.failed")
                .target(email.trim())
                .detail("method", "password")
                .detail("reason", reason)
                .detail("ip", client.ip.clone().unwrap_or_default())
        };

        if let Err(wait) = self
            .inner
            .limiter
            .check(app.id, &email_lower, client.ip.as_deref())
        {
            self.inner.store.append_audit(&fail("rate_limited")).await?;
            tracing::warn!(app = %app.slug, outcome = "rate_limited", "sign-in refused: too many attempts");
            return Err(ServiceError::RateLimited {
                retry_after: wait.max(Duration::from_secs(1)),
            });
        }

        let found = match Email::parse(&email_lower) {
            Ok(_) => {
                self.inner
                    .store
                    .find_user_by_email(app.id, &email_lower)
                    .await?
            }
            Err(_) => None,
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
                self.inner.store.append_audit(&fail(reason)).await?;
                tracing::info!(app = %app.slug, outcome = "failed", reason, "sign-in refused");
                return Err(ServiceError::InvalidCredentials);
            }
        };
        let ok = tokio::task::spawn_blocking(move || password::verify(&password, &hash))
            .await
            .map_err(|e| ServiceError::Internal(format!("password check failed: {e}")))?;
        if !ok {
            self.inner.store.append_audit(&fail("bad_password")).await?;
            tracing::info!(app = %app.slug, outcome = "failed", reason = "bad_password", "sign-in refused");
            return Err(ServiceError::InvalidCredentials);
        }
        if user.status != UserStatus::Active {
            self.inner.store.append_audit(&fail("disabled")).await?;
            tracing::info!(app = %app.slug, outcome = "failed", reason = "disabled", "sign-in refused");
            return Err(ServiceError::InvalidCredentials);
        }
        let no_access = self
            .routes()
            .get(app.id)
            .is_none_or(|rt| !rt.decide(&user).allowed());
        if no_access {
            self.inner.store.append_audit(&fail("no_access")).await?;
            tracing::info!(app = %app.slug, outcome = "failed", reason = "no_access", "sign-in refused");
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
            .create_session(
                app,
                &user,
                "password",
                client,
                IdpSessionData::default(),
                &ctx,
            )
            .await?;
        tracing::info!(app = %app.slug, outcome = "succeeded", method = "password", "signed in");
        Ok(issued)
    }
}
