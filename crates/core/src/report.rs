//! Session rollups and the variant comparison (spec §5).
//!
//! Every statistic is computed across *sessions* (each session contributes one value per metric),
//! because sessions, not requests, are the independent repetitions of a benchmark.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use sqlx::Row;

use crate::config::Registry;
use crate::stats::{bootstrap_median_ci, median, percentile, permutation_p, stdev};
use crate::store::{now_ms, Store};
use crate::{Error, APP_VERSION};

/// Sessions a claim needs per variant; latency claims need more.
pub const MIN_SESSIONS: usize = 3;
pub const MIN_SESSIONS_LATENCY: usize = 5;

/// One session's rollup.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct SessionStats {
    pub session_id: String,
    pub variant: String,
    pub task_card: String,
    pub status: String,
    pub mode: String,
    pub git_commit_sha: Option<String>,
    pub started_at: Option<f64>,
    pub ended_at: Option<f64>,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub requests: usize,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub successes: usize,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub errors: usize,
    pub error_rate: Option<f64>,
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub ttft_p50_ms: Option<f64>,
    pub tokens_per_s_p50: Option<f64>,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub input_tokens: i64,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub output_tokens: i64,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub cached_input_tokens: i64,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub cache_write_tokens: i64,
    pub cache_hit_ratio: Option<f64>,
    pub duration_s: Option<f64>,
    /// Why the session is left out of comparisons, if it is.
    pub excluded: Option<String>,
}

/// A metric across a variant's sessions.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct MetricSummary {
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub sessions: usize,
    pub median: Option<f64>,
    /// 95th percentile across sessions.
    pub p95: Option<f64>,
    pub ci95: Option<(f64, f64)>,
    /// Standard deviation across sessions (the variance between repetitions).
    pub stdev: Option<f64>,
}

/// One variant's row.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct VariantSummary {
    pub variant: String,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub sessions: usize,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub requests: usize,
    pub session_success_rate: Option<f64>,
    pub metrics: BTreeMap<String, MetricSummary>,
}

/// One metric compared between two variants.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct PairComparison {
    pub a: String,
    pub b: String,
    pub metric: String,
    /// median(b) − median(a).
    pub difference: Option<f64>,
    pub p_value: Option<f64>,
    pub verdict: String,
}

/// The whole comparison report.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Comparison {
    pub experiment: String,
    pub generated_at: f64,
    pub app_version: String,
    pub task_cards: Vec<String>,
    pub repo_commits: Vec<String>,
    pub litellm_versions: Vec<String>,
    pub variants: Vec<VariantSummary>,
    pub pairs: Vec<PairComparison>,
    pub excluded: Vec<SessionStats>,
}

/// Metrics compared: `(name, lower is better, unit)`.
pub const METRICS: [(&str, bool, &str); 7] = [
    ("latency_p50_ms", true, "ms"),
    ("latency_p95_ms", true, "ms"),
    ("ttft_p50_ms", true, "ms"),
    ("tokens_per_s_p50", false, "tok/s"),
    ("error_rate", true, ""),
    ("cache_hit_ratio", false, ""),
    ("duration_s", true, "s"),
];

fn metric(s: &SessionStats, name: &str) -> Option<f64> {
    match name {
        "latency_p50_ms" => s.latency_p50_ms,
        "latency_p95_ms" => s.latency_p95_ms,
        "ttft_p50_ms" => s.ttft_p50_ms,
        "tokens_per_s_p50" => s.tokens_per_s_p50,
        "error_rate" => s.error_rate,
        "cache_hit_ratio" => s.cache_hit_ratio,
        "duration_s" => s.duration_s,
        _ => None,
    }
}

fn db(store: &Store) -> impl Fn(sqlx::Error) -> Error + '_ {
    move |e| Error::Database {
        path: store.path().to_path_buf(),
        message: e.to_string(),
    }
}

/// The per-session numbers cached in `metric_rollups` (scope `session`).
const ROLLUP: [&str; 11] = [
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
             cached_input_tokens, cache_write_tokens FROM requests WHERE session_id IN (",
        );
        push_ids(&mut read, chunk);
        let rows = read.build().fetch_all(store.pool()).await.map_err(&e)?;
        #[derive(Default)]
        struct Acc {
            lat: Vec<f64>,
            ttft: Vec<f64>,
            tps: Vec<f64>,
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

/// The two variants of a pair and how many sessions each contributes.
#[derive(Clone, Copy)]
struct Sides<'a> {
    a: &'a str,
    b: &'a str,
    na: usize,
    nb: usize,
}

fn verdict(
    sides: &Sides<'_>,
    metric: &str,
    lower_better: bool,
    diff: Option<f64>,
    p: Option<f64>,
) -> String {
    let Sides { a, b, na, nb } = *sides;
    let needed = if matches!(metric, "latency_p50_ms" | "ttft_p50_ms") {
        MIN_SESSIONS_LATENCY
    } else {
        MIN_SESSIONS
    };
    if na.min(nb) < MIN_SESSIONS {
        return format!(
            "not enough sessions (need at least {MIN_SESSIONS} per variant; have {na} and {nb})"
        );
    }
    let (Some(d), Some(p)) = (diff, p) else {
        return "no data".into();
    };
    let caveat = if na.min(nb) < needed {
        format!(" (indicative: latency claims need {needed} sessions per variant)")
    } else {
        String::new()
    };
    if p >= 0.05 {
        return format!("no significant difference (p = {p:.3}){caveat}");
    }
    let b_better = if lower_better { d < 0.0 } else { d > 0.0 };
    let (winner, loser) = if b_better { (b, a) } else { (a, b) };
    let word = match (metric, lower_better) {
        ("latency_p50_ms" | "ttft_p50_ms" | "duration_s", _) => "faster",
        ("tokens_per_s_p50", _) => "higher throughput",
        ("error_rate", _) => "fewer errors",
        ("cache_hit_ratio", _) => "more cache hits",
        (_, true) => "lower",
        (_, false) => "higher",
    };
    format!("{winner} is {word} than {loser} (p = {p:.3}){caveat}")
}

/// The comparison report of an experiment.
pub async fn compare(store: &Store, reg: &Registry, experiment: &str) -> Result<Comparison, Error> {
    let exp = reg.experiment(experiment).ok_or_else(|| Error::NotFound {
        kind: "experiment",
        name: experiment.to_string(),
        known: reg
            .experiments
            .iter()
            .map(|l| l.value.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    })?;
    let all = session_stats(store, experiment).await?;
    let versions: Vec<String> = sqlx::query("SELECT DISTINCT litellm_version FROM sessions WHERE experiment = ? AND litellm_version IS NOT NULL")
        .bind(experiment)
        .fetch_all(store.pool())
        .await
        .map_err(db(store))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut variants = Vec::new();
    let mut included: BTreeMap<String, Vec<&SessionStats>> = BTreeMap::new();
    let mut task_cards = BTreeSet::new();
    let mut commits = BTreeSet::new();
    for v in &exp.variants {
        let mine: Vec<&SessionStats> = all
            .iter()
            .filter(|s| &s.variant == v && s.excluded.is_none())
            .collect();
        let finished = all
            .iter()
            .filter(|s| {
                &s.variant == v
                    && s.mode == "bounded"
                    && s.status != "active"
                    && s.status != "pending"
            })
            .count();
        let completed = mine.iter().filter(|s| s.status == "completed").count();
        let mut metrics = BTreeMap::new();
        for (name, _, _) in METRICS {
            let values: Vec<f64> = mine.iter().filter_map(|s| metric(s, name)).collect();
            metrics.insert(
                name.to_string(),
                MetricSummary {
                    sessions: values.len(),
                    median: median(&values),
                    p95: percentile(&values, 95.0),
                    ci95: bootstrap_median_ci(&values, 7, 2000),
                    stdev: stdev(&values),
                },
            );
        }
        for s in &mine {
            task_cards.insert(s.task_card.clone());
            if let Some(c) = &s.git_commit_sha {
                commits.insert(c.clone());
            }
        }
        variants.push(VariantSummary {
            variant: v.clone(),
            sessions: mine.len(),
            requests: mine.iter().map(|s| s.requests).sum(),
            session_success_rate: (finished > 0).then(|| completed as f64 / finished as f64),
            metrics,
        });
        included.insert(v.clone(), mine);
    }
    let mut pairs = Vec::new();
    for (i, a) in exp.variants.iter().enumerate() {
        for b in &exp.variants[i + 1..] {
            for (name, lower_better, _) in METRICS {
                let va: Vec<f64> = included[a].iter().filter_map(|s| metric(s, name)).collect();
                let vb: Vec<f64> = included[b].iter().filter_map(|s| metric(s, name)).collect();
                if va.is_empty() && vb.is_empty() {
                    continue;
                }
                let difference = median(&vb).zip(median(&va)).map(|(y, x)| y - x);
                let p_value = permutation_p(&va, &vb, 11);
                let sides = Sides {
                    a,
                    b,
                    na: va.len(),
                    nb: vb.len(),
                };
                let v = verdict(&sides, name, lower_better, difference, p_value);
                pairs.push(PairComparison {
                    a: a.clone(),
                    b: b.clone(),
                    metric: name.into(),
                    difference,
                    p_value,
                    verdict: v,
                });
            }
        }
    }
    Ok(Comparison {
        experiment: experiment.to_string(),
        generated_at: now_ms(),
        app_version: APP_VERSION.to_string(),
        task_cards: task_cards.into_iter().collect(),
        repo_commits: commits.into_iter().collect(),
        litellm_versions: versions,
        variants,
        pairs,
        excluded: all
            .iter()
            .filter(|s| s.excluded.is_some())
            .cloned()
            .collect(),
    })
}

/// The per-request values of `metric` (`ttft`, `latency` or `tokens_per_s`) for each variant of an
/// experiment, from the sessions a comparison includes. Also returns the axis label.
pub async fn distribution(
    store: &Store,
    reg: &Registry,
    experiment: &str,
    metric: &str,
) -> Result<(Vec<crate::charts::Series>, &'static str), Error> {
    let (column, label) = match metric {
        "ttft" => ("ttft_ms", "time to first token (ms)"),
        "latency" => ("latency_ms", "request latency (ms)"),
        "tokens_per_s" => (
            "output_tokens_per_s",
            "output tokens/s after the first token",
        ),
        other => {
            return Err(Error::Invalid(format!(
                "unknown metric `{other}`: use ttft, latency or tokens_per_s"
            )))
        }
    };
    let exp = reg.experiment(experiment).ok_or_else(|| Error::NotFound {
        kind: "experiment",
        name: experiment.into(),
        known: String::new(),
    })?;
    let included: BTreeMap<String, String> = session_stats(store, experiment)
        .await?
        .into_iter()
        .filter(|s| s.excluded.is_none())
        .map(|s| (s.session_id, s.variant))
        .collect();
    let rows = sqlx::query(&format!(
        "SELECT session_id, {column} FROM requests WHERE experiment = ? AND {column} IS NOT NULL"
    ))
    .bind(experiment)
    .fetch_all(store.pool())
    .await
    .map_err(db(store))?;
    let mut by_variant: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for r in &rows {
        let session: Option<String> = r.get(0);
        if let Some(v) = session.and_then(|s| included.get(&s)) {
            by_variant.entry(v.as_str()).or_default().push(r.get(1));
        }
    }
    let series = exp
        .variants
        .iter()
        .map(|v| crate::charts::Series {
            name: v.clone(),
            values: by_variant.remove(v.as_str()).unwrap_or_default(),
        })
        .collect();
    Ok((series, label))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_need_enough_sessions_and_name_the_winner() {
        let sides = |na, nb| Sides {
            a: "a",
            b: "b",
            na,
            nb,
        };
        let v = verdict(
            &sides(2, 5),
            "latency_p50_ms",
            true,
            Some(-10.0),
            Some(0.01),
        );
        assert!(v.starts_with("not enough sessions"), "{v}");
        let v = verdict(
            &sides(5, 5),
            "latency_p50_ms",
            true,
            Some(-10.0),
            Some(0.01),
        );
        assert_eq!(v, "b is faster than a (p = 0.010)");
        let v = verdict(&sides(3, 3), "latency_p50_ms", true, Some(25.0), Some(0.04));
        assert!(
            v.starts_with("a is faster than b") && v.contains("indicative"),
            "{v}"
        );
        let v = verdict(
            &sides(4, 4),
            "tokens_per_s_p50",
            false,
            Some(3.0),
            Some(0.2),
        );
        assert!(v.starts_with("no significant difference"), "{v}");
    }
}
