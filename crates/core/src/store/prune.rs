//! Deleting what the retention policy no longer keeps (`stackperf prune`): whole sessions past
//! `sessions_days`, request rows past `requests_days` (their sessions keep their rollups), and
//! unattributed request rows past `requests_days`. Only finalized sessions are ever touched.

use crate::timestamp::Timestamp;
use serde::Serialize;

use super::{on_pool, Store};
use crate::Error;

/// What a prune deletes (or, dry, would delete).
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct PrunePlan {
    /// Sessions deleted whole.
    pub sessions: Vec<String>,
    /// Sessions whose request rows are deleted (they stay, with their rollups).
    pub requests_of: Vec<String>,
    /// Request rows deleted in all (of both kinds of session, and unattributed ones).
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub requests: u64,
    /// Of those, rows that belong to no session (usage keys', StackPerf's own, unattributed).
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub unattributed: u64,
}

/// An export file StackPerf wrote (the `artifacts` table).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, sqlx::FromRow)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Artifact {
    pub kind: String,
    pub format: String,
    pub path: String,
    pub experiment: Option<String>,
    pub session_id: Option<String>,
    /// SHA-256 of the bytes written.
    pub sha256: Option<String>,
    pub created_at: Timestamp,
}

impl Store {
    /// Record an export StackPerf wrote.
    pub async fn add_artifact(&self, a: &Artifact) -> Result<(), Error> {
        on_pool!(self, |p| sqlx::query(
            "INSERT INTO artifacts (session_id, experiment, kind, format, path, sha256, created_at)
             VALUES ((SELECT session_id FROM sessions WHERE session_id = $1), $2, $3, $4, $5, $6, $7)",
        )
        .bind(&a.session_id)
        .bind(&a.experiment)
        .bind(&a.kind)
        .bind(&a.format)
        .bind(&a.path)
        .bind(&a.sha256)
        .bind(a.created_at)
        .execute(p)
        .await
        .map(|d| d.rows_affected()))
        .map_err(self.db())?;
        Ok(())
    }

    /// Exports written before `before` (Unix epoch ms), oldest first.
    pub async fn artifacts_before(&self, before: Timestamp) -> Result<Vec<Artifact>, Error> {
        on_pool!(self, |p| sqlx::query_as::<_, Artifact>(
            "SELECT kind, format, path, experiment, session_id, sha256, created_at FROM artifacts
             WHERE created_at < $1 ORDER BY created_at",
        )
        .bind(before)
        .fetch_all(p)
        .await)
        .map_err(self.db())
    }

    /// What the policy deletes at `now` (Unix epoch ms).
    pub async fn prune_plan(
        &self,
        now: Timestamp,
        requests_days: u32,
        sessions_days: u32,
    ) -> Result<PrunePlan, Error> {
        let (req_cut, sess_cut) = (
            now.days_before(requests_days),
            now.days_before(sessions_days),
        );
        let finalized = "status IN ('completed', 'aborted', 'invalid') AND ended_at IS NOT NULL";
        let sessions: Vec<String> = on_pool!(self, |p| sqlx::query_scalar(&format!(
            "SELECT session_id FROM sessions WHERE {finalized} AND ended_at < $1 ORDER BY ended_at"
        ))
        .bind(sess_cut)
        .fetch_all(p)
        .await)
        .map_err(self.db())?;
        let requests_of: Vec<String> = on_pool!(self, |p| sqlx::query_scalar(&format!(
            "SELECT session_id FROM sessions WHERE {finalized} AND ended_at < $1 AND ended_at >= $2
             AND requests_pruned_at IS NULL ORDER BY ended_at"
        ))
        .bind(req_cut)
        .bind(sess_cut)
        .fetch_all(p)
        .await)
        .map_err(self.db())?;
        let in_sessions: i64 = on_pool!(self, |p| sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM requests r JOIN sessions s ON s.session_id = r.session_id
             WHERE s.{} AND s.ended_at < $1",
            finalized.replace(" AND ended_at", " AND s.ended_at")
        ))
        .bind(req_cut)
        .fetch_one(p)
        .await)
        .map_err(self.db())?;
        let unattributed: i64 = on_pool!(self, |p| {
            sqlx::query_scalar(
            "SELECT COUNT(*) FROM requests WHERE session_id IS NULL AND request_started_at < $1",
        )
        .bind(req_cut)
        .fetch_one(p)
        .await
        })
        .map_err(self.db())?;
        Ok(PrunePlan {
            sessions,
            requests_of,
            requests: (in_sessions + unattributed).max(0) as u64,
            unattributed: unattributed.max(0) as u64,
        })
    }

    /// Carry out `plan` in one transaction (rows only; folders are the caller's).
    pub async fn prune_apply(
        &self,
        plan: &PrunePlan,
        now: Timestamp,
        cutoff: Timestamp,
    ) -> Result<(), Error> {
        let e = self.db();
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await.map_err(&e)?;
            for id in plan.sessions.iter().chain(&plan.requests_of) {
                sqlx::query("DELETE FROM requests WHERE session_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(&e)?;
            }
            for id in &plan.requests_of {
                sqlx::query(
                "UPDATE sessions SET requests_pruned_at = $1, rollup_stale = 0 WHERE session_id = $2",
            )
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(&e)?;
            }
            for id in &plan.sessions {
                for sql in [
                    "DELETE FROM metric_rollups WHERE scope = 'session' AND scope_id = $1",
                    "DELETE FROM artifacts WHERE session_id = $1",
                    "UPDATE run_items SET session_id = NULL WHERE session_id = $1",
                    "DELETE FROM sessions WHERE session_id = $1",
                ] {
                    sqlx::query(sql)
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .map_err(&e)?;
                }
            }
            sqlx::query(
                "DELETE FROM requests WHERE session_id IS NULL AND request_started_at < $1",
            )
            .bind(cutoff)
            .execute(&mut *tx)
            .await
            .map_err(&e)?;
            tx.commit().await.map_err(&e)?;
            Ok(())
        })
    }

    /// The bytes the store takes: the SQLite file (with its WAL), or the PostgreSQL database.
    pub async fn size_bytes(&self) -> Result<u64, Error> {
        match self.pool() {
            super::Pool::Sqlite(_) => Ok([
                self.path().to_path_buf(),
                self.path().with_extension("sqlite-wal"),
            ]
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum()),
            super::Pool::Postgres(p) => {
                let n: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
                    .fetch_one(p)
                    .await
                    .map_err(self.db())?;
                Ok(n.max(0) as u64)
            }
        }
    }

    /// Give the space deleted rows held back to the file system.
    pub async fn compact(&self) -> Result<(), Error> {
        on_pool!(self, |p| sqlx::query("VACUUM")
            .execute(p)
            .await
            .map(|d| d.rows_affected()))
        .map_err(self.db())?;
        Ok(())
    }
}
