//! Session rollups and the variant comparison (docs/sessions.md, "Statistics").
//!
//! Every statistic is computed across *sessions* (each session contributes one value per metric),
//! because sessions, not requests, are the independent repetitions of a benchmark.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::config::Registry;
use crate::metrics::{self, MetricDef, MetricInfo, Sides, Verdict, METRICS};
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
    let versions = store.litellm_versions(experiment).await?;
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
            metrics: BTreeMap::new(),
        });
        included.insert(v.clone(), mine);
    }
    // Each metric's values per variant, then the statistics of every metric at once (the
    // bootstraps and permutation tests are most of a comparison's time).
    let names = exp.variants.clone();
    let work: Vec<(&'static MetricDef, Vec<Vec<f64>>)> = METRICS
        .iter()
        .map(|m| {
            let per_variant = names
                .iter()
                .map(|v| {
                    included[v]
                        .iter()
                        .filter_map(|s| s.metric(m.name))
                        .collect()
                })
                .collect();
            (m, per_variant)
        })
        .collect();
    let counts: Vec<usize> = names.iter().map(|v| included[v].len()).collect();
    let done = tokio::task::spawn_blocking(move || statistics(&names, &counts, work))
        .await
        .map_err(|e| Error::Internal(format!("the comparison task failed: {e}")))?;
    let mut pairs = Vec::new();
    for (m, summaries, mut metric_pairs) in done {
        for (v, summary) in variants.iter_mut().zip(summaries) {
            v.metrics.insert(m.name.to_string(), summary);
        }
        pairs.append(&mut metric_pairs);
    }
    // Pairs in the order a reader scans them: by pair, then by metric (registry order).
    let order = |p: &PairComparison| {
        let ia = exp.variants.iter().position(|v| *v == p.a);
        let ib = exp.variants.iter().position(|v| *v == p.b);
        let im = METRICS.iter().position(|m| m.name == p.metric);
        (ia, ib, im)
    };
    pairs.sort_by_key(order);
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

type MetricResult = (&'static MetricDef, Vec<MetricSummary>, Vec<PairComparison>);

/// Every metric's summary per variant and its pairwise tests, the metrics spread over the cores.
fn statistics(
    variants: &[String],
    sessions: &[usize],
    work: Vec<(&'static MetricDef, Vec<Vec<f64>>)>,
) -> Vec<MetricResult> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    let chunk = work.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = work
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|(m, vals)| one_metric(variants, sessions, m, vals))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

fn one_metric(
    variants: &[String],
    sessions: &[usize],
    m: &'static MetricDef,
    values: &[Vec<f64>],
) -> MetricResult {
    let summaries = values
        .iter()
        .map(|v| MetricSummary {
            sessions: v.len(),
            median: median(v),
            p95: percentile(v, 95.0),
            ci95: bootstrap_median_ci(v, 7, 2000),
            stdev: stdev(v),
        })
        .collect();
    let mut pairs = Vec::new();
    for i in 0..variants.len() {
        for j in i + 1..variants.len() {
            let (va, vb) = (&values[i], &values[j]);
            if va.is_empty() && vb.is_empty() {
                continue;
            }
            let difference = median(vb).zip(median(va)).map(|(y, x)| y - x);
            let p_value = permutation_p(va, vb, 11);
            let sides = Sides {
                a: &variants[i],
                b: &variants[j],
                na: va.len(),
                nb: vb.len(),
            };
            let verdict =
                Verdict::judge_with(&sides, (sessions[i], sessions[j]), m, difference, p_value);
            pairs.push(PairComparison {
                a: variants[i].clone(),
                b: variants[j].clone(),
                metric: m.name.into(),
                difference,
                p_value,
                verdict_text: verdict.text(m),
                verdict,
            });
        }
    }
    (m, summaries, pairs)
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
    let rows = store.request_values(experiment, column).await?;
    let mut by_variant: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for (session, value) in rows {
        if let Some(v) = session.and_then(|s| included.get(&s)) {
            by_variant.entry(v.as_str()).or_default().push(value);
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
