//! The `runs` and `run_items` tables (automated benchmark runs) and a session's task outcome.

use crate::timestamp::Timestamp;
use serde::Serialize;
use sqlx::Row;

use super::cols::Cols;

use super::{on_pool, Store};
use crate::store::model::{
    ItemState, OutcomeClass, PlannedItem, RunOrder, RunStatus, TaskOutcome, Worker,
};
use crate::Error;

/// A recorded run.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct RunRow {
    pub run_id: String,
    pub experiment: String,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub status: RunStatus,
    pub order: RunOrder,
    /// The seed of a random order (recorded for every order).
    pub seed: String,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub repetitions: u32,
    pub timeout_s: Option<f64>,
    pub machine: String,
    pub versions: String,
    /// The suite the run repeats, if it was given one.
    pub suite: Option<String>,
    /// Retries of an item that ended in an infrastructure error.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub retry_infra: u32,
    /// Sessions at a time.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub parallel: u32,
}

/// The columns [`item_row`] reads, in its order.
pub(super) const ITEM_COLUMNS: &str =
    "idx, variant, task_card, repetition, state, session_id, outcome, outcome_key, attempts, lease_owner, lease_until";

/// A `run_items` row read as [`ITEM_COLUMNS`], from either backend.
pub(super) fn item_row(r: &impl Cols) -> RunItemRow {
    RunItemRow {
        index: r.int(0) as u32,
        variant: r.text(1),
        task_card: r.text(2),
        repetition: r.int(3) as u32,
        state: ItemState::parse(r.text(4)),
        session_id: r.opt_text(5),
        outcome: r.opt_text(6),
        outcome_class: r
            .opt_text(7)
            .and_then(|k| TaskOutcome::from_key(&k))
            .map(TaskOutcome::class),
        attempts: r.int(8) as u32,
        worker: r.opt_text(9).and_then(|o| Worker::parse(&o)),
        lease_until: r.opt_real(10).map(Timestamp::from_ms),
    }
}

/// One item of a run.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct RunItemRow {
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub index: u32,
    pub variant: String,
    pub task_card: String,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub repetition: u32,
    pub state: ItemState,
    pub session_id: Option<String>,
    /// The last session's outcome, in words.
    pub outcome: Option<String>,
    /// The class of that outcome.
    pub outcome_class: Option<OutcomeClass>,
    /// Sessions it took (more than one when an infrastructure error was retried).
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub attempts: u32,
    /// The worker that holds or last held it (a run's items may be spread over machines).
    pub worker: Option<Worker>,
    /// Until when its worker's lease lasts unless renewed (while it is running).
    pub lease_until: Option<Timestamp>,
}

impl Store {
    /// Record a new run and its planned items, in one transaction.
    pub async fn insert_run(&self, run: &RunRow, items: &[PlannedItem]) -> Result<(), Error> {
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await.map_err(self.db())?;
            sqlx::query(
            "INSERT INTO runs (run_id, experiment, created_at, status, run_order, seed, repetitions, timeout_s, machine, versions, suite, retry_infra, parallel)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(&run.run_id)
        .bind(&run.experiment)
        .bind(run.created_at)
        .bind(run.status.as_str())
        .bind(run.order.as_str())
        .bind(run.seed.parse::<i64>().unwrap_or(0))
        .bind(i64::from(run.repetitions))
        .bind(run.timeout_s)
        .bind(&run.machine)
        .bind(&run.versions)
        .bind(&run.suite)
        .bind(i64::from(run.retry_infra))
        .bind(i64::from(run.parallel))
        .execute(&mut *tx)
        .await
        .map_err(self.db())?;
            for (i, it) in items.iter().enumerate() {
                sqlx::query(
                "INSERT INTO run_items (run_id, idx, variant, task_card, repetition) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&run.run_id)
            .bind(i as i64)
            .bind(&it.variant)
            .bind(&it.task_card)
            .bind(i64::from(it.repetition))
            .execute(&mut *tx)
            .await
            .map_err(self.db())?;
            }
            tx.commit().await.map_err(self.db())
        })
    }

    pub async fn run(&self, run_id: &str) -> Result<Option<RunRow>, Error> {
        on_pool!(self, |p| {
            let row = sqlx::query("SELECT * FROM runs WHERE run_id = $1")
                .bind(run_id)
                .fetch_optional(p)
                .await
                .map_err(self.db())?;
            Ok(row.map(|r| RunRow {
                run_id: r.get("run_id"),
                experiment: r.get("experiment"),
                created_at: r.get("created_at"),
                finished_at: r.get("finished_at"),
                status: RunStatus::parse(r.get("status")),
                order: RunOrder::parse(r.get("run_order")).unwrap_or(RunOrder::Interleaved),
                seed: r.get::<i64, _>("seed").to_string(),
                repetitions: r.get::<i64, _>("repetitions") as u32,
                timeout_s: r.get("timeout_s"),
                machine: r.get("machine"),
                versions: r.get("versions"),
                suite: r.get("suite"),
                retry_infra: r.get::<i64, _>("retry_infra") as u32,
                parallel: r.get::<i64, _>("parallel") as u32,
            }))
        })
    }

    /// The items of a run, in run order.
    pub async fn run_items(&self, run_id: &str) -> Result<Vec<RunItemRow>, Error> {
        on_pool!(self, |p| {
            let sql =
                format!("SELECT {ITEM_COLUMNS} FROM run_items WHERE run_id = $1 ORDER BY idx");
            let rows = sqlx::query(&sql)
                .bind(run_id)
                .fetch_all(p)
                .await
                .map_err(self.db())?;
            Ok(rows.iter().map(item_row).collect())
        })
    }

    /// Move an item to `state`, with its session and outcome once known.
    pub async fn set_run_item(
        &self,
        run_id: &str,
        index: u32,
        state: ItemState,
        session_id: Option<&str>,
        outcome: Option<TaskOutcome>,
    ) -> Result<(), Error> {
        // A new session is a new attempt; the outcome's class is stored by its key.
        on_pool!(self, |p| sqlx::query(
            "UPDATE run_items SET state = $1, session_id = COALESCE($2, session_id), outcome = COALESCE($3, outcome),
             outcome_key = COALESCE($4, outcome_key), attempts = attempts + CASE WHEN $5 IS NULL THEN 0 ELSE 1 END
             WHERE run_id = $6 AND idx = $7",
        )
        .bind(state.as_str())
        .bind(session_id)
        .bind(outcome.map(TaskOutcome::as_str))
        .bind(outcome.map(TaskOutcome::key))
        .bind(session_id)
        .bind(run_id)
        .bind(i64::from(index))
        .execute(p)
        .await
        .map(|d| d.rows_affected()))
        .map_err(self.db())?;
        Ok(())
    }

    pub async fn set_run_status(&self, run_id: &str, status: RunStatus) -> Result<(), Error> {
        let finished = (status != RunStatus::Running).then(Timestamp::now);
        on_pool!(self, |p| sqlx::query(
            "UPDATE runs SET status = $1, finished_at = $2 WHERE run_id = $3"
        )
        .bind(status.as_str())
        .bind(finished)
        .bind(run_id)
        .execute(p)
        .await
        .map(|d| d.rows_affected()))
        .map_err(self.db())?;
        Ok(())
    }

    /// Record what an automated run learned about a session's task.
    pub async fn set_task_result(
        &self,
        session_id: &str,
        run_id: &str,
        result: &TaskResult,
    ) -> Result<(), Error> {
        let report = result
            .harness_report
            .as_ref()
            .and_then(|r| serde_json::to_string(r).ok());
        on_pool!(self, |p| sqlx::query(
            "UPDATE sessions SET task_success = $1, wall_s = $2, harness_exit = $3, harness_report = $4, run_id = $5, task_outcome = $6, rollup_stale = 1 WHERE session_id = $7",
        )
        .bind(result.success.map(i64::from))
        .bind(result.wall_s)
        .bind(result.exit.map(i64::from))
        .bind(report)
        .bind(run_id)
        .bind(result.outcome.map(TaskOutcome::key))
        .bind(session_id)
        .execute(p)
        .await
        .map(|d| d.rows_affected()))
        .map_err(self.db())?;
        Ok(())
    }
}

impl Store {
    /// Record the environment a session began in.
    pub async fn set_environment(
        &self,
        session_id: &str,
        env: &crate::machine::Environment,
    ) -> Result<(), Error> {
        let json = serde_json::to_string(env).map_err(|e| Error::Internal(e.to_string()))?;
        if env.machine_id == self.identity().machine_id {
            self.machine_key().await?; // this machine is listed in `machines`
        }
        on_pool!(self, |p| sqlx::query(
            "UPDATE sessions SET environment = $1, machine_id = $2 WHERE session_id = $3"
        )
        .bind(json)
        .bind(&env.machine_id)
        .bind(session_id)
        .execute(p)
        .await
        .map(|d| d.rows_affected()))
        .map_err(self.db())?;
        Ok(())
    }

    /// Add the load average at its end to a session's recorded environment.
    pub async fn set_environment_end(&self, session_id: &str, load: f64) -> Result<(), Error> {
        // Read, changed and written back in Rust: the two backends' JSON functions differ.
        let sql = "SELECT environment FROM sessions WHERE session_id = $1";
        let text: Option<Option<String>> = on_pool!(self, |p| sqlx::query_scalar(sql)
            .bind(session_id)
            .fetch_optional(p)
            .await)
        .map_err(self.db())?;
        let Some(mut env) = text
            .flatten()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        else {
            return Ok(());
        };
        if let Some(o) = env.as_object_mut() {
            o.insert("load_end".into(), load.into());
        }
        let sql = "UPDATE sessions SET environment = $1 WHERE session_id = $2";
        on_pool!(self, |p| sqlx::query(sql)
            .bind(env.to_string())
            .bind(session_id)
            .execute(p)
            .await
            .map(|d| d.rows_affected()))
        .map_err(self.db())?;
        Ok(())
    }

    /// Sessions active now (their keys issued, not finalized).
    pub async fn active_sessions(&self) -> Result<u32, Error> {
        let n: i64 = on_pool!(self, |p| sqlx::query_scalar(
            "SELECT COUNT(*) FROM sessions WHERE status = 'active'"
        )
        .fetch_one(p)
        .await)
        .map_err(self.db())?;
        Ok(n as u32)
    }
}

/// What an automated run learned about a session's task.
#[derive(Debug, Clone, Default)]
pub struct TaskResult {
    /// Whether verify passed (`None`: no verify step, or it never ran).
    pub success: Option<bool>,
    pub outcome: Option<TaskOutcome>,
    /// The harness's wall time, start to exit.
    pub wall_s: Option<f64>,
    pub exit: Option<i32>,
    /// The harness's own figures, read from its output.
    pub harness_report: Option<crate::store::model::HarnessReport>,
}
