//! `stackperf report …` and `stackperf export …`: comparisons, charts and exports.

use clap::{Subcommand, ValueEnum};
use serde_json::json;
use stackperf_core::report::{self, Comparison, METRICS};

use crate::output::{json as print_json, table};
use crate::session_cmd::ctx;
use crate::{runtime, CliError, Global};

#[derive(Subcommand, Debug)]
pub enum ReportCmd {
    /// Side-by-side variants of an experiment with confidence intervals and p-values
    Compare {
        #[arg(long)]
        experiment: String,
    },
    /// The distribution of a metric per variant (CDF), as SVG or PNG
    Chart {
        #[arg(long)]
        experiment: String,
        #[arg(long, value_enum)]
        metric: ChartMetric,
        #[arg(long, value_enum, default_value = "svg")]
        format: ChartFormat,
        #[arg(long, value_name = "PATH")]
        out: std::path::PathBuf,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ChartMetric {
    Ttft,
    Latency,
    TokensPerS,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
pub enum ChartFormat {
    Svg,
    Png,
}

fn fmt_metric(m: Option<&report::MetricSummary>, unit: &str, scale: f64) -> String {
    let Some(m) = m else { return "-".into() };
    match (m.median, m.ci95) {
        (Some(x), Some((lo, hi))) => format!(
            "{:.1}{unit} [{:.1}–{:.1}]",
            x * scale,
            lo * scale,
            hi * scale
        ),
        (Some(x), None) => format!("{:.1}{unit}", x * scale),
        _ => "-".into(),
    }
}

fn print_comparison(c: &Comparison) -> Result<(), CliError> {
    println!("experiment:  {}", c.experiment);
    println!(
        "task cards:  {}",
        if c.task_cards.is_empty() {
            "-".into()
        } else {
            c.task_cards.join(", ")
        }
    );
    println!(
        "repo commit: {}",
        if c.repo_commits.is_empty() {
            "-".into()
        } else {
            c.repo_commits
                .iter()
                .map(|x| x[..x.len().min(12)].to_string())
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    println!(
        "versions:    stackperf {}, LiteLLM {}",
        c.app_version,
        if c.litellm_versions.is_empty() {
            "-".into()
        } else {
            c.litellm_versions.join(", ")
        }
    );
    println!("medians across sessions, [bootstrap 95 % CI]\n");
    let rows: Vec<Vec<String>> = c
        .variants
        .iter()
        .map(|v| {
            let m = |k: &str| v.metrics.get(k);
            vec![
                v.variant.clone(),
                v.sessions.to_string(),
                v.requests.to_string(),
                fmt_metric(m("latency_p50_ms"), " ms", 1.0),
                fmt_metric(m("latency_p95_ms"), " ms", 1.0),
                fmt_metric(m("ttft_p50_ms"), " ms", 1.0),
                fmt_metric(m("ttft_visible_p50_ms"), " ms", 1.0),
                fmt_metric(m("itl_p50_ms"), " ms", 1.0),
                fmt_metric(m("stalls"), "", 1.0),
                fmt_metric(m("tokens_per_s_p50"), "", 1.0),
                fmt_metric(m("error_rate"), " %", 100.0),
                fmt_metric(m("cache_hit_ratio"), " %", 100.0),
            ]
        })
        .collect();
    table(
        &[
            "VARIANT",
            "SESSIONS",
            "REQUESTS",
            "LATENCY p50",
            "LATENCY p95",
            "TTFT p50",
            "TEXT p50",
            "ITL p50",
            "STALLS",
            "TOK/S p50",
            "ERRORS",
            "CACHE HITS",
        ],
        &rows,
    )?;
    println!();
    // One line per pair that cannot be judged yet; otherwise one line per metric.
    let mut pairs: Vec<(&str, &str)> = c
        .pairs
        .iter()
        .map(|p| (p.a.as_str(), p.b.as_str()))
        .collect();
    pairs.dedup();
    for (a, b) in pairs {
        let mine: Vec<_> = c.pairs.iter().filter(|p| p.a == a && p.b == b).collect();
        if let Some(first) = mine
            .first()
            .filter(|f| f.verdict.starts_with("not enough sessions"))
        {
            println!("{a} vs {b}: {}", first.verdict);
            continue;
        }
        for (metric, _, _) in METRICS {
            for p in mine.iter().filter(|p| p.metric == metric) {
                println!("{:<17} {a} vs {b}: {}", metric, p.verdict);
            }
        }
    }
    if !c.excluded.is_empty() {
        println!("\nexcluded sessions:");
        for s in &c.excluded {
            println!(
                "  {} ({}): {}",
                s.session_id,
                s.variant,
                s.excluded.as_deref().unwrap_or("")
            );
        }
    }
    Ok(())
}

pub fn report(g: &Global, cmd: ReportCmd) -> Result<(), CliError> {
    match cmd {
        ReportCmd::Compare { experiment } => runtime()?.block_on(async {
            let c = ctx(g).await?;
            let comparison = report::compare(&c.sessions.store, &c.reg, &experiment).await?;
            if g.json {
                return Ok(print_json(&comparison)?);
            }
            print_comparison(&comparison)
        }),
        ReportCmd::Chart {
            experiment,
            metric,
            format,
            out,
        } => runtime()?.block_on(async {
            use stackperf_core::charts::{self, ChartSpec};
            let c = ctx(g).await?;
            let name = match metric {
                ChartMetric::Ttft => "ttft",
                ChartMetric::Latency => "latency",
                ChartMetric::TokensPerS => "tokens_per_s",
            };
            let (series, label) =
                report::distribution(&c.sessions.store, &c.reg, &experiment, name).await?;
            let title = format!("{experiment}: {label}, per variant");
            let spec = ChartSpec {
                title: &title,
                x_label: label,
                series: &series,
                size: (1000, 600),
            };
            match format {
                ChartFormat::Svg => std::fs::write(&out, charts::svg(&spec)?)?,
                ChartFormat::Png => charts::png(&spec, &out)?,
            }
            let points: usize = series.iter().map(|s| s.values.len()).sum();
            report_written(g, &out, points)
        }),
    }
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
pub enum ExportWhat {
    Sessions,
    Requests,
    Comparison,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
pub enum ExportFormat {
    Csv,
    Json,
    Parquet,
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    what: ExportWhat,
    #[arg(long, value_enum, default_value = "csv")]
    format: ExportFormat,
    /// Only this experiment (required for `comparison`)
    #[arg(long)]
    experiment: Option<String>,
    /// Only this session
    #[arg(long)]
    session: Option<String>,
    /// Write here instead of stdout (required for Parquet)
    #[arg(long, value_name = "PATH")]
    out: Option<std::path::PathBuf>,
}

pub fn export(g: &Global, a: ExportArgs) -> Result<(), CliError> {
    use stackperf_core::export::{self, Dataset};
    runtime()?.block_on(async {
        let c = ctx(g).await?;
        if a.what == ExportWhat::Comparison && a.format == ExportFormat::Json {
            let exp = a
                .experiment
                .as_deref()
                .ok_or_else(|| CliError::Usage("export comparison needs --experiment".into()))?;
            let cmp = report::compare(&c.sessions.store, &c.reg, exp).await?;
            return write_out(
                g,
                &a,
                &(serde_json::to_string_pretty(&cmp).unwrap_or_default() + "\n"),
            );
        }
        let (table, name) = match a.what {
            ExportWhat::Comparison => {
                let exp = a.experiment.as_deref().ok_or_else(|| {
                    CliError::Usage("export comparison needs --experiment".into())
                })?;
                (
                    stackperf_core::export::comparison_table(
                        &report::compare(&c.sessions.store, &c.reg, exp).await?,
                    ),
                    "comparison",
                )
            }
            ExportWhat::Sessions => (
                export::load(
                    &c.sessions.store,
                    Dataset::Sessions,
                    a.experiment.as_deref(),
                    a.session.as_deref(),
                )
                .await?,
                "sessions",
            ),
            ExportWhat::Requests => (
                export::load(
                    &c.sessions.store,
                    Dataset::Requests,
                    a.experiment.as_deref(),
                    a.session.as_deref(),
                )
                .await?,
                "requests",
            ),
        };
        match a.format {
            ExportFormat::Csv => write_out(g, &a, &table.to_csv()),
            ExportFormat::Json => write_out(g, &a, &table.to_json()),
            ExportFormat::Parquet => {
                let path = a
                    .out
                    .as_ref()
                    .ok_or_else(|| CliError::Usage("Parquet is binary: pass --out PATH".into()))?;
                table.write_parquet(path, name)?;
                report_written(g, path, table.rows.len())
            }
        }
    })
}

fn report_written(g: &Global, path: &std::path::Path, rows: usize) -> Result<(), CliError> {
    if g.json {
        print_json(&json!({"written": path, "rows": rows}))?;
    } else {
        eprintln!("wrote {} ({rows} rows)", path.display());
    }
    Ok(())
}

fn write_out(g: &Global, a: &ExportArgs, text: &str) -> Result<(), CliError> {
    match &a.out {
        Some(path) => {
            std::fs::write(path, text)?;
            report_written(g, path, text.lines().count().saturating_sub(1))
        }
        None => {
            print!("{text}");
            Ok(())
        }
    }
}
