//! Normalization: pure functions from a capture line to a request row (docs/sessions.md, docs/capture-contract.md). Two sources:
//! LiteLLM's capture logger (this module: tokens, cache, cost, provider hand-off, error class) and
//! StackPerf's edge ([`crate::normalize_edge`]: every timing as the harness experienced it). Both
//! lines of one request carry the edge's correlation id as `request_id`; the store merges them.
//!
//! TTFT is right or absent, never wrong: it comes from the edge, or (lines written by earlier
//! versions) from the first content delta the old capture hook saw; LiteLLM's own
//! `completionStartTime` is never used (it marks the first SSE event, or the stream preamble).

use crate::timestamp::Timestamp;
use std::collections::HashMap;

use serde::Deserialize;

use crate::config::{Price, Registry, Surface};

// The row and its closed sets belong to the store's model.
pub use crate::store::model::{
    Attribution, RequestRow, RequestStatus, TimedAt, Traffic, INTERNAL_KEY_ALIAS,
};

/// One line of the capture spool, as `configs/litellm/stackperf_capture.py` writes it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SpoolRecord {
    pub v: u32,
    pub litellm_call_id: Option<String>,
    /// The edge's correlation id (absent for traffic sent straight to LiteLLM).
    pub edge_id: Option<String>,
    pub status: Option<String>,
    pub call_type: Option<String>,
    pub route: Option<String>,
    pub stream: bool,
    pub start: Option<f64>,
    pub end: Option<f64>,
    pub first_delta: Option<f64>,
    pub upstream_start: Option<f64>,
    pub model: Option<String>,
    pub model_group: Option<String>,
    pub custom_llm_provider: Option<String>,
    pub prompt_tokens: Option<f64>,
    pub completion_tokens: Option<f64>,
    pub cached_tokens: Option<f64>,
    pub cache_read_input_tokens: Option<f64>,
    pub cache_creation_input_tokens: Option<f64>,
    pub reasoning_tokens: Option<f64>,
    pub key_alias: Option<String>,
    pub key_metadata: Option<HashMap<String, serde_json::Value>>,
    pub error_code: Option<String>,
    pub error_class: Option<String>,
    pub overhead_ms: Option<f64>,
    pub cost: Option<f64>,
    pub response_id: Option<String>,
}

/// The spool line's fields `normalize` reads (the capture contract, version 1; see
/// docs/capture-contract.md). `first_delta` only appears in lines of earlier versions.
pub const SPOOL_FIELDS_READ: &[&str] = &[
    "v",
    "litellm_call_id",
    "edge_id",
    "status",
    "call_type",
    "route",
    "stream",
    "start",
    "end",
    "first_delta",
    "upstream_start",
    "model",
    "model_group",
    "custom_llm_provider",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "reasoning_tokens",
    "key_alias",
    "key_metadata",
    "error_code",
    "error_class",
    "overhead_ms",
    "cost",
    "response_id",
];

/// Fields the logger writes that `normalize` deliberately ignores: LiteLLM's own response id,
/// `completionStartTime` (wrong for TTFT: it marks the first SSE event), the key's hash and the
/// request tags (kept in the spool for audits).
pub const SPOOL_FIELDS_IGNORED: &[&str] = &["id", "completion_start", "key_hash", "request_tags"];

/// Where a model alias is routed: `(provider, route, upstream model)`.
pub type ModelIndex = HashMap<String, ModelRoute>;

/// Where an alias goes: its provider, route and upstream model, and its declared price.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelRoute {
    pub provider: String,
    pub route: String,
    pub upstream_model: String,
    pub price: Option<Price>,
}

/// The alias → provider index of a registry.
pub fn model_index(reg: &Registry) -> ModelIndex {
    let mut out = HashMap::new();
    for p in reg.providers.iter().map(|l| &l.value) {
        for m in &p.models {
            out.insert(
                m.alias.clone(),
                ModelRoute {
                    provider: p.name.clone(),
                    route: p.route_name.clone(),
                    upstream_model: m.upstream_model.clone(),
                    price: m.price.clone(),
                },
            );
        }
    }
    out
}

/// A request's cost: from the declared price when the model has one (exact: tokens × prices),
/// else LiteLLM's. LiteLLM reports 0 for a model it has no price for, so a zero cost for a
/// request that used tokens is "unknown" (`None`), never a free request; declare a price of 0
/// for a model that really is free. A failed request that reported no usage cost nothing.
pub fn request_cost(
    route: Option<&ModelRoute>,
    litellm_cost: Option<f64>,
    success: bool,
    tokens: (Option<i64>, Option<i64>, Option<i64>, Option<i64>),
) -> Option<f64> {
    let (input, output, cached, write) = tokens;
    if !success && input.unwrap_or(0) + output.unwrap_or(0) == 0 {
        return Some(0.0);
    }
    if let Some(price) = route.and_then(|r| r.price.as_ref()) {
        return price.cost(input, output, cached, write);
    }
    let used = input.unwrap_or(0) + output.unwrap_or(0) > 0;
    litellm_cost.filter(|c| c.is_finite() && *c >= 0.0 && !(used && *c == 0.0))
}

/// Why a line cannot become a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Reject {
    NotJson(String),
    MissingField(&'static str),
}

/// The wire protocol of a request, from its route (or LiteLLM's call type).
pub fn surface(route: Option<&str>, call_type: Option<&str>) -> Option<Surface> {
    let r = route.unwrap_or_default();
    if r.contains("generateContent") || r.contains("streamGenerateContent") {
        return Some(Surface::GoogleGenerateContent);
    }
    if r.ends_with("/chat/completions") {
        return Some(Surface::OpenaiChat);
    }
    if r.ends_with("/responses") {
        return Some(Surface::OpenaiResponses);
    }
    if r.contains("/messages") {
        return Some(Surface::AnthropicMessages);
    }
    match call_type.unwrap_or_default() {
        "acompletion" | "completion" => Some(Surface::OpenaiChat),
        "aresponses" | "responses" => Some(Surface::OpenaiResponses),
        "anthropic_messages" => Some(Surface::AnthropicMessages),
        c if c.contains("generate_content") => Some(Surface::GoogleGenerateContent),
        _ => None,
    }
}

fn int(v: Option<f64>) -> Option<i64> {
    v.filter(|x| x.is_finite() && *x >= 0.0).map(|x| x as i64)
}

/// Parse one spool line.
pub fn parse_line(line: &str) -> Result<SpoolRecord, Reject> {
    serde_json::from_str(line).map_err(|e| Reject::NotJson(e.to_string()))
}

/// Turn a spool record into a request row.
pub fn normalize(
    rec: &SpoolRecord,
    attribution: Option<&Attribution>,
    models: &ModelIndex,
) -> Result<RequestRow, Reject> {
    let call_id = rec
        .litellm_call_id
        .clone()
        .filter(|s| !s.is_empty())
        .ok_or(Reject::MissingField("litellm_call_id"))?;
    let start = rec.start.ok_or(Reject::MissingField("start"))?;
    let end = rec.end.unwrap_or(start).max(start);
    let success = rec.status.as_deref() == Some("success");
    let through_edge = rec.edge_id.as_deref().is_some_and(|s| !s.is_empty());
    let output_tokens = int(rec.completion_tokens);
    let (ttft_ms, ttft_missing_reason) = match (rec.stream, rec.first_delta) {
        _ if through_edge => (
            None,
            Some(
                "only LiteLLM's record of this request is stored: the edge's is missing, so how the client fared is unknown"
                    .to_string(),
            ),
        ),
        (_, Some(first)) if first >= start => (Some((first - start) * 1000.0), None),
        (false, _) => (
            None,
            Some("not streamed: no first-token time exists".to_string()),
        ),
        (true, _) if !success => (
            None,
            Some("failed before any content was streamed".to_string()),
        ),
        (true, _) => (
            None,
            Some(
                "sent straight to LiteLLM, not through StackPerf's edge: no client-side timing"
                    .to_string(),
            ),
        ),
    };
    let first_token_at = ttft_ms.map(|t| Timestamp::from_secs(start).plus_ms(t));
    // The upstream hand-off must lie inside the request to be believable.
    let upstream = rec
        .upstream_start
        .filter(|u| *u >= start - 0.001 && *u <= end + 0.001);
    let provider_ttft_ms = match (upstream, ttft_ms.and(rec.first_delta)) {
        (Some(u), Some(first)) if first >= u => Some((first - u) * 1000.0),
        _ => None,
    };
    let provider_latency_ms = upstream.map(|u| (end - u).max(0.0) * 1000.0);
    let output_tokens_per_s = match (rec.first_delta, output_tokens) {
        // Tokens after the first one, over the time after the first one.
        (Some(first), Some(n)) if n > 1 && end > first => Some((n - 1) as f64 / (end - first)),
        _ => None,
    };
    let alias = rec.model_group.clone();
    let route = alias.as_deref().and_then(|a| models.get(a));
    let cached = int(rec.cache_read_input_tokens).or(int(rec.cached_tokens));
    Ok(RequestRow {
        request_id: rec
            .edge_id
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| call_id.clone()),
        litellm_call_id: Some(call_id),
        session_id: attribution.map(|a| a.session_id.clone()),
        variant_id: attribution.map(|a| a.variant_id),
        experiment: attribution.map(|a| a.experiment.clone()),
        provider: route
            .map(|r| r.provider.clone())
            .or_else(|| rec.custom_llm_provider.clone()),
        provider_route: route.map(|r| r.route.clone()),
        model: alias,
        upstream_model: route
            .map(|r| r.upstream_model.clone())
            .or_else(|| rec.model.clone()),
        harness_profile: attribution.map(|a| a.harness_profile.clone()),
        protocol_surface: surface(rec.route.as_deref(), rec.call_type.as_deref())
            .map(|s| s.as_str().to_string()),
        call_type: rec.call_type.clone(),
        streamed: rec.stream,
        request_started_at: Timestamp::from_secs(start),
        request_finished_at: Timestamp::from_secs(end),
        first_token_at,
        upstream_started_at: upstream.map(Timestamp::from_secs),
        latency_ms: (end - start) * 1000.0,
        ttft_ms,
        ttft_missing_reason,
        provider_ttft_ms,
        provider_latency_ms,
        output_tokens_per_s,
        input_tokens: int(rec.prompt_tokens),
        output_tokens,
        cached_input_tokens: cached,
        cache_write_tokens: int(rec.cache_creation_input_tokens),
        reasoning_tokens: int(rec.reasoning_tokens),
        // Sent through the edge, yet (so far) only LiteLLM's line: never a success by itself. The
        // edge's record, when it is merged in, sets status, outcome and timings.
        status: if success && !through_edge {
            RequestStatus::Success
        } else {
            RequestStatus::Error
        },
        http_status: if success {
            Some(200)
        } else {
            rec.error_code.as_deref().and_then(|c| c.parse().ok())
        },
        error_code: if success {
            None
        } else {
            rec.error_code.clone().filter(|c| !c.is_empty())
        },
        error_class: if success {
            None
        } else {
            rec.error_class.clone()
        },
        provider_request_id: rec.response_id.clone(),
        proxy_overhead_ms: rec.overhead_ms,
        key_alias: rec.key_alias.clone(),
        traffic: Traffic::classify(
            attribution.is_some(),
            rec.key_alias.as_deref(),
            if success {
                None
            } else {
                rec.error_code.as_deref().and_then(|c| c.parse().ok())
            },
        ),
        tool_calls: None,
        tool_call_count: None,
        timed_at: TimedAt::Litellm,
        has_litellm_record: true,
        outcome: through_edge.then(|| super::normalize_edge::NOT_TIMED_AT_EDGE.to_string()),
        first_visible_at: None,
        ttft_visible_ms: None,
        itl_ms: None,
        max_gap_ms: None,
        stall_count: None,
        content_deltas: None,
        output_tokens_missing_reason: None,
        cost_usd: request_cost(
            route,
            rec.cost,
            success,
            (
                int(rec.prompt_tokens),
                output_tokens,
                cached,
                int(rec.cache_creation_input_tokens),
            ),
        ),
    })
}

#[cfg(test)]
#[path = "normalize_tests.rs"]
mod tests;
