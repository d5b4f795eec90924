//! The `metric_rollups` cache (scope `session`) and the reads a rollup needs.

use crate::timestamp::Timestamp;
use sqlx::Row;

use super::{on_pool, Store};
use crate::store::model::{Measure, RequestStatus};
use crate::store::model::{SessionMode, SessionStatus};
use crate::Error;

/// Append `$1, $2, …)` binding `ids` (the query ends in `IN (`).
fn push_ids<'a, Db: sqlx::Database>(q: &mut sqlx::QueryBuilder<'a, Db>, ids: &[String])
where
    String: sqlx::Encode<'a, Db> + sqlx::Type<Db>,
{
    {
        let mut list = q.separated(", ");
        for id in ids {
            list.push_bind(id.clone());
        }
    }
    q.push(")");
}

/// What a rollup reads of one request.
pub struct RequestValues {
    pub session_id: String,
    pub status: RequestStatus,
    /// input, output, cached input, cache write tokens (0 when unknown).
    pub tokens: [i64; 4],
    /// The asked-for columns, in order.
    pub values: Vec<Option<f64>>,
    /// Epoch ms; rows come in start order per session.
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub tool_call_count: Option<i64>,
}

/// A session as its rollup row needs it.
pub struct SessionHead {
    pub session_id: String,
    pub variant: String,
    pub task_card: String,
    pub status: SessionStatus,
    pub mode: SessionMode,
    pub git_commit_sha: Option<String>,
    pub started_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    pub task_success: Option<bool>,
    pub wall_s: Option<f64>,
    /// An automated run's outcome for the session.
    pub task_outcome: Option<crate::store::model::TaskOutcome>,
    /// The environment it ran in.
    pub environment: Option<crate::machine::Environment>,
    /// The variant's provider, model alias and the session's harness (for group-by).
    pub provider: String,
    pub model: String,
    pub harness: String,
}

/// The advisory lock that orders rollups on PostgreSQL ("SPRollup" in ASCII).
const ROLLUP_LOCK: i64 = 0x5350_526f_6c6c_7570;

/// One rollup step as one `BEGIN IMMEDIATE` transaction: it takes SQLite's write lock first,
/// so another process's rollup (the CLI beside the desktop) waits instead of finding the
/// sessions marked clean and reading rollups not written yet.
pub struct RollupTx {
    tx: Tx,
    path: std::path::PathBuf,
}

/// A transaction on either backend.
pub(crate) enum Tx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

/// Run `$body` with `$t` bound to the transaction's connection (`&mut` of the backend's own
/// type), compiled once per backend like [`super::on_pool!`]; `$Db` names the backend.
macro_rules! on_tx {
    ($tx:expr, |$t:ident, $Db:ident| $body:expr) => {
        match $tx {
            Tx::Sqlite(tx) => {
                type $Db = sqlx::Sqlite;
                let $t = &mut **tx;
                $body
            }
            Tx::Postgres(tx) => {
                type $Db = sqlx::Postgres;
                let $t = &mut **tx;
                $body
            }
        }
    };
}

impl RollupTx {
    /// Mark stale the sessions of `experiment` whose cached rollup lacks the row
    /// `(marker, value)` (made by another metric registry).
    pub async fn mark_stale_unless(
        &mut self,
        experiment: &str,
        marker: &str,
        value: f64,
    ) -> Result<(), Error> {
        let e = super::db_err(&self.path);
        on_tx!(&mut self.tx, |t, _Db| {
            sqlx::query(
            "UPDATE sessions SET rollup_stale = 1 WHERE experiment = $1 AND rollup_stale = 0
             AND requests_pruned_at IS NULL AND session_id NOT IN (SELECT scope_id FROM metric_rollups
                                    WHERE scope = 'session' AND metric = $2 AND value = $3)",
        )
        .bind(experiment)
        .bind(marker)
        .bind(value)
        .execute(t)
        .await
        .map_err(e)
        .map(drop)
        })
    }

    /// Up to `limit` sessions of `experiment` that gained requests since their last rollup.
    pub async fn stale_sessions(
        &mut self,
        experiment: &str,
        limit: u32,
    ) -> Result<Vec<String>, Error> {
        let e = super::db_err(&self.path);
        on_tx!(&mut self.tx, |t, _Db| sqlx::query_scalar(
            "SELECT session_id FROM sessions WHERE experiment = $1 AND rollup_stale = 1
             AND requests_pruned_at IS NULL LIMIT $2",
        )
        .bind(experiment)
        .bind(i64::from(limit))
        .fetch_all(t)
        .await
        .map_err(e))
    }

    /// The sessions' requests: status, tokens and `columns` (requests columns, as REAL).
    pub async fn rollup_inputs(
        &mut self,
        ids: &[String],
        columns: &[Measure],
    ) -> Result<Vec<RequestValues>, Error> {
        let head = format!(
            "SELECT session_id, status, input_tokens, output_tokens, cached_input_tokens,
             cache_write_tokens, request_started_at, request_finished_at, tool_call_count, {}
             FROM requests WHERE session_id IN (",
            columns
                .iter()
                // A request the edge did not time (its record lost, or LiteLLM's line alone)
                // has no timing of the client's: left out of every per-request metric.
                .map(|c| format!("CASE WHEN outcome IN ('edge_lost', 'not_timed_at_edge') THEN NULL ELSE CAST({} AS DOUBLE PRECISION) END", c.column()))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let e = super::db_err(&self.path);
        on_tx!(&mut self.tx, |t, Db| {
            let mut q = sqlx::QueryBuilder::<Db>::new(&head);
            push_ids(&mut q, ids);
            q.push(" ORDER BY session_id, request_started_at");
            let rows = q.build().fetch_all(t).await.map_err(e)?;
            Ok(rows
                .iter()
                .map(|r| RequestValues {
                    session_id: r.get(0),
                    status: r.try_get(1).unwrap_or(RequestStatus::Error),
                    tokens: [2, 3, 4, 5].map(|k| r.get::<Option<i64>, _>(k).unwrap_or(0)),
                    started_at: r.get(6),
                    finished_at: r.get(7),
                    tool_call_count: r.get(8),
                    values: (0..columns.len())
                        .map(|k| r.get::<Option<f64>, _>(9 + k))
                        .collect(),
                })
                .collect())
        })
    }

    /// Replace the cached rollups of `ids` with `values` `(session, metric, value)` and mark
    /// them clean.
    pub async fn write(
        &mut self,
        ids: &[String],
        values: &[(String, &str, Option<f64>)],
        now: Timestamp,
    ) -> Result<(), Error> {
        let e = super::db_err(&self.path);
        on_tx!(&mut self.tx, |t, Db| {
            let mut del = sqlx::QueryBuilder::<Db>::new(
                "DELETE FROM metric_rollups WHERE scope = 'session' AND scope_id IN (",
            );
            push_ids(&mut del, ids);
            del.build().execute(&mut *t).await.map_err(&e)?;
            for part in values.chunks(2000) {
                let mut ins = sqlx::QueryBuilder::<Db>::new(
                    "INSERT INTO metric_rollups (scope, scope_id, metric, value, computed_at) ",
                );
                ins.push_values(part, |mut b, (id, m, x)| {
                    b.push_bind("session")
                        .push_bind(id.clone())
                        .push_bind(*m)
                        .push_bind(*x)
                        .push_bind(now);
                });
                ins.build().execute(&mut *t).await.map_err(&e)?;
            }
            let mut mark = sqlx::QueryBuilder::<Db>::new(
                "UPDATE sessions SET rollup_stale = 0 WHERE session_id IN (",
            );
            push_ids(&mut mark, ids);
            mark.build().execute(&mut *t).await.map_err(&e)?;
            Ok(())
        })
    }

    pub async fn commit(self) -> Result<(), Error> {
        let e = super::db_err(&self.path);
        match self.tx {
            Tx::Sqlite(tx) => tx.commit().await,
            Tx::Postgres(tx) => tx.commit().await,
        }
        .map_err(e)
    }
}

impl Store {
    /// Start a rollup step (waits, up to the busy timeout, for another writer to finish).
    pub async fn begin_rollup(&self) -> Result<RollupTx, Error> {
        let tx = match self.pool() {
            super::Pool::Sqlite(p) => {
                Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await.map_err(self.db())?)
            }
            // PostgreSQL: one rollup at a time across every machine (a transaction-scoped
            // advisory lock, released at commit or rollback).
            super::Pool::Postgres(p) => {
                let mut tx = p.begin().await.map_err(self.db())?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(ROLLUP_LOCK)
                    .execute(&mut *tx)
                    .await
                    .map_err(self.db())?;
                Tx::Postgres(tx)
            }
        };
        Ok(RollupTx {
            tx,
            path: self.path().to_path_buf(),
        })
    }

    /// The sessions of an experiment, oldest first.
    pub async fn session_heads(&self, experiment: &str) -> Result<Vec<SessionHead>, Error> {
        let e = self.db();
        on_pool!(self, |p| {
            let rows = sqlx::query(
            "SELECT s.session_id, v.name, s.task_card, s.status, s.mode, s.git_commit_sha, s.started_at, s.ended_at,
             s.task_success, s.wall_s, v.provider, v.model_alias, s.harness_profile, s.task_outcome, s.environment
             FROM sessions s JOIN variants v ON v.variant_id = s.variant_id WHERE s.experiment = $1 ORDER BY s.created_at",
        )
        .bind(experiment)
        .fetch_all(p)
        .await
        .map_err(&e)?;
            rows.iter()
                .map(|s| {
                    Ok(SessionHead {
                        session_id: s.get(0),
                        variant: s.get(1),
                        task_card: s.get(2),
                        status: s.try_get(3).map_err(&e)?,
                        mode: s.try_get(4).map_err(&e)?,
                        git_commit_sha: s.get(5),
                        started_at: s.get(6),
                        ended_at: s.get(7),
                        task_success: s.get::<Option<i64>, _>(8).map(|v| v != 0),
                        wall_s: s.get(9),
                        provider: s.get(10),
                        model: s.get(11),
                        harness: s.get(12),
                        task_outcome: s
                            .get::<Option<String>, _>(13)
                            .and_then(|k| crate::store::model::TaskOutcome::from_key(&k)),
                        environment: s
                            .get::<Option<String>, _>(14)
                            .and_then(|j| serde_json::from_str(&j).ok()),
                    })
                })
                .collect()
        })
    }

    /// The experiments that have sessions, by name.
    pub async fn experiments_with_sessions(&self) -> Result<Vec<String>, Error> {
        let sql = "SELECT DISTINCT experiment FROM sessions ORDER BY experiment";
        on_pool!(self, |p| sqlx::query_scalar(sql).fetch_all(p).await).map_err(self.db())
    }

    /// Every cached rollup value of an experiment's sessions: `(session, metric, value)`.
    pub async fn cached_rollups(
        &self,
        experiment: &str,
    ) -> Result<Vec<(String, String, Option<f64>)>, Error> {
        let rows: Vec<(String, String, Option<f64>)> = on_pool!(self, |p| sqlx::query_as(
            "SELECT m.scope_id, m.metric, m.value FROM metric_rollups m JOIN sessions s ON s.session_id = m.scope_id
             WHERE m.scope = 'session' AND s.experiment = $1",
        )
        .bind(experiment)
        .fetch_all(p)
        .await)
        .map_err(self.db())?;
        Ok(rows)
    }
}
