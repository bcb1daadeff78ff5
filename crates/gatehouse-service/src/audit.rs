//! Reading the audit log.

use gatehouse_core::{AppId, AuditEvent};
use gatehouse_store::AuditQuery;

use crate::ServiceError;
use crate::admin::Admin;

impl Admin<'_> {
    /// Audit events of an application, newest first.
    pub async fn audit(
        &self,
        app: AppId,
        mut query: AuditQuery,
    ) -> Result<Vec<AuditEvent>, ServiceError> {
        self.shared.app(app).await?;
        query.app_id = Some(app);
        Ok(self.shared.store.list_audit(&query).await?)
    }

    /// Audit events of the whole instance, newest first.
    pub async fn all_audit(&self, query: AuditQuery) -> Result<Vec<AuditEvent>, ServiceError> {
        Ok(self.shared.store.list_audit(&query).await?)
    }
}
