//! Compare and export: the comparison, its distribution charts (the same plotters code for the
//! UI's SVG and the exported PNG/SVG), and every export the Export dialog offers, including a
//! self-contained HTML report.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::App;
use crate::charts::{self, ChartSpec};
use crate::export::{self, comparison_table, Dataset};
use crate::report::{self, Comparison, SessionStats, METRICS};
use crate::{io_err, Error};

/// What to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum ExportWhat {
    Sessions,
    Requests,
    Comparison,
    Chart,
    Report,
}

/// The Export dialog's choices.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ExportRequest {
    pub what: ExportWhat,
    /// csv, json, parquet (tables); png, svg (chart); html (report).
    pub format: String,
    pub experiment: Option<String>,
    pub session: Option<String>,
    /// ttft, latency or tokens_per_s (chart only; default ttft).
    pub metric: Option<String>,
    pub path: String,
}

/// What was written.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Written {
    pub path: String,
    /// Rows (tables) or points (charts).
    pub rows: u32,
    pub bytes: u32,
}

const CHART_METRICS: [&str; 3] = ["ttft", "latency", "tokens_per_s"];

impl App {
    /// The comparison of an experiment's variants (rollups refreshed first).
    pub async fn compare(&self, experiment: &str) -> Result<Comparison, Error> {
        let reg = self.registry()?;
        report::compare(&self.store, &reg, experiment).await
    }

    /// The per-session numbers behind a comparison (for the drill-down).
    pub async fn compare_sessions(&self, experiment: &str) -> Result<Vec<SessionStats>, Error> {
        report::rollup(&self.store, experiment).await?;
        report::session_stats(&self.store, experiment).await
    }

    /// The distribution chart of a metric per variant, as SVG.
    pub async fn compare_chart_svg(&self, experiment: &str, metric: &str) -> Result<String, Error> {
        let reg = self.registry()?;
        let (series, label) = report::distribution(&self.store, &reg, experiment, metric).await?;
        let title = format!("{experiment}: {label}");
        charts::svg(&ChartSpec {
            title: &title,
            x_label: label,
            series: &series,
            size: (760, 420),
        })
    }

    /// Write an export where the user chose.
    pub async fn export(&self, req: &ExportRequest) -> Result<Written, Error> {
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
        let fmt = req.format.as_str();
        let experiment = || {
            req.experiment
                .as_deref()
                .filter(|e| !e.is_empty())
                .ok_or_else(|| Error::Invalid("pick an experiment for this export".into()))
        };
        let rows = match req.what {
            ExportWhat::Sessions | ExportWhat::Requests => {
                let dataset = if req.what == ExportWhat::Sessions {
                    Dataset::Sessions
                } else {
                    Dataset::Requests
                };
                let table = export::load(
                    &self.store,
                    dataset,
                    req.experiment.as_deref().filter(|e| !e.is_empty()),
                    req.session.as_deref().filter(|e| !e.is_empty()),
                )
                .await?;
                let name = if dataset == Dataset::Sessions {
                    "sessions"
                } else {
                    "requests"
                };
                write_table(&table, fmt, &path, name)?;
                table.rows.len()
            }
            ExportWhat::Comparison => {
                let cmp = self.compare(experiment()?).await?;
                if fmt == "json" {
                    write(
                        &path,
                        &(serde_json::to_string_pretty(&cmp).unwrap_or_default() + "\n"),
                    )?;
                    cmp.variants.len()
                } else {
                    let table = comparison_table(&cmp);
                    write_table(&table, fmt, &path, "comparison")?;
                    table.rows.len()
                }
            }
            ExportWhat::Chart => {
                let exp = experiment()?;
                let metric = req.metric.as_deref().unwrap_or("ttft");
                let reg = self.registry()?;
                let (series, label) = report::distribution(&self.store, &reg, exp, metric).await?;
                let title = format!("{exp}: {label}, per variant");
                let spec = ChartSpec {
                    title: &title,
                    x_label: label,
                    series: &series,
                    size: (1000, 600),
                };
                match fmt {
                    "png" => charts::png(&spec, &path)?,
                    "svg" => write(&path, &charts::svg(&spec)?)?,
                    other => return Err(bad_format(other, "png or svg")),
                }
                series.iter().map(|s| s.values.len()).sum()
            }
            ExportWhat::Report => {
                if fmt != "html" {
                    return Err(bad_format(fmt, "html"));
                }
                let exp = experiment()?;
                let cmp = self.compare(exp).await?;
                let mut svgs = Vec::new();
                for m in CHART_METRICS {
                    svgs.push(self.compare_chart_svg(exp, m).await?);
                }
                write(&path, &html_report(&cmp, &svgs))?;
                cmp.variants.len()
            }
        };
        let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        Ok(Written {
            path: path.display().to_string(),
            rows: rows as u32,
            bytes: bytes.min(u32::MAX as u64) as u32,
        })
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

fn write_table(table: &export::Table, fmt: &str, path: &Path, name: &str) -> Result<(), Error> {
    match fmt {
        "csv" => write(path, &table.to_csv()),
        "json" => write(path, &table.to_json()),
        "parquet" => table.write_parquet(path, name),
        other => Err(bad_format(other, "csv, json or parquet")),
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn num(x: Option<f64>) -> String {
    match x {
        Some(v) if v.abs() >= 100.0 => format!("{v:.0}"),
        Some(v) if v.abs() >= 1.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.3}"),
        None => "–".into(),
    }
}

/// One HTML file with the comparison tables and the charts inline (no external resources).
pub fn html_report(c: &Comparison, svgs: &[String]) -> String {
    let mut h = String::new();
    h.push_str("<!doctype html><html><head><meta charset=\"utf-8\"><title>StackPerf report: ");
    h.push_str(&esc(&c.experiment));
    h.push_str("</title><style>body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#1d232a}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccd;padding:4px 8px;text-align:right}th:first-child,td:first-child{text-align:left}.charts svg{max-width:100%;height:auto;margin:.5em 0}</style></head><body>");
    h.push_str(&format!(
        "<h1>{}</h1><p>StackPerf {} · generated {} · task cards: {} · LiteLLM: {} · commits: {}</p>",
        esc(&c.experiment),
        esc(&c.app_version),
        export::rfc3339(c.generated_at),
        esc(&c.task_cards.join(", ")),
        esc(&c.litellm_versions.join(", ")),
        esc(&c.repo_commits.join(", "))
    ));
    h.push_str("<h2>Variants</h2><table><tr><th>variant</th><th>sessions</th><th>requests</th>");
    for (m, _, unit) in METRICS {
        h.push_str(&format!(
            "<th>{} {}<br>median · p95 · 95 % CI</th>",
            esc(m),
            esc(unit)
        ));
    }
    h.push_str("</tr>");
    for v in &c.variants {
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td>",
            esc(&v.variant),
            v.sessions,
            v.requests
        ));
        for (m, _, _) in METRICS {
            let cell = v.metrics.get(m).map(|s| {
                format!(
                    "{} · {} · {}",
                    num(s.median),
                    num(s.p95),
                    s.ci95
                        .map(|(a, b)| format!("[{}, {}]", num(Some(a)), num(Some(b))))
                        .unwrap_or_else(|| "–".into())
                )
            });
            h.push_str(&format!("<td>{}</td>", cell.unwrap_or_default()));
        }
        h.push_str("</tr>");
    }
    h.push_str("</table><h2>Differences</h2><table><tr><th>pair</th><th>metric</th><th>difference (B − A)</th><th>p</th><th>verdict</th></tr>");
    for p in &c.pairs {
        h.push_str(&format!(
            "<tr><td>{} vs {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&p.a),
            esc(&p.b),
            esc(&p.metric),
            num(p.difference),
            num(p.p_value),
            esc(&p.verdict)
        ));
    }
    h.push_str("</table><h2>Excluded sessions</h2>");
    if c.excluded.is_empty() {
        h.push_str("<p>None.</p>");
    } else {
        h.push_str("<table><tr><th>session</th><th>variant</th><th>reason</th></tr>");
        for s in &c.excluded {
            h.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&s.session_id),
                esc(&s.variant),
                esc(s.excluded.as_deref().unwrap_or(""))
            ));
        }
        h.push_str("</table>");
    }
    h.push_str("<h2>Distributions</h2><div class=\"charts\">");
    for svg in svgs {
        h.push_str(svg);
    }
    h.push_str("</div></body></html>\n");
    h
}
