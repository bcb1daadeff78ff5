//! The [`Store`] trait itself, compiled once per backend like the queries;
//! what differs (the migrations, the name, change notifications) comes from
//! the backend's module.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Notify;

use super::Backend;
use crate::{Store, StoreError, StoreUnit};

#[async_trait]
impl Store for Backend {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        self.run_migrations().await
    }

    fn backend(&self) -> &'static str {
        super::NAME
    }

    fn change_signal(&self) -> Option<Arc<Notify>> {
        self.signal()
    }

    async fn begin_unit(&self) -> Result<Box<dyn StoreUnit>, StoreError> {
        self.begin_unit_of_work().await
    }
}
