//! A run and its items (the `runs` and `run_items` tables): order, states, outcomes.

use serde::{Deserialize, Serialize};
use strum::VariantArray;

/// The order a run's sessions are taken in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum RunOrder {
    /// Randomized complete blocks: a block is one task card × every variant once, in a shuffled
    /// order; each repetition runs one block per task card, the task cards in a shuffled order
    /// (the seed is recorded). Drift hits every variant alike and no variant always goes first.
    Blocks,
    /// A B C A B C …: drift over time (machine load, provider load) hits every variant alike.
    Interleaved,
    /// Every item shuffled with a recorded seed.
    Random,
    /// A A A B B B …: only when variants cannot alternate (e.g. a warm cache is the point).
    Blocked,
}

impl RunOrder {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn parse(s: &str) -> Option<RunOrder> {
        s.parse().ok()
    }
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum RunStatus {
    Running,
    Completed,
    Cancelled,
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The state by its name; an unknown name (a newer StackPerf's) reads as `running`.
    pub fn parse(s: String) -> RunStatus {
        s.parse().unwrap_or(RunStatus::Running)
    }
}

/// Where one item (one session) of a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum ItemState {
    Pending,
    /// Leased by a worker, which renews its lease while it works on it (docs/team.md); a run
    /// killed here finalizes its session as aborted on `--resume`, or when another worker takes
    /// the item over once the lease ran out, and the item is run again.
    Running,
    Done,
    /// Cancelled (Ctrl-C) or interrupted: its session is finalized as aborted.
    Aborted,
}

impl ItemState {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The state by its name; an unknown name (a newer StackPerf's) reads as `pending`.
    pub fn parse(s: String) -> ItemState {
        s.parse().unwrap_or(ItemState::Pending)
    }
}

/// How one session of a run ended for the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::VariantArray)]
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
    /// The harness's program could not be started (missing, not executable).
    HarnessNotStarted,
    /// StackPerf's proxy did not answer when the session began.
    ProxyUnavailable,
    /// The harness was killed by a signal StackPerf did not send (e.g. the kernel's OOM killer).
    KilledByMachine,
    /// The worker running it stopped renewing its lease (killed, or cut off from the store): the
    /// item was taken over and done again (docs/team.md, "Joining a run").
    WorkerLost,
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
            TaskOutcome::HarnessNotStarted => "harness could not start",
            TaskOutcome::ProxyUnavailable => "proxy unavailable",
            TaskOutcome::KilledByMachine => "killed by the machine",
            TaskOutcome::WorkerLost => "worker lost",
            TaskOutcome::Cancelled => "cancelled",
        }
    }

    /// The name it is stored under (its serialized form).
    pub fn key(self) -> &'static str {
        match self {
            TaskOutcome::Success => "success",
            TaskOutcome::FailedVerify => "failed_verify",
            TaskOutcome::Unverified => "unverified",
            TaskOutcome::Timeout => "timeout",
            TaskOutcome::HarnessError => "harness_error",
            TaskOutcome::SetupFailed => "setup_failed",
            TaskOutcome::HarnessNotStarted => "harness_not_started",
            TaskOutcome::ProxyUnavailable => "proxy_unavailable",
            TaskOutcome::KilledByMachine => "killed_by_machine",
            TaskOutcome::WorkerLost => "worker_lost",
            TaskOutcome::Cancelled => "cancelled",
        }
    }

    pub fn from_key(key: &str) -> Option<TaskOutcome> {
        TaskOutcome::VARIANTS
            .iter()
            .copied()
            .find(|o| o.key() == key)
    }

    /// What the outcome says about the task (docs/runs.md, "Outcomes").
    pub fn class(self) -> OutcomeClass {
        match self {
            TaskOutcome::Success => OutcomeClass::Success,
            TaskOutcome::FailedVerify | TaskOutcome::Timeout | TaskOutcome::HarnessError => {
                OutcomeClass::TaskFailure
            }
            TaskOutcome::SetupFailed
            | TaskOutcome::HarnessNotStarted
            | TaskOutcome::ProxyUnavailable
            | TaskOutcome::KilledByMachine
            | TaskOutcome::WorkerLost => OutcomeClass::InfraError,
            TaskOutcome::Unverified => OutcomeClass::Unverified,
            TaskOutcome::Cancelled => OutcomeClass::Cancelled,
        }
    }

    /// The task's success as the comparison counts it (`None`: unknown, or the infrastructure
    /// failed — never a task failure).
    pub fn success(self) -> Option<bool> {
        match self.class() {
            OutcomeClass::Success => Some(true),
            OutcomeClass::TaskFailure => Some(false),
            OutcomeClass::InfraError | OutcomeClass::Unverified | OutcomeClass::Cancelled => None,
        }
    }
}

/// What a session's outcome says about the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum OutcomeClass {
    Success,
    /// Verify failed or the time limit passed: counts against the variant.
    TaskFailure,
    /// Setup failed, the harness could not start, the proxy was unavailable, or the machine killed
    /// it: never counted in success rates, retried (`--retry-infra`), always shown.
    InfraError,
    /// Finished, but the task card has no verify command.
    Unverified,
    Cancelled,
}

/// A worker of a run: one slot of one `stackperf run` process on one machine — who holds (or
/// last held) an item's lease (docs/team.md, "Joining a run").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Worker {
    /// The machine's stable id (as sessions record it).
    pub machine_id: String,
    pub hostname: String,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub pid: u32,
    /// Which of the process's `--parallel` slots.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub slot: u32,
}

impl Worker {
    /// As stored in `run_items.lease_owner`: `machine_id/pid/slot/hostname`.
    pub fn owner(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.machine_id, self.pid, self.slot, self.hostname
        )
    }

    /// A stored owner read back; `None` for one not written by [`Worker::owner`].
    pub fn parse(owner: &str) -> Option<Worker> {
        let mut parts = owner.splitn(4, '/');
        let machine_id = parts.next()?.to_string();
        let pid = parts.next()?.parse().ok()?;
        let slot = parts.next()?.parse().ok()?;
        let hostname = parts.next()?.to_string();
        Some(Worker {
            machine_id,
            hostname,
            pid,
            slot,
        })
    }
}

/// One planned session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedItem {
    pub variant: String,
    pub task_card: String,
    pub repetition: u32,
}

/// The harness's own figures for one session (each `None` where it does not report it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct HarnessReport {
    /// Model calls it says it made (Claude Code's turns, Gemini CLI's API requests, OpenCode's
    /// steps).
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub model_calls: Option<i64>,
    /// Input tokens, cached and cache-write included.
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub input_tokens: Option<i64>,
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub output_tokens: Option<i64>,
    /// Its own cost estimate (its own price table: may differ from the provider's).
    pub cost_usd: Option<f64>,
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub tool_calls: Option<i64>,
}
