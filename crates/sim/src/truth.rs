//! Ground truth: what the simulator decided and actually did for each request, so tests and
//! benchmarks can compare what StackPerf measured with what happened.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::profile::{Fault, Plan};
use crate::SimError;

/// How many records the in-memory log keeps (the JSONL file keeps everything).
const KEEP: usize = 100_000;

/// One request as it happened.
#[derive(Debug, Clone, Serialize)]
pub struct TruthRecord {
    pub id: String,
    pub seq: u64,
    pub surface: &'static str,
    pub model: String,
    pub profile: String,
    pub stream: bool,
    /// Wall-clock arrival (Unix epoch, milliseconds).
    pub arrived_unix_ms: f64,
    pub scheduled_ttft_ms: f64,
    pub tokens_per_second: f64,
    /// When the first content token was handed to the connection (offset from arrival).
    pub first_token_ms: Option<f64>,
    /// When the last byte was handed to the connection (offset from arrival).
    pub finished_ms: Option<f64>,
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub cache_write_tokens: u64,
    pub output_tokens: u64,
    pub output_tokens_sent: u64,
    pub fault: Option<Fault>,
    pub status: u16,
    /// `ok`, a fault name, `client_disconnected` or `bad_request`.
    pub outcome: String,
}

/// A record under construction; it is written to the log when dropped, so a request whose
/// client went away mid-stream is still recorded.
pub struct Recorder {
    log: TruthLog,
    start: Instant,
    pub record: TruthRecord,
}

impl Recorder {
    pub fn elapsed_ms(&self) -> f64 {
        self.start.elapsed().as_secs_f64() * 1000.0
    }
    pub fn start(&self) -> Instant {
        self.start
    }
    pub fn mark_first_token(&mut self) {
        if self.record.first_token_ms.is_none() {
            self.record.first_token_ms = Some(self.elapsed_ms());
        }
    }
    pub fn mark_finished(&mut self, outcome: &str) {
        self.record.finished_ms = Some(self.elapsed_ms());
        self.record.outcome = outcome.to_string();
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if self.record.finished_ms.is_none() {
            self.record.outcome = "client_disconnected".into();
        }
        self.log.push(self.record.clone());
    }
}

#[derive(Default)]
struct Inner {
    records: std::collections::VecDeque<TruthRecord>,
    file: Option<BufWriter<File>>,
}

/// The shared log of every request.
#[derive(Clone, Default)]
pub struct TruthLog(Arc<Mutex<Inner>>);

impl TruthLog {
    /// A log that also appends one JSON line per request to `path`.
    pub fn with_file(path: &Path) -> Result<Self, SimError> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| {
                SimError::Io(format!(
                    "cannot open ground-truth log {}: {e}",
                    path.display()
                ))
            })?;
        let log = TruthLog::default();
        if let Ok(mut g) = log.0.lock() {
            g.file = Some(BufWriter::new(file));
        }
        Ok(log)
    }

    /// Start recording a request that arrived `start`.
    pub fn begin(
        &self,
        plan: &Plan,
        surface: &'static str,
        stream: bool,
        start: Instant,
    ) -> Recorder {
        let arrived = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
            - start.elapsed().as_secs_f64() * 1000.0;
        Recorder {
            log: self.clone(),
            start,
            record: TruthRecord {
                id: plan.id.clone(),
                seq: plan.seq,
                surface,
                model: plan.model.clone(),
                profile: plan.profile.clone(),
                stream,
                arrived_unix_ms: arrived,
                scheduled_ttft_ms: plan.ttft_ms,
                tokens_per_second: plan.tokens_per_second,
                first_token_ms: None,
                finished_ms: None,
                input_tokens: plan.input_tokens,
                cached_input_tokens: plan.cached_input_tokens,
                cache_write_tokens: plan.cache_write_tokens,
                output_tokens: plan.output_tokens,
                output_tokens_sent: 0,
                fault: plan.fault.clone(),
                status: 200,
                outcome: "in_progress".into(),
            },
        }
    }

    fn push(&self, rec: TruthRecord) {
        let Ok(mut g) = self.0.lock() else { return };
        if let Some(f) = g.file.as_mut() {
            // The log is best effort: a full disk must not take the simulated provider down.
            if let Ok(line) = serde_json::to_string(&rec) {
                let _ = writeln!(f, "{line}").and_then(|_| f.flush());
            }
        }
        if g.records.len() >= KEEP {
            g.records.pop_front();
        }
        g.records.push_back(rec);
    }

    /// Records with `seq >= since`, in completion order.
    pub fn snapshot(&self, since: u64) -> Vec<TruthRecord> {
        self.0
            .lock()
            .map(|g| {
                g.records
                    .iter()
                    .filter(|r| r.seq >= since)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn clear(&self) {
        if let Ok(mut g) = self.0.lock() {
            g.records.clear();
        }
    }
}
