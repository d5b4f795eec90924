//! Automated benchmark runs: the same task, repeated for every variant of an experiment in a
//! confounder-controlled order, each repetition one session launched headless (docs/runs.md).

mod exec;
pub mod report;
mod workdir;

pub use exec::{run_command, Finished, Launch};
pub use report::{HarnessReport, ReportFormat};
pub use workdir::prepare;

use serde::{Deserialize, Serialize};

use crate::rng::Rng;

/// The order a run's sessions are taken in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum RunOrder {
    /// A B C A B C …: drift over time (machine load, provider load) hits every variant alike.
    Interleaved,
    /// Every item shuffled with a recorded seed.
    Random,
    /// A A A B B B …: only when variants cannot alternate (e.g. a warm cache is the point).
    Blocked,
}

impl RunOrder {
    pub fn as_str(self) -> &'static str {
        match self {
            RunOrder::Interleaved => "interleaved",
            RunOrder::Random => "random",
            RunOrder::Blocked => "blocked",
        }
    }

    pub fn parse(s: &str) -> Option<RunOrder> {
        [RunOrder::Interleaved, RunOrder::Random, RunOrder::Blocked]
            .into_iter()
            .find(|o| o.as_str() == s)
    }
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Completed,
    Cancelled,
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Failed => "failed",
        }
    }

    pub fn parse(s: String) -> RunStatus {
        match s.as_str() {
            "completed" => RunStatus::Completed,
            "cancelled" => RunStatus::Cancelled,
            "failed" => RunStatus::Failed,
            _ => RunStatus::Running,
        }
    }
}

/// Where one item (one session) of a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ItemState {
    Pending,
    /// Its session was created; a run killed here finalizes it as aborted on `--resume` and
    /// runs the item again.
    Running,
    Done,
    /// Cancelled (Ctrl-C) or interrupted: its session is finalized as aborted.
    Aborted,
}

impl ItemState {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemState::Pending => "pending",
            ItemState::Running => "running",
            ItemState::Done => "done",
            ItemState::Aborted => "aborted",
        }
    }

    pub fn parse(s: String) -> ItemState {
        match s.as_str() {
            "running" => ItemState::Running,
            "done" => ItemState::Done,
            "aborted" => ItemState::Aborted,
            _ => ItemState::Pending,
        }
    }
}

/// How one session of a run ended for the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum TaskOutcome {
    /// The harness exited 0 and the verify command passed.
    Success,
    FailedVerify,
    /// The harness exited 0; the task card has no verify command.
    Unverified,
    Timeout,
    HarnessError,
    SetupFailed,
    Cancelled,
}

impl TaskOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskOutcome::Success => "success",
            TaskOutcome::FailedVerify => "failed verify",
            TaskOutcome::Unverified => "finished (no verify command)",
            TaskOutcome::Timeout => "timeout",
            TaskOutcome::HarnessError => "harness error",
            TaskOutcome::SetupFailed => "setup failed",
            TaskOutcome::Cancelled => "cancelled",
        }
    }

    /// The task's success as the comparison counts it (`None`: unknown).
    pub fn success(self) -> Option<bool> {
        match self {
            TaskOutcome::Success => Some(true),
            TaskOutcome::Unverified | TaskOutcome::Cancelled => None,
            _ => Some(false),
        }
    }
}

/// What `stackperf run` and the Run panel ask for.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct RunRequest {
    pub experiment: String,
    pub task_cards: Vec<String>,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub repeat: u32,
    pub order: RunOrder,
    /// The shuffle's seed (random order); generated and recorded when absent.
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub seed: Option<u64>,
    /// Per-session limit [default: the task card's timebox].
    pub timeout_s: Option<f64>,
}

/// One planned session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedItem {
    pub variant: String,
    pub task_card: String,
    pub repetition: u32,
}

/// The run's items in `order`: interleaved (every variant once per repetition and task card),
/// blocked (all repetitions of a variant together), or shuffled with `seed`.
pub fn plan(
    variants: &[String],
    task_cards: &[String],
    repeat: u32,
    order: RunOrder,
    seed: u64,
) -> Vec<PlannedItem> {
    let item = |v: &String, t: &String, r| PlannedItem {
        variant: v.clone(),
        task_card: t.clone(),
        repetition: r,
    };
    let mut out = Vec::new();
    match order {
        RunOrder::Interleaved | RunOrder::Random => {
            for r in 0..repeat {
                for t in task_cards {
                    out.extend(variants.iter().map(|v| item(v, t, r)));
                }
            }
        }
        RunOrder::Blocked => {
            for v in variants {
                for t in task_cards {
                    out.extend((0..repeat).map(|r| item(v, t, r)));
                }
            }
        }
    }
    if order == RunOrder::Random {
        let mut rng = Rng::for_request(seed, out.len() as u64);
        for i in (1..out.len()).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            out.swap(i, j);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(items: &[PlannedItem]) -> Vec<String> {
        items
            .iter()
            .map(|i| format!("{}{}", i.variant, i.repetition))
            .collect()
    }

    #[test]
    fn orders_interleave_block_and_shuffle_reproducibly() {
        let v = vec!["a".to_string(), "b".to_string()];
        let t = vec!["t".to_string()];
        let inter = plan(&v, &t, 2, RunOrder::Interleaved, 0);
        assert_eq!(names(&inter), ["a0", "b0", "a1", "b1"]);
        let blocked = plan(&v, &t, 2, RunOrder::Blocked, 0);
        assert_eq!(names(&blocked), ["a0", "a1", "b0", "b1"]);
        let r1 = plan(&v, &t, 5, RunOrder::Random, 42);
        assert_eq!(
            r1,
            plan(&v, &t, 5, RunOrder::Random, 42),
            "the seed fixes the order"
        );
        assert_ne!(
            names(&r1),
            names(&plan(&v, &t, 5, RunOrder::Interleaved, 0))
        );
        let mut sorted = names(&r1);
        sorted.sort();
        let mut all = names(&plan(&v, &t, 5, RunOrder::Interleaved, 0));
        all.sort();
        assert_eq!(sorted, all, "a shuffle keeps every item once");
    }
}
