//! The edge's own record of every request it accepted: one JSON line in its spool, written off
//! the request path by one writer task.
//!
//! Durability: each batch of records is appended with one `write(2)` as soon as it is queued, so a
//! crash of LiteLLM, of the app or of the edge after the write loses nothing; the file is
//! `fdatasync`ed (on the writer's thread, never on a request's path) whenever the queue runs
//! empty, at least once a second under constant load, and on shutdown. A killed edge loses the records of requests still in flight, whose
//! clients lose their connection in the same instant.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::routes::Surface;

/// How a request ended, as the client experienced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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
        match self {
            Outcome::Ok => "ok",
            Outcome::HttpError => "http_error",
            Outcome::StreamError => "stream_error",
            Outcome::ProxyUnavailable => "proxy_unavailable",
            Outcome::ProxyDisconnected => "proxy_disconnected",
            Outcome::ClientDisconnected => "client_disconnected",
        }
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

/// Where finished records go.
#[derive(Debug, Clone)]
pub struct Sink(mpsc::UnboundedSender<EdgeRecord>);

impl Sink {
    pub fn send(&self, rec: EdgeRecord) {
        // Only fails once the writer has stopped (shutdown); nothing can be done then.
        let _ = self.0.send(rec);
    }
}

/// Open (create, 0600) the spool for appending.
pub fn open(path: &Path) -> std::io::Result<std::fs::File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut o = std::fs::OpenOptions::new();
    o.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)
}

/// Start the writer; it ends (after a final sync) when every [`Sink`] is dropped.
pub fn writer(path: PathBuf) -> std::io::Result<(Sink, tokio::task::JoinHandle<()>)> {
    let file = open(&path)?;
    let (tx, mut rx) = mpsc::unbounded_channel::<EdgeRecord>();
    let handle = tokio::task::spawn_blocking(move || {
        let mut file = file;
        let mut buf = Vec::with_capacity(64 * 1024);
        let mut last_sync = Instant::now();
        let mut dirty = false;
        loop {
            let first = match rx.try_recv() {
                Ok(r) => Some(r),
                Err(mpsc::error::TryRecvError::Empty) => {
                    if dirty {
                        let _ = file.sync_data();
                        last_sync = Instant::now();
                    }
                    rx.blocking_recv()
                }
                Err(mpsc::error::TryRecvError::Disconnected) => None,
            };
            let Some(first) = first else { break };
            buf.clear();
            for rec in std::iter::once(first).chain(std::iter::from_fn(|| rx.try_recv().ok())) {
                if serde_json::to_writer(&mut buf, &rec).is_ok() {
                    buf.push(b'\n');
                }
                if buf.len() > 1 << 20 {
                    break;
                }
            }
            if let Err(e) = file.write_all(&buf) {
                tracing::error!("edge spool {}: {e}", path.display());
            }
            dirty = true;
            if last_sync.elapsed() > Duration::from_secs(1) {
                let _ = file.sync_data();
                dirty = false;
                last_sync = Instant::now();
            }
        }
        let _ = file.sync_data();
    });
    Ok((Sink(tx), handle))
}
