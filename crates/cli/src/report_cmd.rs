//! `stackperf report …` and `stackperf export …`: comparisons, charts and exports.

use clap::builder::TypedValueParser;
use clap::{Subcommand, ValueEnum};
use serde_json::json;
use stackperf_core::report::{self, Comparison, METRICS};

use stackperf_core::app::{ExportFormat as Fmt, ExportRequest, ExportWhat as What};

use crate::output::{json as print_json, table};
use crate::{app, runtime, CliError, Global};

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
    let app = app(g)?;
    match cmd {
        ReportCmd::Compare { experiment } => runtime()?.block_on(async {
            let comparison = app.compare(&experiment).await?;
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
            let req = ExportRequest {
                what: What::Chart,
                format: match format {
                    ChartFormat::Svg => Fmt::Svg,
                    ChartFormat::Png => Fmt::Png,
                },
                experiment: Some(experiment),
                session: None,
                metric: Some(
                    match metric {
                        ChartMetric::Ttft => "ttft",
                        ChartMetric::Latency => "latency",
                        ChartMetric::TokensPerS => "tokens_per_s",
                    }
                    .into(),
                ),
                path: out.display().to_string(),
            };
            let w = app.export(&req).await?;
            report_written(g, &out, w.rows as usize)
        }),
    }
}

/// Core's export kinds, by their names.
fn what_parser() -> impl TypedValueParser<Value = What> {
    clap::builder::PossibleValuesParser::new(What::ALL.map(What::name))
        .try_map(|s| What::from_name(&s).ok_or("unknown export"))
}

/// Core's export formats, by their extensions.
fn format_parser() -> impl TypedValueParser<Value = Fmt> {
    clap::builder::PossibleValuesParser::new(Fmt::ALL.map(Fmt::extension))
        .try_map(|s| Fmt::from_extension(&s).ok_or("unknown format"))
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// sessions, requests, comparison; chart (the distribution of --metric per variant);
    /// report (one self-contained HTML file: the comparison and its charts)
    #[arg(value_parser = what_parser())]
    what: What,
    /// [default: csv; png for chart, html for report]
    #[arg(long, value_parser = format_parser())]
    format: Option<Fmt>,
    /// Only this experiment (required for comparison, chart, report)
    #[arg(long)]
    experiment: Option<String>,
    /// Only this session
    #[arg(long)]
    session: Option<String>,
    /// The chart's metric
    #[arg(long, value_enum, default_value = "ttft")]
    metric: ChartMetric,
    /// Write here instead of stdout (required for Parquet and PNG)
    #[arg(long, value_name = "PATH")]
    out: Option<std::path::PathBuf>,
}

pub fn export(g: &Global, a: ExportArgs) -> Result<(), CliError> {
    let app = app(g)?;
    let what = a.what;
    let format = a.format.unwrap_or(Fmt::fits(what)[0]);
    let req = ExportRequest {
        what,
        format,
        experiment: a.experiment,
        session: a.session,
        metric: Some(
            match a.metric {
                ChartMetric::Ttft => "ttft",
                ChartMetric::Latency => "latency",
                ChartMetric::TokensPerS => "tokens_per_s",
            }
            .into(),
        ),
        path: a
            .out
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    };
    runtime()?.block_on(async {
        match &a.out {
            Some(path) => {
                let w = app.export(&req).await?;
                report_written(g, path, w.rows as usize)
            }
            None => {
                print!("{}", app.export_text(&req).await?);
                Ok(())
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
