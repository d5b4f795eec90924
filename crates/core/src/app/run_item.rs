//! One item of a run: create its session, prepare a fresh working copy, run setup, check the
//! proxy, launch the harness headless with exactly the session's environment, enforce the time
//! limit, run verify, classify the outcome (task or infrastructure, docs/runs.md) and finalize.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::sync::watch;

use super::run_worker::Held;
use super::runs::{task_and_harness, Progress, RunEvent};
use super::App;
use crate::config::{template, HarnessProfile, Registry, TaskCard};
use crate::run::{self, Launch, TaskOutcome};
use crate::session::{CreateSession, FinalStatus};
use crate::store::{RunItemRow, RunRow, TaskResult};
use crate::Error;

impl App {
    /// One session of a run, from creation to finalize.
    pub(super) async fn run_item(
        &self,
        run: &RunRow,
        item: &RunItemRow,
        held: &Held,
        progress: Progress<'_>,
        cancel: &mut watch::Receiver<bool>,
    ) -> Result<TaskOutcome, Error> {
        let reg = self.registry()?;
        let (task, harness) = task_and_harness(&reg, &item.variant, &item.task_card)?;
        let (session, rendered) = self
            .session_create(&CreateSession {
                experiment: run.experiment.clone(),
                variant: item.variant.clone(),
                task_card: item.task_card.clone(),
                harness: None,
                label: Some(format!("{} #{}", run.run_id, item.index + 1)),
                exploratory: false,
                isolate: harness.isolation.is_some(),
            })
            .await?;
        let id = session.session_id.clone();
        let store = self.store().await?.clone();
        let limit = run
            .timeout_s
            .unwrap_or(f64::from(task.session_timebox_minutes) * 60.0);
        self.record_environment(&id, Some(limit)).await?;
        if !store.lease_session(&held.lease, &id).await? {
            let why = format!(
                "{}: this worker's lease on the item ran out before its session began",
                TaskOutcome::WorkerLost.as_str()
            );
            self.session_finalize(&id, FinalStatus::Aborted, Some(&why), None)
                .await?;
            return Ok(TaskOutcome::WorkerLost);
        }
        progress(RunEvent::ItemStarted {
            index: item.index,
            variant: item.variant.clone(),
            task_card: item.task_card.clone(),
            repetition: item.repetition,
            session_id: id.clone(),
        });
        let step = |message: String| {
            progress(RunEvent::Step {
                index: item.index,
                message,
            })
        };
        let dir = crate::paths::session_dir(&self.paths.data_dir, &id);
        let timeout = run
            .timeout_s
            .map(Duration::from_secs_f64)
            .unwrap_or(Duration::from_secs(
                u64::from(task.session_timebox_minutes) * 60,
            ));
        // The harness's process environment: the one place the key leaves its `Secret`.
        let env: Vec<(String, String)> = rendered
            .exposed()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let ctx = ItemCtx {
            dir: &dir,
            task,
            harness,
            env: &env,
            session_id: &id,
            model_alias: reg
                .resolve(&item.variant)
                .map(|r| r.variant.model_alias.clone()),
            timeout,
        };
        let (mut outcome, harness_run, mut why) = self.run_steps(&reg, &ctx, &step, cancel).await?;
        if (outcome == TaskOutcome::Cancelled || !held.confirm(&store).await?) && held.lost() {
            outcome = TaskOutcome::WorkerLost;
            why = Some(
                "this worker's lease on the item ran out (the store could not be reached in time) and another worker took it over".into(),
            );
        }
        let detail = match &harness_run {
            _ if why.is_some() => format!("{}: {}", outcome.as_str(), why.unwrap_or_default()),
            Some(f) if outcome != TaskOutcome::Success && !f.tail.is_empty() => {
                format!(
                    "{} ({}); the harness's last output line: {}",
                    outcome.as_str(),
                    exit_words(f),
                    last_line(&f.tail)
                )
            }
            _ => outcome.as_str().to_string(),
        };
        let status = if matches!(outcome, TaskOutcome::Cancelled | TaskOutcome::WorkerLost) {
            FinalStatus::Aborted
        } else {
            FinalStatus::Completed
        };
        self.session_finalize(&id, status, Some(&detail), None)
            .await?;
        let (wall, code) = harness_run
            .map(|f| (Some(f.wall_s), f.code))
            .unwrap_or((None, None));
        let result = TaskResult {
            success: outcome.success(),
            outcome: Some(outcome),
            wall_s: wall,
            exit: code,
            harness_report: harness_report(harness, &dir.join("run").join("harness.out")),
        };
        store.set_task_result(&id, &run.run_id, &result).await?;
        progress(RunEvent::ItemFinished {
            index: item.index,
            session_id: id,
            outcome,
            wall_s: wall,
            exit_code: code,
        });
        Ok(outcome)
    }

    /// Working copy, setup, harness, verify: the outcome and how the harness ended. The item's
    /// commands share a temporary folder of their own (`TMPDIR`), removed when they are done:
    /// what a harness leaves in its temporary folder (OpenCode's runtime unpacks a 5 MB library
    /// there at every start and never removes it) does not pile up over a run's items.
    async fn run_steps(
        &self,
        reg: &Registry,
        ctx: &ItemCtx<'_>,
        step: &(dyn Fn(String) + Send + Sync),
        cancel: &mut watch::Receiver<bool>,
    ) -> Result<Steps, Error> {
        let tmp = ctx.dir.join("tmp");
        std::fs::create_dir_all(&tmp)
            .map_err(crate::io_err("create the item's temporary folder"))?;
        let steps = self.steps_in_order(reg, ctx, step, cancel).await;
        if let Err(e) = std::fs::remove_dir_all(&tmp) {
            tracing::warn!("could not remove {}: {e}", tmp.display());
        }
        steps
    }

    async fn steps_in_order(
        &self,
        reg: &Registry,
        ctx: &ItemCtx<'_>,
        step: &(dyn Fn(String) + Send + Sync),
        cancel: &mut watch::Receiver<bool>,
    ) -> Result<Steps, Error> {
        let work = ctx.dir.join("work");
        let logs = ctx.dir.join("run");
        std::fs::create_dir_all(&logs).map_err(crate::io_err("create the run's log folder"))?;
        let repo = crate::session::resolve_repo(&reg.dir, &ctx.task.repo_path);
        step(format!("preparing a fresh copy of {}", repo.display()));
        let (w, r, t) = (work.clone(), repo.clone(), ctx.task.repo_ref.clone());
        let prepared = tokio::task::spawn_blocking(move || run::prepare(&r, t.as_deref(), &w))
            .await
            .map_err(|e| Error::Internal(e.to_string()))?;
        if let Err(e) = prepared {
            step(format!("setup failed: {e}"));
            return Ok((TaskOutcome::SetupFailed, None, Some(e.to_string())));
        }
        let shell = |cmd: &str| vec!["sh".to_string(), "-c".to_string(), cmd.to_string()];
        if let Some(setup) = &ctx.task.setup {
            step(format!("setup: {setup}"));
            let f = self
                .exec(
                    ctx,
                    &shell(setup),
                    &[],
                    "setup",
                    Duration::from_secs(600),
                    cancel,
                )
                .await?;
            if f.cancelled {
                return Ok((TaskOutcome::Cancelled, None, None));
            }
            if f.code != Some(0) {
                let why = format!(
                    "`{setup}` {}; its last output line: {}",
                    exit_words(&f),
                    last_line(&f.tail)
                );
                step(format!("setup failed: {why}"));
                return Ok((TaskOutcome::SetupFailed, None, Some(why)));
            }
        }
        if let Err(why) = self.proxy_answers().await {
            step(format!("proxy unavailable: {why}"));
            return Ok((TaskOutcome::ProxyUnavailable, None, Some(why)));
        }
        let (argv, env) = headless_command(ctx, &work)?;
        step(format!(
            "launching {} (time limit {:.0} s)",
            argv.join(" "),
            ctx.timeout.as_secs_f64()
        ));
        let f = self
            .exec(ctx, &argv, &env, "harness", ctx.timeout, cancel)
            .await?;
        if let Some(why) = &f.not_started {
            step(why.clone());
            return Ok((TaskOutcome::HarnessNotStarted, None, Some(why.clone())));
        }
        let outcome = if f.cancelled {
            TaskOutcome::Cancelled
        } else if f.signal == Some(SIGKILL) {
            TaskOutcome::KilledByMachine
        } else if f.timed_out {
            TaskOutcome::Timeout
        } else if f.code != Some(0) {
            TaskOutcome::HarnessError
        } else if let Some(v) = &ctx.task.verify {
            step(format!("verify: {}", v.command));
            let limit = Duration::from_secs(v.timeout_seconds);
            let vf = self
                .exec(ctx, &shell(&v.command), &[], "verify", limit, cancel)
                .await?;
            match (vf.cancelled, vf.code) {
                (true, _) => TaskOutcome::Cancelled,
                (_, Some(0)) => TaskOutcome::Success,
                _ => TaskOutcome::FailedVerify,
            }
        } else {
            TaskOutcome::Unverified
        };
        Ok((outcome, Some(f), None))
    }

    /// One of the item's commands, in its working copy, with its output in `run/<name>.out|err`
    /// and the item's temporary folder as `TMPDIR`.
    async fn exec(
        &self,
        ctx: &ItemCtx<'_>,
        argv: &[String],
        env: &[(String, String)],
        name: &str,
        timeout: Duration,
        cancel: &mut watch::Receiver<bool>,
    ) -> Result<run::Finished, Error> {
        let mut env = env.to_vec();
        env.push(("TMPDIR".into(), ctx.dir.join("tmp").display().to_string()));
        let launch = Launch {
            argv,
            env: &env,
            cwd: &ctx.dir.join("work"),
            log_stem: &ctx.dir.join("run").join(name),
            timeout,
        };
        run::run_command(&launch, cancel).await
    }

    /// Whether StackPerf's proxy accepts a connection (within 3 s): a session without it
    /// measures nothing, which is the infrastructure's failure, not the task's.
    async fn proxy_answers(&self) -> Result<(), String> {
        let url = self.proxy_url();
        let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
        let addr = rest.split('/').next().unwrap_or(rest).to_string();
        let connect = tokio::net::TcpStream::connect(addr.clone());
        match tokio::time::timeout(Duration::from_secs(3), connect).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!(
                "nothing answers at {addr} ({e}); start the stack (`stackperf stack up`)"
            )),
            Err(_) => Err(format!("{addr} did not accept a connection within 3 s")),
        }
    }
}

/// How an item's steps ended: the outcome, how the harness ended (if it ran), and why setup
/// failed (if it did).
type Steps = (TaskOutcome, Option<run::Finished>, Option<String>);

/// A command line and the environment it runs with.
type Command = (Vec<String>, Vec<(String, String)>);

/// What one item's steps need.
struct ItemCtx<'a> {
    dir: &'a std::path::Path,
    task: &'a TaskCard,
    harness: &'a HarnessProfile,
    env: &'a [(String, String)],
    session_id: &'a str,
    model_alias: Option<String>,
    timeout: Duration,
}

/// The harness's own figures from its output, where its profile says how to read them (the
/// output is read up to 16 MiB: a report is at its end only for line formats, which stay small).
fn harness_report(harness: &HarnessProfile, out: &std::path::Path) -> Option<run::HarnessReport> {
    let format = harness.headless.as_ref()?.report?;
    let size = std::fs::metadata(out).ok()?.len();
    if size > 16 << 20 {
        return None;
    }
    let bytes = std::fs::read(out).ok()?;
    run::report::parse(format, &String::from_utf8_lossy(&bytes))
}

/// The harness's headless command line and environment (the session's, plus the profile's
/// run-only variables).
fn headless_command(ctx: &ItemCtx<'_>, work: &std::path::Path) -> Result<Command, Error> {
    let Some(h) = &ctx.harness.headless else {
        return Err(Error::Invalid(format!(
            "harness profile `{}` has no `headless` launch",
            ctx.harness.name
        )));
    };
    let vals: BTreeMap<&str, String> = BTreeMap::from([
        ("prompt", ctx.task.starting_prompt.trim().to_string()),
        ("workdir", work.display().to_string()),
        ("session_id", ctx.session_id.to_string()),
        ("session_dir", ctx.dir.display().to_string()),
        ("model_alias", ctx.model_alias.clone().unwrap_or_default()),
        ("harness", ctx.harness.name.clone()),
        ("task_card", ctx.task.name.clone()),
    ]);
    let bad = |e: template::TemplateError| {
        Error::Render(format!("harness {} headless: {e}", ctx.harness.name))
    };
    let argv = h
        .argv
        .iter()
        .map(|a| template::render(a, &vals).map_err(bad))
        .collect::<Result<Vec<_>, _>>()?;
    let mut env = ctx.env.to_vec();
    for (k, t) in &h.env {
        env.push((k.clone(), template::render(t, &vals).map_err(bad)?));
    }
    Ok((argv, env))
}

/// SIGKILL: sent by the kernel (out of memory) or another process, never by a time limit or
/// cancel of StackPerf's (those stop the group with SIGTERM first and are recorded as such).
const SIGKILL: i32 = 9;

/// How a command ended, in words: "exit 3", "killed by signal 9".
fn exit_words(f: &run::Finished) -> String {
    match (f.code, f.signal) {
        (Some(c), _) => format!("exit {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        (None, None) => "stopped".into(),
    }
}

/// The last non-blank line of a program's output, trimmed, at most 300 characters ("…" marks a
/// cut); "(none)" when it printed nothing.
fn last_line(text: &str) -> String {
    let Some(line) = text.lines().rev().map(str::trim).find(|l| !l.is_empty()) else {
        return "(none)".into();
    };
    let mut out: String = line.chars().take(300).collect();
    if line.chars().count() > 300 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::last_line;

    #[test]
    fn a_programs_last_line_is_trimmed_and_bounded() {
        assert_eq!(
            last_line("first\n  {\"type\":\"result\"}  \n\n"),
            "{\"type\":\"result\"}"
        );
        assert_eq!(last_line(" \n\n"), "(none)");
        let long = last_line(&"é".repeat(400));
        assert_eq!(long.chars().count(), 301);
        assert!(long.ends_with('…'));
        assert_eq!(last_line(&"x".repeat(300)).chars().count(), 300);
    }
}
