//! Session rollups and the variant comparison (spec §5).
//!
//! Every statistic is computed across *sessions* (each session contributes one value per metric),
//! because sessions, not requests, are the independent repetitions of a benchmark.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use sqlx::Row;

use crate::config::Registry;
pub use crate::rollup::{rollup, session_stats};
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
    /// Median time to the first answer text (reasoning excluded).
    pub ttft_visible_p50_ms: Option<f64>,
    /// Median inter-token latency (time per output delta after the first).
    pub itl_p50_ms: Option<f64>,
    /// Gaps between deltas longer than the stall threshold, summed over the session's requests.
    pub stalls: Option<f64>,
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
pub const METRICS: [(&str, bool, &str); 10] = [
    ("latency_p50_ms", true, "ms"),
    ("latency_p95_ms", true, "ms"),
    ("ttft_p50_ms", true, "ms"),
    ("ttft_visible_p50_ms", true, "ms"),
    ("itl_p50_ms", true, "ms"),
    ("stalls", true, ""),
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
        "ttft_visible_p50_ms" => s.ttft_visible_p50_ms,
        "itl_p50_ms" => s.itl_p50_ms,
        "stalls" => s.stalls,
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
    let needed = if matches!(
        metric,
        "latency_p50_ms" | "ttft_p50_ms" | "ttft_visible_p50_ms" | "itl_p50_ms"
    ) {
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
        (
            "latency_p50_ms" | "ttft_p50_ms" | "ttft_visible_p50_ms" | "itl_p50_ms" | "duration_s",
            _,
        ) => "faster",
        ("stalls", _) => "fewer stalls",
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
