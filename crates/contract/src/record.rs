//! The edge's spool: one JSON line per request it accepted (its [`EdgeRecord`]), a start line per
//! model call written to LiteLLM, and a mark when an edge instance starts and stops cleanly. The edge
//! writes these lines; ingest reads them (a later StackPerf may read what an earlier one wrote).
//! Times are Unix epoch seconds taken at the client's socket.

use serde::{Deserialize, Serialize};

use crate::Surface;

/// How a request ended, as the client experienced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum Outcome {
    /// A 2xx response delivered to its end (a stream with its end marker).
    Ok,
    /// LiteLLM answered with an error status (the upstream's or its own).
    HttpError,
    /// A stream that delivered an error event, or ended without the surface's end marker.
    StreamError,
    /// LiteLLM could not be reached (nothing listening, connection refused).
    ProxyUnavailable,
    /// LiteLLM's connection broke before or during the response.
    ProxyDisconnected,
    /// The client went away before the response was complete.
    ClientDisconnected,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One line of the edge spool. Times are Unix epoch seconds taken at the client's socket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EdgeRecord {
    pub v: u32,
    /// The correlation id the edge sent to LiteLLM as `x-stackperf-request-id`.
    pub edge_id: String,
    pub key_alias: String,
    pub session_id: Option<String>,
    pub method: String,
    /// Path only: the query may hold a key (`?key=`).
    pub route: String,
    pub surface: Surface,
    pub model: Option<String>,
    pub stream: bool,
    /// The request's headers were read (the service was called).
    pub arrived: f64,
    /// Response headers handed to the client.
    pub response_started: Option<f64>,
    pub first_content: Option<f64>,
    pub first_visible: Option<f64>,
    pub last_content: Option<f64>,
    /// The last byte handed to the client, or when the request failed or the client left.
    pub finished: f64,
    pub http_status: Option<u16>,
    pub outcome: Outcome,
    pub error: Option<String>,
    pub deltas: u64,
    pub itl_ms: Option<f64>,
    pub max_gap_ms: Option<f64>,
    pub stalls: u64,
    pub stall_threshold_ms: f64,
    /// Usage as the response itself reported it to the client.
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    /// The stream delivered its end marker.
    pub terminal: bool,
    pub bytes_out: u64,
    /// LiteLLM's `x-litellm-call-id` response header, when it answered.
    pub litellm_call_id: Option<String>,
    /// The names of the tool calls the (streamed) response made, in order; never arguments.
    #[serde(default)]
    pub tool_calls: Vec<String>,
}

/// The version of [`EdgeRecord`] lines.
pub const RECORD_VERSION: u32 = 1;

/// A model call the edge accepted and wrote to LiteLLM; its [`EdgeRecord`] follows when it ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EdgeStart {
    pub edge_id: String,
    pub key_alias: String,
    pub session_id: Option<String>,
    pub method: String,
    pub route: String,
    pub surface: Surface,
    pub model: Option<String>,
    pub stream: bool,
    pub arrived: f64,
}

impl EdgeStart {
    /// The start of the request `rec` is the record of (taken before it ends).
    pub fn of(rec: &EdgeRecord) -> EdgeStart {
        EdgeStart {
            edge_id: rec.edge_id.clone(),
            key_alias: rec.key_alias.clone(),
            session_id: rec.session_id.clone(),
            method: rec.method.clone(),
            route: rec.route.clone(),
            surface: rec.surface,
            model: rec.model.clone(),
            stream: rec.stream,
            arrived: rec.arrived,
        }
    }
}

/// An edge instance began serving (`up`) or stopped cleanly after its last record (`down`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceMark {
    /// The instance id: the middle part of its correlation ids (`edge-<instance>-<n>`).
    pub instance: String,
    /// Unix epoch seconds.
    pub at: f64,
    #[serde(default)]
    pub pid: Option<u32>,
}

/// The spool lines that are not a request's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    Start(EdgeStart),
    Up(InstanceMark),
    Down(InstanceMark),
}

/// One line of the edge spool.
#[derive(Debug, Clone, PartialEq)]
pub enum SpoolLine {
    Record(Box<EdgeRecord>),
    Event(Event),
}

/// Parse one edge spool line: a record (`{"v":…`) or an event (`{"start":…`, `{"up":…`,
/// `{"down":…`).
pub fn parse_line(line: &str) -> Result<SpoolLine, serde_json::Error> {
    if line.trim_start().starts_with("{\"v\"") {
        serde_json::from_str(line).map(|r| SpoolLine::Record(Box::new(r)))
    } else {
        serde_json::from_str(line).map(SpoolLine::Event)
    }
}

/// The instance that made a correlation id (`edge-<instance>-<n>`).
pub fn instance_of(edge_id: &str) -> Option<&str> {
    let rest = edge_id.strip_prefix("edge-")?;
    let (instance, n) = rest.rsplit_once('-')?;
    (!instance.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then_some(instance)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spool_lines_parse_by_their_first_key() {
        let start = r#"{"start":{"edge_id":"edge-a1-3","key_alias":"k","session_id":null,"method":"POST","route":"/v1/chat/completions","surface":"openai_chat","model":"m","stream":true,"arrived":1.5}}"#;
        let SpoolLine::Event(Event::Start(s)) = parse_line(start).unwrap() else {
            panic!("a start line")
        };
        assert_eq!(
            (s.edge_id.as_str(), s.surface),
            ("edge-a1-3", Surface::OpenaiChat)
        );
        let up = r#"{"up":{"instance":"a1","at":2.0}}"#;
        assert!(
            matches!(parse_line(up).unwrap(), SpoolLine::Event(Event::Up(m)) if m.instance == "a1" && m.pid.is_none())
        );
        assert!(
            parse_line(r#"{"v":1}"#).is_err(),
            "a record misses its fields"
        );
        assert!(parse_line("not json").is_err());
    }

    #[test]
    fn the_instance_is_the_middle_of_a_correlation_id() {
        assert_eq!(instance_of("edge-a1b2-17"), Some("a1b2"));
        assert_eq!(instance_of("edge-x-y-3"), Some("x-y"));
        assert_eq!(instance_of("edge--3"), None);
        assert_eq!(instance_of("edge-a1-3x"), None);
        assert_eq!(instance_of("litellm-3"), None);
    }

    #[test]
    fn outcome_names_are_their_serde_names() {
        for o in [
            Outcome::Ok,
            Outcome::HttpError,
            Outcome::StreamError,
            Outcome::ProxyUnavailable,
            Outcome::ProxyDisconnected,
            Outcome::ClientDisconnected,
        ] {
            assert_eq!(
                serde_json::to_string(&o).unwrap(),
                format!("\"{}\"", o.as_str())
            );
        }
    }
}
