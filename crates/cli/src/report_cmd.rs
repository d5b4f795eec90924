//! `stackperf report …` and `stackperf export …`: comparisons, charts and exports.

use clap::builder::TypedValueParser;
use clap::{Subcommand, ValueEnum};
use serde_json::json;
use stackperf_core::analysis::group::GroupBy;
use stackperf_core::metrics::{self, format_value, Unit, Verdict, METRICS};
use stackperf_core::report::{self, Comparison};
use strum::VariantArray;

use stackperf_core::app::{ExportFormat as Fmt, ExportRequest, ExportWhat as What};

use crate::output::{json as print_json, table};
use crate::{app, runtime, CliError, Global};

#[derive(Subcommand, Debug)]
pub enum ReportCmd {
    /// Side-by-side variants of an experiment with confidence intervals and p-values; or, with
    /// --by harness|provider|model, sessions pooled across experiments
    Compare {
        /// The experiment (repeat it to pool several with --by; none with --by: all of them)
        #[arg(long)]
        experiment: Vec<String>,
        /// What the rows are
        #[arg(long, value_enum, default_value = "variant")]
        by: By,
    },
    /// The distribution of a metric per variant (CDF), as SVG or PNG
    Chart {
        #[arg(long)]
        experiment: String,
        #[arg(long, value_parser = metric_parser())]
        metric: &'static metrics::MetricDef,
        #[arg(long, value_enum, default_value = "svg")]
        format: ChartFormat,
        #[arg(long, value_name = "PATH")]
        out: std::path::PathBuf,
    },
}

/// The registry's chartable metrics, by short name (`ttft`, `latency`, `tokens-per-s`, …).
fn metric_parser() -> impl TypedValueParser<Value = &'static metrics::MetricDef> {
    clap::builder::PossibleValuesParser::new(metrics::chartable().map(|m| m.short))
        .try_map(|s| metrics::find(&s).ok_or("unknown metric"))
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
pub enum By {
    Variant,
    Harness,
    Provider,
    Model,
}

impl From<By> for GroupBy {
    fn from(b: By) -> GroupBy {
        match b {
            By::Variant => GroupBy::Variant,
            By::Harness => GroupBy::Harness,
            By::Provider => GroupBy::Provider,
            By::Model => GroupBy::Model,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
pub enum ChartFormat {
    Svg,
    Png,
}

fn fmt_metric(m: Option<&report::MetricSummary>, unit: Unit) -> String {
    let Some(m) = m else { return "-".into() };
    let f = |x| format_value(unit, Some(x));
    match (m.median, m.ci95) {
        (Some(x), Some((lo, hi))) => format!("{} [{}–{}]", f(x), f(lo), f(hi)),
        (Some(x), None) => f(x),
        _ => "-".into(),
    }
}

pub fn print_comparison(c: &Comparison) -> Result<(), CliError> {
    for h in &c.headlines {
        println!("{}", h.text);
    }
    for n in &c.environment_notes {
        println!("warning: {n}");
    }
    let infra: Vec<String> = c
        .variants
        .iter()
        .filter(|v| v.infra_errors > 0)
        .map(|v| format!("{} {}", v.variant, v.infra_errors))
        .collect();
    if !infra.is_empty() {
        println!(
            "infrastructure errors (left out of every figure, never task failures): {}",
            infra.join(", ")
        );
    }
    println!();
    if let Some(s) = &c.suite {
        crate::suite_out::print_suite(s)?;
        println!("pooled across tasks below: for reference only — the verdicts above come from the comparison within each task\n");
    }
    if c.variants.iter().any(|v| v.cost_per_success.sessions > 0) {
        // What one successful task costs: failures are paid for too.
        let rows: Vec<Vec<String>> = c
            .variants
            .iter()
            .map(|v| {
                vec![
                    v.variant.clone(),
                    v.cost_per_success.text(Unit::Usd),
                    v.wall_per_success.text(Unit::Seconds),
                ]
            })
            .collect();
        table(
            &[
                "VARIANT",
                "COST PER SUCCESSFUL TASK",
                "WALL TIME PER SUCCESSFUL TASK",
            ],
            &rows,
        )?;
        println!();
    }
    if c.group_by == GroupBy::Variant {
        println!("experiment:  {}", c.experiment);
    } else {
        println!(
            "by {} across: {}{}",
            c.group_by.as_str(),
            c.experiment,
            if c.task_cards.len() > 1 && c.suite.is_none() {
                " (sessions of different task cards are pooled: compare like with like)"
            } else {
                ""
            }
        );
    }
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
    // One table per metric keeps lines readable with many variants.
    let mut headers = vec!["VARIANT".to_string(), "SESSIONS".into(), "REQUESTS".into()];
    headers.extend(METRICS.iter().map(|m| m.short.to_uppercase()));
    let rows: Vec<Vec<String>> = c
        .variants
        .iter()
        .map(|v| {
            let mut row = vec![
                v.variant.clone(),
                v.sessions.to_string(),
                v.requests.to_string(),
            ];
            row.extend(
                METRICS
                    .iter()
                    .map(|m| fmt_metric(v.metrics.get(m.name), m.unit)),
            );
            row
        })
        .collect();
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    table(&headers, &rows)?;
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
            .filter(|f| matches!(f.verdict, Verdict::Insufficient { .. }))
        {
            println!("{a} vs {b}: {}", first.verdict_text);
            continue;
        }
        for p in mine {
            println!("{:<20} {a} vs {b}: {}", p.metric, p.verdict_text);
            if let Some(n) = &p.stack_tax_note {
                println!("{:<20}   ({n})", "");
            }
        }
    }
    if c.variants.len() > 2 {
        println!(
            "\np-values: pairwise permutation tests (success rates: Fisher's exact test), adjusted with Holm's method within each metric and gated by an omnibus test across all {} variants.",
            c.variants.len()
        );
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
        ReportCmd::Compare { experiment, by } => runtime()?.block_on(async {
            let comparison = match (by, experiment.as_slice()) {
                (By::Variant, [one]) => app.compare(one).await?,
                (By::Variant, _) => {
                    return Err(CliError::Usage(
                        "name one experiment (--experiment E), or pool sessions across experiments with --by harness|provider|model".into(),
                    ))
                }
                (by, list) => app.compare_by(by.into(), list).await?,
            };
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
                metric: Some(metric.name.into()),
                path: out.display().to_string(),
                include_internal: false,
            };
            let w = app.export(&req).await?;
            report_written(g, &out, w.rows as usize)
        }),
    }
}

/// What `export` writes: one of core's file exports, or spans sent to the OTLP endpoint.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    File(What),
    Otlp,
}

/// Core's export kinds, by their names, and `otlp`.
fn what_parser() -> impl TypedValueParser<Value = Target> {
    let names = What::VARIANTS
        .iter()
        .map(|x| x.name())
        .chain(std::iter::once("otlp"));
    clap::builder::PossibleValuesParser::new(names).try_map(|s| match s.as_str() {
        "otlp" => Ok(Target::Otlp),
        _ => What::from_name(&s)
            .map(Target::File)
            .ok_or("unknown export"),
    })
}

/// Core's export formats, by their extensions.
fn format_parser() -> impl TypedValueParser<Value = Fmt> {
    clap::builder::PossibleValuesParser::new(Fmt::VARIANTS.iter().map(|x| x.extension()))
        .try_map(|s| Fmt::from_extension(&s).ok_or("unknown format"))
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// sessions, requests, comparison; tasks (a suite's per task × variant cells); chart (the
    /// distribution of --metric per variant); report (one self-contained HTML file: the
    /// comparison, a suite's per-task grid and critical-difference diagram, and its charts);
    /// otlp (an experiment's sessions and requests as spans to OTEL_EXPORTER_OTLP_ENDPOINT)
    #[arg(value_parser = what_parser())]
    what: Target,
    /// [default: csv; png for chart, html for report]
    #[arg(long, value_parser = format_parser())]
    format: Option<Fmt>,
    /// Only this experiment (required for comparison, tasks, chart, report)
    #[arg(long)]
    experiment: Option<String>,
    /// Only this session
    #[arg(long)]
    session: Option<String>,
    /// The chart's metric
    #[arg(long, value_parser = metric_parser(), default_value = "ttft")]
    metric: &'static metrics::MetricDef,
    /// Write here instead of stdout (required for Parquet and PNG)
    #[arg(long, value_name = "PATH")]
    out: Option<std::path::PathBuf>,
    /// Requests: also StackPerf's own traffic (the proxy warm-up, calls with the master key)
    #[arg(long)]
    include_internal: bool,
}

pub fn export(g: &Global, a: ExportArgs) -> Result<(), CliError> {
    let app = app(g)?;
    let what = match a.what {
        Target::File(w) => w,
        Target::Otlp => return export_otlp(g, &app, a.experiment),
    };
    let format = a.format.unwrap_or(Fmt::fits(what)[0]);
    let req = ExportRequest {
        what,
        format,
        experiment: a.experiment,
        session: a.session,
        metric: Some(a.metric.name.into()),
        path: a
            .out
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        include_internal: a.include_internal,
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

/// `export otlp --experiment E`: the backfill, then what the endpoint took.
fn export_otlp(
    g: &Global,
    app: &stackperf_core::app::App,
    experiment: Option<String>,
) -> Result<(), CliError> {
    let experiment = experiment
        .ok_or_else(|| CliError::Reported("export otlp needs --experiment NAME".into()))?;
    let b = runtime()?.block_on(app.export_otlp(&experiment))?;
    if g.json {
        return Ok(print_json(&b)?);
    }
    let s = &b.status;
    eprintln!(
        "{}: {} sessions, {} spans {}",
        b.experiment,
        b.sessions,
        b.spans,
        s.line()
    );
    if s.failed + s.dropped > 0 {
        return Err(CliError::Reported(format!(
            "{} of {} spans did not reach {}: check the endpoint, then run this again (spans are the same each time)",
            s.failed + s.dropped,
            b.spans,
            s.endpoint
        )));
    }
    Ok(())
}

fn report_written(g: &Global, path: &std::path::Path, rows: usize) -> Result<(), CliError> {
    if g.json {
        print_json(&json!({"written": path, "rows": rows}))?;
    } else {
        eprintln!("wrote {} ({rows} rows)", path.display());
    }
    Ok(())
}
