//! StackPerf's own Prometheus metrics, served by the edge at [`METRICS_PATH`] and scraped by the
//! stack's Prometheus: every record the edge writes (each becomes one request row) is counted as
//! it is written, with the session's experiment, variant, harness, provider and model, so Grafana
//! and StackPerf's database count the same requests. Sessions whose key is revoked or expired age
//! out of the output ten minutes after their last request (bounded cardinality).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::auth::Keys;
use crate::record::EdgeRecord;

pub use stackperf_contract::wire::METRICS_PATH;
/// How long a finalized session's series stay after its last request.
const AGE_OUT: Duration = Duration::from_secs(600);
/// Histogram buckets: milliseconds, and output tokens per second.
const MS_BUCKETS: [f64; 13] = [
    25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0, 60000.0, 120000.0,
    300000.0,
];
const TPS_BUCKETS: [f64; 10] = [
    1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 5000.0,
];

#[derive(Debug, Clone, Default)]
struct Hist {
    counts: Vec<u64>,
    sum: f64,
    n: u64,
}

impl Hist {
    fn observe(&mut self, buckets: &[f64], x: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; buckets.len()];
        }
        for (c, b) in self.counts.iter_mut().zip(buckets) {
            if x <= *b {
                *c += 1;
            }
        }
        self.sum += x;
        self.n += 1;
    }
}

#[derive(Debug, Clone)]
struct Series {
    outcomes: BTreeMap<&'static str, u64>,
    ttft: Hist,
    latency: Hist,
    tps: Hist,
    last: Instant,
}

/// The counts, per (session, model).
#[derive(Debug, Default)]
pub struct Metrics {
    series: Mutex<BTreeMap<(String, String), Series>>,
}

impl Metrics {
    /// Count one written record (session traffic only: the operator's own master-key calls are
    /// not session rows).
    pub fn observe(&self, rec: &EdgeRecord) {
        let Some(session) = rec.session_id.clone() else {
            return;
        };
        let model = rec.model.clone().unwrap_or_default();
        let Ok(mut all) = self.series.lock() else {
            return;
        };
        let s = all.entry((session, model)).or_insert_with(|| Series {
            outcomes: BTreeMap::new(),
            ttft: Hist::default(),
            latency: Hist::default(),
            tps: Hist::default(),
            last: Instant::now(),
        });
        s.last = Instant::now();
        *s.outcomes.entry(rec.outcome.as_str()).or_default() += 1;
        s.latency
            .observe(&MS_BUCKETS, (rec.finished - rec.arrived).max(0.0) * 1000.0);
        if let Some(first) = rec.first_content {
            s.ttft
                .observe(&MS_BUCKETS, (first - rec.arrived).max(0.0) * 1000.0);
        }
        if let (Some(n), Some(a), Some(b)) =
            (rec.output_tokens, rec.first_content, rec.last_content)
        {
            if n > 1 && b > a {
                s.tps.observe(&TPS_BUCKETS, (n - 1) as f64 / (b - a));
            }
        }
    }

    /// The Prometheus text exposition, labels from the key registry; drops aged-out sessions.
    pub fn render(&self, keys: &Keys, now_s: f64) -> String {
        let Ok(mut all) = self.series.lock() else {
            return String::new();
        };
        all.retain(|(session, _), s| {
            let done = keys
                .session(session)
                .is_none_or(|e| e.revoked || e.expires_at < now_s);
            !(done && s.last.elapsed() > AGE_OUT)
        });
        let mut out = String::new();
        let head = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        let labels: Vec<(String, &Series)> = all
            .iter()
            .map(|((session, model), s)| {
                let e = keys.session(session);
                let get = |f: fn(&crate::auth::Entry) -> &str| {
                    e.as_ref().map(|e| f(e).to_string()).unwrap_or_default()
                };
                let l = format!(
                    "experiment=\"{}\",variant=\"{}\",harness=\"{}\",provider=\"{}\",model=\"{}\",session=\"{}\"",
                    esc(&get(|e| &e.experiment)),
                    esc(&get(|e| &e.variant)),
                    esc(&get(|e| &e.harness)),
                    esc(&get(|e| &e.provider)),
                    esc(model),
                    esc(session)
                );
                (l, s)
            })
            .collect();
        head(
            &mut out,
            "stackperf_requests_total",
            "counter",
            "Model calls through StackPerf's edge (one per request row), by outcome.",
        );
        for (l, s) in &labels {
            for (outcome, n) in &s.outcomes {
                let _ = writeln!(
                    out,
                    "stackperf_requests_total{{{l},outcome=\"{outcome}\"}} {n}"
                );
            }
        }
        for (name, help, buckets, pick) in [
            (
                "stackperf_ttft_ms",
                "Time to first token at the client's socket, ms.",
                &MS_BUCKETS[..],
                0,
            ),
            (
                "stackperf_latency_ms",
                "Request latency at the client's socket, ms.",
                &MS_BUCKETS[..],
                1,
            ),
            (
                "stackperf_output_tokens_per_second",
                "Output tokens per second after the first.",
                &TPS_BUCKETS[..],
                2,
            ),
        ] {
            head(&mut out, name, "histogram", help);
            for (l, s) in &labels {
                let h = [&s.ttft, &s.latency, &s.tps][pick];
                if h.n == 0 {
                    continue;
                }
                for (b, c) in buckets.iter().zip(&h.counts) {
                    let _ = writeln!(out, "{name}_bucket{{{l},le=\"{b}\"}} {c}");
                }
                let _ = writeln!(out, "{name}_bucket{{{l},le=\"+Inf\"}} {}", h.n);
                let _ = writeln!(out, "{name}_sum{{{l}}} {}", h.sum);
                let _ = writeln!(out, "{name}_count{{{l}}} {}", h.n);
            }
        }
        out
    }
}

/// A Prometheus label value: backslash, quote and newline escaped.
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(session: Option<&str>, outcome: &str, ttft_s: Option<f64>) -> EdgeRecord {
        serde_json::from_value(serde_json::json!({
            "v": 1, "edge_id": "x", "key_alias": "a", "session_id": session, "method": "POST",
            "route": "/v1/chat/completions", "surface": "openai_chat", "stream": true,
            "model": "sim-fast", "arrived": 10.0, "finished": 10.5,
            "first_content": ttft_s.map(|t| 10.0 + t), "last_content": 10.4,
            "output_tokens": 11, "outcome": outcome, "deltas": 3, "stalls": 0,
            "stall_threshold_ms": 1000.0, "terminal": true, "bytes_out": 10
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn records_are_counted_with_the_session_s_labels_and_histograms_add_up() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let reg = dir.path().join("keys.json");
        std::fs::write(
            &reg,
            serde_json::json!({"keys": {"h": {"alias": "a", "session_id": "s1",
            "experiment": "exp", "variant": "v\"1", "harness": "codex", "provider": "sim",
            "expires_at": 2e9, "models": ["sim-fast"]}}})
            .to_string(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let keys = Keys::new(reg, None);
        let m = Metrics::default();
        m.observe(&rec(Some("s1"), "ok", Some(0.2)));
        m.observe(&rec(Some("s1"), "ok", Some(0.02)));
        m.observe(&rec(Some("s1"), "http_error", None));
        m.observe(&rec(None, "ok", Some(0.1))); // the master key: not a session row
        let text = m.render(&keys, 1e9);
        let l = r#"experiment="exp",variant="v\"1",harness="codex",provider="sim",model="sim-fast",session="s1""#;
        assert!(
            text.contains(&format!("stackperf_requests_total{{{l},outcome=\"ok\"}} 2")),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "stackperf_requests_total{{{l},outcome=\"http_error\"}} 1"
            )),
            "{text}"
        );
        // TTFT 20 ms and 200 ms: one at ≤ 25, both at ≤ 250; the +Inf bucket equals the count.
        assert!(
            text.contains(&format!("stackperf_ttft_ms_bucket{{{l},le=\"25\"}} 1")),
            "{text}"
        );
        assert!(
            text.contains(&format!("stackperf_ttft_ms_bucket{{{l},le=\"250\"}} 2")),
            "{text}"
        );
        assert!(
            text.contains(&format!("stackperf_ttft_ms_count{{{l}}} 2")),
            "{text}"
        );
        assert!(
            text.contains(&format!("stackperf_latency_ms_count{{{l}}} 3")),
            "{text}"
        );
        // 10 tokens after the first over 0.4 − first content.
        assert!(text.contains(&format!(
            "stackperf_output_tokens_per_second_count{{{l}}} 2"
        )));
        assert_eq!(text.matches("outcome=").count(), 2);
    }
}
