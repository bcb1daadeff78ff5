//! Access management: grants of roles to users, groups and tag conditions,
//! and the application's access policy (default role, per-route rules).
//! Changes reach every node's routing snapshot through the change feed, so
//! they apply on the next request without anyone signing out.

use gatehouse_core::AppId;
use gatehouse_core::access::{AccessPolicy, Grant, GrantInput};
use gatehouse_core::ids::GrantId;
use gatehouse_store::StoreError;

use crate::routing::ACCESS_KEY;
use crate::{Context, Gatehouse, ServiceError};

impl Gatehouse {
    /// Grants of an application.
    pub async fn list_grants(&self, app: AppId) -> Result<Vec<Grant>, ServiceError> {
        self.get_app(app).await?;
        Ok(self.store().list_grants(app).await?)
    }

    /// Grant a role.
    pub async fn create_grant(
        &self,
        app: AppId,
        input: GrantInput,
        ctx: &Context,
    ) -> Result<Grant, ServiceError> {
        let application = self.get_app(app).await?;
        let (role, subject) = input.validate()?;
        if self
            .store()
            .list_grants(app)
            .await?
            .iter()
            .any(|g| g.role == role && g.subject == subject)
        {
            return Err(ServiceError::Conflict {
                field: "subject",
                message: "this role is already granted to this subject".into(),
            });
        }
        let now = self.now();
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
        self.store().create_grant(&grant, &audit).await?;
        self.reload_routes().await?;
        Ok(grant)
    }

    /// Take a grant back.
    pub async fn delete_grant(
        &self,
        app: AppId,
        id: GrantId,
        ctx: &Context,
    ) -> Result<(), ServiceError> {
        let application = self.get_app(app).await?;
        let grant = self
            .store()
            .list_grants(app)
            .await?
            .into_iter()
            .find(|g| g.id == id)
            .ok_or(ServiceError::NotFound("grant"))?;
        let audit = ctx
            .event(Some(app), self.now(), "grant.deleted")
            .target(application.slug.as_str())
            .detail("grant_id", id.to_string())
            .detail("role", grant.role.as_str())
            .detail("subject", grant.subject.describe());
        match self.store().delete_grant(app, id, &audit).await {
            Err(StoreError::NotFound) => return Err(ServiceError::NotFound("grant")),
            other => other?,
        }
        self.reload_routes().await?;
        Ok(())
    }

    /// The access policy of an application.
    pub async fn get_access(&self, app: AppId) -> Result<AccessPolicy, ServiceError> {
        self.get_app(app).await?;
        match self.store().get_app_setting(app, ACCESS_KEY).await? {
            Some(v) => serde_json::from_value::<AccessPolicy>(v)
                .map_err(|e| ServiceError::Internal(e.to_string()))
                .and_then(|p| p.validate().map_err(ServiceError::Invalid)),
            None => Ok(AccessPolicy::default()),
        }
    }

    /// Replace the access policy of an application.
    pub async fn put_access(
        &self,
        app: AppId,
        policy: AccessPolicy,
        ctx: &Context,
    ) -> Result<AccessPolicy, ServiceError> {
        let application = self.get_app(app).await?;
        let policy = policy.validate()?;
        let now = self.now();
        let value =
            serde_json::to_value(&policy).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let audit = ctx
            .event(Some(app), now, "access.updated")
            .target(application.slug.as_str())
            .detail("default_role", policy.default_role.clone())
            .detail("routes", policy.routes.len());
        self.store()
            .put_app_setting(app, ACCESS_KEY, &value, now, &audit)
            .await?;
        self.reload_routes().await?;
        Ok(policy)
    }
}
