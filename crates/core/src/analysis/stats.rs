//! Statistics for comparisons (docs/sessions.md, "Statistics"): medians, percentiles, bootstrap confidence intervals,
//! and a permutation test. Pure functions; every random choice comes from a fixed seed, so a
//! report is the same every time it is computed.

use crate::rng::Rng;

/// Finite values, sorted.
fn sorted(v: &[f64]) -> Vec<f64> {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    s.sort_by(|a, b| a.total_cmp(b));
    s
}

/// The `p`-th percentile (0–100), linear interpolation between closest ranks.
pub fn percentile(v: &[f64], p: f64) -> Option<f64> {
    percentile_sorted(&sorted(v), p)
}

fn percentile_sorted(s: &[f64], p: f64) -> Option<f64> {
    if s.is_empty() {
        return None;
    }
    let rank = (p.clamp(0.0, 100.0) / 100.0) * (s.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    Some(s[lo] + (s[hi] - s[lo]) * (rank - lo as f64))
}

pub fn median(v: &[f64]) -> Option<f64> {
    percentile(v, 50.0)
}

pub fn mean(v: &[f64]) -> Option<f64> {
    let s = sorted(v);
    (!s.is_empty()).then(|| s.iter().sum::<f64>() / s.len() as f64)
}

/// Sample standard deviation (n − 1).
pub fn stdev(v: &[f64]) -> Option<f64> {
    let s = sorted(v);
    if s.len() < 2 {
        return None;
    }
    let m = s.iter().sum::<f64>() / s.len() as f64;
    Some((s.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (s.len() - 1) as f64).sqrt())
}

/// The median of `v`, reordering it (selection, not a full sort): the reference the bootstrap's
/// counting is tested against.
#[cfg(test)]
fn median_in_place(v: &mut [f64]) -> f64 {
    let n = v.len();
    let mid = n / 2;
    let (lower, m, _) = v.select_nth_unstable_by(mid, |a, b| a.total_cmp(b));
    let upper = *m;
    if n % 2 == 1 {
        upper
    } else {
        let below = lower.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (below + upper) / 2.0
    }
}

/// Percentile bootstrap 95 % confidence interval of the median (`iters` resamples).
///
/// A resample is drawn as indices into the sorted values and its median found by counting how
/// often each index was drawn (no sort, no selection): the same medians as sorting the resample,
/// in linear time.
pub fn bootstrap_median_ci(v: &[f64], seed: u64, iters: usize) -> Option<(f64, f64)> {
    let s = sorted(v);
    let n = s.len();
    if n < 2 {
        return None;
    }
    let mut rng = Rng::for_request(seed, n as u64);
    let mut medians = Vec::with_capacity(iters);
    let mut counts = vec![0u32; n];
    // The 0-based ranks of the median's order statistics in a resample of n.
    let (lo_rank, hi_rank) = ((n - 1) / 2, n / 2);
    for _ in 0..iters {
        counts.iter_mut().for_each(|c| *c = 0);
        for _ in 0..n {
            counts[(rng.next_u64() % n as u64) as usize] += 1;
        }
        let (mut seen, mut lo, mut hi) = (0usize, None, None);
        for (i, &c) in counts.iter().enumerate() {
            seen += c as usize;
            if lo.is_none() && seen > lo_rank {
                lo = Some(s[i]);
            }
            if seen > hi_rank {
                hi = Some(s[i]);
                break;
            }
        }
        if let (Some(a), Some(b)) = (lo, hi) {
            medians.push((a + b) / 2.0);
        }
    }
    medians.sort_by(|a, b| a.total_cmp(b));
    Some((
        percentile_sorted(&medians, 2.5)?,
        percentile_sorted(&medians, 97.5)?,
    ))
}

/// Sessions from which a median's interval comes from order statistics instead of a bootstrap.
pub const ORDER_STAT_CI_FROM: usize = 50;

/// A 95 % confidence interval of the median: a percentile bootstrap for small samples, and for
/// [`ORDER_STAT_CI_FROM`] values or more the distribution-free interval between order
/// statistics x₍ₗ₎ and x₍ᵤ₎, l = ⌊(n − 1.96√n)/2⌋, u = ⌈1 + (n + 1.96√n)/2⌉ (Conover, *Practical
/// Nonparametric Statistics*, 3.6) — the same coverage at a fraction of the cost.
pub fn median_ci(v: &[f64], seed: u64, iters: usize) -> Option<(f64, f64)> {
    let s = sorted(v);
    let n = s.len();
    if n < ORDER_STAT_CI_FROM {
        return bootstrap_median_ci(&s, seed, iters);
    }
    let half = 1.959_963_984_540_054 * (n as f64).sqrt();
    let l = ((n as f64 - half) / 2.0).floor().max(1.0) as usize;
    let u = ((1.0 + (n as f64 + half) / 2.0).ceil() as usize).min(n);
    Some((s[l - 1], s[u - 1]))
}

fn n_choose_k(n: usize, k: usize) -> f64 {
    (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
}

/// Two-sided permutation test of the difference in means between `a` and `b` (each value one
/// session). Exact (every relabelling) when there are at most 20,000; otherwise 10,000 seeded
/// random relabellings. Returns the p-value, or `None` when a group is empty. (Means, not medians:
/// with a handful of sessions the median difference ties across many relabellings and the test
/// loses almost all its power.)
pub fn permutation_p(a: &[f64], b: &[f64], seed: u64) -> Option<f64> {
    let (a, b) = (sorted(a), sorted(b));
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let pooled: Vec<f64> = a.iter().chain(&b).copied().collect();
    let (n, k) = (pooled.len(), a.len());
    let total: f64 = pooled.iter().sum();
    // |mean(chosen) − mean(rest)| from the sum of the chosen values alone.
    let stat =
        |chosen_sum: f64| (chosen_sum / k as f64 - (total - chosen_sum) / (n - k) as f64).abs();
    let observed = stat(a.iter().sum());
    // A tiny tolerance so ties with the observed statistic count as "at least as extreme".
    let extreme = |d: f64| d >= observed - 1e-9 * observed.abs().max(1.0);
    if n_choose_k(n, k) <= 20_000.0 {
        let (mut hits, mut count) = (0u64, 0u64);
        let mut idx: Vec<usize> = (0..k).collect();
        loop {
            count += 1;
            if extreme(stat(idx.iter().map(|&i| pooled[i]).sum())) {
                hits += 1;
            }
            // Next k-combination of 0..n in lexicographic order.
            let mut i = k;
            while i > 0 && idx[i - 1] == n - k + i - 1 {
                i -= 1;
            }
            if i == 0 {
                break;
            }
            idx[i - 1] += 1;
            for j in i..k {
                idx[j] = idx[j - 1] + 1;
            }
        }
        return Some(hits as f64 / count as f64);
    }
    let mut rng = Rng::for_request(seed, n as u64);
    let mut values = pooled.clone();
    Some(sequential_p(|| {
        // A partial Fisher–Yates shuffle draws a uniformly random group of k.
        let mut sum = 0.0;
        for i in 0..k {
            let j = i + (rng.next_u64() % (n - i) as u64) as usize;
            values.swap(i, j);
            sum += values[i];
        }
        extreme(stat(sum))
    }))
}

/// Random relabellings at most, and the exceedances after which a Monte Carlo test stops.
pub const MC_MAX: u64 = 10_000;
pub const MC_STOP_HITS: u64 = 200;

/// A Monte Carlo p-value from `draw` (one random relabelling: is it at least as extreme as the
/// observed data?), stopped early once [`MC_STOP_HITS`] relabellings were (Besag & Clifford
/// 1991: p = h / l, still an exact-level test); otherwise (hits + 1) / (MC_MAX + 1). A clearly
/// unremarkable difference then costs a few hundred relabellings instead of ten thousand.
pub fn sequential_p(mut draw: impl FnMut() -> bool) -> f64 {
    let mut hits = 0u64;
    for l in 1..=MC_MAX {
        if draw() {
            hits += 1;
            if hits == MC_STOP_HITS {
                return hits as f64 / l as f64;
            }
        }
    }
    (hits + 1) as f64 / (MC_MAX + 1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_samples_take_the_median_interval_from_order_statistics() {
        // n = 100: the 40th and 61st smallest values (Conover's table for a 95 % interval).
        let v: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert_eq!(median_ci(&v, 1, 2000), Some((40.0, 61.0)));
        // Below the cut-over it is the bootstrap's interval.
        let small: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(
            median_ci(&small, 7, 2000),
            bootstrap_median_ci(&small, 7, 2000)
        );
    }

    #[test]
    fn percentiles_interpolate_and_ignore_non_finite_values() {
        let v = [4.0, 1.0, 3.0, 2.0, f64::NAN];
        assert_eq!(median(&v), Some(2.5));
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&v, 100.0), Some(4.0));
        assert!((percentile(&[1.0, 2.0, 3.0, 4.0, 5.0], 95.0).unwrap() - 4.8).abs() < 1e-12);
        assert_eq!(median(&[]), None);
        assert!((stdev(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap() - 2.138).abs() < 1e-3);
    }

    #[test]
    fn the_bootstrap_interval_contains_the_median_and_is_reproducible() {
        let v: Vec<f64> = (0..30).map(|i| 100.0 + (i as f64 * 7.0) % 23.0).collect();
        let (lo, hi) = bootstrap_median_ci(&v, 1, 2000).unwrap();
        let m = median(&v).unwrap();
        assert!(lo <= m && m <= hi, "{lo} {m} {hi}");
        assert_eq!(bootstrap_median_ci(&v, 1, 2000), Some((lo, hi)));
        assert_eq!(bootstrap_median_ci(&[1.0], 1, 100), None);
        // Counting draws gives the medians a sort of each resample gives.
        for n in [2usize, 5, 6, 31] {
            let v: Vec<f64> = (0..n)
                .map(|i| ((i * 37) % 11) as f64 + i as f64 / 100.0)
                .collect();
            let s = sorted(&v);
            let mut rng = Rng::for_request(9, n as u64);
            let mut medians = Vec::new();
            for _ in 0..500 {
                let mut sample: Vec<f64> = (0..n)
                    .map(|_| s[(rng.next_u64() % n as u64) as usize])
                    .collect();
                medians.push(median_in_place(&mut sample));
            }
            medians.sort_by(|a, b| a.total_cmp(b));
            let want = (
                percentile_sorted(&medians, 2.5).unwrap(),
                percentile_sorted(&medians, 97.5).unwrap(),
            );
            assert_eq!(bootstrap_median_ci(&v, 9, 500), Some(want), "n = {n}");
        }
    }

    #[test]
    fn the_permutation_test_is_exact_for_small_groups() {
        // Completely separated groups of 3: the two most extreme of C(6,3) = 20 labellings.
        let p = permutation_p(&[1.0, 2.0, 3.0], &[10.0, 11.0, 12.0], 0).unwrap();
        assert!((p - 2.0 / 20.0).abs() < 1e-12, "{p}");
        let mut m = [5.0, 1.0, 4.0, 2.0];
        assert_eq!(median_in_place(&mut m), 3.0);
        let mut m = [5.0, 1.0, 4.0];
        assert_eq!(median_in_place(&mut m), 4.0);
        let same = permutation_p(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0], 0).unwrap();
        assert!((same - 1.0).abs() < 1e-12);
        let four = permutation_p(&[1.0, 2.0, 3.0, 4.0], &[10.0, 11.0, 12.0, 13.0], 0).unwrap();
        assert!((four - 2.0 / 70.0).abs() < 1e-12, "{four}");
        let big_a: Vec<f64> = (0..40).map(|i| 100.0 + i as f64).collect();
        let big_b: Vec<f64> = (0..40).map(|i| 160.0 + i as f64).collect();
        assert!(permutation_p(&big_a, &big_b, 3).unwrap() < 0.001);
        assert_eq!(permutation_p(&[], &[1.0], 0), None);
    }
}
