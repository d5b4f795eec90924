//! Typed events the shell emits (declared once; the TypeScript side is generated).

use serde::{Deserialize, Serialize};
use stackperf_core::stack::{Service, StackEvent};

/// What a progress line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum ProgressKind {
    Step,
    /// A line of a tool's own output (pip, docker).
    Output,
    Healthy,
    Warning,
    /// A configured provider the stack does not serve (also listed under the services).
    NotServed,
}

/// A step of a long stack operation (install, start, stop).
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct StackProgress {
    pub kind: ProgressKind,
    /// The service the line is about (`None`: the stack as a whole, or a provider's line).
    pub service: Option<Service>,
    /// The provider a `not_served` line is about.
    pub provider: Option<String>,
    pub message: String,
}

impl From<StackEvent> for StackProgress {
    fn from(e: StackEvent) -> Self {
        match e {
            StackEvent::Step { service, message } => StackProgress {
                kind: ProgressKind::Step,
                service,
                provider: None,
                message,
            },
            StackEvent::Output { service, line } => StackProgress {
                kind: ProgressKind::Output,
                service: Some(service),
                provider: None,
                message: line,
            },
            StackEvent::Healthy {
                service,
                url,
                elapsed_ms,
            } => StackProgress {
                kind: ProgressKind::Healthy,
                message: format!("healthy at {url} after {:.1} s", elapsed_ms as f64 / 1000.0),
                service: Some(service),
                provider: None,
            },
            StackEvent::NotServed { provider, message } => StackProgress {
                kind: ProgressKind::NotServed,
                service: None,
                provider: Some(provider),
                message,
            },
            StackEvent::Warning { message } => StackProgress {
                kind: ProgressKind::Warning,
                service: None,
                provider: None,
                message,
            },
        }
    }
}

/// The capture tailer stored new requests.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct CaptureUpdate {
    pub inserted: u32,
    /// Sessions that gained requests.
    pub sessions: Vec<String>,
    /// The newest request's finish time (epoch ms).
    pub last_finished_at: Option<f64>,
}

/// The capture tailer failed (it restarts by itself).
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct CaptureError {
    pub code: stackperf_core::ErrorCode,
    pub message: String,
}

/// Sample traffic progress.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct TrafficProgress {
    pub session_id: String,
    pub done: u32,
    pub total: u32,
}

/// A step of an automated run (the Run panel's progress).
#[derive(Debug, Clone, Serialize, specta::Type, tauri_specta::Event)]
pub struct RunProgress {
    pub event: stackperf_core::app::RunEvent,
}
