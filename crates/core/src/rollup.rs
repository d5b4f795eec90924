//! Session rollups: the per-session numbers every comparison reads, cached in `metric_rollups`
//! and recomputed only for sessions that gained requests since.

use std::collections::BTreeMap;

use sqlx::Row;

use crate::report::SessionStats;
use crate::stats::{median, percentile};
use crate::store::{now_ms, Store};
use crate::Error;

fn db(store: &Store) -> impl Fn(sqlx::Error) -> Error + '_ {
    move |e| Error::Database {
        path: store.path().to_path_buf(),
        message: e.to_string(),
    }
}

/// The per-session numbers cached in `metric_rollups` (scope `session`).
const ROLLUP: [&str; 14] = [
    "requests",
    "successes",
    "errors",
    "latency_p50_ms",
    "latency_p95_ms",
    "ttft_p50_ms",
    "tokens_per_s_p50",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "ttft_visible_p50_ms",
    "itl_p50_ms",
    "stalls",
];

/// Append `?, ?, …)` binding `ids` (the query ends in `IN (`).
fn push_ids(q: &mut sqlx::QueryBuilder<'_, sqlx::Sqlite>, ids: &[String]) {
    {
        let mut list = q.separated(", ");
        for id in ids {
            list.push_bind(id.clone());
        }
    }
    q.push(")");
}

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
    let e = db(store);
    let stale: Vec<String> = sqlx::query_scalar(
        "SELECT session_id FROM sessions WHERE experiment = ? AND rollup_stale = 1",
    )
    .bind(experiment)
    .fetch_all(store.pool())
    .await
    .map_err(&e)?;
    for chunk in stale.chunks(500) {
        // Mark clean before reading: an ingest landing meanwhile marks the session stale again.
        let mut mark = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "UPDATE sessions SET rollup_stale = 0 WHERE session_id IN (",
        );
        push_ids(&mut mark, chunk);
        mark.build().execute(store.pool()).await.map_err(&e)?;
        let mut read = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "SELECT session_id, latency_ms, ttft_ms, output_tokens_per_s, status, input_tokens, output_tokens,
             cached_input_tokens, cache_write_tokens, ttft_visible_ms, itl_ms, stall_count
             FROM requests WHERE session_id IN (",
        );
        push_ids(&mut read, chunk);
        let rows = read.build().fetch_all(store.pool()).await.map_err(&e)?;
        #[derive(Default)]
        struct Acc {
            lat: Vec<f64>,
            ttft: Vec<f64>,
            tps: Vec<f64>,
            visible: Vec<f64>,
            itl: Vec<f64>,
            stalls: Option<f64>,
            ok: usize,
            err: usize,
            tokens: [i64; 4],
        }
        let mut acc: BTreeMap<String, Acc> = chunk
            .iter()
            .map(|id| (id.clone(), Acc::default()))
            .collect();
        for r in &rows {
            let a = acc.entry(r.get::<String, _>(0)).or_default();
            a.lat.push(r.get(1));
            if let Some(t) = r.get::<Option<f64>, _>(2) {
                a.ttft.push(t);
            }
            if let Some(t) = r.get::<Option<f64>, _>(3) {
                a.tps.push(t);
            }
            if r.get::<String, _>(4) == "success" {
                a.ok += 1;
            } else {
                a.err += 1;
            }
            for (k, col) in [5, 6, 7, 8].into_iter().enumerate() {
                a.tokens[k] += r.get::<Option<i64>, _>(col).unwrap_or(0);
            }
            if let Some(t) = r.get::<Option<f64>, _>(9) {
                a.visible.push(t);
            }
            if let Some(t) = r.get::<Option<f64>, _>(10) {
                a.itl.push(t);
            }
            // Only requests timed at the edge know their stalls; none of them: unknown, not 0.
            if let Some(n) = r.get::<Option<i64>, _>(11) {
                *a.stalls.get_or_insert(0.0) += n as f64;
            }
        }
        let now = now_ms();
        let mut tx = store.pool().begin().await.map_err(&e)?;
        let mut del = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "DELETE FROM metric_rollups WHERE scope = 'session' AND scope_id IN (",
        );
        push_ids(&mut del, chunk);
        del.build().execute(&mut *tx).await.map_err(&e)?;
        let values: Vec<(String, &str, Option<f64>)> = acc
            .iter()
            .flat_map(|(id, a)| {
                let v = [
                    Some((a.ok + a.err) as f64),
                    Some(a.ok as f64),
                    Some(a.err as f64),
                    median(&a.lat),
                    percentile(&a.lat, 95.0),
                    median(&a.ttft),
                    median(&a.tps),
                    Some(a.tokens[0] as f64),
                    Some(a.tokens[1] as f64),
                    Some(a.tokens[2] as f64),
                    Some(a.tokens[3] as f64),
                    median(&a.visible),
                    median(&a.itl),
                    a.stalls,
                ];
                ROLLUP
                    .iter()
                    .zip(v)
                    .map(move |(m, x)| (id.clone(), *m, x))
                    .collect::<Vec<_>>()
            })
            .collect();
        for part in values.chunks(2000) {
            let mut ins = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO metric_rollups (scope, scope_id, metric, value, computed_at) ",
            );
            ins.push_values(part, |mut b, (id, m, x)| {
                b.push_bind("session")
                    .push_bind(id.clone())
                    .push_bind(*m)
                    .push_bind(*x)
                    .push_bind(now);
            });
            ins.build().execute(&mut *tx).await.map_err(&e)?;
        }
        tx.commit().await.map_err(&e)?;
    }
    Ok(stale.len())
}

/// Rollups of every session of an experiment (recomputing stale ones first).
pub async fn session_stats(store: &Store, experiment: &str) -> Result<Vec<SessionStats>, Error> {
    let _one_at_a_time = ROLLUP_LOCK.lock().await;
    rollup_locked(store, experiment).await?;
    let e = db(store);
    let sessions = sqlx::query(
        "SELECT s.session_id, v.name, s.task_card, s.status, s.mode, s.git_commit_sha, s.started_at, s.ended_at
         FROM sessions s JOIN variants v ON v.variant_id = s.variant_id WHERE s.experiment = ? ORDER BY s.created_at",
    )
    .bind(experiment)
    .fetch_all(store.pool())
    .await
    .map_err(&e)?;
    let cached = sqlx::query(
        "SELECT m.scope_id, m.metric, m.value FROM metric_rollups m JOIN sessions s ON s.session_id = m.scope_id
         WHERE m.scope = 'session' AND s.experiment = ?",
    )
    .bind(experiment)
    .fetch_all(store.pool())
    .await
    .map_err(&e)?;
    let mut values: BTreeMap<String, BTreeMap<String, Option<f64>>> = BTreeMap::new();
    for r in &cached {
        values
            .entry(r.get(0))
            .or_default()
            .insert(r.get(1), r.get(2));
    }
    let mut out = Vec::new();
    for s in &sessions {
        let id: String = s.get(0);
        let m = values.remove(&id).unwrap_or_default();
        let get = |k: &str| m.get(k).copied().flatten();
        let count = |k: &str| get(k).unwrap_or(0.0) as usize;
        let tokens = |k: &str| get(k).unwrap_or(0.0) as i64;
        let (status, mode): (String, String) = (s.get(3), s.get(4));
        let requests = count("requests");
        let excluded = match (status.as_str(), mode.as_str()) {
            (_, "exploratory") => {
                Some("exploratory session (never mixed into bounded comparisons)".to_string())
            }
            ("invalid", _) => Some("marked invalid by the operator".to_string()),
            ("aborted", _) => Some("aborted before the task was done".to_string()),
            ("active" | "pending", _) => Some("not finalized yet".to_string()),
            _ if requests == 0 => Some(
                "no requests captured (lost telemetry, or the harness never reached the proxy)"
                    .to_string(),
            ),
            _ => None,
        };
        let (started, ended): (Option<f64>, Option<f64>) = (s.get(6), s.get(7));
        let (input, cached_in) = (tokens("input_tokens"), tokens("cached_input_tokens"));
        out.push(SessionStats {
            session_id: id,
            variant: s.get(1),
            task_card: s.get(2),
            status,
            mode,
            git_commit_sha: s.get(5),
            started_at: started,
            ended_at: ended,
            requests,
            successes: count("successes"),
            errors: count("errors"),
            error_rate: (requests > 0).then(|| count("errors") as f64 / requests as f64),
            latency_p50_ms: get("latency_p50_ms"),
            latency_p95_ms: get("latency_p95_ms"),
            ttft_p50_ms: get("ttft_p50_ms"),
            ttft_visible_p50_ms: get("ttft_visible_p50_ms"),
            itl_p50_ms: get("itl_p50_ms"),
            stalls: get("stalls"),
            tokens_per_s_p50: get("tokens_per_s_p50"),
            input_tokens: input,
            output_tokens: tokens("output_tokens"),
            cached_input_tokens: cached_in,
            cache_write_tokens: tokens("cache_write_tokens"),
            cache_hit_ratio: (input > 0).then(|| cached_in as f64 / input as f64),
            duration_s: started.zip(ended).map(|(s, e)| (e - s) / 1000.0),
            excluded,
        });
    }
    Ok(out)
}
