//! Read-only queries for the local HTTP API (`stackperf serve`): the catalog, pages of sessions
//! by filter, one session with its requests, and exports as bytes. The CLI and the desktop use
//! the same calls underneath (`sessions`, `session_requests`, `compare`, `export`).

use serde::Serialize;

use super::outputs::{ExportFormat, ExportRequest};
use super::setup::ExperimentChoice;
use super::App;
use crate::session::SessionRow;
use crate::store::{RequestBrief, SessionFilter};
use crate::Error;

/// The largest page the API serves.
pub const MAX_PAGE: u32 = 1000;

/// A variant as configured.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct VariantInfo {
    pub name: String,
    pub description: String,
    pub provider: String,
    pub model: String,
    pub harness: String,
    /// The experiments that compare it.
    pub experiments: Vec<String>,
}

/// A task card as configured (its prompt left out).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct TaskCardInfo {
    pub name: String,
    pub goal: String,
    pub repo_path: String,
    pub repo_ref: Option<String>,
    /// The command whose exit 0 means the task succeeded.
    pub verify: Option<String>,
    pub session_timebox_minutes: u32,
}

/// One page of sessions.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct SessionPage {
    pub items: Vec<SessionRow>,
    /// Sessions matching the filters in all.
    pub total: u64,
    pub limit: u32,
    pub offset: u64,
    /// The next page's offset, when there is one.
    pub next_offset: Option<u64>,
}

/// One session with its requests.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct SessionDetail {
    pub session: SessionRow,
    pub requests: Vec<RequestBrief>,
    /// The edge's outages and the stack's restarts while the session ran, and what they cost.
    pub edge: super::EdgeHealth,
}

/// An export made in memory.
pub struct Download {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
    pub file_name: String,
}

impl App {
    /// The configured experiments.
    pub fn experiments(&self) -> Result<Vec<ExperimentChoice>, Error> {
        Ok(super::setup::experiment_choices(&self.registry()?))
    }

    /// The configured variants, with the experiments that use each.
    pub fn variants(&self) -> Result<Vec<VariantInfo>, Error> {
        let reg = self.registry()?;
        Ok(reg
            .variants
            .iter()
            .map(|l| {
                let v = &l.value;
                VariantInfo {
                    name: v.name.clone(),
                    description: v.description.clone(),
                    provider: v.provider.clone(),
                    model: v.model_alias.clone(),
                    harness: v.harness_profile.clone(),
                    experiments: reg
                        .experiments
                        .iter()
                        .filter(|e| e.value.variants.contains(&v.name))
                        .map(|e| e.value.name.clone())
                        .collect(),
                }
            })
            .collect())
    }

    /// The configured task cards.
    pub fn task_cards(&self) -> Result<Vec<TaskCardInfo>, Error> {
        Ok(self
            .registry()?
            .task_cards
            .iter()
            .map(|l| {
                let t = &l.value;
                TaskCardInfo {
                    name: t.name.clone(),
                    goal: t.goal.clone(),
                    repo_path: t.repo_path.clone(),
                    repo_ref: t.repo_ref.clone(),
                    verify: t.verify.as_ref().map(|v| v.command.clone()),
                    session_timebox_minutes: t.session_timebox_minutes,
                }
            })
            .collect())
    }

    /// Every machine that wrote to the store (several machines, one store: docs/team.md).
    pub async fn machines(&self) -> Result<Vec<crate::store::model::Machine>, Error> {
        self.store().await?.machines().await
    }

    /// A page of sessions matching `filter`, newest first.
    pub async fn sessions_page(
        &self,
        filter: &SessionFilter,
        limit: u32,
        offset: u64,
    ) -> Result<SessionPage, Error> {
        if limit == 0 || limit > MAX_PAGE {
            return Err(Error::BadField {
                field: "limit".into(),
                message: format!("{limit} is out of range: 1 to {MAX_PAGE} sessions per page"),
            });
        }
        if let (Some(a), Some(b)) = (filter.since, filter.until) {
            if a >= b {
                return Err(Error::BadField {
                    field: "until".into(),
                    message: "must be after `since`".into(),
                });
            }
        }
        let (items, total) = self
            .store()
            .await?
            .sessions_page(filter, limit, offset)
            .await?;
        let end = offset.saturating_add(items.len() as u64);
        Ok(SessionPage {
            items,
            total,
            limit,
            offset,
            next_offset: (end < total).then_some(end),
        })
    }

    /// One session and its requests.
    pub async fn session_detail(&self, id: &str) -> Result<SessionDetail, Error> {
        let session = self
            .store()
            .await?
            .session(id)
            .await?
            .ok_or_else(|| Error::NotFound {
                kind: "session",
                name: id.to_string(),
                known: "list them at /api/v1/sessions".into(),
            })?;
        let requests = self.session_requests(id).await?;
        let edge = self.session_edge_health(id).await?;
        Ok(SessionDetail {
            session,
            requests,
            edge,
        })
    }

    /// An export as bytes (binary formats go through a temporary file in the data dir).
    pub async fn export_bytes(&self, req: &ExportRequest) -> Result<Download, Error> {
        let ext = req.format.extension();
        let file_name = format!(
            "stackperf-{}{}.{ext}",
            req.what.name(),
            req.experiment
                .as_deref()
                .map(|e| format!("-{e}"))
                .unwrap_or_default()
        );
        let content_type = match req.format {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Json => "application/json",
            ExportFormat::Parquet => "application/vnd.apache.parquet",
            ExportFormat::Png => "image/png",
            ExportFormat::Svg => "image/svg+xml",
            ExportFormat::Html => "text/html; charset=utf-8",
        };
        let bytes = if req.format.is_text() {
            self.export_text(req).await?.into_bytes()
        } else {
            let dir = self.paths.data_dir.join("tmp");
            std::fs::create_dir_all(&dir).map_err(crate::io_err("create the export folder"))?;
            let mut suffix = [0u8; 8];
            getrandom::fill(&mut suffix).map_err(|e| Error::Internal(e.to_string()))?;
            let tmp = dir.join(format!(
                "export-{}.{ext}",
                suffix
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            ));
            let mut r = req.clone();
            r.path = tmp.display().to_string();
            let written = self.write_export(&r).await;
            let bytes = std::fs::read(&tmp);
            let _ = std::fs::remove_file(&tmp);
            written?;
            bytes.map_err(crate::io_err("read the export back"))?
        };
        Ok(Download {
            bytes,
            content_type,
            file_name,
        })
    }
}
