//! The machines that wrote to a store (several machines, one PostgreSQL store: docs/team.md).

use serde::{Deserialize, Serialize};

use crate::timestamp::Timestamp;

/// A machine that wrote to this store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Machine {
    /// Its stable id (a hash of `/etc/machine-id`, never the id itself).
    pub machine_id: String,
    pub hostname: String,
    /// When it first wrote, and when it last ingested a batch (or first wrote).
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// Sessions begun on it.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub sessions: i64,
    /// Requests it captured.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub requests: i64,
}
