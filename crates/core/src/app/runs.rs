//! Automated runs (docs/runs.md): plan the sessions, then for each one create the session, prepare
//! a fresh working copy, run setup, launch the harness headless with exactly the session's
//! environment, enforce the time limit, run verify, finalize, and go on. Every step is recorded,
//! so a killed run resumes where it stopped.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;

use super::App;
use crate::config::{HarnessProfile, Registry, TaskCard};
use crate::report::Comparison;
use crate::run::{self, ItemState, Launch, RunRequest, RunStatus, TaskOutcome};
use crate::session::{CreateSession, FinalStatus};
use crate::store::{now_ms, RunItemRow, RunRow, TaskResult};
use crate::{config::template, Error, APP_VERSION};

/// Progress of a run, for the CLI's lines and the desktop's Run panel.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RunEvent {
    Planned {
        run_id: String,
        #[cfg_attr(feature = "specta", specta(type = f64))]
        total: usize,
        #[cfg_attr(feature = "specta", specta(type = f64))]
        done: usize,
    },
    ItemStarted {
        #[cfg_attr(feature = "specta", specta(type = f64))]
        index: u32,
        variant: String,
        task_card: String,
        #[cfg_attr(feature = "specta", specta(type = f64))]
        repetition: u32,
        session_id: String,
    },
    Step {
        #[cfg_attr(feature = "specta", specta(type = f64))]
        index: u32,
        message: String,
    },
    ItemFinished {
        #[cfg_attr(feature = "specta", specta(type = f64))]
        index: u32,
        session_id: String,
        outcome: TaskOutcome,
        wall_s: Option<f64>,
        exit_code: Option<i32>,
    },
}

/// A run as it ended (or stopped): its record, its items and the experiment's comparison.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct RunSummary {
    pub run: RunRow,
    pub items: Vec<RunItemRow>,
    pub comparison: Option<Comparison>,
}

type Progress<'a> = &'a (dyn Fn(RunEvent) + Send + Sync);

impl App {
    /// Plan and record a run, then carry it out.
    pub async fn run_start(
        &self,
        req: RunRequest,
        progress: Progress<'_>,
        cancel: watch::Receiver<bool>,
    ) -> Result<RunSummary, Error> {
        let reg = self.registry()?;
        let variants = check_request(&reg, &req)?;
        let seed = match req.seed {
            Some(s) => s,
            None => random_u64()?,
        };
        let items = run::plan(&variants, &req.task_cards, req.repeat, req.order, seed);
        let run = RunRow {
            run_id: format!("run_{:012x}", random_u64()? & 0xffff_ffff_ffff),
            experiment: req.experiment.clone(),
            created_at: now_ms(),
            finished_at: None,
            status: RunStatus::Running,
            order: req.order,
            seed: seed.to_string(),
            repetitions: req.repeat,
            timeout_s: req.timeout_s,
            machine: machine(),
            versions: self.versions(&reg, &variants).await,
        };
        self.store().await?.insert_run(&run, &items).await?;
        self.run_loop(run, progress, cancel).await
    }

    /// Carry on with a run that was stopped or killed: a session it was in the middle of is
    /// finalized as aborted and its item run again; finished items are never repeated.
    pub async fn run_resume(
        &self,
        run_id: &str,
        progress: Progress<'_>,
        cancel: watch::Receiver<bool>,
    ) -> Result<RunSummary, Error> {
        let store = self.store().await?;
        let run = recorded_run(store, run_id).await?;
        for it in store.run_items(run_id).await? {
            if matches!(it.state, ItemState::Running | ItemState::Aborted) {
                if let Some(id) = &it.session_id {
                    let why = "interrupted: the run stopped during this session";
                    let _ = self
                        .session_finalize(id, FinalStatus::Aborted, Some(why), None)
                        .await;
                }
                store
                    .set_run_item(run_id, it.index, ItemState::Pending, None, None)
                    .await?;
            }
        }
        self.run_loop(run, progress, cancel).await
    }

    /// A recorded run as it stands.
    pub async fn run_show(&self, run_id: &str) -> Result<RunSummary, Error> {
        let store = self.store().await?;
        let run = recorded_run(store, run_id).await?;
        Ok(RunSummary {
            items: store.run_items(run_id).await?,
            comparison: self.compare(&run.experiment).await.ok(),
            run,
        })
    }

    async fn run_loop(
        &self,
        mut run: RunRow,
        progress: Progress<'_>,
        mut cancel: watch::Receiver<bool>,
    ) -> Result<RunSummary, Error> {
        let store = self.store().await?.clone();
        store
            .set_run_status(&run.run_id, RunStatus::Running)
            .await?;
        let items = store.run_items(&run.run_id).await?;
        progress(RunEvent::Planned {
            run_id: run.run_id.clone(),
            total: items.len(),
            done: items.iter().filter(|i| i.state == ItemState::Done).count(),
        });
        let mut status = RunStatus::Completed;
        for item in items.iter().filter(|i| i.state == ItemState::Pending) {
            if *cancel.borrow() {
                status = RunStatus::Cancelled;
                break;
            }
            match self.run_item(&run, item, progress, &mut cancel).await {
                Ok(TaskOutcome::Cancelled) => {
                    status = RunStatus::Cancelled;
                    break;
                }
                Ok(_) => {}
                Err(e) => {
                    store.set_run_status(&run.run_id, RunStatus::Failed).await?;
                    return Err(e);
                }
            }
        }
        store.set_run_status(&run.run_id, status).await?;
        run.status = status;
        Ok(RunSummary {
            items: store.run_items(&run.run_id).await?,
            comparison: self.compare(&run.experiment).await.ok(),
            run,
        })
    }

    /// One session of a run, from creation to finalize.
    async fn run_item(
        &self,
        run: &RunRow,
        item: &RunItemRow,
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
        store
            .set_run_item(&run.run_id, item.index, ItemState::Running, Some(&id), None)
            .await?;
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
        let ctx = ItemCtx {
            dir: &dir,
            task,
            harness,
            env: &rendered.env,
            session_id: &id,
            model_alias: reg
                .resolve(&item.variant)
                .map(|r| r.variant.model_alias.clone()),
            timeout,
        };
        let (outcome, harness_run, why) = self.run_steps(&reg, &ctx, &step, cancel).await?;
        let detail = match &harness_run {
            _ if why.is_some() => format!("{}: {}", outcome.as_str(), why.unwrap_or_default()),
            Some(f) if outcome != TaskOutcome::Success && !f.tail.is_empty() => {
                format!(
                    "{} (exit {:?}): {}",
                    outcome.as_str(),
                    f.code,
                    last_line(&f.tail)
                )
            }
            _ => outcome.as_str().to_string(),
        };
        let status = if outcome == TaskOutcome::Cancelled {
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
            wall_s: wall,
            exit: code,
            harness_report: harness_report(harness, &dir.join("run").join("harness.out")),
        };
        store.set_task_result(&id, &run.run_id, &result).await?;
        let state = if outcome == TaskOutcome::Cancelled {
            ItemState::Aborted
        } else {
            ItemState::Done
        };
        store
            .set_run_item(&run.run_id, item.index, state, None, Some(outcome.as_str()))
            .await?;
        progress(RunEvent::ItemFinished {
            index: item.index,
            session_id: id,
            outcome,
            wall_s: wall,
            exit_code: code,
        });
        Ok(outcome)
    }

    /// Working copy, setup, harness, verify: the outcome and how the harness ended.
    async fn run_steps(
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
                    &shell(setup),
                    &[],
                    &work,
                    &logs.join("setup"),
                    Duration::from_secs(600),
                    cancel,
                )
                .await?;
            if f.cancelled {
                return Ok((TaskOutcome::Cancelled, None, None));
            }
            if f.code != Some(0) {
                let why = format!("`{setup}` exited {:?}: {}", f.code, last_line(&f.tail));
                step(format!("setup failed: {why}"));
                return Ok((TaskOutcome::SetupFailed, None, Some(why)));
            }
        }
        let (argv, env) = headless_command(ctx, &work)?;
        step(format!(
            "launching {} (time limit {:.0} s)",
            argv.join(" "),
            ctx.timeout.as_secs_f64()
        ));
        let f = self
            .exec(
                &argv,
                &env,
                &work,
                &logs.join("harness"),
                ctx.timeout,
                cancel,
            )
            .await?;
        let outcome = if f.cancelled {
            TaskOutcome::Cancelled
        } else if f.timed_out {
            TaskOutcome::Timeout
        } else if f.code != Some(0) {
            TaskOutcome::HarnessError
        } else if let Some(v) = &ctx.task.verify {
            step(format!("verify: {}", v.command));
            let limit = Duration::from_secs(v.timeout_seconds);
            let vf = self
                .exec(
                    &shell(&v.command),
                    &[],
                    &work,
                    &logs.join("verify"),
                    limit,
                    cancel,
                )
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

    async fn exec(
        &self,
        argv: &[String],
        env: &[(String, String)],
        cwd: &std::path::Path,
        log_stem: &std::path::Path,
        timeout: Duration,
        cancel: &mut watch::Receiver<bool>,
    ) -> Result<run::Finished, Error> {
        let launch = Launch {
            argv,
            env,
            cwd,
            log_stem,
            timeout,
        };
        run::run_command(&launch, cancel).await
    }

    /// The versions a run is recorded with: StackPerf, LiteLLM and each harness's own.
    async fn versions(&self, reg: &Registry, variants: &[String]) -> String {
        let mut v = BTreeMap::new();
        v.insert("stackperf".to_string(), APP_VERSION.to_string());
        if let Some(l) = crate::stack::venv::Venv::in_cache(&self.paths.cache_dir).installed() {
            v.insert("litellm".to_string(), l);
        }
        for h in variants
            .iter()
            .filter_map(|n| reg.resolve(n))
            .map(|r| r.harness)
        {
            let Some(program) = h.headless.as_ref().and_then(|x| x.argv.first()) else {
                continue;
            };
            let out = tokio::process::Command::new(program)
                .arg("--version")
                .output()
                .await;
            if let Ok(o) = out {
                let text = String::from_utf8_lossy(&o.stdout).trim().to_string();
                v.insert(
                    h.name.clone(),
                    text.lines().next().unwrap_or_default().to_string(),
                );
            }
        }
        serde_json::to_string(&v).unwrap_or_default()
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

/// The experiment's variants, after checking that the run can be carried out at all.
fn check_request(reg: &Registry, req: &RunRequest) -> Result<Vec<String>, Error> {
    let exp = reg.experiment_or_err(&req.experiment)?;
    if req.task_cards.is_empty() || req.repeat == 0 {
        return Err(Error::Invalid(
            "a run needs at least one task card (--task-card) and one repetition (--repeat)".into(),
        ));
    }
    for t in &req.task_cards {
        task_and_harness(reg, &exp.variants[0], t)?;
    }
    for v in &exp.variants {
        task_and_harness(reg, v, &req.task_cards[0])?;
    }
    Ok(exp.variants.clone())
}

fn task_and_harness<'a>(
    reg: &'a Registry,
    variant: &str,
    task_card: &str,
) -> Result<(&'a TaskCard, &'a HarnessProfile), Error> {
    let task = reg.task_card(task_card).ok_or_else(|| Error::NotFound {
        kind: "task card",
        name: task_card.to_string(),
        known: names(reg.task_cards.iter().map(|l| l.value.name.as_str())),
    })?;
    let r = reg.resolve(variant).ok_or_else(|| Error::NotFound {
        kind: "variant",
        name: variant.to_string(),
        known: String::new(),
    })?;
    if r.harness.headless.is_none() {
        return Err(Error::Invalid(format!(
            "variant `{variant}` uses harness profile `{}`, which has no `headless` launch: an automated run cannot start it (add one, or run its sessions by hand)",
            r.harness.name
        )));
    }
    Ok((task, r.harness))
}

/// A recorded run, or which one was not found.
async fn recorded_run(store: &crate::store::Store, run_id: &str) -> Result<RunRow, Error> {
    store.run(run_id).await?.ok_or_else(|| Error::NotFound {
        kind: "run",
        name: run_id.to_string(),
        known: "none by that id (each run prints its id when it starts)".into(),
    })
}

/// The names an unknown name could have been, for the error.
fn names<'a>(all: impl Iterator<Item = &'a str>) -> String {
    all.collect::<Vec<_>>().join(", ")
}

fn last_line(text: &str) -> String {
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    line.chars().take(300).collect()
}

fn random_u64() -> Result<u64, Error> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|e| Error::Internal(format!("no randomness: {e}")))?;
    Ok(u64::from_le_bytes(b) >> 11)
}

/// Which machine a run ran on: host name, OS, architecture and cores.
fn machine() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown-host".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    format!(
        "{host} ({} {}, {cores} cores)",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}
