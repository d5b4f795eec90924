//! Ground truth: what the simulator decided and actually did for each request, so tests and
//! benchmarks can compare what StackPerf measured with what happened.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use stackperf_contract::Surface;

use crate::profile::{Fault, Plan};
use crate::SimError;

/// How many records the in-memory log keeps (the JSONL file keeps everything).
const KEEP: usize = 100_000;

/// One request as it happened.
#[derive(Debug, Clone, Serialize)]
pub struct TruthRecord {
    pub id: String,
    pub seq: u64,
    pub surface: Surface,
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
    /// Answer tokens (reasoning not included).
    pub output_tokens: u64,
    /// Reasoning ("thinking") tokens sent before the answer.
    pub reasoning_tokens: u64,
    pub output_tokens_sent: u64,
    pub fault: Option<Fault>,
    pub status: u16,
    /// `ok`, a fault name, `client_disconnected` or `bad_request`.
    pub outcome: String,
    /// The scripted agent's final tool call: `right` (writes the marker) or `wrong`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_result: Option<&'static str>,
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
    /// The highest `seq` an earlier run wrote to the same file (a restarted simulator continues
    /// after it, so request ids stay unique in the log).
    resumed_after: u64,
}

/// How much of the end of an existing log is read for its highest `seq` (records are written
/// as requests finish, so the highest is among the last ones).
const TAIL_BYTES: u64 = 1 << 20;

/// The highest `seq` among the whole lines in the last [`TAIL_BYTES`] of `file`.
fn highest_seq(file: &mut File) -> u64 {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(len) = file.seek(SeekFrom::End(0)) else {
        return 0;
    };
    let from = len.saturating_sub(TAIL_BYTES);
    let mut tail = Vec::new();
    if file.seek(SeekFrom::Start(from)).is_err() || file.read_to_end(&mut tail).is_err() {
        return 0;
    }
    #[derive(serde::Deserialize)]
    struct Seq {
        seq: u64,
    }
    tail.split(|b| *b == b'\n')
        .skip(usize::from(from > 0))
        .filter_map(|line| serde_json::from_slice::<Seq>(line).ok())
        .map(|r| r.seq)
        .max()
        .unwrap_or(0)
}

/// The shared log of every request.
#[derive(Clone, Default)]
pub struct TruthLog(Arc<Mutex<Inner>>);

impl TruthLog {
    /// A log that also appends one JSON line per request to `path`.
    pub fn with_file(path: &Path) -> Result<Self, SimError> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)
            .map_err(|e| {
                SimError::Io(format!(
                    "cannot open ground-truth log {}: {e}",
                    path.display()
                ))
            })?;
        let resumed_after = highest_seq(&mut file);
        let log = TruthLog::default();
        if let Ok(mut g) = log.0.lock() {
            g.file = Some(BufWriter::new(file));
            g.resumed_after = resumed_after;
        }
        Ok(log)
    }

    /// The first `seq` this run hands out: 1, or one past the highest in the file it appends to.
    pub fn first_seq(&self) -> u64 {
        self.0.lock().map(|g| g.resumed_after).unwrap_or(0) + 1
    }

    /// Start recording a request that arrived `start`.
    pub fn begin(&self, plan: &Plan, surface: Surface, stream: bool, start: Instant) -> Recorder {
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
                reasoning_tokens: plan.reasoning_tokens,
                output_tokens_sent: 0,
                fault: plan.fault.clone(),
                status: 200,
                outcome: "in_progress".into(),
                agent_result: None,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::builtin_profiles;

    fn serve_some(log: &TruthLog, n: u64) -> Vec<String> {
        let profile = &builtin_profiles()[0];
        (0..n)
            .map(|i| {
                let plan = profile.plan(0, log.first_seq() + i, "m", 10, None);
                let mut rec = log.begin(&plan, Surface::OpenaiChat, true, Instant::now());
                rec.mark_finished("ok");
                plan.id
            })
            .collect()
    }

    #[test]
    fn a_restarted_simulator_continues_the_ids_of_its_log() {
        let dir = std::env::temp_dir().join(format!("stackperf-truth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("truth.jsonl");
        let _ = std::fs::remove_file(&path);

        let first = TruthLog::with_file(&path).unwrap();
        assert_eq!(first.first_seq(), 1);
        let mut ids = serve_some(&first, 5);
        drop(first);
        // A torn last line (the simulator was killed mid-write) must not stop the restart.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        writeln!(f, "{{\"id\":\"simreq_0_0000").unwrap();
        drop(f);

        let second = TruthLog::with_file(&path).unwrap();
        assert_eq!(second.first_seq(), 6);
        ids.extend(serve_some(&second, 5));
        drop(second);

        let logged: Vec<String> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .map(|v| v["id"].as_str().unwrap().to_string())
            .collect();
        let unique: std::collections::BTreeSet<_> = logged.iter().collect();
        assert_eq!(logged.len(), 10, "{logged:?}");
        assert_eq!(unique.len(), 10, "ids repeat across restarts: {logged:?}");
        assert_eq!(logged, ids);
    }

    #[test]
    fn only_whole_lines_of_a_long_log_count() {
        let dir = std::env::temp_dir().join(format!("stackperf-truth-tail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("truth.jsonl");
        let mut text = String::new();
        let mut seq = 0;
        while text.len() < (TAIL_BYTES as usize) * 2 {
            seq += 1;
            text.push_str(&format!(
                "{{\"seq\":{seq},\"pad\":\"{}\"}}\n",
                "x".repeat(200)
            ));
        }
        std::fs::write(&path, text).unwrap();
        assert_eq!(TruthLog::with_file(&path).unwrap().first_seq(), seq + 1);
    }
}
