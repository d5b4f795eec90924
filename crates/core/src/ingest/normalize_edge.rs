//! Normalization of the edge's records: every timing as the harness experienced it, and the
//! outcome the client saw (see `stackperf_contract::record`). LiteLLM's line for the same request is
//! merged into the row by the store (tokens, cache, cost, provider hand-off).

use crate::timestamp::Timestamp;
use stackperf_contract::record::{EdgeRecord, EdgeStart, Outcome};

use crate::normalize::{Attribution, ModelIndex, RequestRow, RequestStatus, TimedAt, Traffic};
pub use crate::store::model::EDGE_LOST;

fn ms(from: f64, to: Option<f64>) -> Option<f64> {
    to.filter(|t| *t >= from).map(|t| (t - from) * 1000.0)
}

fn int(v: Option<u64>) -> Option<i64> {
    v.and_then(|x| i64::try_from(x).ok())
}

/// The row an edge record stands for (before LiteLLM's line is merged in).
pub fn normalize_edge(
    rec: &EdgeRecord,
    attribution: Option<&Attribution>,
    models: &ModelIndex,
) -> RequestRow {
    let start = rec.arrived;
    let end = rec.finished.max(start);
    let ok = rec.outcome == Outcome::Ok;
    let ttft_ms = ms(start, rec.first_content);
    let ttft_missing_reason = match (rec.stream, ttft_ms) {
        (_, Some(_)) => None,
        (false, None) => Some("not streamed: no first-token time exists".to_string()),
        (true, None) if !ok => Some("failed before any content was streamed".to_string()),
        (true, None) => Some("no content delta was observed in the stream".to_string()),
    };
    // What the client received: the stream's own usage report. A failed stream without one has
    // no trustworthy count (LiteLLM's would be an estimate), so it stays empty with the reason.
    let (output_tokens, output_tokens_missing_reason) = match rec.output_tokens {
        Some(n) => (int(Some(n)), None),
        None if rec.stream && !ok => (
            None,
            Some(format!(
                "the stream failed before its usage report; {} content deltas were delivered",
                rec.deltas
            )),
        ),
        None => (None, None),
    };
    let route = rec.model.as_deref().and_then(|a| models.get(a));
    let error_code = match rec.outcome {
        Outcome::Ok => None,
        Outcome::HttpError => rec.http_status.map(|s| s.to_string()),
        o => Some(o.as_str().to_string()),
    };
    RequestRow {
        request_id: rec.edge_id.clone(),
        litellm_call_id: rec.litellm_call_id.clone(),
        session_id: attribution.map(|a| a.session_id.clone()),
        variant_id: attribution.map(|a| a.variant_id),
        experiment: attribution.map(|a| a.experiment.clone()),
        provider: route.map(|r| r.provider.clone()),
        provider_route: route.map(|r| r.route.clone()),
        model: rec.model.clone(),
        upstream_model: route.map(|r| r.upstream_model.clone()),
        harness_profile: attribution.map(|a| a.harness_profile.clone()),
        protocol_surface: Some(rec.surface.as_str().to_string()),
        call_type: None,
        streamed: rec.stream,
        request_started_at: Timestamp::from_secs(start),
        request_finished_at: Timestamp::from_secs(end),
        first_token_at: rec.first_content.map(Timestamp::from_secs),
        upstream_started_at: None,
        latency_ms: (end - start) * 1000.0,
        ttft_ms,
        ttft_missing_reason,
        provider_ttft_ms: None,
        provider_latency_ms: None,
        output_tokens_per_s: None,
        input_tokens: int(rec.input_tokens),
        output_tokens,
        cached_input_tokens: None,
        cache_write_tokens: None,
        reasoning_tokens: None,
        status: if ok {
            RequestStatus::Success
        } else {
            RequestStatus::Error
        },
        http_status: rec.http_status.map(i64::from),
        error_code,
        error_class: (!ok).then(|| rec.outcome.as_str().to_string()),
        provider_request_id: None,
        proxy_overhead_ms: None,
        key_alias: Some(rec.key_alias.clone()),
        tool_calls: (!rec.tool_calls.is_empty()).then(|| rec.tool_calls.join(",")),
        // Counted only where the edge read the stream (a non-streamed body is not parsed).
        tool_call_count: rec.stream.then_some(rec.tool_calls.len() as i64),
        traffic: Traffic::classify(
            attribution.is_some(),
            Some(&rec.key_alias),
            rec.http_status.map(i64::from),
        ),
        timed_at: TimedAt::Edge,
        has_litellm_record: false,
        outcome: Some(rec.outcome.as_str().to_string()),
        first_visible_at: rec.first_visible.map(Timestamp::from_secs),
        ttft_visible_ms: ms(start, rec.first_visible),
        itl_ms: rec.itl_ms,
        max_gap_ms: rec.max_gap_ms,
        stall_count: int(Some(rec.stalls)),
        content_deltas: int(Some(rec.deltas)),
        output_tokens_missing_reason,
        cost_usd: None,
    }
}

/// The outcome of a request LiteLLM recorded with the edge's correlation id, while the edge's own
/// record of it is missing: how the harness fared is unknown.
pub const NOT_TIMED_AT_EDGE: &str = "not_timed_at_edge";

/// The row a start line becomes if its record never comes (the edge was killed while the request
/// was open): an error with an unknown HTTP status and no timings; LiteLLM's line, when it is
/// merged in, brings the tokens it counted.
pub fn normalize_start(
    st: &EdgeStart,
    attribution: Option<&Attribution>,
    models: &ModelIndex,
) -> RequestRow {
    let route = st.model.as_deref().and_then(|a| models.get(a));
    let why = "the edge was stopped or killed while this request was open: how it ended for the client, and its timings, are unknown";
    RequestRow {
        request_id: st.edge_id.clone(),
        litellm_call_id: None,
        session_id: attribution.map(|a| a.session_id.clone()),
        variant_id: attribution.map(|a| a.variant_id),
        experiment: attribution.map(|a| a.experiment.clone()),
        provider: route.map(|r| r.provider.clone()),
        provider_route: route.map(|r| r.route.clone()),
        model: st.model.clone(),
        upstream_model: route.map(|r| r.upstream_model.clone()),
        harness_profile: attribution.map(|a| a.harness_profile.clone()),
        protocol_surface: Some(st.surface.as_str().to_string()),
        call_type: None,
        streamed: st.stream,
        request_started_at: Timestamp::from_secs(st.arrived),
        request_finished_at: Timestamp::from_secs(st.arrived),
        first_token_at: None,
        upstream_started_at: None,
        latency_ms: 0.0,
        ttft_ms: None,
        ttft_missing_reason: Some(why.to_string()),
        provider_ttft_ms: None,
        provider_latency_ms: None,
        output_tokens_per_s: None,
        input_tokens: None,
        output_tokens: None,
        cached_input_tokens: None,
        cache_write_tokens: None,
        reasoning_tokens: None,
        status: RequestStatus::Error,
        http_status: None,
        error_code: Some(EDGE_LOST.to_string()),
        error_class: Some(EDGE_LOST.to_string()),
        provider_request_id: None,
        proxy_overhead_ms: None,
        key_alias: Some(st.key_alias.clone()),
        tool_calls: None,
        tool_call_count: None,
        traffic: Traffic::classify(attribution.is_some(), Some(&st.key_alias), None),
        timed_at: TimedAt::Edge,
        has_litellm_record: false,
        outcome: Some(EDGE_LOST.to_string()),
        first_visible_at: None,
        ttft_visible_ms: None,
        itl_ms: None,
        max_gap_ms: None,
        stall_count: None,
        content_deltas: None,
        output_tokens_missing_reason: None,
        cost_usd: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(json: &str) -> EdgeRecord {
        serde_json::from_str(json).unwrap()
    }

    const BASE: &str = r#""v":1,"edge_id":"edge-1","key_alias":"stackperf-s","session_id":"s","method":"POST","route":"/v1/chat/completions","surface":"openai_chat","model":"sim-fast","stream":true,"arrived":100.0,"response_started":100.01,"http_status":200,"error":null,"itl_ms":null,"max_gap_ms":null,"stalls":0,"stall_threshold_ms":1000.0,"input_tokens":null,"terminal":true,"bytes_out":10,"litellm_call_id":"c1""#;

    #[test]
    fn a_reasoning_stream_has_both_first_token_times() {
        let r = rec(&format!(
            r#"{{{BASE},"first_content":100.2,"first_visible":100.8,"last_content":101.0,"finished":101.05,"outcome":"ok","deltas":9,"output_tokens":9}}"#
        ));
        let row = normalize_edge(&r, None, &ModelIndex::new());
        assert!((row.ttft_ms.unwrap() - 200.0).abs() < 1e-6);
        assert!((row.ttft_visible_ms.unwrap() - 800.0).abs() < 1e-6);
        assert!((row.latency_ms - 1050.0).abs() < 1e-6);
        assert_eq!(
            (row.output_tokens, row.status.as_str()),
            (Some(9), "success")
        );
        assert_eq!(row.timed_at, TimedAt::Edge);
        assert_eq!(row.request_id, "edge-1");
    }

    #[test]
    fn a_failed_stream_counts_no_guessed_tokens_and_keeps_its_outcome() {
        let r = rec(&format!(
            r#"{{{BASE},"first_content":100.2,"first_visible":100.2,"last_content":100.3,"finished":100.4,"outcome":"proxy_disconnected","deltas":2,"output_tokens":null}}"#
        ));
        let row = normalize_edge(&r, None, &ModelIndex::new());
        assert_eq!(row.output_tokens, None);
        assert!(row
            .output_tokens_missing_reason
            .unwrap()
            .contains("2 content deltas"));
        assert_eq!(row.status, RequestStatus::Error);
        assert_eq!(row.error_code.as_deref(), Some("proxy_disconnected"));
        let unavailable = rec(&format!(
            r#"{{{BASE},"first_content":null,"first_visible":null,"last_content":null,"finished":100.001,"outcome":"proxy_unavailable","deltas":0,"output_tokens":null}}"#
        ));
        let row = normalize_edge(&unavailable, None, &ModelIndex::new());
        assert!(row.ttft_missing_reason.unwrap().contains("failed before"));
        assert_eq!(row.outcome.as_deref(), Some("proxy_unavailable"));
    }
}
