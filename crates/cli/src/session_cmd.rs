//! `stackperf session …`, `collect` and `report compare`.

use clap::{Subcommand, ValueEnum};
use serde_json::json;
use stackperf_core::app::{OnTraffic, TrafficStep};
use stackperf_core::config::RenderFormat;
use stackperf_core::metrics::{format_value, METRICS};
use stackperf_core::render::Rendered;
use stackperf_core::session::{CreateSession, FinalStatus, SessionRow};

use crate::output::{json as print_json, table};
use crate::{app, runtime, CliError, Global};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    Shell,
    Dotenv,
    Json,
    Toml,
}

impl From<Format> for RenderFormat {
    fn from(f: Format) -> Self {
        match f {
            Format::Shell => RenderFormat::Shell,
            Format::Dotenv => RenderFormat::Dotenv,
            Format::Json => RenderFormat::Json,
            Format::Toml => RenderFormat::Toml,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum FinalStatusArg {
    Completed,
    Aborted,
    Invalid,
}

#[derive(Subcommand, Debug)]
pub enum SessionCmd {
    /// Register a session, issue its proxy key and print the harness environment
    Create {
        #[arg(long)]
        experiment: String,
        #[arg(long)]
        variant: String,
        #[arg(long)]
        task_card: String,
        /// Harness profile [default: the variant's]
        #[arg(long)]
        harness: Option<String>,
        /// A label for the operator's own reference
        #[arg(long)]
        label: Option<String>,
        /// Exploratory sessions are never mixed into bounded comparisons
        #[arg(long)]
        exploratory: bool,
        /// Keep the harness's own state (history, settings, caches) in the session folder,
        /// not in your home (the harness profile's `isolation`; see docs/configuration.md)
        #[arg(long)]
        isolate: bool,
        /// Environment format [default: the harness profile's]
        #[arg(long, value_enum)]
        format: Option<Format>,
    },
    /// Print an active session's environment again (and rewrite its files)
    Env {
        id: String,
        #[arg(long, value_enum)]
        format: Option<Format>,
    },
    /// End a session: collect its requests, record status/outcome/notes, revoke its key
    Finalize {
        id: String,
        #[arg(long, value_enum)]
        status: FinalStatusArg,
        #[arg(long)]
        outcome: Option<String>,
        #[arg(long)]
        notes: Option<String>,
    },
    /// Sessions, newest first
    List {
        #[arg(long)]
        experiment: Option<String>,
        /// Only sessions that ran on this machine (its id or host name: `stackperf db machines`)
        #[arg(long)]
        machine: Option<String>,
    },
    /// One session in full
    Show { id: String },
    /// Send sample requests through the proxy with only the session's own environment (no
    /// harness, no API key needed for the simulated providers)
    Traffic {
        id: String,
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
        count: u32,
    },
}

fn print_env(rendered: &Rendered, fmt: RenderFormat) {
    print!("{}", rendered.format(fmt));
    if !rendered.files.is_empty() {
        println!("# files written for the harness:");
        for f in &rendered.files {
            println!("#   {}", f.path.display());
        }
    }
    for c in &rendered.launch_checks {
        println!("# check: {c}");
    }
    if let Some(cmd) = &rendered.launch_command {
        println!("# then run: {cmd}");
    }
}

fn env_json(rendered: &Rendered) -> serde_json::Value {
    let env: serde_json::Map<String, serde_json::Value> = rendered
        .env
        .iter()
        .map(|(k, v)| (k.clone(), json!(v.expose())))
        .collect();
    json!({"env": env, "files": rendered.files.iter().map(|f| f.path.display().to_string()).collect::<Vec<_>>(),
        "launch_command": rendered.launch_command, "launch_checks": rendered.launch_checks})
}

fn describe(s: &SessionRow) -> Vec<(String, String)> {
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    vec![
        ("session".into(), s.session_id.clone()),
        ("status".into(), format!("{} ({})", s.status, s.mode)),
        ("experiment".into(), s.experiment.clone()),
        (
            "variant".into(),
            format!(
                "{} ({})",
                s.variant,
                &s.config_fingerprint.trim_start_matches("sha256:")[..12]
            ),
        ),
        ("task card".into(), s.task_card.clone()),
        (
            "harness".into(),
            format!(
                "{}{}",
                s.harness_profile,
                if s.isolated {
                    " (state isolated in the session folder)"
                } else {
                    ""
                }
            ),
        ),
        ("key alias".into(), opt(&s.proxy_key_alias)),
        (
            "repository".into(),
            format!(
                "{} @ {} {}{}",
                opt(&s.repo_root),
                opt(&s.git_branch),
                s.git_commit_sha
                    .as_deref()
                    .map(|c| &c[..c.len().min(12)])
                    .unwrap_or("-"),
                if s.git_dirty == Some(true) {
                    " (dirty)"
                } else {
                    ""
                }
            ),
        ),
        (
            "versions".into(),
            format!(
                "stackperf {}, LiteLLM {}",
                s.app_version,
                opt(&s.litellm_version)
            ),
        ),
        ("requests".into(), s.request_count.to_string()),
        ("price".into(), price_text(s.price.as_ref())),
        ("outcome".into(), opt(&s.outcome)),
        (
            "harness says".into(),
            harness_text(s.harness_report.as_ref()),
        ),
        ("notes".into(), opt(&s.notes)),
    ]
}

/// The price recorded with a session, for people.
fn price_text(p: Option<&stackperf_core::config::Price>) -> String {
    let Some(p) = p else {
        return "none declared (LiteLLM's own cost map, else n/a)".into();
    };
    format!(
        "${} in / ${} out per Mtok{}",
        p.input_per_mtok,
        p.output_per_mtok,
        p.as_of
            .as_deref()
            .map(|d| format!(" (as of {d})"))
            .unwrap_or_default()
    )
}

/// The harness's own figures, for people (`-` for a manual session or a harness that prints none).
fn harness_text(r: Option<&stackperf_core::run::HarnessReport>) -> String {
    let Some(r) = r else { return "-".into() };
    let n = |x: Option<i64>| x.map(|x| x.to_string()).unwrap_or_else(|| "?".into());
    let cost = r
        .cost_usd
        .map(|c| format!(", cost ${c:.4} by its own price table"))
        .unwrap_or_default();
    format!(
        "{} model calls, {} input / {} output tokens, {} tool calls{cost}",
        n(r.model_calls),
        n(r.input_tokens),
        n(r.output_tokens),
        n(r.tool_calls)
    )
}

pub fn run(g: &Global, cmd: SessionCmd) -> Result<(), CliError> {
    runtime()?.block_on(async {
        let app = app(g)?;
        match cmd {
            SessionCmd::Create {
                experiment,
                variant,
                task_card,
                harness,
                label,
                exploratory,
                isolate,
                format,
            } => {
                let req = CreateSession {
                    experiment,
                    variant,
                    task_card,
                    harness,
                    label,
                    exploratory,
                    isolate,
                };
                let (session, rendered) = app.session_create(&req).await?;
                if g.json {
                    return Ok(print_json(
                        &json!({"session": session, "environment": env_json(&rendered)}),
                    )?);
                }
                eprintln!(
                    "created session {} (key {} valid until the task card's timebox + 30 min)",
                    session.session_id,
                    session.proxy_key_alias.as_deref().unwrap_or("-")
                );
                print_env(
                    &rendered,
                    format.map(Into::into).unwrap_or(rendered.default_format),
                );
                Ok(())
            }
            SessionCmd::Env { id, format } => {
                let rendered = app.session_rendered(&id).await?;
                if g.json {
                    return Ok(print_json(&env_json(&rendered))?);
                }
                print_env(
                    &rendered,
                    format.map(Into::into).unwrap_or(rendered.default_format),
                );
                Ok(())
            }
            SessionCmd::Finalize {
                id,
                status,
                outcome,
                notes,
            } => {
                let status = match status {
                    FinalStatusArg::Completed => FinalStatus::Completed,
                    FinalStatusArg::Aborted => FinalStatus::Aborted,
                    FinalStatusArg::Invalid => FinalStatus::Invalid,
                };
                let done = app
                    .session_finalize(&id, status, outcome.as_deref(), notes.as_deref())
                    .await?;
                if let Some(e) = &done.collect_error {
                    eprintln!("warning: the session is finalized, but collecting its last requests failed: {e}");
                }
                if g.json {
                    return Ok(print_json(&done)?);
                }
                let s = done.session;
                println!(
                    "session {} is {}; {} requests recorded; its key is revoked",
                    s.session_id, s.status, s.request_count
                );
                Ok(())
            }
            SessionCmd::List {
                experiment,
                machine,
            } => {
                let mut list = app.sessions_list(experiment.as_deref()).await?;
                if let Some(m) = machine {
                    list.retain(|s| {
                        s.machine_id.as_deref() == Some(m.as_str())
                            || s.hostname.as_deref() == Some(m.as_str())
                    });
                }
                if g.json {
                    return Ok(print_json(&list)?);
                }
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|s| {
                        vec![
                            s.session_id.clone(),
                            s.status.to_string(),
                            s.experiment.clone(),
                            s.variant.clone(),
                            s.task_card.clone(),
                            s.request_count.to_string(),
                            s.hostname.clone().unwrap_or_default(),
                            s.operator_label.clone().unwrap_or_default(),
                        ]
                    })
                    .collect();
                Ok(table(
                    &[
                        "SESSION",
                        "STATUS",
                        "EXPERIMENT",
                        "VARIANT",
                        "TASK CARD",
                        "REQUESTS",
                        "MACHINE",
                        "LABEL",
                    ],
                    &rows,
                )?)
            }
            SessionCmd::Traffic { id, count } => {
                let json_out = g.json;
                let progress = OnTraffic(move |s: TrafficStep| {
                    if !json_out {
                        eprint!("\rsent {}/{}", s.done, s.total);
                    }
                });
                let r = app.session_sample_traffic(&id, count, &progress).await?;
                if g.json {
                    return Ok(print_json(&r)?);
                }
                eprintln!();
                println!(
                    "{} sent, {} ok, {} failed in {:.1} s{}",
                    r.sent,
                    r.ok,
                    r.failed,
                    r.elapsed_ms as f64 / 1000.0,
                    r.first_error
                        .as_deref()
                        .map(|e| format!("; first failure: {e}"))
                        .unwrap_or_default()
                );
                if r.failed > 0 {
                    return Err(CliError::Reported(format!(
                        "{} request(s) failed",
                        r.failed
                    )));
                }
                Ok(())
            }
            SessionCmd::Show { id } => {
                let (s, stats) = app.session_show(&id).await?;
                let requests = app.session_requests(&id).await?;
                let edge = app.session_edge_health(&id).await?;
                if g.json {
                    let mut v = serde_json::to_value(&s).map_err(std::io::Error::other)?;
                    v["stats"] = serde_json::to_value(&stats).map_err(std::io::Error::other)?;
                    v["edge"] = serde_json::to_value(&edge).map_err(std::io::Error::other)?;
                    v["requests"] =
                        serde_json::to_value(&requests).map_err(std::io::Error::other)?;
                    return Ok(print_json(&v)?);
                }
                for (k, v) in describe(&s) {
                    println!("{k:<12} {}", crate::output::clean(&v, 2000));
                }
                if let Some(st) = stats {
                    for (k, v) in describe_stats(&st) {
                        println!("{k:<12} {v}");
                    }
                }
                if let Some(line) = &edge.summary {
                    println!("{:<12} {line}", "edge");
                }
                if !requests.is_empty() {
                    println!();
                    print_requests(&requests)?;
                }
                Ok(())
            }
        }
    })
}

/// One session's requests, one line each (`session show`).
fn print_requests(rows: &[stackperf_core::app::RequestBrief]) -> Result<(), CliError> {
    let ms = |v: Option<f64>| {
        v.map(|x| format!("{x:.0} ms"))
            .unwrap_or_else(|| "-".into())
    };
    let opt = |v: Option<i64>| v.map(|x| x.to_string()).unwrap_or_else(|| "-".into());
    let lines: Vec<Vec<String>> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            vec![
                (i + 1).to_string(),
                r.protocol_surface
                    .map_or_else(|| "-".into(), |s| s.to_string()),
                r.model.clone().unwrap_or_else(|| "-".into()),
                if r.streamed { "yes" } else { "no" }.into(),
                match (r.status.as_str(), r.http_status) {
                    ("success", _) => "ok".into(),
                    (_, Some(h)) => format!("{} {h}", r.error_class.as_deref().unwrap_or("error")),
                    _ => r.error_class.clone().unwrap_or_else(|| "error".into()),
                },
                ms(r.ttft_ms),
                ms(r.latency_ms),
                format!("{}/{}", opt(r.input_tokens), opt(r.output_tokens)),
            ]
        })
        .collect();
    Ok(table(
        &[
            "#",
            "SURFACE",
            "MODEL",
            "STREAM",
            "STATUS",
            "TTFT",
            "LATENCY",
            "IN/OUT TOKENS",
        ],
        &lines,
    )?)
}

/// The request statistics `session show` prints: counts, then each registry metric it has.
fn describe_stats(st: &stackperf_core::report::SessionStats) -> Vec<(String, String)> {
    let mut out = vec![
        (
            "requests".to_string(),
            format!("{} ({} errors)", st.requests, st.errors),
        ),
        (
            "tokens".to_string(),
            format!("{} in / {} out", st.input_tokens, st.output_tokens),
        ),
    ];
    for m in METRICS {
        if let Some(v) = st.metric(m.name) {
            out.push((m.short.to_string(), format_value(m.unit, Some(v))));
        }
    }
    if let Some(e) = &st.environment {
        let load = |l: Option<f64>| l.map_or("-".into(), |x| format!("{x:.2}"));
        out.push((
            "environment".to_string(),
            format!(
                "{} ({}, {} × {}, {} MiB); load {} → {}; {} other session(s) active; limit {}",
                e.hostname,
                e.os,
                e.cpus,
                e.cpu_model,
                e.memory_mib,
                load(e.load_start),
                load(e.load_end),
                e.concurrent_sessions,
                e.time_limit_s.map_or("-".into(), |l| format!("{l:.0} s"))
            ),
        ));
    }
    out
}
