//! The window's life: one instance (a second launch focuses the first), its size and place
//! remembered (tauri-plugin-window-state), and a question before closing while a session is
//! active — finalize it, leave it (and the stack) running, or cancel.

use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};
use stackperf_core::session::FinalStatus;
use tauri::{AppHandle, Manager, State};
use tauri_specta::Event;

use crate::commands::Shared;
use crate::error::UiResult;

/// Set once the user answered the question: the next close goes through.
static CLOSE_ANSWERED: AtomicBool = AtomicBool::new(false);

/// The window was asked to close while these sessions are active.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct CloseAsked {
    pub sessions: Vec<String>,
}

/// The answer to "a session is active — close anyway?".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum CloseChoice {
    /// Finalize the active sessions as completed, then close (the stack stops with the app).
    Finalize,
    /// Close, leaving the sessions active and the stack running (stop it later with
    /// `stackperf stack down`).
    LeaveRunning,
    /// Keep the window open.
    Cancel,
}

/// Bring the existing window forward (a second launch of the app calls this, then exits).
pub fn focus_main(app: &AppHandle) {
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.unminimize();
        let _ = w.show();
        let _ = w.set_focus();
    }
    eprintln!("stackperf-desktop: a second launch focused this window");
}

/// `true` when the close may proceed now; otherwise the UI was asked and the close is held.
pub fn may_close(app: &AppHandle) -> bool {
    if CLOSE_ANSWERED.load(Ordering::SeqCst) {
        return true;
    }
    let Some(core) = app.state::<Shared>().0.as_ref().ok().cloned() else {
        return true;
    };
    let active = tauri::async_runtime::block_on(core.active_sessions()).unwrap_or_default();
    if active.is_empty() {
        return true;
    }
    let _ = CloseAsked { sessions: active }.emit(app);
    false
}

#[tauri::command]
#[specta::specta]
pub async fn window_close(
    handle: AppHandle,
    state: State<'_, Shared>,
    choice: CloseChoice,
) -> UiResult<()> {
    let app = state.app()?;
    match choice {
        CloseChoice::Cancel => return Ok(()),
        CloseChoice::Finalize => {
            for id in app.active_sessions().await? {
                app.session_finalize(
                    &id,
                    FinalStatus::Completed,
                    None,
                    Some("finalized when the window was closed"),
                )
                .await?;
            }
        }
        CloseChoice::LeaveRunning => {
            app.detach_stack();
            eprintln!("stackperf-desktop: closing with the session(s) and the stack left running");
        }
    }
    CLOSE_ANSWERED.store(true, Ordering::SeqCst);
    if let Some(w) = handle.get_webview_window("main") {
        let _ = w.close();
    }
    Ok(())
}
