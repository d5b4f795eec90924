//! What an OTLP span is made of (`output/otlp`): a session with its run, and its requests, read
//! from either backend.

use super::cols::Cols;
use super::{on_pool, Store};
use crate::store::model::RequestRow;
use crate::timestamp::Timestamp;
use crate::Error;

/// A session as its span carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanSession {
    pub session_id: String,
    pub experiment: String,
    pub variant: String,
    pub harness: String,
    pub task_card: String,
    pub status: String,
    /// An automated run's outcome for it (its key, e.g. `success`, `worker_lost`).
    pub outcome: Option<String>,
    pub run_id: Option<String>,
    /// Its repetition in the run (0-based), for the run item whose session it is.
    pub trial: Option<u32>,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
}

/// A request as its span carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanRequest {
    pub request_id: String,
    pub session_id: Option<String>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub upstream_model: Option<String>,
    pub protocol_surface: Option<String>,
    pub streamed: bool,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub ttft_ms: Option<f64>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub cached_input_tokens: Option<i64>,
    pub cache_write_tokens: Option<i64>,
    pub reasoning_tokens: Option<i64>,
    pub success: bool,
    pub http_status: Option<i64>,
    pub error_class: Option<String>,
}

impl From<&RequestRow> for SpanRequest {
    fn from(r: &RequestRow) -> SpanRequest {
        SpanRequest {
            request_id: r.request_id.clone(),
            session_id: r.session_id.clone(),
            provider: r.provider.clone(),
            model: r.model.clone(),
            upstream_model: r.upstream_model.clone(),
            protocol_surface: r.protocol_surface.clone(),
            streamed: r.streamed,
            started_at: r.request_started_at,
            finished_at: r.request_finished_at,
            ttft_ms: r.ttft_ms,
            input_tokens: r.input_tokens,
            output_tokens: r.output_tokens,
            cached_input_tokens: r.cached_input_tokens,
            cache_write_tokens: r.cache_write_tokens,
            reasoning_tokens: r.reasoning_tokens,
            success: r.status == crate::store::model::RequestStatus::Success,
            http_status: r.http_status,
            error_class: r.error_class.clone(),
        }
    }
}

const SESSION_SQL: &str =
    "SELECT s.session_id, s.experiment, v.name AS variant, s.harness_profile, s.task_card,
        s.status, s.task_outcome, s.run_id, ri.repetition, s.created_at, s.started_at, s.ended_at
    FROM sessions s JOIN variants v ON v.variant_id = s.variant_id
    LEFT JOIN run_items ri ON ri.run_id = s.run_id AND ri.session_id = s.session_id";

const REQUEST_SQL: &str =
    "SELECT request_id, session_id, provider, model, upstream_model, protocol_surface,
        streamed, request_started_at, request_finished_at, ttft_ms, input_tokens, output_tokens,
        cached_input_tokens, cache_write_tokens, reasoning_tokens, status, http_status, error_class
    FROM requests WHERE session_id = $1 ORDER BY request_started_at, request_id";

impl Store {
    /// One session as its span carries it.
    pub async fn span_session(&self, id: &str) -> Result<Option<SpanSession>, Error> {
        let sql = format!("{SESSION_SQL} WHERE s.session_id = $1");
        on_pool!(self, |p| sqlx::query(&sql)
            .bind(id)
            .fetch_optional(p)
            .await
            .map(|r| r.map(|r| span_session(&r))))
        .map_err(self.db())
    }

    /// An experiment's sessions as their spans carry them, oldest first.
    pub async fn span_sessions(&self, experiment: &str) -> Result<Vec<SpanSession>, Error> {
        let sql =
            format!("{SESSION_SQL} WHERE s.experiment = $1 ORDER BY s.created_at, s.session_id");
        on_pool!(self, |p| sqlx::query(&sql)
            .bind(experiment)
            .fetch_all(p)
            .await
            .map(|rows| rows.iter().map(span_session).collect()))
        .map_err(self.db())
    }

    /// A session's requests as their spans carry them, in the order they began.
    pub async fn span_requests(&self, session_id: &str) -> Result<Vec<SpanRequest>, Error> {
        on_pool!(self, |p| sqlx::query(REQUEST_SQL)
            .bind(session_id)
            .fetch_all(p)
            .await
            .map(|rows| rows.iter().map(span_request).collect()))
        .map_err(self.db())
    }
}

fn span_session(r: &impl Cols) -> SpanSession {
    SpanSession {
        session_id: r.text(0),
        experiment: r.text(1),
        variant: r.text(2),
        harness: r.text(3),
        task_card: r.text(4),
        status: r.text(5),
        outcome: r.opt_text(6),
        run_id: r.opt_text(7),
        trial: r.opt_int(8).map(|t| t as u32),
        created_at: Timestamp::from_ms(r.real(9)),
        started_at: r.opt_real(10).map(Timestamp::from_ms),
        ended_at: r.opt_real(11).map(Timestamp::from_ms),
    }
}

fn span_request(r: &impl Cols) -> SpanRequest {
    SpanRequest {
        request_id: r.text(0),
        session_id: r.opt_text(1),
        provider: r.opt_text(2),
        model: r.opt_text(3),
        upstream_model: r.opt_text(4),
        protocol_surface: r.opt_text(5),
        streamed: r.int(6) != 0,
        started_at: Timestamp::from_ms(r.real(7)),
        finished_at: Timestamp::from_ms(r.real(8)),
        ttft_ms: r.opt_real(9),
        input_tokens: r.opt_int(10),
        output_tokens: r.opt_int(11),
        cached_input_tokens: r.opt_int(12),
        cache_write_tokens: r.opt_int(13),
        reasoning_tokens: r.opt_int(14),
        success: r.text(15) == "success",
        http_status: r.opt_int(16),
        error_class: r.opt_text(17),
    }
}
