//! Session rollups and the variant comparison (docs/sessions.md, "Statistics").
//!
//! Every statistic is computed across *sessions* (each session contributes one value per metric),
//! because sessions, not requests, are the independent repetitions of a benchmark.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::analysis::per_success::{per_success, PerSuccess};
use crate::config::Registry;
use crate::metrics::{self, MetricDef, MetricInfo, Sides, Verdict, METRICS};
pub use crate::rollup::{rollup, session_stats};
use crate::session::{SessionMode, SessionStatus};
use crate::stats::{median, median_ci, percentile, permutation_p, stdev};
use crate::store::Store;
use crate::tests_of::{fisher_exact, holm, omnibus_p, wilson, Z95};
use crate::timestamp::Timestamp;
use crate::{Error, APP_VERSION};

pub use crate::metrics::{MIN_SESSIONS, MIN_SESSIONS_LATENCY};

/// One session's rollup.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct SessionStats {
    pub session_id: String,
    pub variant: String,
    pub experiment: String,
    pub provider: String,
    pub model: String,
    pub harness: String,
    pub task_card: String,
    pub status: SessionStatus,
    pub mode: SessionMode,
    pub git_commit_sha: Option<String>,
    pub started_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
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
    /// An automated run's outcome for the session.
    pub outcome: Option<crate::run::TaskOutcome>,
    /// The environment it ran in (machine, load, concurrency, time limit).
    pub environment: Option<crate::machine::Environment>,
    /// Why the session is left out of comparisons, if it is.
    pub excluded: Option<String>,
}

/// A metric across a variant's sessions.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct VariantSummary {
    pub variant: String,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub sessions: usize,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub requests: usize,
    pub session_success_rate: Option<f64>,
    pub metrics: BTreeMap<String, MetricSummary>,
    /// Cost per successful task: all sessions' cost (failures included) / successes.
    pub cost_per_success: PerSuccess,
    /// Wall time per successful task, likewise.
    pub wall_per_success: PerSuccess,
    /// Sessions that ended in an infrastructure error (left out of every figure).
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub infra_errors: usize,
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
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct PairComparison {
    pub a: String,
    pub b: String,
    pub metric: String,
    /// median(b) − median(a).
    pub difference: Option<f64>,
    /// The pairwise test's own p-value.
    pub p_value: Option<f64>,
    /// Adjusted for the number of pairs (Holm, within the metric) and gated by the omnibus test:
    /// the p-value the verdict uses.
    pub p_adjusted: Option<f64>,
    pub verdict: Verdict,
    /// The verdict in words (made in one place: `Verdict::text`).
    pub verdict_text: String,
    /// On a time-to-first-token pair: said when the two sides' stack tax (`proxy_overhead_ms`)
    /// differs by a large share of the gap — part of it is the proxy (`analysis::stack_tax`).
    pub stack_tax_note: Option<String>,
}

/// The whole comparison report.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Comparison {
    /// The answer first: fastest, cheapest, most reliable (or that the data cannot tell yet).
    pub headlines: Vec<crate::analysis::headline::Headline>,
    /// The experiment (or, grouped across experiments, their names joined by ", ").
    pub experiment: String,
    /// What the rows are: an experiment's variants, or sessions pooled by harness, provider or
    /// model.
    pub group_by: crate::analysis::group::GroupBy,
    pub generated_at: Timestamp,
    pub app_version: String,
    pub task_cards: Vec<String>,
    pub repo_commits: Vec<String>,
    pub litellm_versions: Vec<String>,
    /// The compared metrics, headline first (the registry: names, labels, units, directions).
    pub metrics: Vec<MetricInfo>,
    pub variants: Vec<VariantSummary>,
    pub pairs: Vec<PairComparison>,
    /// Per metric: the omnibus test across all variants and how pairs were corrected.
    pub tests: Vec<MetricTest>,
    pub excluded: Vec<SessionStats>,
    /// With sessions of two or more task cards: the comparison within each task, combined
    /// (docs/statistics.md); its verdicts are then the headlines, never the pooled medians.
    pub suite: Option<crate::analysis::suite::SuiteAnalysis>,
    /// Where the compared groups ran under different conditions (machines, load, concurrency,
    /// time limits): part of what differs between them.
    pub environment_notes: Vec<String>,
}

/// How one metric's pairs were tested.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct MetricTest {
    pub metric: String,
    /// Permutation test of the between-variant sum of squares across every variant (none for a
    /// success rate, whose pairs use Fisher's exact test).
    pub omnibus_p: Option<f64>,
    /// `permutation` (difference in means) or `fisher_exact` (success rates).
    pub pairwise: String,
    /// `holm`: pairwise p-values adjusted step-down within the metric.
    pub correction: String,
}

/// The comparison report of an experiment.
pub async fn compare(store: &Store, reg: &Registry, experiment: &str) -> Result<Comparison, Error> {
    let exp = reg.experiment_or_err(experiment)?;
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
            cost_per_success: per_task(&mine, "cost_usd"),
            wall_per_success: per_task(&mine, "wall_s"),
            infra_errors: all
                .iter()
                .filter(|s| &s.variant == v && is_infra(s))
                .count(),
        });
        included.insert(v.clone(), mine);
    }
    let (pairs, tests) = compare_groups(&exp.variants, &included, &mut variants).await?;
    // The experiment's suite weighs its tasks (absent: every task counts 1).
    let weights = exp
        .suite
        .as_deref()
        .and_then(|s| reg.suite(s))
        .map(|s| {
            s.tasks
                .iter()
                .filter_map(|t| Some((t.task_card.clone(), t.weight?)))
                .collect()
        })
        .unwrap_or_default();
    let suite = suite_of(&exp.variants, &included, &all, |s| &s.variant, &weights);
    let headlines = match &suite {
        Some(s) => s.headlines.clone(),
        None => crate::analysis::headline::headlines(&variants, &pairs),
    };
    Ok(Comparison {
        headlines,
        experiment: experiment.to_string(),
        group_by: crate::analysis::group::GroupBy::Variant,
        generated_at: Timestamp::now(),
        app_version: APP_VERSION.to_string(),
        task_cards: task_cards.into_iter().collect(),
        repo_commits: commits.into_iter().collect(),
        litellm_versions: versions,
        metrics: metrics::infos(),
        variants,
        pairs,
        tests,
        excluded: all
            .iter()
            .filter(|s| s.excluded.is_some())
            .cloned()
            .collect(),
        environment_notes: crate::analysis::environment::notes(&included),
        suite,
    })
}

pub(crate) fn is_infra(s: &SessionStats) -> bool {
    s.outcome
        .is_some_and(|o| o.class() == crate::run::OutcomeClass::InfraError)
}

/// The suite analysis of the included sessions, when they span two or more task cards.
pub(crate) fn suite_of(
    variants: &[String],
    included: &BTreeMap<String, Vec<&SessionStats>>,
    all: &[SessionStats],
    key: impl Fn(&SessionStats) -> &str,
    weights: &crate::analysis::suite::Weights,
) -> Option<crate::analysis::suite::SuiteAnalysis> {
    use crate::analysis::suite::{analyse, InfraCounts, Trial};
    let trials: Vec<Trial<'_>> = included
        .iter()
        .flat_map(|(k, ss)| ss.iter().map(move |s| (k, s)))
        .map(|(k, s)| Trial {
            variant: k,
            task: &s.task_card,
            time_s: s.metric("wall_s").or_else(|| s.metric("duration_s")),
            cost_usd: s.metric("cost_usd"),
            ttft_ms: s.metric("ttft_p50_ms"),
            success: s.metric("task_success").map(|x| x >= 0.5),
        })
        .collect();
    let mut infra = InfraCounts::new();
    for s in all.iter().filter(|s| is_infra(s)) {
        *infra
            .entry((key(s).to_string(), s.task_card.clone()))
            .or_default() += 1;
    }
    analyse(variants, &trials, &infra, weights, 30, 1000)
}

/// A metric's total per successful task over the sessions with a known outcome.
pub(crate) fn per_task(sessions: &[&SessionStats], metric: &str) -> PerSuccess {
    let known: Vec<(Option<f64>, bool)> = sessions
        .iter()
        .filter_map(|s| Some((s.metric(metric), s.metric("task_success")? >= 0.5)))
        .collect();
    per_success(&known, 11)
}

/// The statistics of every metric across `names` (each group's included sessions): fills each
/// summary's metrics and returns the pairwise comparisons (by pair, then registry order) and the
/// per-metric tests.
pub(crate) async fn compare_groups(
    names: &[String],
    included: &BTreeMap<String, Vec<&SessionStats>>,
    variants: &mut [VariantSummary],
) -> Result<(Vec<PairComparison>, Vec<MetricTest>), Error> {
    // Each metric's values per variant, then the statistics of every metric at once (the
    // bootstraps and permutation tests are most of a comparison's time).
    let order_names = names.to_vec();
    let names = names.to_vec();
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
    let mut tests = Vec::new();
    for (m, summaries, mut metric_pairs, test) in done {
        for (v, summary) in variants.iter_mut().zip(summaries) {
            v.metrics.insert(m.name.to_string(), summary);
        }
        pairs.append(&mut metric_pairs);
        tests.push(test);
    }
    // Pairs in the order a reader scans them: by pair, then by metric (registry order).
    let order = |p: &PairComparison| {
        let ia = order_names.iter().position(|v| *v == p.a);
        let ib = order_names.iter().position(|v| *v == p.b);
        let im = METRICS.iter().position(|m| m.name == p.metric);
        (ia, ib, im)
    };
    pairs.sort_by_key(order);
    crate::analysis::stack_tax::annotate(&mut pairs, variants);
    Ok((pairs, tests))
}

type MetricResult = (
    &'static MetricDef,
    Vec<MetricSummary>,
    Vec<PairComparison>,
    MetricTest,
);

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
    let rate = m.rollup == metrics::Rollup::TaskSuccess;
    let summaries = values
        .iter()
        .map(|v| summarize(v, rate))
        .collect::<Vec<MetricSummary>>();
    let (omnibus, decided) = decisions(values, rate);
    let pairs = decided
        .into_iter()
        .map(|d| {
            let (a, b) = (&variants[d.i], &variants[d.j]);
            let sides = Sides {
                a,
                b,
                na: values[d.i].len(),
                nb: values[d.j].len(),
            };
            let counts = (sessions[d.i], sessions[d.j]);
            let verdict = Verdict::judge_with(&sides, counts, m, d.difference, d.p_adjusted);
            PairComparison {
                a: a.clone(),
                b: b.clone(),
                metric: m.name.into(),
                difference: d.difference,
                p_value: d.p_value,
                p_adjusted: d.p_adjusted,
                verdict_text: verdict.text(m),
                verdict,
                stack_tax_note: None,
            }
        })
        .collect();
    let test = MetricTest {
        metric: m.name.into(),
        omnibus_p: omnibus,
        pairwise: if rate { "fisher_exact" } else { "permutation" }.into(),
        correction: "holm".into(),
    };
    (m, summaries, pairs, test)
}

/// One pair's test within a metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub i: usize,
    pub j: usize,
    /// median(j) − median(i) (success rates: rate(j) − rate(i)).
    pub difference: Option<f64>,
    pub p_value: Option<f64>,
    pub p_adjusted: Option<f64>,
}

/// Every pair of variants tested on one metric's session values: permutation tests of the
/// means (success rates: Fisher's exact test), their p-values adjusted step-down (Holm) within
/// the metric and gated by the omnibus test across every variant, so that no pair is "different"
/// unless the variants differ at all. Returns the omnibus p-value and the pairs.
pub fn decisions(values: &[Vec<f64>], rate: bool) -> (Option<f64>, Vec<Decision>) {
    // With two groups the between-group sum of squares is a monotone function of the difference
    // in means, so the omnibus test is the pairwise permutation test itself: it is taken from
    // that pair below instead of being run twice (10,000 shuffles of every session value).
    let groups = values.iter().filter(|v| !v.is_empty()).count();
    let mut omnibus = if rate || groups < 3 {
        None
    } else {
        omnibus_p(values, 13)
    };
    let centre = |v: &[f64]| {
        if rate {
            (!v.is_empty()).then(|| successes(v) as f64 / v.len() as f64)
        } else {
            median(v)
        }
    };
    let mut out = Vec::new();
    for i in 0..values.len() {
        for j in i + 1..values.len() {
            let (va, vb) = (&values[i], &values[j]);
            if va.is_empty() && vb.is_empty() {
                continue;
            }
            let p_value = if rate {
                let (sa, sb, na, nb) = (
                    successes(va),
                    successes(vb),
                    va.len() as u64,
                    vb.len() as u64,
                );
                (na > 0 && nb > 0).then(|| fisher_exact(sa, na - sa, sb, nb - sb))
            } else {
                permutation_p(va, vb, 11)
            };
            let difference = centre(vb).zip(centre(va)).map(|(y, x)| y - x);
            out.push(Decision {
                i,
                j,
                difference,
                p_value,
                p_adjusted: None,
            });
        }
    }
    if !rate && groups == 2 {
        omnibus = out.iter().find_map(|d| d.p_value);
    }
    let raw: Vec<f64> = out.iter().filter_map(|d| d.p_value).collect();
    let mut adjusted = holm(&raw).into_iter();
    for d in out.iter_mut().filter(|d| d.p_value.is_some()) {
        d.p_adjusted = adjusted.next().map(|p| p.max(omnibus.unwrap_or(0.0)));
    }
    (omnibus, out)
}

/// One variant's sessions for a metric: median and bootstrap CI; for a success rate (0/1 per
/// session) the rate and its Wilson interval.
fn summarize(v: &[f64], rate: bool) -> MetricSummary {
    if rate {
        let n = v.len() as u64;
        let s = successes(v);
        return MetricSummary {
            sessions: v.len(),
            median: (n > 0).then(|| s as f64 / n as f64),
            p95: None,
            ci95: wilson(s, n, Z95),
            stdev: None,
        };
    }
    MetricSummary {
        sessions: v.len(),
        median: median(v),
        p95: percentile(v, 95.0),
        ci95: median_ci(v, 7, 2000),
        stdev: stdev(v),
    }
}

fn successes(v: &[f64]) -> u64 {
    v.iter().filter(|x| **x >= 0.5).count() as u64
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
    let column = def.rollup.column().unwrap_or(metrics::Measure::LatencyMs);
    let label = def.label;
    let exp = reg.experiment_or_err(experiment)?;
    let stats: Vec<SessionStats> = session_stats(store, experiment)
        .await?
        .into_iter()
        .filter(|s| s.excluded.is_none())
        .collect();
    // The sessions' values of the metric the comparison tests, per variant.
    let mut per_session: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for s in &stats {
        if let Some(v) = s.metric(def.name) {
            per_session.entry(s.variant.as_str()).or_default().push(v);
        }
    }
    let estimates: BTreeMap<String, crate::charts::Estimate> = per_session
        .into_iter()
        .filter_map(|(variant, v)| {
            let m = summarize(&v, false);
            let est = crate::charts::Estimate {
                sessions: m.sessions,
                median: m.median?,
                ci95: m.ci95,
            };
            Some((variant.to_string(), est))
        })
        .collect();
    let included: BTreeMap<String, String> = stats
        .into_iter()
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
            estimate: estimates.get(v).cloned(),
        })
        .collect();
    Ok((series, label))
}
