//! The window's events: core shapes every payload (`stackperf_core::app::events`); the shell only
//! gives each a name the UI listens for (declared once; the TypeScript side is generated) and
//! emits it, through [`Window`], its implementation of core's `Events`.

use serde::{Deserialize, Serialize};
use stackperf_core::app::{CaptureFailure, CapturePass, Events, RunEvent, StackLine, TrafficStep};
use tauri::AppHandle;
use tauri_specta::Event;

/// A step of a long stack operation (install, start, stop).
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct StackProgress(pub StackLine);

/// The capture tailer stored new requests.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct CaptureUpdate(pub CapturePass);

/// The capture tailer failed (it restarts by itself).
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct CaptureError(pub CaptureFailure);

/// Sample traffic progress.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct TrafficProgress(pub TrafficStep);

/// A step of an automated run (the Run panel's progress).
#[derive(Debug, Clone, Serialize, specta::Type, tauri_specta::Event)]
pub struct RunProgress {
    pub event: RunEvent,
}

/// Core's progress, emitted to the window (a window that is gone loses it: nothing to show it).
pub struct Window(pub AppHandle);

impl Events for Window {
    fn stack(&self, line: StackLine) {
        let _ = StackProgress(line).emit(&self.0);
    }
    fn traffic(&self, step: TrafficStep) {
        let _ = TrafficProgress(step).emit(&self.0);
    }
    fn run(&self, event: RunEvent) {
        let _ = RunProgress { event }.emit(&self.0);
    }
    fn capture(&self, pass: CapturePass) {
        let _ = CaptureUpdate(pass).emit(&self.0);
    }
    fn capture_error(&self, failure: CaptureFailure) {
        let _ = CaptureError(failure).emit(&self.0);
    }
}
