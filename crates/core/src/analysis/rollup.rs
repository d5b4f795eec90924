//! Session rollups: the per-session numbers every comparison reads, cached in `metric_rollups`
//! and recomputed only for sessions that gained requests since.

use std::collections::BTreeMap;

use crate::metrics::{self, Rollup};
use crate::normalize::RequestStatus;
use crate::report::SessionStats;
use crate::run::{OutcomeClass, TaskOutcome};
use crate::session::{SessionMode, SessionStatus};
use crate::stats::{median, percentile};
use crate::store::Store;
use crate::timestamp::Timestamp;
use crate::Error;

/// The per-session counts cached in `metric_rollups` (scope `session`) beside the registry's
/// per-request metrics; the first three come from `status`, the token sums from their columns.
const BASE: [&str; 7] = [
    "requests",
    "successes",
    "errors",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
];

/// The cached row holding [`metrics::fingerprint`]: rollups made under another registry are
/// recomputed.
const REGISTRY_ROW: &str = "registry";

/// One rollup (and the read of its results) at a time in this process: two concurrent rollups
/// would let the second find nothing stale and read `metric_rollups` before the first wrote it
/// (seen as an empty comparison when the desktop asked for the comparison and the session list
/// at once).
static ROLLUP_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Recompute the rollups of an experiment's sessions that gained requests since their last
/// rollup. Returns how many sessions were recomputed.
pub async fn rollup(store: &Store, experiment: &str) -> Result<usize, Error> {
    let _one_at_a_time = ROLLUP_LOCK.lock().await;
    rollup_locked(store, experiment).await
}

async fn rollup_locked(store: &Store, experiment: &str) -> Result<usize, Error> {
    let columns = metrics::request_columns();
    let mut total = 0;
    let mut first = true;
    // Up to 500 sessions per transaction: each step reads, writes and marks clean under one
    // write lock, so no reader (in this or another process) sees a session clean before its
    // rollup is written.
    loop {
        let mut tx = store.begin_rollup().await?;
        if first {
            // Sessions whose cached rollup was made by another metric registry count as stale.
            tx.mark_stale_unless(experiment, REGISTRY_ROW, metrics::fingerprint())
                .await?;
            first = false;
        }
        let chunk = tx.stale_sessions(experiment, 500).await?;
        if chunk.is_empty() {
            tx.commit().await?;
            return Ok(total);
        }
        let rows = tx.rollup_inputs(&chunk, &columns).await?;
        let values = rollup_values(&chunk, rows, &columns);
        hold_for_tests().await;
        tx.write(&chunk, &values, Timestamp::now()).await?;
        tx.commit().await?;
        total += chunk.len();
    }
}

/// `STACKPERF_ROLLUP_HOLD_MS` (tests only): pause a rollup between reading and writing, saying
/// so on stderr, so a test can race another process against exactly that moment.
async fn hold_for_tests() {
    if let Some(ms) = std::env::var("STACKPERF_ROLLUP_HOLD_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        eprintln!("rollup: holding {ms} ms before writing");
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
}

/// Every cached value of the sessions in `chunk` from their requests.
fn rollup_values(
    chunk: &[String],
    rows: Vec<crate::store::RequestValues>,
    columns: &[metrics::Measure],
) -> Vec<(String, &'static str, Option<f64>)> {
    let mut acc: BTreeMap<String, Acc> = chunk
        .iter()
        .map(|id| (id.clone(), Acc::new(columns.len())))
        .collect();
    for r in rows {
        let a = acc
            .entry(r.session_id)
            .or_insert_with(|| Acc::new(columns.len()));
        if r.status == RequestStatus::Success {
            a.ok += 1;
        } else {
            a.err += 1;
        }
        for (t, x) in a.tokens.iter_mut().zip(r.tokens) {
            *t += x;
        }
        for (col, x) in a.columns.iter_mut().zip(r.values) {
            if let Some(x) = x {
                col.push(x);
            }
        }
        // A response that ended in a tool call, then the session's next request: the time the
        // harness spent running the tool (and deciding what to send).
        if let Some(end) = a.tool_end.take() {
            if r.started_at >= end {
                a.round_trips.push(r.started_at.ms_since(end));
            }
        }
        if r.tool_call_count.unwrap_or(0) > 0 {
            a.tool_end = Some(r.finished_at);
        }
        if a.last_failed {
            a.retries += 1;
        }
        a.last_failed = r.status != RequestStatus::Success;
    }
    acc.iter()
        .flat_map(|(id, a)| {
            a.values(columns)
                .into_iter()
                .map(move |(m, x)| (id.clone(), m, x))
        })
        .collect()
}

/// One session's requests, gathered for its rollup.
struct Acc {
    ok: usize,
    err: usize,
    tokens: [i64; 4],
    /// The values of each of [`metrics::request_columns`], NULLs left out.
    columns: Vec<Vec<f64>>,
    /// Tool round trips (ms) and the end of the last response that called a tool.
    round_trips: Vec<f64>,
    tool_end: Option<Timestamp>,
    /// Requests sent after a failed one, and whether the last request failed.
    retries: usize,
    last_failed: bool,
}

impl Acc {
    fn new(n: usize) -> Acc {
        Acc {
            ok: 0,
            err: 0,
            tokens: [0; 4],
            columns: vec![Vec::new(); n],
            round_trips: Vec::new(),
            tool_end: None,
            retries: 0,
            last_failed: false,
        }
    }

    /// Every cached value: the counts, each per-request metric of the registry, the fingerprint.
    fn values(&self, columns: &[metrics::Measure]) -> Vec<(&'static str, Option<f64>)> {
        let t = |k: usize| Some(self.tokens[k] as f64);
        let base = [
            Some((self.ok + self.err) as f64),
            Some(self.ok as f64),
            Some(self.err as f64),
            t(0),
            t(1),
            t(2),
            t(3),
        ];
        let mut out: Vec<(&'static str, Option<f64>)> = BASE.into_iter().zip(base).collect();
        let col = |c: metrics::Measure| {
            columns
                .iter()
                .position(|x| *x == c)
                .map(|i| self.columns[i].as_slice())
                .unwrap_or(&[])
        };
        for m in metrics::METRICS {
            let v = match m.rollup {
                Rollup::Median(c) => median(col(c)),
                Rollup::P95(c) => percentile(col(c), 95.0),
                // Only requests that know the value count; none of them: unknown, not 0.
                Rollup::Sum(c) => {
                    let xs = col(c);
                    (!xs.is_empty()).then(|| xs.iter().sum())
                }
                Rollup::Max(c) => col(c).iter().copied().reduce(f64::max),
                Rollup::ToolRoundTrip => median(&self.round_trips),
                Rollup::Retries => Some(self.retries as f64),
                Rollup::CountEq(c, v) => {
                    Some(col(c).iter().filter(|x| **x == v as f64).count() as f64)
                }
                Rollup::Total(c) => {
                    let xs = col(c);
                    let n = self.ok + self.err;
                    (n > 0 && xs.len() == n).then(|| xs.iter().sum())
                }
                Rollup::ErrorRate
                | Rollup::CacheHitRatio
                | Rollup::Duration
                | Rollup::Counted
                | Rollup::TaskSuccess
                | Rollup::WallTime => continue,
            };
            out.push((m.name, v));
        }
        out.push((REGISTRY_ROW, Some(metrics::fingerprint())));
        out
    }
}

/// Rollups of every session of an experiment (recomputing stale ones first).
pub async fn session_stats(store: &Store, experiment: &str) -> Result<Vec<SessionStats>, Error> {
    let _one_at_a_time = ROLLUP_LOCK.lock().await;
    rollup_locked(store, experiment).await?;
    let sessions = store.session_heads(experiment).await?;
    let lost = store.lost_telemetry().await?;
    let mut values: BTreeMap<String, BTreeMap<String, Option<f64>>> = BTreeMap::new();
    for (id, metric, value) in store.cached_rollups(experiment).await? {
        values.entry(id).or_default().insert(metric, value);
    }
    let mut out = Vec::new();
    for s in sessions {
        let id = s.session_id;
        let m = values.remove(&id).unwrap_or_default();
        let get = |k: &str| m.get(k).copied().flatten();
        let count = |k: &str| get(k).unwrap_or(0.0) as usize;
        let tokens = |k: &str| get(k).unwrap_or(0.0) as i64;
        let (status, mode) = (s.status, s.mode);
        let requests = count("requests");
        let excluded = match (status, mode) {
            (_, SessionMode::Exploratory) => {
                Some("exploratory session (never mixed into bounded comparisons)".to_string())
            }
            (SessionStatus::Invalid, _) => Some("marked invalid by the operator".to_string()),
            (SessionStatus::Aborted, _) => Some("aborted before the task was done".to_string()),
            (SessionStatus::Active | SessionStatus::Pending | SessionStatus::Expired, _) => {
                Some("not finalized yet".to_string())
            }
            _ if s
                .task_outcome
                .is_some_and(|o| o.class() == OutcomeClass::InfraError) =>
            {
                Some(format!(
                    "infrastructure error ({}): never counted as a task failure",
                    s.task_outcome.map(TaskOutcome::as_str).unwrap_or_default()
                ))
            }
            _ if requests == 0 => Some(
                "no requests captured (lost telemetry, or the harness never reached the proxy)"
                    .to_string(),
            ),
            _ => lost.reason(&id, s.started_at, s.ended_at),
        };
        let (started, ended) = (s.started_at, s.ended_at);
        let (input, cached_in) = (tokens("input_tokens"), tokens("cached_input_tokens"));
        let errors = count("errors");
        let mut values = BTreeMap::new();
        for def in metrics::METRICS {
            let v = match def.rollup {
                Rollup::ErrorRate => (requests > 0).then(|| errors as f64 / requests as f64),
                Rollup::CacheHitRatio => (input > 0).then(|| cached_in as f64 / input as f64),
                Rollup::Duration => started.zip(ended).map(|(s, e)| e.ms_since(s) / 1000.0),
                Rollup::TaskSuccess => s.task_success.map(|ok| if ok { 1.0 } else { 0.0 }),
                Rollup::WallTime => s.wall_s,
                _ => get(def.name),
            };
            if let Some(v) = v {
                values.insert(def.name.to_string(), v);
            }
        }
        out.push(SessionStats {
            session_id: id,
            variant: s.variant,
            experiment: experiment.to_string(),
            provider: s.provider,
            model: s.model,
            harness: s.harness,
            task_card: s.task_card,
            status,
            mode,
            git_commit_sha: s.git_commit_sha,
            started_at: started,
            ended_at: ended,
            requests,
            successes: count("successes"),
            errors,
            input_tokens: input,
            output_tokens: tokens("output_tokens"),
            cached_input_tokens: cached_in,
            cache_write_tokens: tokens("cache_write_tokens"),
            metrics: values,
            outcome: s.task_outcome,
            environment: s.environment,
            excluded,
        });
    }
    Ok(out)
}
