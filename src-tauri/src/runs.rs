//! Automated runs from the Run panel: start one (progress as events), cancel it.

use stackperf_core::app::{RunPlan, RunSummary};
use stackperf_core::run::{RunItemRow, RunRequest};
use tauri::{AppHandle, State};

use crate::commands::Shared;
use crate::error::UiResult;
use crate::events::Window;

#[tauri::command]
#[specta::specta]
pub async fn run_start(
    handle: AppHandle,
    state: State<'_, Shared>,
    req: RunRequest,
) -> UiResult<RunSummary> {
    let app = state.app()?;
    Ok(app.run_start_cancellable(req, &Window(handle)).await?)
}

/// Work on a run started elsewhere (another machine on the same PostgreSQL store): take its
/// items until none is left, `parallel` sessions at a time, progress as events.
#[tauri::command]
#[specta::specta]
pub async fn run_join(
    handle: AppHandle,
    state: State<'_, Shared>,
    run_id: String,
    parallel: u32,
) -> UiResult<RunSummary> {
    let app = state.app()?;
    Ok(app
        .run_join_cancellable(&run_id, parallel, &Window(handle))
        .await?)
}

/// A run's items as they stand: every item with the worker that holds or held it.
#[tauri::command]
#[specta::specta]
pub async fn run_items(state: State<'_, Shared>, run_id: String) -> UiResult<Vec<RunItemRow>> {
    Ok(state.app()?.run_items(&run_id).await?)
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
pub async fn run_cancel(state: State<'_, Shared>) -> UiResult<bool> {
    Ok(state.app()?.run_cancel())
}
