//! Administrators of the console: accounts (argon2id passwords, kept as the
//! break-glass sign-in even when admin sign-in uses SSO OIDC), console
//! sessions (HttpOnly cookie, stored hashed, idle and absolute lifetimes),
//! and the one-time setup link that creates the first administrator.

use std::sync::Mutex;

use gatehouse_core::ids::{AdminId, SessionId};
use gatehouse_core::session::SessionState;
use gatehouse_core::user::{Email, check_password_policy};
use gatehouse_core::{Actor, AppId};
use gatehouse_crypto::{password, token};
use gatehouse_store::{AdminRecord, AdminSessionRecord, StoreError};
use secrecy::{ExposeSecret, SecretString};

use crate::admin::Admin;
use crate::sessions::{ClientInfo, IssuedSession};
use crate::{Context, ServiceError};

/// A signed-in administrator.
#[derive(Debug, Clone)]
pub struct AdminView {
    /// Id.
    pub id: AdminId,
    /// E-mail.
    pub email: String,
    /// Name.
    pub name: String,
    /// The console session's id.
    pub session_id: SessionId,
}

impl AdminView {
    /// A context for the service calls this administrator makes.
    pub fn context(&self, correlation_id: Option<String>) -> Context {
        Context {
            actor: Actor::Admin {
                id: self.id.to_string(),
                email: self.email.clone(),
            },
            correlation_id,
        }
    }
}

/// The rate-limit bucket of console sign-ins (no application).
/// The audit event of a refused console sign-in (the caller adds the method
/// where there is one to name).
pub(crate) fn admin_signin_failed(
    now: time::OffsetDateTime,
    client: &ClientInfo,
    email: &str,
    reason: &str,
) -> gatehouse_core::AuditEvent {
    gatehouse_core::AuditEvent::new(
        None,
        now,
        Actor::Anonymous {
            ip: client.ip.clone().unwrap_or_default(),
        },
        "admin.signin_failed",
    )
    .target(email)
    .detail("reason", reason)
    .correlated(client.correlation_id.clone())
}

fn console_bucket() -> AppId {
    AppId::from_uuid(uuid::Uuid::nil())
}

/// The one-time token of the setup link (only while no administrator exists).
#[derive(Default)]
pub(crate) struct SetupToken(Mutex<Option<SecretString>>);

impl Admin<'_> {
    /// How many administrators exist.
    pub async fn count(&self) -> Result<i64, ServiceError> {
        Ok(self.shared.store.count_admins().await?)
    }

    /// A setup token for the first administrator, while there is none.
    /// Made once per process; printed by `serve` as a link.
    pub async fn setup_token(&self) -> Result<Option<SecretString>, ServiceError> {
        if self.count().await? > 0 {
            return Ok(None);
        }
        let mut slot = self
            .setup
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(Some(
            slot.get_or_insert_with(|| token::random_token(24)).clone(),
        ))
    }

    /// Whether `candidate` is the current setup token.
    pub async fn check_setup_token(&self, candidate: &str) -> Result<bool, ServiceError> {
        let Some(t) = self.setup_token().await? else {
            return Ok(false);
        };
        Ok(token::secrets_equal(&t, candidate))
    }

    /// Create an administrator.
    pub async fn create(
        &self,
        email: &str,
        name: &str,
        password: Option<SecretString>,
        ctx: &Context,
    ) -> Result<AdminRecord, ServiceError> {
        let mut c = gatehouse_core::validation::Collector::new();
        let email = c.check(Email::parse(email));
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            c.push("name", "must be 1 to 100 characters");
        }
        if let Some(pw) = &password {
            c.check(check_password_policy(pw.expose_secret()));
        }
        c.finish()?;
        let Some(email) = email else {
            return Err(ServiceError::Internal("validated e-mail missing".into()));
        };
        let hash = match password {
            Some(pw) => Some(
                tokio::task::spawn_blocking(move || password::hash(&pw))
                    .await
                    .map_err(|e| ServiceError::Internal(e.to_string()))?
                    .map_err(|e| ServiceError::Internal(e.to_string()))?,
            ),
            None => None,
        };
        let now = self.shared.now();
        let admin = AdminRecord {
            id: AdminId::new(),
            email: email.to_string(),
            name: name.to_owned(),
            password_hash: hash,
            active: true,
            created_at: now,
            last_login_at: None,
        };
        let audit = ctx
            .event(None, now, "admin.created")
            .target(admin.email.as_str())
            .detail("admin_id", admin.id.to_string());
        match self.shared.store.create_admin(&admin, &audit).await {
            Err(StoreError::Conflict { .. }) => Err(ServiceError::Conflict {
                field: "email",
                message: "an administrator with this e-mail exists".into(),
            }),
            other => other.map_err(ServiceError::from),
        }?;
        *self
            .setup
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        Ok(admin)
    }

    /// All administrators.
    pub async fn list(&self) -> Result<Vec<AdminRecord>, ServiceError> {
        Ok(self.shared.store.list_admins().await?)
    }

    /// Sign in to the console with e-mail and password (the break-glass way
    /// when admin sign-in uses SSO). Rate limited like application sign-ins.
    pub async fn sign_in(
        &self,
        email: &str,
        password: SecretString,
        client: &ClientInfo,
    ) -> Result<(AdminView, IssuedSession), ServiceError> {
        let now = self.shared.now();
        let too_long = email.trim().len() > crate::local_login::MAX_EMAIL_LEN;
        let email = gatehouse_core::audit::truncate(
            email.trim().to_owned(),
            crate::local_login::MAX_EMAIL_LEN,
        );
        let email = email.as_str();
        let email_lower = email.to_lowercase();
        let source = client.ip.clone().unwrap_or_default();
        let fail = |reason: &str| admin_signin_failed(now, client, email.trim(), reason);
        if let Err(wait) =
            self.limiter
                .check(console_bucket(), &email_lower, client.ip.as_deref(), false)
        {
            self.refusals
                .audit(self.shared, fail("rate_limited"), &source, "rate_limited")
                .await?;
            return Err(ServiceError::RateLimited {
                retry_after: wait.max(std::time::Duration::from_secs(1)),
            });
        }
        let found = if too_long {
            None
        } else {
            self.shared.store.find_admin_by_email(&email_lower).await?
        };
        let Some(admin) = found.filter(|a| a.password_hash.is_some()) else {
            let pw = password.clone();
            let _ = tokio::task::spawn_blocking(move || password::verify_dummy(&pw)).await;
            self.refusals
                .audit(self.shared, fail("unknown_admin"), &source, "unknown_admin")
                .await?;
            tracing::info!(
                outcome = "failed",
                reason = "unknown_admin",
                "console sign-in refused"
            );
            return Err(ServiceError::InvalidCredentials);
        };
        let hash = admin.password_hash.clone().unwrap_or_default();
        let ok = tokio::task::spawn_blocking(move || password::verify(&password, &hash))
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        if !ok || !admin.active {
            let reason = if ok { "disabled" } else { "bad_password" };
            self.refusals
                .audit(self.shared, fail(reason), &source, reason)
                .await?;
            tracing::info!(outcome = "failed", "console sign-in refused");
            return Err(ServiceError::InvalidCredentials);
        }
        self.create_session(
            &admin,
            gatehouse_core::session::SignInMethod::Password,
            client,
        )
        .await
    }

    /// Issue a console session for `admin`.
    pub async fn create_session(
        &self,
        admin: &AdminRecord,
        method: gatehouse_core::session::SignInMethod,
        client: &ClientInfo,
    ) -> Result<(AdminView, IssuedSession), ServiceError> {
        let now = self.shared.now();
        let policy = self.shared.settings.session_policy;
        let secret = token::random_token(32);
        let record = AdminSessionRecord {
            base: client.session(
                token::lookup_hash(secret.expose_secret()),
                method,
                now,
                policy.absolute,
            ),
            admin_id: admin.id,
        };
        let view = AdminView {
            id: admin.id,
            email: admin.email.clone(),
            name: admin.name.clone(),
            session_id: record.base.id,
        };
        let audit = view
            .context(client.correlation_id.clone())
            .event(None, now, "admin.signin")
            .target(admin.email.as_str())
            .detail("method", method.as_str());
        self.shared
            .store
            .create_admin_session(&record, &audit)
            .await?;
        tracing::info!(admin = %admin.email, method = method.as_str(), "console sign-in");
        Ok((
            view,
            IssuedSession {
                token: secret,
                id: record.base.id,
                expires_at: record.base.expires_at,
            },
        ))
    }

    /// The administrator behind a console cookie.
    pub async fn session(&self, cookie: &str) -> Result<Option<AdminView>, ServiceError> {
        let hash = token::lookup_hash(cookie);
        let Some(s) = self.shared.store.get_admin_session(&hash).await? else {
            return Ok(None);
        };
        let now = self.shared.now();
        if s.base.revoked_at.is_some()
            || self.shared.settings.session_policy.state(
                s.base.created_at,
                s.base.last_seen_at,
                now,
            ) != SessionState::Active
        {
            return Ok(None);
        }
        let Some(admin) = self
            .shared
            .store
            .get_admin(s.admin_id)
            .await?
            .filter(|a| a.active)
        else {
            return Ok(None);
        };
        if now - s.base.last_seen_at > time::Duration::seconds(30) {
            self.shared.store.touch_admin_session(&hash, now).await?;
        }
        Ok(Some(AdminView {
            id: admin.id,
            email: admin.email,
            name: admin.name,
            session_id: s.base.id,
        }))
    }

    /// End a console session.
    pub async fn sign_out(
        &self,
        cookie: &str,
        admin: &AdminView,
        correlation_id: Option<String>,
    ) -> Result<(), ServiceError> {
        let now = self.shared.now();
        let audit = admin
            .context(correlation_id)
            .event(None, now, "admin.signout")
            .target(admin.email.as_str());
        self.shared
            .store
            .revoke_admin_session(&token::lookup_hash(cookie), now, &audit)
            .await?;
        Ok(())
    }
}
