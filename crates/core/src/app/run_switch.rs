//! The run in progress for a host with a Cancel button (the desktop's Run panel): one at a time,
//! cancelled from another call while it runs. The CLI cancels its own run with Ctrl-C instead.

use std::sync::Mutex;

use tokio::sync::watch;

use super::{App, Events, RunSummary};
use crate::run::RunRequest;
use crate::Error;

/// The cancel switch of the run in progress, if one is.
#[derive(Default)]
pub(super) struct RunSwitch(Mutex<Option<watch::Sender<bool>>>);

impl RunSwitch {
    fn slot(&self) -> std::sync::MutexGuard<'_, Option<watch::Sender<bool>>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Clears the switch when the run ends, however it ends.
struct Clear<'a>(&'a RunSwitch);

impl Drop for Clear<'_> {
    fn drop(&mut self) {
        *self.0.slot() = None;
    }
}

impl App {
    /// Start a run that [`App::run_cancel`] can stop; refused while another is in progress.
    pub async fn run_start_cancellable(
        &self,
        req: RunRequest,
        events: &dyn Events,
    ) -> Result<RunSummary, Error> {
        let (rx, _clear) = self.run_switch_on()?;
        self.run_start(req, events, rx).await
    }

    /// Join a run (docs/team.md) so that [`App::run_cancel`] can stop this worker.
    pub async fn run_join_cancellable(
        &self,
        run_id: &str,
        slots: u32,
        events: &dyn Events,
    ) -> Result<RunSummary, Error> {
        let (rx, _clear) = self.run_switch_on()?;
        self.run_join(run_id, slots, events, rx).await
    }

    /// The cancel switch of a run about to begin, cleared when the guard drops.
    fn run_switch_on(&self) -> Result<(watch::Receiver<bool>, Clear<'_>), Error> {
        let mut slot = self.run_switch.slot();
        if slot.as_ref().is_some_and(|s| !*s.borrow()) {
            return Err(Error::Invalid(
                "a run is already in progress: cancel it first".into(),
            ));
        }
        let (tx, rx) = watch::channel(false);
        *slot = Some(tx);
        Ok((rx, Clear(&self.run_switch)))
    }

    /// Stop the run in progress (its current session is finalized as aborted); false when none
    /// runs.
    pub fn run_cancel(&self) -> bool {
        self.run_switch
            .slot()
            .as_ref()
            .is_some_and(|s| s.send(true).is_ok())
    }
}
