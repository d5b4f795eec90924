//! The database use cases a host offers its user: the configuration registered into it, its
//! migrations and tables, a check that it opens.

use std::path::PathBuf;

use serde::Serialize;

use super::App;
use crate::store::{AppliedMigration, SyncReport};
use crate::Error;

/// Where the database is, the migrations applied to it and its tables.
#[derive(Debug, Clone, Serialize)]
pub struct DatabaseInfo {
    pub db: PathBuf,
    pub migrations: Vec<AppliedMigration>,
    pub tables: Vec<String>,
}

impl App {
    /// Open the database (running its migrations): a broken one is reported now.
    pub async fn open_database(&self) -> Result<PathBuf, Error> {
        Ok(self.store().await?.path().to_path_buf())
    }

    /// Register the configuration's current state into the database (new fingerprints for
    /// changed variants); returns the database's path and what changed.
    pub async fn sync_config(&self) -> Result<(PathBuf, SyncReport), Error> {
        let reg = self.registry()?;
        let store = self.store().await?;
        Ok((store.path().to_path_buf(), store.sync_config(&reg).await?))
    }

    /// The database's migrations and tables.
    pub async fn database_info(&self) -> Result<DatabaseInfo, Error> {
        let store = self.store().await?;
        Ok(DatabaseInfo {
            db: store.path().to_path_buf(),
            migrations: store.applied_migrations().await?,
            tables: store.tables().await?,
        })
    }
}
