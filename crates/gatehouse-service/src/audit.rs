//! Reading the audit log.

use gatehouse_core::{AppId, AuditEvent};
use gatehouse_store::AuditQuery;

use crate::{Gatehouse, ServiceError};

impl Gatehouse {
    /// Audit events of an application, newest first.
    pub async fn list_audit(
        &self,
        app: AppId,
        mut query: AuditQuery,
    ) -> Result<Vec<AuditEvent>, ServiceError> {
        self.get_app(app).await?;
        query.app_id = Some(app);
        Ok(self.inner.store.list_audit(&query).await?)
    }

    /// Audit events of the whole instance, newest first.
    pub async fn list_all_audit(&self, query: AuditQuery) -> Result<Vec<AuditEvent>, ServiceError> {
        Ok(self.inner.store.list_audit(&query).await?)
    }
}
