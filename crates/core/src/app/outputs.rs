//! Compare and export: the comparison, its distribution charts (the same plotters code for the
//! UI's SVG and the exported PNG/SVG), and every export the Export dialog offers, including a
//! self-contained HTML report.

use crate::timestamp::Timestamp;
use std::path::{Path, PathBuf};
use strum::VariantArray;

use serde::{Deserialize, Serialize};

use super::App;
use crate::charts::{self, ChartSpec};
use crate::export::{self, comparison_table, Dataset};
use crate::metrics;
use crate::output::cd_diagram;
use crate::report::{self, Comparison, SessionStats};
use crate::{io_err, Error};

/// What to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::VariantArray)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ExportWhat {
    Sessions,
    Requests,
    Comparison,
    /// A suite's per task × variant cells (docs/statistics.md).
    Tasks,
    Chart,
    Report,
}

/// An export's file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::VariantArray)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    Csv,
    Json,
    Parquet,
    Png,
    Svg,
    Html,
}

impl ExportWhat {
    /// The name on the wire and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ExportWhat::Sessions => "sessions",
            ExportWhat::Requests => "requests",
            ExportWhat::Comparison => "comparison",
            ExportWhat::Tasks => "tasks",
            ExportWhat::Chart => "chart",
            ExportWhat::Report => "report",
        }
    }

    pub fn from_name(name: &str) -> Option<ExportWhat> {
        ExportWhat::VARIANTS
            .iter()
            .copied()
            .find(|w| w.name() == name)
    }
}

impl ExportFormat {
    pub fn from_extension(ext: &str) -> Option<ExportFormat> {
        ExportFormat::VARIANTS
            .iter()
            .copied()
            .find(|f| f.extension() == ext)
    }

    /// The formats that fit an export.
    pub fn fits(what: ExportWhat) -> &'static [ExportFormat] {
        use ExportFormat::*;
        match what {
            ExportWhat::Sessions
            | ExportWhat::Requests
            | ExportWhat::Comparison
            | ExportWhat::Tasks => &[Csv, Json, Parquet],
            ExportWhat::Chart => &[Png, Svg],
            ExportWhat::Report => &[Html],
        }
    }

    /// The file name extension (and the name used in messages).
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Json => "json",
            ExportFormat::Parquet => "parquet",
            ExportFormat::Png => "png",
            ExportFormat::Svg => "svg",
            ExportFormat::Html => "html",
        }
    }

    /// Whether the export is text (can go to a terminal).
    pub fn is_text(self) -> bool {
        !matches!(self, ExportFormat::Parquet | ExportFormat::Png)
    }
}

/// The Export dialog's choices.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ExportRequest {
    pub what: ExportWhat,
    pub format: ExportFormat,
    pub experiment: Option<String>,
    pub session: Option<String>,
    /// ttft, latency or tokens_per_s (chart only; default ttft).
    pub metric: Option<String>,
    pub path: String,
    /// Requests only: also StackPerf's own traffic (the proxy warm-up, master-key calls).
    #[serde(default)]
    pub include_internal: bool,
}

/// What was written.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Written {
    pub path: String,
    /// Rows (tables) or points (charts).
    pub rows: u32,
    pub bytes: u32,
}

/// An export made in memory: text, or a table still to be encoded (Parquet), or a chart.
enum Made {
    Text {
        text: String,
        rows: usize,
    },
    Table {
        table: export::Table,
        name: &'static str,
    },
    Png {
        series: Vec<charts::Series>,
        title: String,
        label: &'static str,
    },
}

impl App {
    /// The comparison of an experiment's variants (rollups refreshed first).
    pub async fn compare(&self, experiment: &str) -> Result<Comparison, Error> {
        let reg = self.registry()?;
        report::compare(self.store().await?, &reg, experiment).await
    }

    /// Sessions of `experiments` (all with sessions when empty) compared by harness, provider,
    /// model or variant across experiments.
    pub async fn compare_by(
        &self,
        by: crate::analysis::group::GroupBy,
        experiments: &[String],
    ) -> Result<Comparison, Error> {
        let reg = self.registry()?;
        for e in experiments {
            reg.experiment_or_err(e)?;
        }
        crate::analysis::group::compare_by(self.store().await?, by, experiments).await
    }

    /// The per-session numbers behind a comparison (for the drill-down).
    pub async fn compare_sessions(&self, experiment: &str) -> Result<Vec<SessionStats>, Error> {
        report::rollup(self.store().await?, experiment).await?;
        report::session_stats(self.store().await?, experiment).await
    }

    /// The critical-difference diagram of the experiment's suite (wall time), as SVG.
    pub async fn compare_cd_svg(&self, experiment: &str) -> Result<String, Error> {
        let cmp = self.compare(experiment).await?;
        let Some(r) = cmp.suite.as_ref().and_then(|s| s.time.as_ref()) else {
            return Err(Error::Invalid(format!(
                "`{experiment}` has no suite analysis yet: it needs sessions of two or more task cards with a wall time for every variant"
            )));
        };
        cd_diagram::svg(&format!("{experiment}: wall time over the suite"), r)
    }

    /// The distribution chart of a metric per variant, as SVG.
    pub async fn compare_chart_svg(&self, experiment: &str, metric: &str) -> Result<String, Error> {
        let reg = self.registry()?;
        let (series, label) =
            report::distribution(self.store().await?, &reg, experiment, metric).await?;
        let title = format!("{experiment}: {label}");
        // One box-plot row per variant: taller for many variants.
        let height = (140 + 56 * series.len() as u32).max(440);
        charts::svg(&ChartSpec {
            title: &title,
            x_label: label,
            series: &series,
            size: (1040, height),
        })
    }

    /// Write an export where the user chose, and record it in `artifacts`.
    pub async fn export(&self, req: &ExportRequest) -> Result<Written, Error> {
        let written = self.write_export(req).await?;
        self.register_export(req, std::path::Path::new(&written.path))
            .await;
        Ok(written)
    }

    /// Write an export (not recorded: the API's temporary files go through here too).
    pub(crate) async fn write_export(&self, req: &ExportRequest) -> Result<Written, Error> {
        let path = PathBuf::from(&req.path);
        if req.path.trim().is_empty() {
            return Err(Error::Invalid("choose where to save the export".into()));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.is_dir() {
                return Err(Error::Invalid(format!(
                    "the folder {} does not exist",
                    dir.display()
                )));
            }
        }
        let rows = match self.make(req).await? {
            Made::Text { text, rows } => {
                write(&path, &text)?;
                rows
            }
            Made::Table { table, name } => {
                table.write_parquet(&path, name)?;
                table.rows.len()
            }
            Made::Png {
                series,
                title,
                label,
            } => {
                charts::png(&chart_spec(&title, label, &series), &path)?;
                series.iter().map(|s| s.values.len()).sum()
            }
        };
        let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        Ok(Written {
            path: path.display().to_string(),
            rows: rows as u32,
            bytes: bytes.min(u32::MAX as u64) as u32,
        })
    }

    /// Record a written export in `artifacts` (so `prune` can list it). A failure here does not
    /// undo the export the user has.
    async fn register_export(&self, req: &ExportRequest, path: &std::path::Path) {
        self.register_artifact(
            req.what.name(),
            req.format.extension(),
            path,
            req.experiment.clone().filter(|e| !e.is_empty()),
            req.session.clone().filter(|s| !s.is_empty()),
        )
        .await;
    }

    /// Record a file StackPerf wrote that belongs to no experiment (e.g. a usage export).
    pub async fn register_file(&self, kind: &str, format: &str, path: &std::path::Path) {
        self.register_artifact(kind, format, path, None, None).await;
    }

    async fn register_artifact(
        &self,
        kind: &str,
        format: &str,
        path: &std::path::Path,
        experiment: Option<String>,
        session_id: Option<String>,
    ) {
        use sha2::Digest;
        let Ok(store) = self.store().await else {
            return;
        };
        let sha256 = std::fs::read(path)
            .ok()
            .map(|b| format!("{:x}", sha2::Sha256::digest(&b)));
        let a = crate::store::Artifact {
            kind: kind.to_string(),
            format: format.to_string(),
            path: std::fs::canonicalize(path)
                .unwrap_or_else(|_| path.to_path_buf())
                .display()
                .to_string(),
            experiment,
            session_id,
            sha256,
            created_at: Timestamp::now(),
        };
        if let Err(e) = store.add_artifact(&a).await {
            tracing::warn!("could not record the export in artifacts: {e}");
        }
    }

    /// A text export (CSV, JSON, SVG, HTML) as a string, for a terminal; `req.path` is ignored.
    pub async fn export_text(&self, req: &ExportRequest) -> Result<String, Error> {
        match self.make(req).await? {
            Made::Text { text, .. } => Ok(text),
            _ => Err(Error::Invalid(format!(
                "{} is binary: write it to a file (--out PATH)",
                req.format.extension()
            ))),
        }
    }

    async fn make(&self, req: &ExportRequest) -> Result<Made, Error> {
        let fmt = req.format;
        if !ExportFormat::fits(req.what).contains(&fmt) {
            let want: Vec<&str> = ExportFormat::fits(req.what)
                .iter()
                .map(|f| f.extension())
                .collect();
            return Err(bad_format(fmt.extension(), &want.join(" or ")));
        }
        let experiment = || {
            req.experiment
                .as_deref()
                .filter(|e| !e.is_empty())
                .ok_or_else(|| {
                    Error::Invalid("pick an experiment for this export (--experiment)".into())
                })
        };
        let table = |table: export::Table, name: &'static str| match fmt {
            ExportFormat::Csv => Made::Text {
                rows: table.rows.len(),
                text: table.to_csv(),
            },
            ExportFormat::Json => Made::Text {
                rows: table.rows.len(),
                text: table.to_json(),
            },
            _ => Made::Table { table, name },
        };
        Ok(match req.what {
            ExportWhat::Sessions | ExportWhat::Requests => {
                let (dataset, name) = if req.what == ExportWhat::Sessions {
                    (Dataset::Sessions, "sessions")
                } else {
                    (Dataset::Requests, "requests")
                };
                let t = export::load(
                    self.store().await?,
                    dataset,
                    req.experiment.as_deref().filter(|e| !e.is_empty()),
                    req.session.as_deref().filter(|e| !e.is_empty()),
                    req.include_internal,
                )
                .await?;
                table(t, name)
            }
            ExportWhat::Comparison => {
                let cmp = self.compare(experiment()?).await?;
                if fmt == ExportFormat::Json {
                    Made::Text {
                        rows: cmp.variants.len(),
                        text: serde_json::to_string_pretty(&cmp).unwrap_or_default() + "\n",
                    }
                } else {
                    table(comparison_table(&cmp), "comparison")
                }
            }
            ExportWhat::Tasks => {
                let exp = experiment()?;
                let cmp = self.compare(exp).await?;
                let Some(suite) = &cmp.suite else {
                    return Err(Error::Invalid(format!(
                        "`{exp}` has sessions of one task card only: a per-task export needs two or more (export `comparison` instead)"
                    )));
                };
                table(export::tasks_table(&cmp.experiment, suite), "tasks")
            }
            ExportWhat::Chart => {
                let exp = experiment()?;
                let metric = req.metric.as_deref().unwrap_or("ttft");
                let reg = self.registry()?;
                let (series, label) =
                    report::distribution(self.store().await?, &reg, exp, metric).await?;
                let title = format!("{exp}: {label}, per variant");
                if fmt == ExportFormat::Png {
                    Made::Png {
                        series,
                        title,
                        label,
                    }
                } else {
                    Made::Text {
                        rows: series.iter().map(|s| s.values.len()).sum(),
                        text: charts::svg(&chart_spec(&title, label, &series))?,
                    }
                }
            }
            ExportWhat::Report => {
                let exp = experiment()?;
                let cmp = self.compare(exp).await?;
                let mut svgs = Vec::new();
                for m in metrics::chartable() {
                    svgs.push(self.compare_chart_svg(exp, m.name).await?);
                }
                let cd = match cmp.suite.as_ref().and_then(|s| s.time.as_ref()) {
                    Some(r) => Some(cd_diagram::svg(
                        &format!("{exp}: wall time over the suite"),
                        r,
                    )?),
                    None => None,
                };
                Made::Text {
                    rows: cmp.variants.len(),
                    text: crate::output::html::report(&cmp, &svgs, cd.as_deref()),
                }
            }
        })
    }
}

fn chart_spec<'a>(title: &'a str, label: &'a str, series: &'a [charts::Series]) -> ChartSpec<'a> {
    ChartSpec {
        title,
        x_label: label,
        series,
        size: (1000, 600),
    }
}

fn bad_format(got: &str, want: &str) -> Error {
    Error::Invalid(format!(
        "format `{got}` does not fit this export: use {want}"
    ))
}

fn write(path: &Path, text: &str) -> Result<(), Error> {
    std::fs::write(path, text).map_err(io_err(format!("write {}", path.display())))
}
