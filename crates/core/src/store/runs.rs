//! The `runs` and `run_items` tables (automated benchmark runs) and a session's task outcome.

use crate::timestamp::Timestamp;
use serde::Serialize;
use sqlx::Row;

use super::Store;
use crate::store::model::{ItemState, OutcomeClass, PlannedItem, RunOrder, RunStatus, TaskOutcome};
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
}

impl Store {
    /// Record a new run and its planned items, in one transaction.
    pub async fn insert_run(&self, run: &RunRow, items: &[PlannedItem]) -> Result<(), Error> {
        let mut tx = self.pool().begin().await.map_err(self.db())?;
        sqlx::query(
            "INSERT INTO runs (run_id, experiment, created_at, status, run_order, seed, repetitions, timeout_s, machine, versions, suite, retry_infra, parallel)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                "INSERT INTO run_items (run_id, idx, variant, task_card, repetition) VALUES (?, ?, ?, ?, ?)",
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
    }

    pub async fn run(&self, run_id: &str) -> Result<Option<RunRow>, Error> {
        let row = sqlx::query("SELECT * FROM runs WHERE run_id = ?")
            .bind(run_id)
            .fetch_optional(self.pool())
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
    }

    /// The items of a run, in run order.
    pub async fn run_items(&self, run_id: &str) -> Result<Vec<RunItemRow>, Error> {
        let rows = sqlx::query(
            "SELECT idx, variant, task_card, repetition, state, session_id, outcome, outcome_key, attempts FROM run_items WHERE run_id = ? ORDER BY idx",
        )
        .bind(run_id)
        .fetch_all(self.pool())
        .await
        .map_err(self.db())?;
        Ok(rows
            .iter()
            .map(|r| RunItemRow {
                index: r.get::<i64, _>(0) as u32,
                variant: r.get(1),
                task_card: r.get(2),
                repetition: r.get::<i64, _>(3) as u32,
                state: ItemState::parse(r.get(4)),
                session_id: r.get(5),
                outcome: r.get(6),
                outcome_class: r
                    .get::<Option<String>, _>(7)
                    .and_then(|k| TaskOutcome::from_key(&k))
                    .map(TaskOutcome::class),
                attempts: r.get::<i64, _>(8) as u32,
            })
            .collect())
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
        sqlx::query(
            "UPDATE run_items SET state = ?, session_id = COALESCE(?, session_id), outcome = COALESCE(?, outcome),
             outcome_key = COALESCE(?, outcome_key), attempts = attempts + (? IS NOT NULL)
             WHERE run_id = ? AND idx = ?",
        )
        .bind(state.as_str())
        .bind(session_id)
        .bind(outcome.map(TaskOutcome::as_str))
        .bind(outcome.map(TaskOutcome::key))
        .bind(session_id)
        .bind(run_id)
        .bind(i64::from(index))
        .execute(self.pool())
        .await
        .map_err(self.db())?;
        Ok(())
    }

    pub async fn set_run_status(&self, run_id: &str, status: RunStatus) -> Result<(), Error> {
        let finished = (status != RunStatus::Running).then(Timestamp::now);
        sqlx::query("UPDATE runs SET status = ?, finished_at = ? WHERE run_id = ?")
            .bind(status.as_str())
            .bind(finished)
            .bind(run_id)
            .execute(self.pool())
            .await
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
        sqlx::query(
            "UPDATE sessions SET task_success = ?, wall_s = ?, harness_exit = ?, harness_report = ?, run_id = ?, task_outcome = ?, rollup_stale = 1 WHERE session_id = ?",
        )
        .bind(result.success.map(i64::from))
        .bind(result.wall_s)
        .bind(result.exit)
        .bind(report)
        .bind(run_id)
        .bind(result.outcome.map(TaskOutcome::key))
        .bind(session_id)
        .execute(self.pool())
        .await
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
        sqlx::query("UPDATE sessions SET environment = ? WHERE session_id = ?")
            .bind(json)
            .bind(session_id)
            .execute(self.pool())
            .await
            .map_err(self.db())?;
        Ok(())
    }

    /// Add the load average at its end to a session's recorded environment.
    pub async fn set_environment_end(&self, session_id: &str, load: f64) -> Result<(), Error> {
        sqlx::query(
            "UPDATE sessions SET environment = json_set(environment, '$.load_end', ?)
             WHERE session_id = ? AND environment IS NOT NULL",
        )
        .bind(load)
        .bind(session_id)
        .execute(self.pool())
        .await
        .map_err(self.db())?;
        Ok(())
    }

    /// Sessions active now (their keys issued, not finalized).
    pub async fn active_sessions(&self) -> Result<u32, Error> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions WHERE status = 'active'")
            .fetch_one(self.pool())
            .await
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
