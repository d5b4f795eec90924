//! A request row (the `requests` table) and the closed sets it is made of.

use crate::timestamp::Timestamp;
use serde::{Deserialize, Serialize};

/// The session a request belongs to (from its key alias).
#[derive(Debug, Clone)]
pub struct Attribution {
    pub session_id: String,
    pub variant_id: i64,
    pub experiment: String,
    pub harness_profile: String,
}

/// Where a row's timings were taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum TimedAt {
    /// At the harness's socket, by StackPerf's edge.
    Edge,
    /// Inside LiteLLM (traffic sent straight to it): starts after LiteLLM parsed and routed.
    Litellm,
}

impl TimedAt {
    pub const fn as_str(self) -> &'static str {
        match self {
            TimedAt::Edge => "edge",
            TimedAt::Litellm => "litellm",
        }
    }
}

/// Whose traffic a request is. Only `session` rows count into a session; `internal` rows
/// (StackPerf's own: the proxy warm-up, anything sent with the master key) are left out of
/// user-facing exports and counts unless asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum Traffic {
    Session,
    Internal,
    /// Refused for its key or scope (401/403) with no session to count it into.
    Rejected,
    /// A key the proxy accepted that belongs to no session.
    Unattributed,
    /// A usage key's (usage mode: everyday use, never a session's).
    Usage,
}

/// The key alias StackPerf's own calls carry (the master key's, see `stackperf_auth.py`).
pub const INTERNAL_KEY_ALIAS: &str = "stackperf-admin";

impl Traffic {
    pub fn classify(session: bool, key_alias: Option<&str>, http_status: Option<i64>) -> Self {
        if session {
            Traffic::Session
        } else if key_alias == Some(INTERNAL_KEY_ALIAS) {
            Traffic::Internal
        } else if key_alias.is_some_and(|a| a.starts_with(super::ALIAS_PREFIX)) {
            Traffic::Usage
        } else if matches!(http_status, Some(401 | 403)) {
            Traffic::Rejected
        } else {
            Traffic::Unattributed
        }
    }

    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// How a request ended, as the client saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[sqlx(rename_all = "lowercase", type_name = "text")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum RequestStatus {
    Success,
    Error,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A normalized request (the `requests` table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct RequestRow {
    pub request_id: String,
    pub litellm_call_id: Option<String>,
    pub session_id: Option<String>,
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub variant_id: Option<i64>,
    pub experiment: Option<String>,
    pub provider: Option<String>,
    pub provider_route: Option<String>,
    pub model: Option<String>,
    pub upstream_model: Option<String>,
    pub harness_profile: Option<String>,
    pub protocol_surface: Option<String>,
    pub call_type: Option<String>,
    pub streamed: bool,
    /// Unix epoch milliseconds.
    pub request_started_at: Timestamp,
    pub request_finished_at: Timestamp,
    pub first_token_at: Option<Timestamp>,
    /// When the proxy handed the request to the upstream (epoch ms).
    pub upstream_started_at: Option<Timestamp>,
    pub latency_ms: f64,
    pub ttft_ms: Option<f64>,
    pub ttft_missing_reason: Option<String>,
    /// First content after the upstream call started: the provider's own TTFT, as seen by the proxy.
    pub provider_ttft_ms: Option<f64>,
    /// Upstream call start to the end of the request.
    pub provider_latency_ms: Option<f64>,
    pub output_tokens_per_s: Option<f64>,
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub input_tokens: Option<i64>,
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub output_tokens: Option<i64>,
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub cached_input_tokens: Option<i64>,
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub cache_write_tokens: Option<i64>,
    /// Reasoning ("thinking") tokens, part of `output_tokens`, where the provider says how many.
    pub reasoning_tokens: Option<i64>,
    pub status: RequestStatus,
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub http_status: Option<i64>,
    pub error_code: Option<String>,
    pub error_class: Option<String>,
    pub provider_request_id: Option<String>,
    pub proxy_overhead_ms: Option<f64>,
    pub key_alias: Option<String>,
    pub traffic: Traffic,
    /// Tool calls the streamed response made (names, comma-separated; the edge's view).
    pub tool_calls: Option<String>,
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub tool_call_count: Option<i64>,
    pub timed_at: TimedAt,
    /// LiteLLM's capture line has been merged in.
    pub has_litellm_record: bool,
    /// How the request ended as the client saw it (edge rows): `ok`, `http_error`,
    /// `stream_error`, `proxy_unavailable`, `proxy_disconnected`, `client_disconnected`.
    pub outcome: Option<String>,
    pub first_visible_at: Option<Timestamp>,
    /// Time to the first answer text or tool call, reasoning excluded.
    pub ttft_visible_ms: Option<f64>,
    /// Mean time per delta after the first (TPOT).
    pub itl_ms: Option<f64>,
    /// The longest gap between content deltas.
    pub max_gap_ms: Option<f64>,
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub stall_count: Option<i64>,
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub content_deltas: Option<i64>,
    pub output_tokens_missing_reason: Option<String>,
    pub cost_usd: Option<f64>,
}

/// The outcome of a request whose start line has no record because its edge was killed.
pub const EDGE_LOST: &str = "edge_lost";

/// A per-request numeric column the metric registry rolls up into session values (a column of
/// `requests`; the test `a_measure_is_a_requests_column` checks each against the table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::VariantArray)]
pub enum Measure {
    TtftMs,
    TtftVisibleMs,
    LatencyMs,
    ItlMs,
    OutputTokensPerS,
    StallCount,
    CostUsd,
    ToolCallCount,
    InputTokens,
    ReasoningTokens,
    HttpStatus,
    ProxyOverheadMs,
}

impl Measure {
    /// Its column in `requests`.
    pub const fn column(self) -> &'static str {
        match self {
            Measure::TtftMs => "ttft_ms",
            Measure::TtftVisibleMs => "ttft_visible_ms",
            Measure::LatencyMs => "latency_ms",
            Measure::ItlMs => "itl_ms",
            Measure::OutputTokensPerS => "output_tokens_per_s",
            Measure::StallCount => "stall_count",
            Measure::CostUsd => "cost_usd",
            Measure::ToolCallCount => "tool_call_count",
            Measure::InputTokens => "input_tokens",
            Measure::ReasoningTokens => "reasoning_tokens",
            Measure::HttpStatus => "http_status",
            Measure::ProxyOverheadMs => "proxy_overhead_ms",
        }
    }
}
