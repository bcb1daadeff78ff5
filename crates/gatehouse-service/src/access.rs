//! Access management: grants of roles to users, groups and tag conditions,
//! and the application's access policy (default role, per-route rules).
//! Changes reach every node's routing snapshot through the change feed, so
//! they apply on the next request without anyone signing out.

use gatehouse_core::access::{
    AccessPolicy, AccessPolicyInput, Authorization, Grant, NewGrant, Role,
};
use gatehouse_core::ids::GrantId;
use gatehouse_core::user::User;
use gatehouse_core::{Actor, AppId, AuditEvent};
use gatehouse_store::StoreError;

use crate::refusals::{Note, Refusals};
use crate::routing::{ACCESS_KEY, AppRuntime};
use crate::{Context, ServiceError};

/// Access decisions for requests on application hosts: the user's roles
/// from the application's grants and default role, then its route rules.
/// Also the grants and access policies those decisions read. Holds the
/// store (grants, policies, the audit log for refusals, burst-limited like
/// refused sign-ins), the routing snapshot (reloaded after each change) and
/// the refusal ledger.
pub struct Access<'a> {
    pub(crate) shared: &'a crate::Shared,
    pub(crate) router: &'a crate::routing::Router,
    pub(crate) refusals: &'a Refusals,
}

/// What a request is, for its access decision.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'r> {
    /// The request's canonical match key (never the raw path).
    pub path: &'r str,
    /// How the caller proved who they are (`session` or `bearer`), for the log.
    pub via: &'static str,
    /// The request's correlation id, for the audit event.
    pub correlation_id: Option<&'r str>,
}

impl Access<'_> {
    /// Whether `user` may make this request of `rt`'s application. A
    /// refusal is logged with its reasons and written to the audit log
    /// (`access.denied`; the first of a burst per user and reason, with
    /// the count of those left out on the next).
    #[tracing::instrument(level = "debug", skip_all, fields(app = %rt.app.slug, user = %user.id))]
    pub async fn authorize(
        &self,
        rt: &AppRuntime,
        user: &User,
        facts: RequestFacts<'_>,
    ) -> Authorization {
        let outcome = gatehouse_core::access::authorize(user, &rt.grants, &rt.access, facts.path);
        if let Authorization::Denied(denied) = &outcome {
            tracing::info!(
                app = %rt.app.slug,
                user = %user.id,
                via = facts.via,
                reason = denied.reason(),
                rule = denied.rule.as_ref().map(|r| r.prefix.as_str()),
                why = %denied.reasons.join(" "),
                "access denied"
            );
            let now = self.shared.now();
            if let Note::Write { repeated_before } = self.refusals.note(
                Some(rt.app.id),
                &user.id.to_string(),
                denied.reason(),
                now.unix_timestamp(),
            ) {
                let mut event = AuditEvent::new(
                    Some(rt.app.id),
                    now,
                    Actor::User {
                        id: user.id.to_string(),
                        email: user.email.to_string(),
                    },
                    "access.denied",
                )
                .target(user.email.as_str())
                .correlated(facts.correlation_id.map(str::to_owned))
                .detail("reason", denied.reason())
                .detail("via", facts.via)
                .detail("reasons", denied.reasons.clone());
                if let Some(rule) = &denied.rule {
                    event = event.detail("rule", rule.prefix.clone()).detail(
                        "needs",
                        rule.roles.iter().map(Role::as_str).collect::<Vec<_>>(),
                    );
                }
                if repeated_before > 0 {
                    event = event.detail("repeated_before", repeated_before);
                }
                if let Err(e) = self.shared.store.append_audit(&event).await {
                    tracing::warn!(error = %e, "could not write the access.denied audit event");
                }
            }
        }
        outcome
    }
}

impl Access<'_> {
    /// Grants of an application.
    pub async fn grants(&self, app: AppId) -> Result<Vec<Grant>, ServiceError> {
        self.shared.app(app).await?;
        Ok(self.shared.store.list_grants(app).await?)
    }

    /// Grant a role.
    #[tracing::instrument(level = "info", skip_all, fields(app = %app), err(level = "debug"))]
    pub async fn create_grant(
        &self,
        app: AppId,
        grant: NewGrant,
        ctx: &Context,
    ) -> Result<Grant, ServiceError> {
        let application = self.shared.app(app).await?;
        if self
            .shared
            .store
            .list_grants(app)
            .await?
            .iter()
            .any(|g| g.role == grant.role && g.subject == grant.subject)
        {
            return Err(ServiceError::Conflict {
                field: "subject",
                message: "this role is already granted to this subject".into(),
            });
        }
        self.add_grant(&application, grant, ctx).await
    }

    /// Store a grant known not to exist yet (the caller read the
    /// application's grants in the same unit of work): no scan of the
    /// application's grants per grant added.
    pub(crate) async fn add_grant(
        &self,
        application: &gatehouse_core::Application,
        grant: NewGrant,
        ctx: &Context,
    ) -> Result<Grant, ServiceError> {
        let app = application.id;
        let NewGrant { role, subject } = grant;
        let now = self.shared.now();
        let grant = Grant {
            id: GrantId::new(),
            app_id: app,
            role,
            subject,
            created_at: now,
        };
        let audit = ctx
            .event(Some(app), now, "grant.created")
            .target(application.slug.as_str())
            .detail("grant_id", grant.id.to_string())
            .detail("role", grant.role.as_str())
            .detail("subject", grant.subject.describe());
        self.shared.store.create_grant(&grant, &audit).await?;
        self.router.reload(self.shared).await?;
        Ok(grant)
    }

    /// Take a grant back.
    #[tracing::instrument(level = "info", skip_all, fields(app = %app, grant = %id), err(level = "debug"))]
    pub async fn delete_grant(
        &self,
        app: AppId,
        id: GrantId,
        ctx: &Context,
    ) -> Result<(), ServiceError> {
        let application = self.shared.app(app).await?;
        let grant = self
            .shared
            .store
            .list_grants(app)
            .await?
            .into_iter()
            .find(|g| g.id == id)
            .ok_or(ServiceError::NotFound("grant"))?;
        let audit = ctx
            .event(Some(app), self.shared.now(), "grant.deleted")
            .target(application.slug.as_str())
            .detail("grant_id", id.to_string())
            .detail("role", grant.role.as_str())
            .detail("subject", grant.subject.describe());
        match self.shared.store.delete_grant(app, id, &audit).await {
            Err(StoreError::NotFound) => return Err(ServiceError::NotFound("grant")),
            other => other?,
        }
        self.router.reload(self.shared).await?;
        Ok(())
    }

    /// The access policy of an application.
    pub async fn policy(&self, app: AppId) -> Result<AccessPolicy, ServiceError> {
        self.shared.app(app).await?;
        match self.shared.store.get_app_setting(app, ACCESS_KEY).await? {
            Some(v) => serde_json::from_value::<AccessPolicyInput>(v)
                .map_err(|e| ServiceError::Internal(e.to_string()))
                .and_then(|p| p.validate().map_err(ServiceError::Invalid)),
            None => Ok(AccessPolicy::default()),
        }
    }

    /// Replace the access policy of an application.
    #[tracing::instrument(level = "info", skip_all, fields(app = %app), err(level = "debug"))]
    pub async fn put_policy(
        &self,
        app: AppId,
        policy: AccessPolicyInput,
        ctx: &Context,
    ) -> Result<AccessPolicy, ServiceError> {
        let application = self.shared.app(app).await?;
        let policy = policy.validate()?;
        let now = self.shared.now();
        let value =
            serde_json::to_value(&policy).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let audit = ctx
            .event(Some(app), now, "access.updated")
            .target(application.slug.as_str())
            .detail(
                "default_role",
                policy.default_role.as_ref().map(Role::as_str),
            )
            .detail("routes", policy.routes.len());
        self.shared
            .store
            .put_app_setting(app, ACCESS_KEY, &value, now, &audit)
            .await?;
        self.router.reload(self.shared).await?;
        Ok(policy)
    }
}
