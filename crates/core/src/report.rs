//! Session rollups and the variant comparison (spec §5).
//!
//! Every statistic is computed across *sessions* (each session contributes one value per metric),
//! because sessions, not requests, are the independent repetitions of a benchmark.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use sqlx::Row;

use crate::config::Registry;
use crate::metrics::{self, MetricInfo, Sides, Verdict, METRICS};
pub use crate::rollup::{rollup, session_stats};
use crate::session::{SessionMode, SessionStatus};
use crate::stats::{bootstrap_median_ci, median, percentile, permutation_p, stdev};
use crate::store::{now_ms, Store};
use crate::{Error, APP_VERSION};

pub use crate::metrics::{MIN_SESSIONS, MIN_SESSIONS_LATENCY};

/// One session's rollup.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct SessionStats {
    pub session_id: String,
    pub variant: String,
    pub task_card: String,
    pub status: SessionStatus,
    pub mode: SessionMode,
    pub git_commit_sha: Option<String>,
    pub started_at: Option<f64>,
    pub ended_at: Option<f64>,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub requests: usize,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub successes: usize,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub errors: usize,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub input_tokens: i64,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub output_tokens: i64,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub cached_input_tokens: i64,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub cache_write_tokens: i64,
    /// The value of each registry metric (`crate::metrics::METRICS`) for this session; a metric
    /// it has no value for is absent.
    pub metrics: BTreeMap<String, f64>,
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

impl SessionStats {
    /// A registry metric's value for this session.
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.metrics.get(name).copied()
    }
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
    pub verdict: Verdict,
    /// The verdict in words (made in one place: `Verdict::text`).
    pub verdict_text: String,
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
    /// The compared metrics, headline first (the registry: names, labels, units, directions).
    pub metrics: Vec<MetricInfo>,
    pub variants: Vec<VariantSummary>,
    pub pairs: Vec<PairComparison>,
    pub excluded: Vec<SessionStats>,
}

fn db(store: &Store) -> impl Fn(sqlx::Error) -> Error + '_ {
    move |e| Error::Database {
        path: store.path().to_path_buf(),
        message: e.to_string(),
    }
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
            .filter(|s| &s.variant == v && s.mode == SessionMode::Bounded && s.status.is_final())
            .count();
        let completed = mine
            .iter()
            .filter(|s| s.status == SessionStatus::Completed)
            .count();
        let mut metrics = BTreeMap::new();
        for m in METRICS {
            let values: Vec<f64> = mine.iter().filter_map(|s| s.metric(m.name)).collect();
            metrics.insert(
                m.name.to_string(),
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
            for m in METRICS {
                let va: Vec<f64> = included[a]
                    .iter()
                    .filter_map(|s| s.metric(m.name))
                    .collect();
                let vb: Vec<f64> = included[b]
                    .iter()
                    .filter_map(|s| s.metric(m.name))
                    .collect();
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
                let verdict = Verdict::judge(&sides, m, difference, p_value);
                pairs.push(PairComparison {
                    a: a.clone(),
                    b: b.clone(),
                    metric: m.name.into(),
                    difference,
                    p_value,
                    verdict_text: verdict.text(m),
                    verdict,
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
        metrics: metrics::infos(),
        variants,
        pairs,
        excluded: all
            .iter()
            .filter(|s| s.excluded.is_some())
            .cloned()
            .collect(),
    })
}

/// The per-request values behind a registry metric (by name or short name: `ttft`, `latency`,
/// `tokens_per_s`, …) for each variant of an experiment, from the sessions a comparison includes.
/// Also returns the axis label.
pub async fn distribution(
    store: &Store,
    reg: &Registry,
    experiment: &str,
    metric: &str,
) -> Result<(Vec<crate::charts::Series>, &'static str), Error> {
    let def = metrics::find(metric)
        .filter(|m| matches!(m.rollup, metrics::Rollup::Median(_)))
        .ok_or_else(|| {
            let known: Vec<&str> = metrics::chartable().map(|m| m.short).collect();
            Error::Invalid(format!(
                "unknown metric `{metric}` for a distribution: use {}",
                known.join(", ")
            ))
        })?;
    let column = def.rollup.column().unwrap_or("latency_ms");
    let label = def.label;
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
    // The column comes from the registry (a static name), never from input.
    let rows = sqlx::query(&format!(
        "SELECT session_id, CAST({column} AS REAL) FROM requests WHERE experiment = ? AND {column} IS NOT NULL"
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
