//! Automated runs (docs/runs.md): plan the sessions, then for each one create the session, prepare
//! a fresh working copy, run setup, launch the harness headless with exactly the session's
//! environment, enforce the time limit, run verify, finalize, and go on. Every step is recorded,
//! so a killed run resumes where it stopped.

use std::collections::BTreeMap;

use serde::Serialize;
use tokio::sync::watch;

use super::{App, Events};
use crate::config::{HarnessProfile, Registry, TaskCard};
use crate::report::Comparison;
use crate::run::{self, ItemState, RunRequest, RunStatus, TaskOutcome};
use crate::session::FinalStatus;
use crate::store::{RunItemRow, RunRow, Worker};
use crate::timestamp::Timestamp;
use crate::{Error, APP_VERSION};

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

pub(super) type Progress<'a> = &'a (dyn Fn(RunEvent) + Send + Sync);

impl App {
    /// Plan and record a run, then carry it out.
    pub async fn run_start(
        &self,
        req: RunRequest,
        events: &dyn Events,
        cancel: watch::Receiver<bool>,
    ) -> Result<RunSummary, Error> {
        let progress = &|e: RunEvent| events.run(e);
        let reg = self.registry()?;
        let (variants, task_cards, suite) = check_request(&reg, &req)?;
        let seed = match req.seed {
            Some(s) => s,
            None => random_u64()?,
        };
        let items = run::plan(&variants, &task_cards, req.repeat, req.order, seed);
        let run = RunRow {
            run_id: format!("run_{:012x}", random_u64()? & 0xffff_ffff_ffff),
            experiment: req.experiment.clone(),
            created_at: Timestamp::now(),
            finished_at: None,
            status: RunStatus::Running,
            order: req.order,
            seed: seed.to_string(),
            repetitions: req.repeat,
            timeout_s: req.timeout_s,
            machine: machine(),
            versions: self.versions(&reg, &variants).await,
            suite,
            retry_infra: req.retry_infra.unwrap_or(1),
            parallel: slots(req.parallel.unwrap_or(1))?,
        };
        self.store().await?.insert_run(&run, &items).await?;
        let slots = run.parallel;
        self.run_loop(run, slots, progress, cancel).await
    }

    /// Carry on with a run that was stopped or killed: a session it was in the middle of is
    /// finalized as aborted and its item run again; finished items are never repeated, and
    /// neither is an item another live worker holds (docs/team.md).
    pub async fn run_resume(
        &self,
        run_id: &str,
        events: &dyn Events,
        cancel: watch::Receiver<bool>,
    ) -> Result<RunSummary, Error> {
        let progress = &|e: RunEvent| events.run(e);
        let store = self.store().await?;
        let run = recorded_run(store, run_id).await?;
        let now = Timestamp::now();
        for it in store.run_items(run_id).await? {
            if !interrupted(&it, now) {
                continue;
            }
            let owner = it.worker.as_ref().map(Worker::owner);
            if !store
                .release_run_item(run_id, it.index, owner.as_deref())
                .await?
            {
                continue; // taken by a worker meanwhile
            }
            if let Some(id) = &it.session_id {
                let why = "interrupted: the run stopped during this session";
                let _ = self
                    .session_finalize(id, FinalStatus::Aborted, Some(why), None)
                    .await;
            }
        }
        let slots = run.parallel;
        self.run_loop(run, slots, progress, cancel).await
    }

    /// A run's items as they stand, with the worker that holds or held each (progress of every
    /// worker, read while a run goes on; the comparison is left to [`App::run_show`]).
    pub async fn run_items(&self, run_id: &str) -> Result<Vec<RunItemRow>, Error> {
        let store = self.store().await?;
        recorded_run(store, run_id).await?;
        store.run_items(run_id).await
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
            let out = crate::stack::process::tokio_command(program)
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

/// What a run request resolves to: the experiment's variants, the task cards, and the suite they
/// came from.
pub(super) type Resolved = (Vec<String>, Vec<String>, Option<String>);

/// The request resolved, after checking that the run can be carried out at all.
pub(super) fn check_request(reg: &Registry, req: &RunRequest) -> Result<Resolved, Error> {
    let exp = reg.experiment_or_err(&req.experiment)?;
    if req.suite.is_some() && !req.task_cards.is_empty() {
        return Err(Error::Invalid(
            "name a suite (--suite) or task cards (--task-card), not both".into(),
        ));
    }
    let suite = match (&req.suite, req.task_cards.is_empty()) {
        (Some(s), _) => Some(s.clone()),
        (None, true) => exp.suite.clone(),
        (None, false) => None,
    };
    let task_cards = match &suite {
        Some(s) => reg
            .suite_or_err(s)?
            .tasks
            .iter()
            .map(|t| t.task_card.clone())
            .collect(),
        None => req.task_cards.clone(),
    };
    if task_cards.is_empty() || req.repeat == 0 {
        return Err(Error::Invalid(
            "a run needs task cards (--suite S, --task-card T, or `suite:` in the experiment) and at least one repetition (--repeat)".into(),
        ));
    }
    for t in &task_cards {
        task_and_harness(reg, &exp.variants[0], t)?;
    }
    for v in &exp.variants {
        task_and_harness(reg, v, &task_cards[0])?;
    }
    Ok((exp.variants.clone(), task_cards, suite))
}

/// A worker's sessions at a time, checked: 1 to [`run::MAX_PARALLEL`].
pub(super) fn slots(n: u32) -> Result<u32, Error> {
    if (1..=run::MAX_PARALLEL).contains(&n) {
        Ok(n)
    } else {
        Err(Error::Invalid(format!(
            "sessions at a time (--parallel) must be 1 to {}, not {n}",
            run::MAX_PARALLEL
        )))
    }
}

pub(super) fn task_and_harness<'a>(
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

/// Whether `--resume` takes an item back: aborted, or running with no live worker on it — its
/// lease ran out (or it has none), or its worker was a process of this machine that is gone.
fn interrupted(it: &RunItemRow, now: Timestamp) -> bool {
    match it.state {
        ItemState::Aborted => true,
        ItemState::Running => {
            let live = it.lease_until.is_some_and(|u| u > now);
            let gone = it.worker.as_ref().is_some_and(|w| {
                w.machine_id == crate::machine::Identity::this().machine_id
                    && !std::path::Path::new(&format!("/proc/{}", w.pid)).exists()
            });
            !live || gone
        }
        ItemState::Pending | ItemState::Done => false,
    }
}

/// A recorded run, or which one was not found.
pub(super) async fn recorded_run(
    store: &crate::store::Store,
    run_id: &str,
) -> Result<RunRow, Error> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_at_a_time_are_one_to_the_maximum() {
        assert_eq!(slots(1).unwrap(), 1);
        assert_eq!(slots(run::MAX_PARALLEL).unwrap(), run::MAX_PARALLEL);
        for bad in [0, run::MAX_PARALLEL + 1] {
            let e = slots(bad).unwrap_err().to_string();
            assert!(e.contains("1 to 32") && e.contains(&bad.to_string()), "{e}");
        }
    }
}
