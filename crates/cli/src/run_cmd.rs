//! `stackperf run`: automated benchmark runs over the use-case layer (`App::run_start`,
//! `App::run_resume`), with a progress line per step, an ETA, and Ctrl-C that stops cleanly.

use std::sync::Mutex;
use std::time::Instant;

use clap::ValueEnum;
use stackperf_core::app::{OnRun, RunEvent, RunSummary};
use stackperf_core::run::{OutcomeClass, RunOrder, RunRequest};

use crate::output::json as print_json;
use crate::{app, report_cmd, runtime, CliError, Global};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OrderArg {
    Blocks,
    Interleaved,
    Random,
    Blocked,
}

/// What a run (or its plan) repeats.
#[derive(clap::Args, Debug)]
pub struct Work {
    /// The task card(s) each repetition works on [default: the experiment's suite]
    #[arg(long = "task-card", conflicts_with = "suite")]
    task_cards: Vec<String>,
    /// A suite of task cards (configs/suites/NAME.yaml) [default: the experiment's `suite:`]
    #[arg(long)]
    suite: Option<String>,
    /// Sessions per variant and task card
    #[arg(long, default_value_t = 3)]
    repeat: u32,
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The experiment whose variants are run
    #[arg(long, required_unless_present_any = ["resume", "join"])]
    experiment: Option<String>,
    #[command(flatten)]
    work: Work,
    /// blocks (randomized complete blocks: each task card × every variant once, shuffled; the
    /// default), interleaved (A B A B …), random (every item shuffled) or blocked (A A B B …)
    #[arg(long, value_enum, default_value = "blocks")]
    order: OrderArg,
    /// The shuffle's seed [default: drawn and recorded]
    #[arg(long)]
    seed: Option<u64>,
    /// Tries again, in a new session, an item that ended in an infrastructure error (setup
    /// failed, harness could not start, proxy unavailable, killed by the machine)
    #[arg(long, value_name = "N", default_value_t = 1)]
    retry_infra: u32,
    /// Sessions at a time, each isolated; they share the machine, which slows timings —
    /// sessions record it and Compare says when variants ran under different concurrency
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=i64::from(stackperf_core::run::MAX_PARALLEL)))]
    parallel: u32,
    /// Per-session time limit in seconds [default: the task card's timebox]
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<f64>,
    /// Carry on with a stopped or killed run
    #[arg(long, value_name = "RUN_ID", conflicts_with_all = ["experiment", "task_cards", "suite"])]
    resume: Option<String>,
    /// Work on a run started elsewhere (another machine on the same PostgreSQL store, or another
    /// process here): take its items until none is left, `--parallel` at a time (docs/team.md)
    #[arg(long, value_name = "RUN_ID", conflicts_with_all = ["experiment", "task_cards", "suite", "resume"])]
    join: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct PlanArgs {
    /// The experiment whose variants would run
    #[arg(long)]
    experiment: String,
    #[command(flatten)]
    work: Work,
}

pub fn plan(g: &Global, a: PlanArgs) -> Result<(), CliError> {
    let app = app(g)?;
    let req = RunRequest {
        experiment: a.experiment,
        task_cards: a.work.task_cards,
        suite: a.work.suite,
        retry_infra: None,
        parallel: None,
        repeat: a.work.repeat,
        order: RunOrder::Blocks,
        seed: None,
        timeout_s: None,
    };
    let plan = runtime()?.block_on(app.run_plan(&req))?;
    if g.json {
        return Ok(print_json(&plan)?);
    }
    println!(
        "plan: {} on {}{}",
        plan.experiment,
        plan.suite
            .as_ref()
            .map(|s| format!("suite {s}: "))
            .unwrap_or_default(),
        plan.task_cards.join(", ")
    );
    for line in &plan.text {
        println!("  {line}");
    }
    Ok(())
}

pub fn run(g: &Global, a: RunArgs) -> Result<(), CliError> {
    let app = app(g)?;
    let rt = runtime()?;
    let (tx, rx) = tokio::sync::watch::channel(false);
    let json_out = g.json;
    let started = Instant::now();
    let state = Mutex::new((0usize, 0usize));
    let progress = move |e: RunEvent| {
        if json_out {
            eprintln!("{}", serde_json::to_string(&e).unwrap_or_default());
            return;
        }
        let Ok(mut s) = state.lock() else { return };
        match &e {
            RunEvent::Planned {
                run_id,
                total,
                done,
            } => {
                *s = (*done, *total);
                eprintln!("run {run_id}: {total} sessions ({done} already done); Ctrl-C stops after finalizing the current one as aborted");
            }
            RunEvent::ItemStarted {
                index,
                variant,
                task_card,
                repetition,
                session_id,
            } => eprintln!(
                "[{}/{}] {variant} · {task_card} · repetition {} · session {session_id}",
                index + 1,
                s.1,
                repetition + 1
            ),
            RunEvent::Step { message, .. } => eprintln!("    {message}"),
            RunEvent::ItemFinished {
                outcome, wall_s, ..
            } => {
                s.0 += 1;
                let elapsed = started.elapsed().as_secs_f64();
                let left = s.1.saturating_sub(s.0);
                let eta = if s.0 > 0 {
                    elapsed / s.0 as f64 * left as f64
                } else {
                    0.0
                };
                eprintln!(
                    "    → {} ({}), {}/{} done, about {:.0} s left",
                    outcome.as_str(),
                    wall_s
                        .map(|w| format!("{w:.1} s"))
                        .unwrap_or_else(|| "–".into()),
                    s.0,
                    s.1,
                    eta
                );
            }
        }
    };
    let summary = rt.block_on(async {
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!(
                    "\nstopping: finalizing the current session as aborted (Ctrl-C again to kill)"
                );
                let _ = tx.send(true);
                if tokio::signal::ctrl_c().await.is_ok() {
                    std::process::exit(130);
                }
            }
        });
        match (a.resume, a.join) {
            (Some(id), _) => app.run_resume(&id, &OnRun(progress), rx).await,
            (None, Some(id)) => app.run_join(&id, a.parallel, &OnRun(progress), rx).await,
            (None, None) => {
                let req = RunRequest {
                    experiment: a.experiment.unwrap_or_default(),
                    task_cards: a.work.task_cards,
                    suite: a.work.suite,
                    retry_infra: Some(a.retry_infra),
                    parallel: Some(a.parallel),
                    repeat: a.work.repeat,
                    order: match a.order {
                        OrderArg::Blocks => RunOrder::Blocks,
                        OrderArg::Interleaved => RunOrder::Interleaved,
                        OrderArg::Random => RunOrder::Random,
                        OrderArg::Blocked => RunOrder::Blocked,
                    },
                    seed: a.seed,
                    timeout_s: a.timeout,
                };
                app.run_start(req, &OnRun(progress), rx).await
            }
        }
    })?;
    if g.json {
        print_json(&summary)?;
    } else {
        print_summary(&summary)?;
    }
    infra_left(&summary)
}

/// A run whose items still end in infrastructure errors after their retries measured less than
/// it was asked to: scripts and CI must notice (exit status 1).
fn infra_left(s: &RunSummary) -> Result<(), CliError> {
    let left: Vec<String> = s
        .items
        .iter()
        .filter(|i| i.outcome_class == Some(OutcomeClass::InfraError))
        .map(|i| {
            format!(
                "#{} {} · {} ({})",
                i.index + 1,
                i.variant,
                i.task_card,
                i.outcome.as_deref().unwrap_or_default()
            )
        })
        .collect();
    if left.is_empty() {
        return Ok(());
    }
    Err(CliError::Reported(format!(
        "{} of {} items ended in an infrastructure error after {} retr{} (not counted as task failures, but not measured either): {}. Fix the cause, then `stackperf run --resume {}` runs only what is missing",
        left.len(),
        s.items.len(),
        s.run.retry_infra,
        if s.run.retry_infra == 1 { "y" } else { "ies" },
        left.join("; "),
        s.run.run_id
    )))
}

fn print_summary(s: &RunSummary) -> Result<(), CliError> {
    let r = &s.run;
    println!(
        "\nrun {} ({}): {}{} order, seed {}, {} sessions ({} at a time) on {}",
        r.run_id,
        r.status.as_str(),
        r.suite
            .as_ref()
            .map(|s| format!("suite {s}, "))
            .unwrap_or_default(),
        r.order.as_str(),
        r.seed,
        s.items.len(),
        r.parallel,
        r.machine
    );
    for it in &s.items {
        let tries = if it.attempts > 1 {
            format!(" ({} attempts)", it.attempts)
        } else {
            String::new()
        };
        println!(
            "  #{:<3} {:<28} {:<20} rep {:<3} {:<18} {}{tries}",
            it.index + 1,
            it.variant,
            it.task_card,
            it.repetition + 1,
            it.session_id.as_deref().unwrap_or("-"),
            it.outcome.as_deref().unwrap_or(it.state.as_str())
        );
    }
    let mut by: std::collections::BTreeMap<String, usize> = Default::default();
    for w in s.items.iter().filter_map(|i| i.worker.as_ref()) {
        *by.entry(format!("{} (pid {})", w.hostname, w.pid))
            .or_default() += 1;
    }
    if by.len() > 1 {
        let per: Vec<String> = by.iter().map(|(w, n)| format!("{w}: {n}")).collect();
        println!("  items per worker: {}", per.join(", "));
    }
    if r.status != stackperf_core::run::RunStatus::Completed {
        println!(
            "\nresume with: stackperf run --resume {id} (or, while other workers are on it, join with: stackperf run --join {id})",
            id = r.run_id
        );
    }
    if let Some(c) = &s.comparison {
        println!();
        report_cmd::print_comparison(c)?;
    }
    Ok(())
}
