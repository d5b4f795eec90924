//! What a long use case says while it works, shaped once here for every host. A host implements
//! [`Events`]: the CLI prints lines, the desktop emits typed window events; a host with nothing
//! to show (the HTTP API, tests) passes [`Quiet`].

use crate::timestamp::Timestamp;
use serde::{Deserialize, Serialize};

use super::RunEvent;
use crate::capture::CollectReport;
use crate::normalize::RequestRow;
use crate::stack::{Service, StackEvent};
use crate::{Error, ErrorCode};

/// Where a use case's progress goes. Every method has a default that ignores it.
pub trait Events: Send + Sync {
    /// A step of starting or stopping the stack.
    fn stack(&self, _line: StackLine) {}
    /// Sample traffic: one more request answered.
    fn traffic(&self, _step: TrafficStep) {}
    /// A step of an automated run.
    fn run(&self, _event: RunEvent) {}
    /// The capture tailer stored new requests.
    fn capture(&self, _pass: CapturePass) {}
    /// The capture tailer failed (it starts again by itself).
    fn capture_error(&self, _failure: CaptureFailure) {}
}

/// A host that shows no progress.
pub struct Quiet;

impl Events for Quiet {}

/// A run's progress handed to a closure (a host that follows only runs, tests).
pub struct OnRun<F>(pub F);

impl<F: Fn(RunEvent) + Send + Sync> Events for OnRun<F> {
    fn run(&self, event: RunEvent) {
        (self.0)(event)
    }
}

/// Stack lines handed to a closure.
pub struct OnStack<F>(pub F);

impl<F: Fn(StackLine) + Send + Sync> Events for OnStack<F> {
    fn stack(&self, line: StackLine) {
        (self.0)(line)
    }
}

/// Sample-traffic progress handed to a closure.
pub struct OnTraffic<F>(pub F);

impl<F: Fn(TrafficStep) + Send + Sync> Events for OnTraffic<F> {
    fn traffic(&self, step: TrafficStep) {
        (self.0)(step)
    }
}

/// What a stack progress line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
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

/// One line of a long stack operation (install, start, stop), as people read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct StackLine {
    pub kind: ProgressKind,
    /// The service the line is about (`None`: the stack as a whole, or a provider's line).
    pub service: Option<Service>,
    /// The provider a `not_served` line is about.
    pub provider: Option<String>,
    pub message: String,
}

impl From<StackEvent> for StackLine {
    fn from(e: StackEvent) -> Self {
        let line = |kind, service, message| StackLine {
            kind,
            service,
            provider: None,
            message,
        };
        match e {
            StackEvent::Step { service, message } => line(ProgressKind::Step, service, message),
            StackEvent::Output { service, line: l } => line(ProgressKind::Output, Some(service), l),
            StackEvent::Healthy {
                service,
                url,
                elapsed_ms,
            } => line(
                ProgressKind::Healthy,
                Some(service),
                format!("healthy at {url} after {:.1} s", elapsed_ms as f64 / 1000.0),
            ),
            StackEvent::NotServed { provider, message } => StackLine {
                provider: Some(provider),
                ..line(ProgressKind::NotServed, None, message)
            },
            StackEvent::Warning { message } => line(ProgressKind::Warning, None, message),
        }
    }
}

/// Sample traffic progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct TrafficStep {
    pub session_id: String,
    pub done: u32,
    pub total: u32,
}

/// One pass of the capture tailer that stored requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct CapturePass {
    pub inserted: u32,
    /// Sessions that gained requests (sorted, each once).
    pub sessions: Vec<String>,
    /// The newest request's finish time (epoch ms).
    pub last_finished_at: Option<Timestamp>,
}

impl CapturePass {
    pub fn of(report: &CollectReport, rows: &[RequestRow]) -> CapturePass {
        let mut sessions: Vec<String> = rows.iter().filter_map(|r| r.session_id.clone()).collect();
        sessions.sort();
        sessions.dedup();
        CapturePass {
            inserted: u32::try_from(report.inserted).unwrap_or(u32::MAX),
            sessions,
            last_finished_at: rows
                .iter()
                .map(|r| r.request_finished_at)
                .fold(None, |m: Option<Timestamp>, x| {
                    Some(m.map_or(x, |m| m.max(x)))
                }),
        }
    }
}

/// The capture tailer failed (it restarts by itself).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct CaptureFailure {
    pub code: ErrorCode,
    pub message: String,
}

impl From<&Error> for CaptureFailure {
    fn from(e: &Error) -> Self {
        CaptureFailure {
            code: e.code(),
            message: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_events_become_lines_people_read() {
        let healthy = StackLine::from(StackEvent::Healthy {
            service: Service::Litellm,
            url: "http://127.0.0.1:4000".into(),
            elapsed_ms: 12_345,
        });
        assert_eq!(healthy.kind, ProgressKind::Healthy);
        assert_eq!(healthy.service, Some(Service::Litellm));
        assert_eq!(
            healthy.message,
            "healthy at http://127.0.0.1:4000 after 12.3 s"
        );
        let unserved = StackLine::from(StackEvent::NotServed {
            provider: "openai".into(),
            message: "no key".into(),
        });
        assert_eq!(
            (unserved.service, unserved.provider.as_deref()),
            (None, Some("openai"))
        );
        let whole = StackLine::from(StackEvent::Step {
            service: None,
            message: "already running".into(),
        });
        assert_eq!((whole.kind, whole.service), (ProgressKind::Step, None));
    }
}
