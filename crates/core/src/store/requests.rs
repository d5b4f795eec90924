//! The `requests` table: its one column list (from which ingest's INSERT and upserts, and the
//! requests export, are derived) and its queries.

use crate::timestamp::Timestamp;
use serde::Serialize;
use sqlx::Row;

use super::write::conn::ToArg;
use super::{on_pool, Store};
use crate::config::Surface;
use crate::store::model::{Measure, RequestRow, RequestStatus, TimedAt};
use crate::Error;

/// A column's type in every format (database, CSV, JSON, Parquet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Int,
    Float,
    /// Unix epoch milliseconds in the database.
    Time,
}

/// Which line of a request knows a column (the edge's record or LiteLLM's), which decides how
/// the two lines merge into one row (`crate::ingest_write`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The row key (the edge's correlation id).
    Key,
    /// Only the edge knows it (what the client experienced): the edge's value wins.
    Edge,
    /// Either side may know it: the first value seen is kept.
    Either,
    /// Only LiteLLM's line has it.
    Litellm,
    /// Computed when the two lines meet (tokens, provider timings, error detail).
    Merged,
    /// Ingest's own bookkeeping.
    Bookkeeping,
}

type Get = for<'a> fn(&'a RequestRow) -> &'a dyn ToArg;

/// One column of `requests`.
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    pub side: Side,
    /// In the requests export.
    pub export: bool,
    /// Where its value comes from.
    pub(crate) get: Source,
}

/// Where a column's value comes from when a row is written.
#[derive(Clone, Copy)]
pub(crate) enum Source {
    /// The normalized row.
    Row(Get),
    /// The time of the write (`ingested_at`).
    WrittenAt,
    /// The machine that captured it (`machine_key`, see `store::machines`).
    Machine,
}

const fn col(name: &'static str, kind: Kind, side: Side, get: Get) -> Column {
    Column {
        name,
        kind,
        side,
        export: true,
        get: Source::Row(get),
    }
}

/// The names bound for `timed_at` (a `&dyn ToArg` needs a place that outlives the row).
const TIMED: [&str; 2] = [TimedAt::Edge.as_str(), TimedAt::Litellm.as_str()];

/// No value (NULL) for a float column.
static NO_FLOAT: Option<f64> = None;

/// A request whose record the edge lost has no known end: its latency is NULL.
fn latency(r: &RequestRow) -> &dyn ToArg {
    if r.outcome.as_deref() == Some(super::model::EDGE_LOST) {
        &NO_FLOAT
    } else {
        &r.latency_ms
    }
}

fn timed(r: &RequestRow) -> &dyn ToArg {
    &TIMED[match r.timed_at {
        TimedAt::Edge => 0,
        TimedAt::Litellm => 1,
    }]
}

use Kind::{Float, Int, Text, Time};
use Side::{Bookkeeping, Edge, Either, Key, Litellm, Merged};

/// Every column of `requests`, in table order. A migration that adds a column adds it here
/// (a test compares this list with the database's).
pub const REQUEST_COLUMNS: &[Column] = &[
    col("request_id", Text, Key, |r| &r.request_id),
    col("litellm_call_id", Text, Either, |r| &r.litellm_call_id),
    col("session_id", Text, Either, |r| &r.session_id),
    Column {
        export: false,
        ..col("variant_id", Int, Either, |r| &r.variant_id)
    },
    col("experiment", Text, Either, |r| &r.experiment),
    col("provider", Text, Either, |r| &r.provider),
    col("provider_route", Text, Either, |r| &r.provider_route),
    col("model", Text, Either, |r| &r.model),
    col("upstream_model", Text, Either, |r| &r.upstream_model),
    col("harness_profile", Text, Either, |r| &r.harness_profile),
    col("protocol_surface", Text, Edge, |r| &r.protocol_surface),
    Column {
        export: false,
        ..col("call_type", Text, Either, |r| &r.call_type)
    },
    col("streamed", Int, Edge, |r| &r.streamed),
    col("request_started_at", Time, Edge, |r| &r.request_started_at),
    col("request_finished_at", Time, Edge, |r| {
        &r.request_finished_at
    }),
    col("first_token_at", Time, Edge, |r| &r.first_token_at),
    col("latency_ms", Float, Edge, latency),
    col("ttft_ms", Float, Edge, |r| &r.ttft_ms),
    col("ttft_missing_reason", Text, Edge, |r| {
        &r.ttft_missing_reason
    }),
    col("ttft_visible_ms", Float, Edge, |r| &r.ttft_visible_ms),
    col("first_visible_at", Time, Edge, |r| &r.first_visible_at),
    col("itl_ms", Float, Edge, |r| &r.itl_ms),
    col("max_gap_ms", Float, Edge, |r| &r.max_gap_ms),
    col("stall_count", Int, Edge, |r| &r.stall_count),
    col("content_deltas", Int, Edge, |r| &r.content_deltas),
    col("timed_at", Text, Edge, timed),
    col("has_litellm_record", Int, Bookkeeping, |r| {
        &r.has_litellm_record
    }),
    col("outcome", Text, Edge, |r| &r.outcome),
    col("upstream_started_at", Time, Litellm, |r| {
        &r.upstream_started_at
    }),
    col("provider_ttft_ms", Float, Merged, |r| &r.provider_ttft_ms),
    col("provider_latency_ms", Float, Merged, |r| {
        &r.provider_latency_ms
    }),
    col("output_tokens_per_s", Float, Merged, |r| {
        &r.output_tokens_per_s
    }),
    col("input_tokens", Int, Merged, |r| &r.input_tokens),
    col("output_tokens", Int, Merged, |r| &r.output_tokens),
    col("output_tokens_missing_reason", Text, Merged, |r| {
        &r.output_tokens_missing_reason
    }),
    col("cached_input_tokens", Int, Litellm, |r| {
        &r.cached_input_tokens
    }),
    col("cache_write_tokens", Int, Litellm, |r| {
        &r.cache_write_tokens
    }),
    col("reasoning_tokens", Int, Litellm, |r| &r.reasoning_tokens),
    col("status", Text, Edge, |r| &r.status),
    col("http_status", Int, Edge, |r| &r.http_status),
    col("error_code", Text, Merged, |r| &r.error_code),
    col("error_class", Text, Merged, |r| &r.error_class),
    col("provider_request_id", Text, Litellm, |r| {
        &r.provider_request_id
    }),
    col("proxy_overhead_ms", Float, Merged, |r| &r.proxy_overhead_ms),
    col("cost_usd", Float, Litellm, |r| &r.cost_usd),
    col("key_alias", Text, Either, |r| &r.key_alias),
    col("traffic", Text, Either, |r| &r.traffic),
    col("tool_calls", Text, Edge, |r| &r.tool_calls),
    col("tool_call_count", Int, Edge, |r| &r.tool_call_count),
    Column {
        name: "ingested_at",
        kind: Time,
        side: Bookkeeping,
        export: false,
        get: Source::WrittenAt,
    },
    // The first machine to write either side of it (they are one machine but for a spool
    // carried elsewhere).
    Column {
        name: "machine_key",
        kind: Int,
        side: Either,
        export: false,
        get: Source::Machine,
    },
];

/// The names of the columns on one side.
pub fn columns_of(side: Side) -> impl Iterator<Item = &'static str> {
    REQUEST_COLUMNS
        .iter()
        .filter(move |c| c.side == side)
        .map(|c| c.name)
}

/// One request, as the live panel and the drill-down list it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct RequestBrief {
    pub request_id: String,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub model: Option<String>,
    pub call_type: Option<String>,
    pub protocol_surface: Option<Surface>,
    pub streamed: bool,
    /// What the request was, in the words the UI shows: "chat completions (stream)", never
    /// LiteLLM's internal call types.
    pub kind: String,
    pub status: RequestStatus,
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub http_status: Option<i64>,
    pub error_class: Option<String>,
    pub ttft_ms: Option<f64>,
    /// Time to the first answer text (reasoning excluded).
    pub ttft_visible_ms: Option<f64>,
    /// Inter-token latency (mean time per delta after the first).
    pub itl_ms: Option<f64>,
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub stall_count: Option<i64>,
    /// None where the edge did not time the request (`edge_lost`, `not_timed_at_edge`).
    pub latency_ms: Option<f64>,
    pub output_tokens_per_s: Option<f64>,
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub input_tokens: Option<i64>,
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub output_tokens: Option<i64>,
    /// The tools the response called, by name (comma-separated, in order; never arguments).
    pub tool_calls: Option<String>,
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub tool_call_count: Option<i64>,
}

/// A request's kind in words: its protocol surface as people call it, and whether it streamed.
pub fn request_kind(surface: Option<Surface>, streamed: bool) -> String {
    let name = match surface {
        Some(Surface::OpenaiChat) => "chat completions",
        Some(Surface::OpenaiResponses) => "responses",
        Some(Surface::AnthropicMessages) => "messages",
        Some(Surface::GoogleGenerateContent) => "generateContent",
        None => "request",
    };
    if streamed {
        format!("{name} (stream)")
    } else {
        name.to_string()
    }
}

impl Store {
    /// A session's requests written or changed after `since` (all with `None`), in arrival
    /// order, and the newest write time among them (the next call's `since`).
    pub async fn requests_since(
        &self,
        session: &str,
        since: Option<Timestamp>,
    ) -> Result<(Vec<RequestBrief>, Option<Timestamp>), Error> {
        on_pool!(self, |p| {
            let rows = sqlx::query(
            "SELECT request_id, request_started_at, request_finished_at, model, call_type, protocol_surface, streamed,
                    status, http_status, error_class, ttft_ms, ttft_visible_ms, itl_ms, stall_count,
                    CASE WHEN outcome IN ('edge_lost', 'not_timed_at_edge') THEN NULL ELSE latency_ms END
                    AS latency_ms, output_tokens_per_s, input_tokens, output_tokens, tool_calls,
                    tool_call_count, ingested_at
             FROM requests WHERE session_id = $1 AND ($2 IS NULL OR ingested_at > $2)
             ORDER BY request_finished_at, request_id",
        )
        .bind(session)
        .bind(since)
        .fetch_all(p)
        .await
        .map_err(self.db())?;
            let cursor = rows
                .iter()
                .filter_map(|r| r.get::<Option<Timestamp>, _>("ingested_at"))
                .fold(since, |m, x| Some(m.map_or(x, |m| m.max(x))));
            let briefs = rows
                .iter()
                .map(|r| {
                    let surface = r
                        .get::<Option<String>, _>("protocol_surface")
                        .as_deref()
                        .and_then(Surface::parse);
                    let streamed = r.get::<i64, _>("streamed") != 0;
                    RequestBrief {
                        kind: request_kind(surface, streamed),
                        request_id: r.get("request_id"),
                        started_at: r.get("request_started_at"),
                        finished_at: r.get("request_finished_at"),
                        model: r.get("model"),
                        call_type: r.get("call_type"),
                        protocol_surface: surface,
                        streamed,
                        status: r.try_get("status").unwrap_or(RequestStatus::Error),
                        http_status: r.get("http_status"),
                        error_class: r.get("error_class"),
                        ttft_ms: r.get("ttft_ms"),
                        ttft_visible_ms: r.get("ttft_visible_ms"),
                        itl_ms: r.get("itl_ms"),
                        stall_count: r.get("stall_count"),
                        latency_ms: r.get("latency_ms"),
                        output_tokens_per_s: r.get("output_tokens_per_s"),
                        input_tokens: r.get("input_tokens"),
                        output_tokens: r.get("output_tokens"),
                        tool_calls: r.get("tool_calls"),
                        tool_call_count: r.get("tool_call_count"),
                    }
                })
                .collect();
            Ok((briefs, cursor))
        })
    }

    /// `(session, value)` of one per-request measure over an experiment's requests where it is
    /// set (the column name comes from the enum: never SQL from input).
    pub async fn request_values(
        &self,
        experiment: &str,
        measure: Measure,
    ) -> Result<Vec<(Option<String>, f64)>, Error> {
        let sql = format!(
            "SELECT session_id, CAST({0} AS DOUBLE PRECISION) FROM requests WHERE experiment = $1 AND {0} IS NOT NULL",
            measure.column()
        );
        on_pool!(self, |p| sqlx::query_as(&sql)
            .bind(experiment)
            .fetch_all(p)
            .await)
        .map_err(self.db())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::VariantArray;

    #[test]
    fn a_request_kind_is_its_surface_in_words_never_litellms_call_type() {
        assert_eq!(
            request_kind(Some(Surface::OpenaiChat), true),
            "chat completions (stream)"
        );
        assert_eq!(
            request_kind(Some(Surface::AnthropicMessages), false),
            "messages"
        );
        assert_eq!(
            request_kind(Some(Surface::GoogleGenerateContent), true),
            "generateContent (stream)"
        );
        assert_eq!(request_kind(None, true), "request (stream)");
    }

    #[test]
    fn a_measure_is_a_requests_column() {
        for &m in Measure::VARIANTS {
            let c = REQUEST_COLUMNS.iter().find(|c| c.name == m.column());
            assert!(
                c.is_some_and(|c| matches!(c.kind, Kind::Float | Kind::Int)),
                "{m:?}: `{}` is not a numeric requests column",
                m.column()
            );
        }
    }

    #[tokio::test]
    async fn the_column_list_is_the_table() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
        let table: Vec<String> =
            sqlx::query_scalar("SELECT name FROM pragma_table_info('requests')")
                .fetch_all(store.sqlite_pool().unwrap())
                .await
                .unwrap();
        let mut listed: Vec<&str> = REQUEST_COLUMNS.iter().map(|c| c.name).collect();
        let mut table: Vec<&str> = table.iter().map(String::as_str).collect();
        listed.sort_unstable();
        table.sort_unstable();
        assert_eq!(
            listed, table,
            "crates/core/migrations and REQUEST_COLUMNS disagree"
        );
    }
}
