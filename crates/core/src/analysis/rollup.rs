//! Session rollups: the per-session numbers every comparison reads, cached in `metric_rollups`
//! and recomputed only for sessions that gained requests since.

use std::collections::BTreeMap;

use sqlx::Row;

use crate::metrics::{self, Rollup};
use crate::report::SessionStats;
use crate::session::{SessionMode, SessionStatus};
use crate::stats::{median, percentile};
use crate::store::{now_ms, Store};
use crate::Error;

fn db(store: &Store) -> impl Fn(sqlx::Error) -> Error + '_ {
    move |e| Error::Database {
        path: store.path().to_path_buf(),
        message: e.to_string(),
    }
}

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
    // Sessions whose cached rollup was made by another metric registry count as stale.
    sqlx::query(
        "UPDATE sessions SET rollup_stale = 1 WHERE experiment = ? AND rollup_stale = 0
         AND session_id NOT IN (SELECT scope_id FROM metric_rollups
                                WHERE scope = 'session' AND metric = ? AND value = ?)",
    )
    .bind(experiment)
    .bind(REGISTRY_ROW)
    .bind(metrics::fingerprint())
    .execute(store.pool())
    .await
    .map_err(&e)?;
    let stale: Vec<String> = sqlx::query_scalar(
        "SELECT session_id FROM sessions WHERE experiment = ? AND rollup_stale = 1",
    )
    .bind(experiment)
    .fetch_all(store.pool())
    .await
    .map_err(&e)?;
    let columns = metrics::request_columns();
    for chunk in stale.chunks(500) {
        // Mark clean before reading: an ingest landing meanwhile marks the session stale again.
        let mut mark = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "UPDATE sessions SET rollup_stale = 0 WHERE session_id IN (",
        );
        push_ids(&mut mark, chunk);
        mark.build().execute(store.pool()).await.map_err(&e)?;
        // Column names come from the registry (static strings), never from input.
        let mut read = sqlx::QueryBuilder::<sqlx::Sqlite>::new(format!(
            "SELECT session_id, status, input_tokens, output_tokens, cached_input_tokens,
             cache_write_tokens, {} FROM requests WHERE session_id IN (",
            columns
                .iter()
                .map(|c| format!("CAST({c} AS REAL)"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        push_ids(&mut read, chunk);
        let rows = read.build().fetch_all(store.pool()).await.map_err(&e)?;
        let mut acc: BTreeMap<String, Acc> = chunk
            .iter()
            .map(|id| (id.clone(), Acc::new(columns.len())))
            .collect();
        for r in &rows {
            let a = acc
                .entry(r.get::<String, _>(0))
                .or_insert_with(|| Acc::new(columns.len()));
            if r.get::<String, _>(1) == "success" {
                a.ok += 1;
            } else {
                a.err += 1;
            }
            for (k, t) in a.tokens.iter_mut().enumerate() {
                *t += r.get::<Option<i64>, _>(2 + k).unwrap_or(0);
            }
            for (k, col) in a.columns.iter_mut().enumerate() {
                if let Some(x) = r.get::<Option<f64>, _>(6 + k) {
                    col.push(x);
                }
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
                a.values(&columns)
                    .into_iter()
                    .map(move |(m, x)| (id.clone(), m, x))
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

/// One session's requests, gathered for its rollup.
struct Acc {
    ok: usize,
    err: usize,
    tokens: [i64; 4],
    /// The values of each of [`metrics::request_columns`], NULLs left out.
    columns: Vec<Vec<f64>>,
}

impl Acc {
    fn new(n: usize) -> Acc {
        Acc {
            ok: 0,
            err: 0,
            tokens: [0; 4],
            columns: vec![Vec::new(); n],
        }
    }

    /// Every cached value: the counts, each per-request metric of the registry, the fingerprint.
    fn values(&self, columns: &[&str]) -> Vec<(&'static str, Option<f64>)> {
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
        let col = |c: &str| {
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
                Rollup::ErrorRate | Rollup::CacheHitRatio | Rollup::Duration => continue,
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
        let (status, mode): (SessionStatus, SessionMode) =
            (s.try_get(3).map_err(&e)?, s.try_get(4).map_err(&e)?);
        let requests = count("requests");
        let excluded = match (status, mode) {
            (_, SessionMode::Exploratory) => {
                Some("exploratory session (never mixed into bounded comparisons)".to_string())
            }
            (SessionStatus::Invalid, _) => Some("marked invalid by the operator".to_string()),
            (SessionStatus::Aborted, _) => Some("aborted before the task was done".to_string()),
            (SessionStatus::Active | SessionStatus::Pending, _) => {
                Some("not finalized yet".to_string())
            }
            _ if requests == 0 => Some(
                "no requests captured (lost telemetry, or the harness never reached the proxy)"
                    .to_string(),
            ),
            _ => None,
        };
        let (started, ended): (Option<f64>, Option<f64>) = (s.get(6), s.get(7));
        let (input, cached_in) = (tokens("input_tokens"), tokens("cached_input_tokens"));
        let errors = count("errors");
        let mut values = BTreeMap::new();
        for def in metrics::METRICS {
            let v = match def.rollup {
                Rollup::ErrorRate => (requests > 0).then(|| errors as f64 / requests as f64),
                Rollup::CacheHitRatio => (input > 0).then(|| cached_in as f64 / input as f64),
                Rollup::Duration => started.zip(ended).map(|(s, e)| (e - s) / 1000.0),
                _ => get(def.name),
            };
            if let Some(v) = v {
                values.insert(def.name.to_string(), v);
            }
        }
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
            errors,
            input_tokens: input,
            output_tokens: tokens("output_tokens"),
            cached_input_tokens: cached_in,
            cache_write_tokens: tokens("cache_write_tokens"),
            metrics: values,
            excluded,
        });
    }
    Ok(out)
}
