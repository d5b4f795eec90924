//! A session row (the `sessions` table) and its states.

use crate::timestamp::Timestamp;
use serde::{Deserialize, Serialize};

/// Where a session is in its life. Stored as lowercase text.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, strum::VariantArray,
)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[sqlx(rename_all = "lowercase", type_name = "text")]
#[derive(strum::IntoStaticStr, strum::EnumString)]
#[strum(serialize_all = "snake_case")]
pub enum SessionStatus {
    /// Registered; its key is being issued.
    Pending,
    /// Its key works; the operator is running the task.
    Active,
    /// Its key's lifetime (the task card's timebox + 30 min) ran out before it was finalized:
    /// the key no longer works; finalize it to record what happened.
    Expired,
    Completed,
    Aborted,
    Invalid,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn parse(s: &str) -> Option<SessionStatus> {
        s.parse().ok()
    }

    /// Finalized: its key is revoked and it can no longer change.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            SessionStatus::Completed | SessionStatus::Aborted | SessionStatus::Invalid
        )
    }
}

impl std::fmt::Display for SessionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Bounded sessions are compared; exploratory ones never are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[sqlx(rename_all = "lowercase", type_name = "text")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum SessionMode {
    Bounded,
    Exploratory,
}

impl SessionMode {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl std::fmt::Display for SessionMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A session as stored.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct SessionRow {
    pub session_id: String,
    pub experiment: String,
    pub variant: String,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub variant_id: i64,
    pub config_fingerprint: String,
    pub task_card: String,
    pub harness_profile: String,
    pub status: SessionStatus,
    pub mode: SessionMode,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    pub operator_label: Option<String>,
    pub repo_root: Option<String>,
    pub git_branch: Option<String>,
    pub git_commit_sha: Option<String>,
    pub git_dirty: Option<bool>,
    pub proxy_key_alias: Option<String>,
    pub key_expires_at: Option<Timestamp>,
    pub outcome: Option<String>,
    pub notes: Option<String>,
    pub app_version: String,
    pub litellm_version: Option<String>,
    pub config_commit: Option<String>,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub request_count: i64,
    /// The harness's state was kept in the session folder.
    pub isolated: bool,
    /// The price its model had when the session was created (per million tokens, with the price
    /// table's date); `None` when the provider declares none.
    pub price: Option<crate::config::Price>,
    /// What the harness itself reported at the end of an automated run (a cross-check).
    pub harness_report: Option<super::HarnessReport>,
    /// The machine it ran on (its stable id, see `machine::Identity`) and that machine's host
    /// name; `None` for a session from before machines were recorded.
    pub machine_id: Option<String>,
    pub hostname: Option<String>,
}
