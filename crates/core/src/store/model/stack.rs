//! What happened to the stack's services (the stack's journal, `stack::journal`, writes these; a
//! session's edge health reads them).

use serde::{Deserialize, Serialize};
use stackperf_contract::Service;

use crate::timestamp::Timestamp;

/// What happened to a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ServiceEventKind {
    Started,
    /// `stack up` found it not running or not answering (it was then started again).
    FoundDown,
    Stopped,
}

/// One journal line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ServiceEvent {
    pub service: Service,
    pub event: ServiceEventKind,
    /// Epoch ms.
    pub at_ms: Timestamp,
}
