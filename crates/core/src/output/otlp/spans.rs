//! Sessions and requests as OpenTelemetry spans in the GenAI semantic conventions (pinned:
//! [`SEMCONV`]): a request is a `chat`/`generate_content` client span, its session the
//! `invoke_agent` span it belongs to (the harness as `gen_ai.agent.name`), plus `stackperf.*`
//! attributes. Ids are derived from StackPerf's own ids, so a request sent live and again by a
//! backfill is the same span, and a request's span names its session's span as parent before
//! the session has ended.

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use sha2::{Digest, Sha256};

use crate::store::spans::{SpanRequest, SpanSession};
use crate::timestamp::Timestamp;

/// The GenAI semantic conventions' version the spans follow (they are still in development).
pub const SEMCONV: &str = "1.41.0";

/// The instrumentation scope every span is sent under.
pub fn scope() -> InstrumentationScope {
    InstrumentationScope::builder("stackperf")
        .with_version(crate::APP_VERSION)
        .with_schema_url(format!("https://opentelemetry.io/schemas/{SEMCONV}"))
        .build()
}

fn digest(kind: &str, id: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(kind.as_bytes());
    h.update([0]);
    h.update(id.as_bytes());
    h.finalize().into()
}

/// The trace of a session: every span of it shares this id.
pub fn trace_id(session_id: &str) -> TraceId {
    let d = digest("stackperf.trace", session_id);
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    TraceId::from_bytes(b)
}

fn span_id(kind: &str, id: &str) -> SpanId {
    let d = digest(kind, id);
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    SpanId::from_bytes(b)
}

/// The span id of a session's own span.
pub fn session_span_id(session_id: &str) -> SpanId {
    span_id("stackperf.session", session_id)
}

fn time(t: Timestamp) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs_f64(t.secs().max(0.0))
}

/// `gen_ai.operation.name` of a protocol surface.
pub(super) fn operation(surface: Option<&str>) -> &'static str {
    match surface {
        Some("google_generate_content") => "generate_content",
        _ => "chat",
    }
}

fn span(
    context: SpanContext,
    parent: SpanId,
    kind: SpanKind,
    name: String,
    (start, end): (Timestamp, Timestamp),
    attributes: Vec<KeyValue>,
    status: Status,
) -> SpanData {
    SpanData {
        span_context: context,
        parent_span_id: parent,
        parent_span_is_remote: false,
        span_kind: kind,
        name: Cow::Owned(name),
        start_time: time(start),
        end_time: time(end.max(start)),
        attributes,
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status,
        instrumentation_scope: scope(),
    }
}

fn context(trace: TraceId, span: SpanId) -> SpanContext {
    SpanContext::new(
        trace,
        span,
        TraceFlags::SAMPLED,
        false,
        TraceState::default(),
    )
}

/// The `stackperf.*` attributes a session's spans carry (what it was, where in a run).
fn session_attributes(s: &SpanSession) -> Vec<KeyValue> {
    let mut a = vec![
        KeyValue::new("stackperf.session.id", s.session_id.clone()),
        KeyValue::new("stackperf.experiment", s.experiment.clone()),
        KeyValue::new("stackperf.variant", s.variant.clone()),
        KeyValue::new("stackperf.harness", s.harness.clone()),
        KeyValue::new("stackperf.task_card", s.task_card.clone()),
    ];
    if let Some(r) = &s.run_id {
        a.push(KeyValue::new("stackperf.run.id", r.clone()));
    }
    if let Some(t) = s.trial {
        a.push(KeyValue::new("stackperf.trial", i64::from(t)));
    }
    if let Some(o) = &s.outcome {
        a.push(KeyValue::new("stackperf.outcome", o.clone()));
    }
    a
}

/// A session's own span: `invoke_agent <harness>`, from its start to its end.
pub fn session_span(s: &SpanSession) -> SpanData {
    let start = s.started_at.unwrap_or(s.created_at);
    let end = s.ended_at.unwrap_or(start);
    let mut attributes = vec![
        KeyValue::new("gen_ai.operation.name", "invoke_agent"),
        KeyValue::new("gen_ai.agent.name", s.harness.clone()),
        KeyValue::new("stackperf.session.status", s.status.clone()),
    ];
    attributes.extend(session_attributes(s));
    let status = match s.status.as_str() {
        "completed" => Status::Unset,
        other => Status::error(format!("session {other}")),
    };
    span(
        context(trace_id(&s.session_id), session_span_id(&s.session_id)),
        SpanId::INVALID,
        SpanKind::Internal,
        format!("invoke_agent {}", s.harness),
        (start, end),
        attributes,
        status,
    )
}

/// A request's span, the child of its session's span.
pub fn request_span(r: &SpanRequest, s: &SpanSession) -> SpanData {
    let op = operation(r.protocol_surface.as_deref());
    let model = r.model.clone().unwrap_or_default();
    let mut a = vec![
        KeyValue::new("gen_ai.operation.name", op),
        KeyValue::new("gen_ai.request.model", model.clone()),
        KeyValue::new("stackperf.request.id", r.request_id.clone()),
        KeyValue::new("stackperf.streamed", r.streamed),
    ];
    let mut text = |k: &'static str, v: &Option<String>| {
        if let Some(v) = v {
            a.push(KeyValue::new(k, v.clone()));
        }
    };
    text("gen_ai.provider.name", &r.provider);
    text("gen_ai.response.model", &r.upstream_model);
    text("stackperf.protocol_surface", &r.protocol_surface);
    let ints = [
        ("gen_ai.usage.input_tokens", r.input_tokens),
        ("gen_ai.usage.output_tokens", r.output_tokens),
        (
            "gen_ai.usage.cache_read.input_tokens",
            r.cached_input_tokens,
        ),
        (
            "gen_ai.usage.cache_creation.input_tokens",
            r.cache_write_tokens,
        ),
        ("gen_ai.usage.reasoning.output_tokens", r.reasoning_tokens),
        ("http.response.status_code", r.http_status),
    ];
    for (k, v) in ints {
        if let Some(v) = v {
            a.push(KeyValue::new(k, v));
        }
    }
    if let Some(ms) = r.ttft_ms {
        a.push(KeyValue::new(
            "gen_ai.response.time_to_first_chunk",
            ms / 1000.0,
        ));
    }
    a.extend(session_attributes(s));
    let status = if r.success {
        Status::Unset
    } else {
        let class = r.error_class.clone().unwrap_or_else(|| "_OTHER".into());
        a.push(KeyValue::new("error.type", class.clone()));
        Status::error(class)
    };
    span(
        context(
            trace_id(&s.session_id),
            span_id("stackperf.request", &r.request_id),
        ),
        session_span_id(&s.session_id),
        SpanKind::Client,
        format!("{op} {model}").trim_end().to_string(),
        (r.started_at, r.finished_at),
        a,
        status,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> SpanSession {
        SpanSession {
            session_id: "sess_1".into(),
            experiment: "e".into(),
            variant: "v".into(),
            harness: "codex".into(),
            task_card: "t".into(),
            status: "completed".into(),
            outcome: Some("success".into()),
            run_id: Some("run_1".into()),
            trial: Some(2),
            created_at: Timestamp::from_ms(1_000.0),
            started_at: Some(Timestamp::from_ms(2_000.0)),
            ended_at: Some(Timestamp::from_ms(9_000.0)),
        }
    }

    fn attr<'a>(s: &'a SpanData, k: &str) -> Option<&'a opentelemetry::Value> {
        s.attributes
            .iter()
            .find(|kv| kv.key.as_str() == k)
            .map(|kv| &kv.value)
    }

    #[test]
    fn a_request_is_a_child_span_of_its_session_in_the_genai_conventions() {
        let s = session();
        let r = SpanRequest {
            request_id: "req_1".into(),
            session_id: Some("sess_1".into()),
            provider: Some("sim".into()),
            model: Some("sim-fast".into()),
            upstream_model: Some("sim-fast-1".into()),
            protocol_surface: Some("google_generate_content".into()),
            streamed: true,
            started_at: Timestamp::from_ms(3_000.0),
            finished_at: Timestamp::from_ms(3_500.0),
            ttft_ms: Some(120.0),
            input_tokens: Some(10),
            output_tokens: Some(40),
            cached_input_tokens: None,
            cache_write_tokens: Some(3),
            reasoning_tokens: None,
            success: false,
            http_status: Some(429),
            error_class: Some("rate_limited".into()),
        };
        let parent = session_span(&s);
        let child = request_span(&r, &s);
        assert_eq!(
            child.span_context.trace_id(),
            parent.span_context.trace_id()
        );
        assert_eq!(child.parent_span_id, parent.span_context.span_id());
        assert_eq!(parent.parent_span_id, SpanId::INVALID);
        assert_eq!(child.name, "generate_content sim-fast");
        assert_eq!(parent.name, "invoke_agent codex");
        assert_eq!(child.span_kind, SpanKind::Client);
        assert_eq!(
            attr(&child, "gen_ai.response.time_to_first_chunk"),
            Some(&opentelemetry::Value::F64(0.12))
        );
        assert_eq!(
            attr(&child, "gen_ai.usage.cache_creation.input_tokens"),
            Some(&opentelemetry::Value::I64(3))
        );
        assert_eq!(attr(&child, "gen_ai.usage.cache_read.input_tokens"), None);
        assert_eq!(
            attr(&child, "error.type").map(|v| v.as_str()),
            Some("rate_limited".into())
        );
        assert_eq!(
            attr(&child, "stackperf.trial"),
            Some(&opentelemetry::Value::I64(2))
        );
        assert_eq!(
            attr(&parent, "gen_ai.agent.name").map(|v| v.as_str()),
            Some("codex".into())
        );
        assert_eq!(
            child.end_time.duration_since(child.start_time).ok(),
            Some(Duration::from_millis(500))
        );
        // The same request always makes the same span (a backfill repeats, never duplicates).
        assert_eq!(request_span(&r, &s).span_context, child.span_context);
        assert_ne!(trace_id("sess_1"), trace_id("sess_2"));
    }
}
