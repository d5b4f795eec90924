//! `stackperf prune`: what the retention policy deletes, said first, then done.

use serde::Serialize;

use super::App;
use crate::config::retention::Retention;
use crate::store::PrunePlan;
use crate::timestamp::Timestamp;
use crate::Error;

/// What a prune deletes (or deleted) and what it frees.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct PruneReport {
    pub retention: Retention,
    pub plan: PrunePlan,
    /// Session folders deleted with their sessions, and their size.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub folders: u64,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub folder_bytes: u64,
    /// The database's size before, and after compaction (when applied).
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub db_bytes: u64,
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub db_bytes_after: Option<u64>,
    pub applied: bool,
    /// Exports written before the session retention (listed, never deleted: they are the user's
    /// files).
    pub old_exports: Vec<crate::store::Artifact>,
    /// Rotated capture spools read to the end and older than `raw_days`: deleted.
    pub spools: Vec<String>,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub spool_bytes: u64,
    /// When the plan was made (Unix epoch ms): `apply` deletes by the same cut-off.
    pub at: Timestamp,
}

/// Bytes under `path` (files only; symlinks not followed).
fn size_of(path: &std::path::Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .map(|rd| rd.flatten().map(|e| size_of(&e.path())).sum())
        .unwrap_or(0)
}

/// What StackPerf keeps on this machine, by kind (bytes).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct DataUsage {
    /// The database (with its WAL).
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub database: u64,
    /// Session folders: harness state, run logs, working copies.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub sessions: u64,
    /// Capture spools, live and rotated.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub capture: u64,
    /// The stack's service logs.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub logs: u64,
    pub data_dir: String,
}

impl App {
    /// How much each kind of data takes.
    pub fn data_usage(&self) -> DataUsage {
        let d = &self.paths.data_dir;
        let db = &self.paths.db_path;
        let with = |suffix: &str| {
            let mut p = db.clone().into_os_string();
            p.push(suffix);
            size_of(std::path::Path::new(&p))
        };
        DataUsage {
            database: size_of(db) + with("-wal") + with("-shm"),
            sessions: size_of(&d.join("sessions")),
            capture: size_of(&d.join("capture")),
            logs: size_of(&d.join("stack").join("logs")) + size_of(&d.join("logs")),
            data_dir: d.display().to_string(),
        }
    }

    /// What pruning would delete now (changes nothing).
    pub async fn prune_plan(&self) -> Result<PruneReport, Error> {
        let retention = Retention::load(&self.paths.config_dir)?;
        let at = Timestamp::now();
        let plan = self
            .store()
            .await?
            .prune_plan(at, retention.requests_days, retention.sessions_days)
            .await?;
        let dirs: Vec<_> = plan
            .sessions
            .iter()
            .map(|id| crate::paths::session_dir(&self.paths.data_dir, id))
            .filter(|d| d.is_dir())
            .collect();
        let old_exports = self
            .store()
            .await?
            .artifacts_before(at.days_before(retention.sessions_days))
            .await?;
        let spools = crate::ingest::rotate::drained_before(
            self.store().await?,
            &[
                crate::paths::spool(&self.paths.data_dir),
                crate::paths::edge_spool(&self.paths.data_dir),
            ],
            at.days_before(retention.raw_days),
        )
        .await?;
        Ok(PruneReport {
            spool_bytes: spools.iter().map(|(_, b)| b).sum(),
            spools: spools
                .iter()
                .map(|(p, _)| p.display().to_string())
                .collect(),
            old_exports,
            retention,
            folders: dirs.len() as u64,
            folder_bytes: dirs.iter().map(|d| size_of(d)).sum(),
            db_bytes: self.store().await?.size_bytes().await?,
            db_bytes_after: None,
            applied: false,
            plan,
            at,
        })
    }

    /// Delete what `report` (from [`App::prune_plan`]) lists, then compact the database.
    pub async fn prune_apply(&self, mut report: PruneReport) -> Result<PruneReport, Error> {
        let store = self.store().await?;
        let cutoff = report.at.days_before(report.retention.requests_days);
        store
            .prune_apply(&report.plan, Timestamp::now(), cutoff)
            .await?;
        // Ids come from the database: only plain ones name a folder to delete.
        let plain = |id: &str| {
            !id.is_empty()
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        };
        for id in report.plan.sessions.iter().filter(|id| plain(id)) {
            let dir = crate::paths::session_dir(&self.paths.data_dir, id);
            if dir.is_dir() {
                std::fs::remove_dir_all(&dir)
                    .map_err(crate::io_err(format!("delete {}", dir.display())))?;
            }
        }
        for f in &report.spools {
            match std::fs::remove_file(f) {
                Ok(()) => store.delete_ingest_cursor(f).await?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(crate::io_err(format!("delete {f}"))(e)),
            }
        }
        store.compact().await?;
        report.db_bytes_after = Some(store.size_bytes().await?);
        report.applied = true;
        Ok(report)
    }
}
