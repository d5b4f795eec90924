//! Run items leased to workers (docs/team.md, "Joining a run"): several processes — on one
//! machine or several sharing a PostgreSQL store — take a run's items one at a time. A lease is a
//! row's `lease_owner` and `lease_until`; its holder renews it (a heartbeat) while it works on
//! the item, and a lease not renewed in time expires: the item may then be leased again by anyone,
//! and the holder that lost it can neither renew nor finish it (its result is not recorded). So an
//! item is finished at most once, and an item whose worker died is done again by another.
//!
//! Why not a job-queue system (graphile_worker and the like): a run's items are already rows with
//! an order (the run's block order is their index), the queue must work on SQLite too (one
//! machine, several processes), and the only operations are take / renew / finish. On PostgreSQL
//! the take is `SELECT … FOR UPDATE SKIP LOCKED` (two workers never wait on or take the same row);
//! on SQLite one statement under the database's single writer lock does the same.

use sqlx::Row;

use super::write::conn::Arg;
use super::{on_pool, Dialect, Store};
use crate::store::model::{ItemState, TaskOutcome};
use crate::store::runs::{item_row, RunItemRow, ITEM_COLUMNS};
use crate::timestamp::Timestamp;
use crate::Error;

/// A worker's hold on one run item, until `until` unless renewed.
#[derive(Debug, Clone, PartialEq)]
pub struct Lease {
    pub run_id: String,
    pub index: u32,
    /// Who holds it: a worker's id (machine, process, slot).
    pub owner: String,
    pub until: Timestamp,
}

/// An item taken: the item as it was (its last session, if an earlier holder left one) and the
/// lease on it.
#[derive(Debug, Clone)]
pub struct Leased {
    pub item: RunItemRow,
    pub lease: Lease,
}

impl Store {
    /// Take the run's next item (lowest index) that is pending, or running under a lease that
    /// ran out before `now`; `None` when no item is left to take. The lease lasts until `until`.
    pub async fn lease_run_item(
        &self,
        run_id: &str,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Option<Leased>, Error> {
        let item = on_pool!(self, |p, Db| {
            let sql = format!(
                "UPDATE run_items SET state = 'running', lease_owner = $1, lease_until = $2
                 WHERE run_id = $3 AND idx = (
                     SELECT idx FROM run_items WHERE run_id = $3
                       AND (state = 'pending' OR (state = 'running' AND lease_until < $4))
                     ORDER BY idx LIMIT 1{skip})
                 RETURNING {ITEM_COLUMNS}",
                skip = <Db as Dialect>::SKIP_LOCKED
            );
            sqlx::query(&sql)
                .bind(owner)
                .bind(until)
                .bind(run_id)
                .bind(now)
                .fetch_optional(p)
                .await
                .map(|r| r.map(|r| item_row(&r)))
        })
        .map_err(self.db())?;
        Ok(item.map(|item| Leased {
            lease: Lease {
                run_id: run_id.to_string(),
                index: item.index,
                owner: owner.to_string(),
                until,
            },
            item,
        }))
    }

    /// Keep the lease until `until` (the heartbeat); `false` when it was lost (it ran out and
    /// someone else took the item): the holder stops working on the item.
    pub async fn renew_lease(&self, lease: &mut Lease, until: Timestamp) -> Result<bool, Error> {
        let held = self
            .held(lease, "lease_until = $1", &[Arg::Float(Some(until.ms()))])
            .await?;
        if held {
            lease.until = until;
        }
        Ok(held)
    }

    /// Record the session the holder began for its item (a new attempt); `false` when the
    /// lease was lost.
    pub async fn lease_session(&self, lease: &Lease, session_id: &str) -> Result<bool, Error> {
        self.held(
            lease,
            "session_id = $1, attempts = attempts + 1",
            &[Arg::Text(Some(session_id))],
        )
        .await
    }

    /// End the lease with the item in `state` (done, aborted, or pending again: given back) and
    /// its outcome; `false` when the lease had been lost, and then nothing is written. The
    /// holder's name stays on the item (who did it).
    pub async fn end_lease(
        &self,
        lease: &Lease,
        state: ItemState,
        outcome: Option<TaskOutcome>,
    ) -> Result<bool, Error> {
        self.held(
            lease,
            "state = $1, outcome = COALESCE($2, outcome), outcome_key = COALESCE($3, outcome_key),
             lease_until = NULL",
            &[
                Arg::Text(Some(state.as_str())),
                Arg::Text(outcome.map(TaskOutcome::as_str)),
                Arg::Text(outcome.map(TaskOutcome::key)),
            ],
        )
        .await
    }

    /// `UPDATE run_items SET <set>` on the lease's item while its holder still holds it
    /// (`$1…` in `set` are `args`); whether it did.
    async fn held(&self, lease: &Lease, set: &str, args: &[Arg<'_>]) -> Result<bool, Error> {
        let n = args.len();
        let sql = format!(
            "UPDATE run_items SET {set} WHERE run_id = ${} AND idx = ${} AND lease_owner = ${} AND state = 'running'",
            n + 1,
            n + 2,
            n + 3
        );
        let changed = on_pool!(self, |p| {
            let mut q = sqlx::query(&sql);
            for a in args {
                q = match *a {
                    Arg::Text(v) => q.bind(v),
                    Arg::Int(v) => q.bind(v),
                    Arg::Float(v) => q.bind(v),
                };
            }
            q.bind(&lease.run_id)
                .bind(i64::from(lease.index))
                .bind(&lease.owner)
                .execute(p)
                .await
                .map(|d| d.rows_affected())
        })
        .map_err(self.db())?;
        Ok(changed == 1)
    }

    /// Put an item that is running or aborted back to pending (`run --resume`), if its lease
    /// owner is still `owner` (`None`: it has none): `false` when someone took it meanwhile.
    pub async fn release_run_item(
        &self,
        run_id: &str,
        index: u32,
        owner: Option<&str>,
    ) -> Result<bool, Error> {
        let changed = on_pool!(self, |p| sqlx::query(
            "UPDATE run_items SET state = 'pending', lease_until = NULL
             WHERE run_id = $1 AND idx = $2 AND state IN ('running', 'aborted')
               AND COALESCE(lease_owner, '') = $3"
        )
        .bind(run_id)
        .bind(i64::from(index))
        .bind(owner.unwrap_or(""))
        .execute(p)
        .await
        .map(|d| d.rows_affected()))
        .map_err(self.db())?;
        Ok(changed == 1)
    }

    /// When the first lease on one of the run's running items runs out (unless renewed);
    /// `None` when no item is held.
    pub async fn next_lease_end(&self, run_id: &str) -> Result<Option<Timestamp>, Error> {
        let ms = on_pool!(self, |p| sqlx::query(
            "SELECT MIN(lease_until) FROM run_items
             WHERE run_id = $1 AND state = 'running' AND lease_until IS NOT NULL"
        )
        .bind(run_id)
        .fetch_one(p)
        .await
        .map(|r| r.get::<Option<f64>, _>(0)))
        .map_err(self.db())?;
        Ok(ms.map(Timestamp::from_ms))
    }
}
