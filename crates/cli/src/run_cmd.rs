//! `stackperf run`: automated benchmark runs over the use-case layer (`App::run_start`,
//! `App::run_resume`), with a progress line per step, an ETA, and Ctrl-C that stops cleanly.

use std::sync::Mutex;
use std::time::Instant;

use clap::ValueEnum;
use stackperf_core::app::{RunEvent, RunSummary};
use stackperf_core::run::{RunOrder, RunRequest};

use crate::output::json as print_json;
use crate::{app, report_cmd, runtime, CliError, Global};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OrderArg {
    Interleaved,
    Random,
    Blocked,
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The experiment whose variants are run
    #[arg(long, required_unless_present = "resume")]
    experiment: Option<String>,
    /// The task card(s) each repetition works on
    #[arg(long = "task-card", required_unless_present = "resume")]
    task_cards: Vec<String>,
    /// Sessions per variant and task card
    #[arg(long, default_value_t = 3)]
    repeat: u32,
    /// interleaved (A B A B …, the default), random (shuffled with a recorded seed) or blocked
    #[arg(long, value_enum, default_value = "interleaved")]
    order: OrderArg,
    /// The shuffle's seed (random order) [default: drawn and recorded]
    #[arg(long)]
    seed: Option<u64>,
    /// Per-session time limit in seconds [default: the task card's timebox]
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<f64>,
    /// Carry on with a stopped or killed run
    #[arg(long, value_name = "RUN_ID", conflicts_with_all = ["experiment", "task_cards"])]
    resume: Option<String>,
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
        match a.resume {
            Some(id) => app.run_resume(&id, &progress, rx).await,
            None => {
                let req = RunRequest {
                    experiment: a.experiment.unwrap_or_default(),
                    task_cards: a.task_cards,
                    repeat: a.repeat,
                    order: match a.order {
                        OrderArg::Interleaved => RunOrder::Interleaved,
                        OrderArg::Random => RunOrder::Random,
                        OrderArg::Blocked => RunOrder::Blocked,
                    },
                    seed: a.seed,
                    timeout_s: a.timeout,
                };
                app.run_start(req, &progress, rx).await
            }
        }
    })?;
    if g.json {
        return Ok(print_json(&summary)?);
    }
    print_summary(&summary)
}

fn print_summary(s: &RunSummary) -> Result<(), CliError> {
    let r = &s.run;
    println!(
        "\nrun {} ({}): {} order, seed {}, {} sessions on {}",
        r.run_id,
        r.status.as_str(),
        r.order.as_str(),
        r.seed,
        s.items.len(),
        r.machine
    );
    for it in &s.items {
        println!(
            "  #{:<3} {:<28} rep {:<3} {:<18} {}",
            it.index + 1,
            it.variant,
            it.repetition + 1,
            it.session_id.as_deref().unwrap_or("-"),
            it.outcome.as_deref().unwrap_or(it.state.as_str())
        );
    }
    if r.status != stackperf_core::run::RunStatus::Completed {
        println!("\nresume with: stackperf run --resume {}", r.run_id);
    }
    if let Some(c) = &s.comparison {
        println!();
        report_cmd::print_comparison(c)?;
    }
    Ok(())
}
