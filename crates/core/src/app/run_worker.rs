//! A run's items pulled by workers (docs/team.md, "Joining a run"): each of a process's
//! `--parallel` slots leases the run's next item from the store, keeps the lease alive with a
//! heartbeat while the item runs, and ends the lease with the item's state. Any number of
//! processes — on this machine or on others sharing a PostgreSQL store — work on one run this
//! way; a worker that dies stops renewing, and once its lease has run out the next worker to look
//! finalizes the session it left as aborted (`worker lost`, an infrastructure error) and does the
//! item again. The run is settled by whichever worker finds nothing left to take or wait for.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::runs::{Progress, RunEvent, RunSummary};
use super::App;
use crate::machine::Identity;
use crate::run::{ItemState, OutcomeClass, RunStatus, TaskOutcome};
use crate::session::FinalStatus;
use crate::store::{Lease, Leased, RunItemRow, RunRow, Store, TaskResult, Worker};
use crate::timestamp::Timestamp;
use crate::Error;

/// How long a lease lasts unless renewed: `STACKPERF_LEASE_SECONDS` (2–3600), else 60 s. A
/// worker renews at a third of it, so a killed worker's item is taken over within this time.
pub fn lease_ttl() -> Duration {
    let s = std::env::var("STACKPERF_LEASE_SECONDS")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite())
        .map_or(60.0, |s| s.clamp(2.0, 3600.0));
    Duration::from_secs_f64(s)
}

/// This process's worker in slot `slot`.
pub fn this_worker(slot: u32) -> Worker {
    let id = Identity::this();
    Worker {
        machine_id: id.machine_id,
        hostname: id.hostname,
        pid: std::process::id(),
        slot,
    }
}

/// A lease the item's code holds, and whether the heartbeat lost it.
pub(super) struct Held {
    pub lease: Lease,
    lost: Arc<AtomicBool>,
}

impl Held {
    /// The lease ran out and another worker took the item: this one's result is not recorded.
    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Whether the lease is still this worker's, renewed now: asked before a result is recorded,
    /// so a worker that lost its item (and whose item another has begun again) records none.
    pub async fn confirm(&self, store: &Store) -> Result<bool, Error> {
        if self.lost() {
            return Ok(false);
        }
        let until = Timestamp::now().plus_ms(lease_ttl().as_secs_f64() * 1000.0);
        let held = store.renew_lease(&mut self.lease.clone(), until).await?;
        if !held {
            self.lost.store(true, Ordering::SeqCst);
        }
        Ok(held)
    }
}

impl App {
    /// Join a run another process (here or on another machine) started: take its items until
    /// none is left, `slots` at a time.
    pub async fn run_join(
        &self,
        run_id: &str,
        slots: u32,
        events: &dyn super::Events,
        cancel: watch::Receiver<bool>,
    ) -> Result<RunSummary, Error> {
        let progress = &|e: RunEvent| events.run(e);
        let slots = super::runs::slots(slots)?;
        let store = self.store().await?;
        let run = super::runs::recorded_run(store, run_id).await?;
        if run.status != RunStatus::Running {
            return Err(Error::Invalid(format!(
                "run {run_id} is {}: nothing to join (`stackperf run --resume {run_id}` carries on with a stopped run)",
                run.status.as_str()
            )));
        }
        self.run_loop(run, slots, progress, cancel).await
    }

    /// Work on the run's items, `slots` at a time, until none is left; then settle its status.
    pub(super) async fn run_loop(
        &self,
        mut run: RunRow,
        slots: u32,
        progress: Progress<'_>,
        cancel: watch::Receiver<bool>,
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
        // (The futures are made first: a stream holding the closure trips the compiler's
        // higher-ranked `Send` check in the desktop's command, rust-lang/rust#102211.)
        let mut work = Vec::new();
        for slot in 0..slots.max(1) {
            work.push(self.work_slot(&run, slot, progress, cancel.clone()));
        }
        let ends = futures::future::join_all(work).await;
        for end in ends {
            if let Err(e) = end {
                store.set_run_status(&run.run_id, RunStatus::Failed).await?;
                return Err(e);
            }
        }
        let items = store.run_items(&run.run_id).await?;
        run.status = settled(&items);
        store.set_run_status(&run.run_id, run.status).await?;
        Ok(RunSummary {
            items,
            comparison: self.compare(&run.experiment).await.ok(),
            run,
        })
    }

    /// One slot: lease the next item, take over what a lost worker left, run it, end the lease;
    /// when nothing is left to take, wait for the items others hold (taking over any whose lease
    /// runs out) until none is held.
    async fn work_slot(
        &self,
        run: &RunRow,
        slot: u32,
        progress: Progress<'_>,
        mut cancel: watch::Receiver<bool>,
    ) -> Result<(), Error> {
        let store = self.store().await?.clone();
        let owner = this_worker(slot).owner();
        let ttl = lease_ttl();
        loop {
            if *cancel.borrow() {
                return Ok(());
            }
            let now = Timestamp::now();
            let until = now.plus_ms(ttl.as_secs_f64() * 1000.0);
            let Some(leased) = store
                .lease_run_item(&run.run_id, &owner, now, until)
                .await?
            else {
                let Some(end) = store.next_lease_end(&run.run_id).await? else {
                    return Ok(());
                };
                // Look again when that lease could have run out (at most a third of a lease
                // from now: held items finish too), or at once on cancel.
                let wait = Duration::from_secs_f64(
                    (end.ms_since(now) / 1000.0 + 0.2).clamp(0.2, ttl.as_secs_f64() / 3.0),
                );
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    // A host that let go of its cancel switch can no longer cancel: wait on.
                    changed = cancel.changed() => if changed.is_err() {
                        tokio::time::sleep(wait).await;
                    }
                }
                continue;
            };
            self.take_over(run, &leased.item, &owner).await?;
            self.leased_item(run, leased, progress, &cancel).await?;
        }
    }

    /// An item taken over from a worker whose lease ran out: the session it left active is
    /// finalized as aborted, its outcome `worker lost` (an infrastructure error).
    async fn take_over(&self, run: &RunRow, item: &RunItemRow, owner: &str) -> Result<(), Error> {
        let Some(id) = &item.session_id else {
            return Ok(());
        };
        let store = self.store().await?.clone();
        let active = store
            .session(id)
            .await?
            .is_some_and(|s| !s.status.is_final());
        if !active {
            return Ok(());
        }
        let was = item
            .worker
            .as_ref()
            .map(|w| format!("{} (pid {})", w.hostname, w.pid))
            .unwrap_or_else(|| "its worker".into());
        let why = format!(
            "{}: {was} stopped renewing its lease on this item (killed, or cut off from the store); {} runs it again",
            TaskOutcome::WorkerLost.as_str(),
            Worker::parse(owner).map_or(owner.to_string(), |w| format!("{} (pid {})", w.hostname, w.pid)),
        );
        match self
            .session_finalize(id, FinalStatus::Aborted, Some(&why), None)
            .await
        {
            // Finalized meanwhile (its worker came back just now): leave it as it was.
            Err(Error::SessionFinalized { .. }) => return Ok(()),
            r => r.map(|_| ())?,
        }
        let result = TaskResult {
            success: None,
            outcome: Some(TaskOutcome::WorkerLost),
            wall_s: None,
            exit: None,
            harness_report: None,
        };
        store.set_task_result(id, &run.run_id, &result).await
    }

    /// One leased item, its lease renewed meanwhile.
    async fn leased_item(
        &self,
        run: &RunRow,
        leased: Leased,
        progress: Progress<'_>,
        outer: &watch::Receiver<bool>,
    ) -> Result<(), Error> {
        let store = self.store().await?.clone();
        let held = Held {
            lease: leased.lease,
            lost: Arc::new(AtomicBool::new(false)),
        };
        let (tx, rx) = watch::channel(false);
        let beat = tokio::spawn(heartbeat(
            store.clone(),
            held.lease.clone(),
            outer.clone(),
            tx,
            held.lost.clone(),
        ));
        let ran = self
            .item_with_retries(run, &leased.item, &held, progress, rx)
            .await;
        beat.abort();
        let outcome = match ran {
            Ok(o) => o,
            Err(e) => {
                // Given back for another try (by this worker or another), then reported.
                let _ = store.end_lease(&held.lease, ItemState::Pending, None).await;
                return Err(e);
            }
        };
        if held.lost() {
            return Ok(());
        }
        let state = match outcome {
            None => ItemState::Pending,
            Some(TaskOutcome::Cancelled) => ItemState::Aborted,
            Some(_) => ItemState::Done,
        };
        store.end_lease(&held.lease, state, outcome).await?;
        Ok(())
    }

    /// One item, tried again in a new session after an infrastructure error (up to the run's
    /// `retry_infra`); `None` when a cancel came before it began.
    async fn item_with_retries(
        &self,
        run: &RunRow,
        item: &RunItemRow,
        held: &Held,
        progress: Progress<'_>,
        mut cancel: watch::Receiver<bool>,
    ) -> Result<Option<TaskOutcome>, Error> {
        let mut retries = 0;
        loop {
            if *cancel.borrow() {
                return Ok(None);
            }
            let o = self
                .run_item(run, item, held, progress, &mut cancel)
                .await?;
            if held.lost() || o.class() != OutcomeClass::InfraError || retries >= run.retry_infra {
                return Ok(Some(o));
            }
            retries += 1;
            progress(RunEvent::Step {
                index: item.index,
                message: format!(
                    "{}: an infrastructure error, not the task's — trying again in a new session (retry {retries} of {})",
                    o.as_str(),
                    run.retry_infra
                ),
            });
        }
    }
}

/// Renew the lease every third of its length until aborted; a cancel of the run is passed on to
/// the item, and so is the loss of the lease (another worker took the item: this one stops it).
async fn heartbeat(
    store: Store,
    mut lease: Lease,
    mut outer: watch::Receiver<bool>,
    item_cancel: watch::Sender<bool>,
    lost: Arc<AtomicBool>,
) {
    let ttl = lease_ttl();
    let mut outer_open = true;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(ttl / 3) => {
                let until = Timestamp::now().plus_ms(ttl.as_secs_f64() * 1000.0);
                match store.renew_lease(&mut lease, until).await {
                    Ok(true) => {}
                    Ok(false) => {
                        lost.store(true, Ordering::SeqCst);
                        let _ = item_cancel.send(true);
                        return;
                    }
                    // The store did not answer: tried again at the next beat (the lease may
                    // run out meanwhile; then the next renew says so).
                    Err(e) => tracing::warn!("renewing the lease on item {}: {e}", lease.index),
                }
            }
            changed = outer.changed(), if outer_open => {
                outer_open = changed.is_ok();
                if outer_open && *outer.borrow() {
                    let _ = item_cancel.send(true);
                }
            }
        }
    }
}

/// A run's status once a worker stops: completed when every item is done; still running while
/// another worker holds an item (or held it and died: `--join` takes it over); else cancelled
/// (items left, which `--resume` does).
fn settled(items: &[RunItemRow]) -> RunStatus {
    if items.iter().all(|i| i.state == ItemState::Done) {
        RunStatus::Completed
    } else if items.iter().any(|i| i.state == ItemState::Running) {
        RunStatus::Running
    } else {
        RunStatus::Cancelled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(state: ItemState) -> RunItemRow {
        RunItemRow {
            index: 0,
            variant: "v".into(),
            task_card: "t".into(),
            repetition: 0,
            state,
            session_id: None,
            outcome: None,
            outcome_class: None,
            attempts: 0,
            worker: None,
            lease_until: None,
        }
    }

    #[test]
    fn a_run_is_settled_by_its_items() {
        use ItemState::*;
        let run = |s: &[ItemState]| s.iter().map(|s| item(*s)).collect::<Vec<_>>();
        assert_eq!(settled(&run(&[Done, Done])), RunStatus::Completed);
        assert_eq!(settled(&run(&[Done, Running])), RunStatus::Running);
        assert_eq!(settled(&run(&[Done, Aborted])), RunStatus::Cancelled);
        assert_eq!(settled(&run(&[Pending, Done])), RunStatus::Cancelled);
    }

    #[test]
    fn a_worker_is_stored_and_read_back() {
        let w = Worker {
            machine_id: "0123456789abcdef".into(),
            hostname: "ci-box.local".into(),
            pid: 4242,
            slot: 1,
        };
        assert_eq!(Worker::parse(&w.owner()), Some(w));
        assert_eq!(Worker::parse("a"), None);
        assert_eq!(Worker::parse("m/x/0/h"), None);
    }
}
