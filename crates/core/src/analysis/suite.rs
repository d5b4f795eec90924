//! A suite's analysis (docs/statistics.md, "Suites"): variants compared *within* each task, then
//! combined over tasks — never one pooled median. Per task × variant: median time, cost and TTFT,
//! success k of n with its Wilson interval, pass@k and pass^k, whether the outcome flipped between
//! trials. Across tasks: Friedman's test (the omnibus) over blocks within tasks — a block is one
//! task's i-th trial of every variant — Holm-adjusted post-hoc pairs of mean ranks, the Nemenyi critical difference, the geometric mean of per-task ratios to the best
//! variant with a bootstrap interval that resamples tasks and then trials, and success compared
//! stratified by task (Cochran–Mantel–Haenszel).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::analysis::headline::{Headline, Question};
use crate::analysis::multi::{self, Table2};
use crate::rng::Rng;
use crate::stats::{median, percentile};
use crate::tests_of::{fisher_exact, holm, wilson, Z95};

/// The significance level of every suite verdict.
pub const ALPHA: f64 = 0.05;

/// One trial (a session) as the suite analysis sees it.
#[derive(Debug, Clone, Copy)]
pub struct Trial<'a> {
    pub variant: &'a str,
    pub task: &'a str,
    /// Harness wall time (or the session's duration when it was not an automated run).
    pub time_s: Option<f64>,
    pub cost_usd: Option<f64>,
    pub ttft_ms: Option<f64>,
    /// Verify's verdict (`None`: unknown).
    pub success: Option<bool>,
}

/// One task × variant cell.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct TaskCell {
    pub task_card: String,
    pub variant: String,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub trials: u32,
    pub time_s: Option<f64>,
    /// This cell's median time over the task's best cell (1 = the task's fastest).
    pub time_ratio: Option<f64>,
    pub cost_usd: Option<f64>,
    pub ttft_ms: Option<f64>,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub successes: u32,
    /// Trials whose outcome is known.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub known: u32,
    pub success_ci95: Option<(f64, f64)>,
    pub pass_at_k: Option<f64>,
    pub pass_hat_k: Option<f64>,
    /// The outcome changed between trials (some succeeded, some failed).
    pub flipped: Option<bool>,
    /// Infrastructure errors in this cell (never counted as trials).
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub infra_errors: u32,
}

/// A variant across the suite.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct SuiteVariant {
    pub variant: String,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub trials: u32,
    /// Share of tasks (with ≥ 2 known outcomes) whose outcome flipped between trials.
    pub flip_rate: Option<f64>,
    /// Mean over tasks of the per-task success rate (weighted by the tasks' weights).
    pub success_rate: Option<f64>,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub infra_errors: u32,
    /// Its infrastructure-error rate stands out from the other variants' (Fisher's exact test,
    /// p < 0.05).
    pub infra_flagged: bool,
}

/// A variant's place in one metric's ranking over tasks.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct VariantRank {
    pub variant: String,
    /// Mean rank over the tasks (1 = best in every task).
    pub mean_rank: f64,
    /// Geometric mean over tasks (weighted by the tasks' weights) of this variant's median over
    /// the leader's.
    pub ratio_to_best: Option<f64>,
    /// Bootstrap 95 % interval of that ratio (tasks resampled, then trials within a task).
    pub ratio_ci95: Option<(f64, f64)>,
}

/// Two variants compared by mean rank.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct RankPairResult {
    pub a: String,
    pub b: String,
    /// (mean rank of a − mean rank of b) / its standard error.
    pub z: f64,
    pub p: f64,
    pub p_holm: f64,
}

/// One metric (time or cost) compared over tasks.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct RankAnalysis {
    pub metric: String,
    /// Tasks where every variant has a value.
    pub tasks_used: Vec<String>,
    /// The test's blocks: per task, every variant's i-th trial (i up to the fewest trials any
    /// variant has of that task) — the randomized complete blocks a run carries out.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub blocks: u32,
    pub friedman_statistic: f64,
    pub df: f64,
    pub friedman_p: f64,
    /// Best (smallest mean rank) first.
    pub ranks: Vec<VariantRank>,
    /// Nemenyi critical difference of mean ranks at α = 0.05 (for the CD diagram).
    pub critical_difference: Option<f64>,
    pub pairs: Vec<RankPairResult>,
}

/// Success of two variants compared within tasks (CMH).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct SuccessPair {
    pub a: String,
    pub b: String,
    pub statistic: f64,
    pub p: f64,
    pub p_holm: f64,
    /// a's odds of success over b's, common to all tasks (Mantel–Haenszel).
    pub odds_ratio: Option<f64>,
}

/// The whole suite analysis.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct SuiteAnalysis {
    /// The suite verdicts (fastest, cheapest, most reliable), from the within-task analysis.
    pub headlines: Vec<Headline>,
    pub tasks: Vec<String>,
    pub variants: Vec<SuiteVariant>,
    /// k of pass@k and pass^k: the fewest known outcomes in any cell.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub k: u32,
    /// Task-major, variants in the experiment's order.
    pub cells: Vec<TaskCell>,
    pub time: Option<RankAnalysis>,
    pub cost: Option<RankAnalysis>,
    pub success: Vec<SuccessPair>,
    /// Tasks left out of a test, and why.
    pub notes: Vec<String>,
}

/// Infrastructure errors per (variant, task).
pub type InfraCounts = BTreeMap<(String, String), u32>;

/// A task's weight in the suite's summaries (its `weight` in the suite file; absent: 1).
pub type Weights = BTreeMap<String, f64>;

/// The suite analysis of `trials` (`None` with fewer than two tasks: then the ordinary comparison
/// is the answer). `weights` weigh the tasks in the typical ratio and the mean success; the tests
/// (ranks, CMH) count every block and task alike. `bootstrap` resamples for the ratio intervals
/// (0: none).
pub fn analyse(
    variants: &[String],
    trials: &[Trial<'_>],
    infra: &InfraCounts,
    weights: &Weights,
    seed: u64,
    bootstrap: usize,
) -> Option<SuiteAnalysis> {
    let mut tasks: Vec<String> = trials.iter().map(|t| t.task.to_string()).collect();
    tasks.sort();
    tasks.dedup();
    if tasks.len() < 2 || variants.len() < 2 {
        return None;
    }
    let mut grid = Grid::new(variants, &tasks, trials);
    grid.weights = tasks
        .iter()
        .map(|t| weights.get(t).copied().filter(|w| *w > 0.0).unwrap_or(1.0))
        .collect();
    let k = grid.k();
    let cells = grid.cells(k, infra);
    let mut notes = Vec::new();
    let time = rank_metric(&grid, "wall_s", |t| t.time_s, seed, bootstrap, &mut notes);
    let cost = rank_metric(
        &grid,
        "cost_usd",
        |t| t.cost_usd,
        seed,
        bootstrap,
        &mut notes,
    );
    let success = success_pairs(&grid);
    let summary = suite_variants(&grid, &cells, infra);
    let headlines = vec![
        verdict::by_rank(Question::Fastest, time.as_ref()),
        verdict::by_rank(Question::Cheapest, cost.as_ref()),
        verdict::by_success(&summary, &success),
    ];
    Some(SuiteAnalysis {
        headlines,
        tasks,
        variants: summary,
        k,
        cells,
        time,
        cost,
        success,
        notes,
    })
}

/// Trials by task, then variant.
struct Grid<'a> {
    variants: &'a [String],
    tasks: &'a [String],
    /// [task][variant] → trials.
    by: Vec<Vec<Vec<Trial<'a>>>>,
    /// Per task: its weight in the summaries.
    weights: Vec<f64>,
}

impl<'a> Grid<'a> {
    fn new(variants: &'a [String], tasks: &'a [String], trials: &[Trial<'a>]) -> Self {
        let mut by = vec![vec![Vec::new(); variants.len()]; tasks.len()];
        for t in trials {
            let ti = tasks.iter().position(|x| x == t.task);
            let vi = variants.iter().position(|x| x == t.variant);
            if let (Some(ti), Some(vi)) = (ti, vi) {
                by[ti][vi].push(*t);
            }
        }
        Grid {
            variants,
            tasks,
            weights: vec![1.0; tasks.len()],
            by,
        }
    }

    fn known(&self, ti: usize, vi: usize) -> (u32, u32) {
        let outcomes = self.by[ti][vi].iter().filter_map(|t| t.success);
        outcomes.fold((0, 0), |(s, n), ok| (s + u32::from(ok), n + 1))
    }

    /// The fewest known outcomes in a cell that has any.
    fn k(&self) -> u32 {
        let all = (0..self.tasks.len())
            .flat_map(|ti| (0..self.variants.len()).map(move |vi| (ti, vi)))
            .map(|(ti, vi)| self.known(ti, vi).1)
            .filter(|n| *n > 0);
        all.min().unwrap_or(0)
    }

    fn values(&self, ti: usize, vi: usize, f: fn(&Trial<'_>) -> Option<f64>) -> Vec<f64> {
        self.by[ti][vi].iter().filter_map(f).collect()
    }

    fn cells(&self, k: u32, infra: &InfraCounts) -> Vec<TaskCell> {
        let mut out = Vec::new();
        for (ti, task) in self.tasks.iter().enumerate() {
            let times: Vec<Option<f64>> = (0..self.variants.len())
                .map(|vi| median(&self.values(ti, vi, |t| t.time_s)))
                .collect();
            let best = times.iter().flatten().copied().reduce(f64::min);
            for (vi, variant) in self.variants.iter().enumerate() {
                let (s, n) = self.known(ti, vi);
                out.push(TaskCell {
                    task_card: task.clone(),
                    variant: variant.clone(),
                    trials: self.by[ti][vi].len() as u32,
                    time_s: times[vi],
                    time_ratio: times[vi]
                        .zip(best)
                        .and_then(|(x, b)| (b > 0.0).then(|| x / b)),
                    cost_usd: median(&self.values(ti, vi, |t| t.cost_usd)),
                    ttft_ms: median(&self.values(ti, vi, |t| t.ttft_ms)),
                    successes: s,
                    known: n,
                    success_ci95: wilson(u64::from(s), u64::from(n), Z95),
                    pass_at_k: multi::pass_at_k(n.into(), s.into(), k.into()),
                    pass_hat_k: multi::pass_hat_k(n.into(), s.into(), k.into()),
                    flipped: (n >= 2).then_some(s > 0 && s < n),
                    infra_errors: infra
                        .get(&(variant.clone(), task.clone()))
                        .copied()
                        .unwrap_or(0),
                });
            }
        }
        out
    }
}

/// Friedman over the tasks where every variant has a value, then the post-hoc pairs and the
/// ratios to the leader.
fn rank_metric(
    grid: &Grid<'_>,
    metric: &str,
    f: fn(&Trial<'_>) -> Option<f64>,
    seed: u64,
    bootstrap: usize,
    notes: &mut Vec<String>,
) -> Option<RankAnalysis> {
    let nv = grid.variants.len();
    let mut used = Vec::new();
    let mut blocks = Vec::new();
    for (ti, task) in grid.tasks.iter().enumerate() {
        let cols: Vec<Vec<f64>> = (0..nv).map(|vi| grid.values(ti, vi, f)).collect();
        if cols.iter().all(Vec::is_empty) {
            continue;
        }
        let missing: Vec<&str> = (0..nv)
            .filter(|&vi| cols[vi].is_empty())
            .map(|vi| grid.variants[vi].as_str())
            .collect();
        if !missing.is_empty() {
            notes.push(format!(
                "{metric}: task {task} left out (no value for {})",
                missing.join(", ")
            ));
            continue;
        }
        used.push(ti);
        // Block i: every variant's i-th trial of the task (a run's blocks hold each variant once).
        let depth = cols.iter().map(Vec::len).min().unwrap_or(0);
        blocks.extend((0..depth).map(|i| cols.iter().map(|c| c[i]).collect::<Vec<f64>>()));
    }
    let fr = multi::friedman(&blocks)?;
    let mut order: Vec<usize> = (0..nv).collect();
    order.sort_by(|&a, &b| fr.mean_ranks[a].total_cmp(&fr.mean_ranks[b]));
    let leader = order[0];
    let ranks = order
        .iter()
        .map(|&vi| {
            let (ratio, ci) = ratio_to(grid, &used, vi, leader, f, seed, bootstrap);
            VariantRank {
                variant: grid.variants[vi].clone(),
                mean_rank: fr.mean_ranks[vi],
                ratio_to_best: ratio,
                ratio_ci95: ci,
            }
        })
        .collect();
    let pairs = multi::rank_pairs(&fr.mean_ranks, blocks.len())
        .into_iter()
        .map(|p| RankPairResult {
            a: grid.variants[p.a].clone(),
            b: grid.variants[p.b].clone(),
            z: p.z,
            p: p.p,
            p_holm: p.p_holm,
        })
        .collect();
    Some(RankAnalysis {
        metric: metric.to_string(),
        tasks_used: used.iter().map(|&ti| grid.tasks[ti].clone()).collect(),
        blocks: blocks.len() as u32,
        friedman_statistic: fr.statistic,
        df: fr.df,
        friedman_p: fr.p,
        ranks,
        critical_difference: multi::critical_difference(nv, blocks.len()),
        pairs,
    })
}

/// Geometric mean over `tasks` of median(v) / median(best), with a bootstrap interval that
/// resamples tasks, then each cell's trials.
fn ratio_to(
    grid: &Grid<'_>,
    tasks: &[usize],
    v: usize,
    best: usize,
    f: fn(&Trial<'_>) -> Option<f64>,
    seed: u64,
    bootstrap: usize,
) -> (Option<f64>, Option<(f64, f64)>) {
    let cells: Vec<(Vec<f64>, Vec<f64>, f64)> = tasks
        .iter()
        .map(|&ti| {
            let w = grid.weights[ti];
            (grid.values(ti, v, f), grid.values(ti, best, f), w)
        })
        .collect();
    // The weighted geometric mean of the ratios.
    let geo = |pairs: &mut dyn Iterator<Item = (Option<f64>, Option<f64>, f64)>| {
        let logs: Vec<(f64, f64)> = pairs
            .filter_map(|(a, b, w)| Some((a?, b?, w)))
            .filter(|(a, b, _)| *a > 0.0 && *b > 0.0)
            .map(|(a, b, w)| ((a / b).ln(), w))
            .collect();
        let total: f64 = logs.iter().map(|(_, w)| w).sum();
        (total > 0.0).then(|| (logs.iter().map(|(l, w)| l * w).sum::<f64>() / total).exp())
    };
    let point = geo(&mut cells.iter().map(|(a, b, w)| (median(a), median(b), *w)));
    if bootstrap == 0 || v == best || point.is_none() {
        return (point, None);
    }
    let mut rng = Rng::for_request(seed, v as u64);
    let draw = |xs: &[f64], rng: &mut Rng| -> Vec<f64> {
        if xs.is_empty() {
            return Vec::new();
        }
        (0..xs.len())
            .map(|_| xs[rng.range(0, xs.len() as u64 - 1) as usize])
            .collect()
    };
    let mut stats = Vec::with_capacity(bootstrap);
    for _ in 0..bootstrap {
        let picks: Vec<usize> = (0..cells.len())
            .map(|_| rng.range(0, cells.len() as u64 - 1) as usize)
            .collect();
        let resampled: Vec<(Option<f64>, Option<f64>, f64)> = picks
            .iter()
            .map(|&i| {
                let (a, b, w) = &cells[i];
                (median(&draw(a, &mut rng)), median(&draw(b, &mut rng)), *w)
            })
            .collect();
        if let Some(g) = geo(&mut resampled.into_iter()) {
            stats.push(g);
        }
    }
    let ci = percentile(&stats, 2.5).zip(percentile(&stats, 97.5));
    (point, ci)
}

/// Every pair's success compared within tasks (CMH), Holm-adjusted over the pairs.
fn success_pairs(grid: &Grid<'_>) -> Vec<SuccessPair> {
    let nv = grid.variants.len();
    let mut out = Vec::new();
    for a in 0..nv {
        for b in (a + 1)..nv {
            let strata: Vec<Table2> = (0..grid.tasks.len())
                .map(|ti| {
                    let ((sa, na), (sb, nb)) = (grid.known(ti, a), grid.known(ti, b));
                    Table2 {
                        a_success: sa.into(),
                        a_failure: (na - sa).into(),
                        b_success: sb.into(),
                        b_failure: (nb - sb).into(),
                    }
                })
                .collect();
            if let Some(r) = multi::cmh(&strata) {
                out.push(SuccessPair {
                    a: grid.variants[a].clone(),
                    b: grid.variants[b].clone(),
                    statistic: r.statistic,
                    p: r.p,
                    p_holm: 1.0,
                    odds_ratio: r.odds_ratio,
                });
            }
        }
    }
    let adjusted = holm(&out.iter().map(|p| p.p).collect::<Vec<_>>());
    for (p, adj) in out.iter_mut().zip(adjusted) {
        p.p_holm = adj;
    }
    out
}

/// Per variant: trials, flip rate, mean per-task success and infrastructure errors (flagged when
/// a variant's rate stands out from the rest's).
fn suite_variants(grid: &Grid<'_>, cells: &[TaskCell], infra: &InfraCounts) -> Vec<SuiteVariant> {
    let total_infra: u32 = infra.values().sum();
    let total_trials: u32 = cells.iter().map(|c| c.trials).sum();
    grid.variants
        .iter()
        .map(|v| {
            let mine: Vec<&TaskCell> = cells.iter().filter(|c| &c.variant == v).collect();
            let flips: Vec<bool> = mine.iter().filter_map(|c| c.flipped).collect();
            let weight = |c: &TaskCell| {
                let ti = grid.tasks.iter().position(|t| *t == c.task_card);
                ti.map_or(1.0, |i| grid.weights[i])
            };
            // (rate, weight) per task with a known outcome.
            let rates: Vec<(f64, f64)> = mine
                .iter()
                .filter(|c| c.known > 0)
                .map(|c| (f64::from(c.successes) / f64::from(c.known), weight(c)))
                .collect();
            let total_w: f64 = rates.iter().map(|(_, w)| w).sum();
            let trials: u32 = mine.iter().map(|c| c.trials).sum();
            let errors: u32 = mine.iter().map(|c| c.infra_errors).sum();
            let (others_err, others_ok) = (total_infra - errors, total_trials - trials);
            let p = fisher_exact(
                errors.into(),
                trials.into(),
                others_err.into(),
                others_ok.into(),
            );
            let rate = |e: u32, t: u32| f64::from(e) / f64::from((e + t).max(1));
            SuiteVariant {
                variant: v.clone(),
                trials,
                flip_rate: (!flips.is_empty())
                    .then(|| flips.iter().filter(|f| **f).count() as f64 / flips.len() as f64),
                success_rate: (total_w > 0.0)
                    .then(|| rates.iter().map(|(r, w)| r * w).sum::<f64>() / total_w),
                infra_errors: errors,
                infra_flagged: errors > 0
                    && p < ALPHA
                    && rate(errors, trials) > rate(others_err, others_ok),
            }
        })
        .collect()
}

#[path = "suite_verdict.rs"]
mod verdict;

#[cfg(test)]
#[path = "suite_tests.rs"]
mod tests;
