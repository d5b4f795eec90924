//! Automated runs from the Run panel: start one (progress as events), cancel it.

use std::sync::Mutex;

use stackperf_core::app::{RunEvent, RunPlan, RunSummary};
use stackperf_core::run::RunRequest;
use tauri::{AppHandle, State};
use tauri_specta::Event;

use crate::commands::Shared;
use crate::error::{UiError, UiResult};
use crate::events::RunProgress;
use stackperf_core::ErrorCode;

/// The cancel switch of the run in progress (one at a time).
static CANCEL: Mutex<Option<tokio::sync::watch::Sender<bool>>> = Mutex::new(None);

#[tauri::command]
#[specta::specta]
pub async fn run_start(
    handle: AppHandle,
    state: State<'_, Shared>,
    req: RunRequest,
) -> UiResult<RunSummary> {
    let app = state.app()?;
    let (tx, rx) = tokio::sync::watch::channel(false);
    {
        let mut slot = CANCEL
            .lock()
            .map_err(|_| UiError::new(ErrorCode::Internal, "the run lock is poisoned"))?;
        if slot
            .as_ref()
            .is_some_and(|s| !s.is_closed() && !*s.borrow())
        {
            return Err(UiError::new(
                ErrorCode::Invalid,
                "a run is already in progress: cancel it first",
            ));
        }
        *slot = Some(tx);
    }
    let progress = move |e: RunEvent| {
        let _ = RunProgress { event: e }.emit(&handle);
    };
    let result = app.run_start(req, &progress, rx).await;
    if let Ok(mut slot) = CANCEL.lock() {
        *slot = None;
    }
    Ok(result?)
}

/// What a run would take and could detect, before it starts.
#[tauri::command]
#[specta::specta]
pub async fn run_plan(state: State<'_, Shared>, req: RunRequest) -> UiResult<RunPlan> {
    Ok(state.app()?.run_plan(&req).await?)
}

/// Stop the run in progress: its current session is finalized as aborted.
#[tauri::command]
#[specta::specta]
pub async fn run_cancel() -> UiResult<bool> {
    let slot = CANCEL
        .lock()
        .map_err(|_| UiError::new(ErrorCode::Internal, "the run lock is poisoned"))?;
    Ok(slot.as_ref().is_some_and(|s| s.send(true).is_ok()))
}
