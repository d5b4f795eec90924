//! Tests for task outcomes and for many variants at once (docs/sessions.md, "Statistics"): the
//! Wilson score interval of a success rate, Fisher's exact test of two success rates, Holm's
//! step-down adjustment of a family of p-values, and an omnibus permutation test across all
//! variants before any pairwise comparison.

use crate::rng::Rng;

/// The two-sided 95 % normal quantile.
pub const Z95: f64 = 1.959_963_984_540_054;

/// Wilson score interval (no continuity correction) of `successes` out of `n` at normal quantile
/// `z`; `None` when `n` is 0.
pub fn wilson(successes: u64, n: u64, z: f64) -> Option<(f64, f64)> {
    if n == 0 || successes > n {
        return None;
    }
    let (x, n) = (successes as f64, n as f64);
    let p = x / n;
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

/// ln(k!) by summing logs (exact enough for the session counts a benchmark has).
fn ln_factorial(k: u64) -> f64 {
    (2..=k).map(|i| (i as f64).ln()).sum()
}

/// Fisher's exact test, two-sided, of the 2×2 table `[[a, b], [c, d]]` (rows: variants;
/// columns: successes, failures). The p-value sums the probabilities of every table with the
/// same margins that is no more likely than the observed one (R's `fisher.test` convention).
pub fn fisher_exact(a: u64, b: u64, c: u64, d: u64) -> f64 {
    let (r1, r2, c1) = (a + b, c + d, a + c);
    let n = r1 + r2;
    let ln_const = ln_factorial(r1) + ln_factorial(r2) + ln_factorial(c1) + ln_factorial(n - c1)
        - ln_factorial(n);
    let prob = |x: u64| {
        let (bx, cx) = (r1 - x, c1 - x);
        let dx = r2 - cx;
        (ln_const - ln_factorial(x) - ln_factorial(bx) - ln_factorial(cx) - ln_factorial(dx)).exp()
    };
    let lo = c1.saturating_sub(r2);
    let hi = r1.min(c1);
    let observed = prob(a);
    // Relative tolerance, as R uses, so tables as likely as the observed one count.
    let p: f64 = (lo..=hi)
        .map(prob)
        .filter(|p| *p <= observed * (1.0 + 1e-7))
        .sum();
    p.min(1.0)
}

/// Holm's step-down adjustment: adjusted p-values in the input order (each ≤ 1, monotone in the
/// raw order, controlling the family-wise error rate).
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| p[i].total_cmp(&p[j]));
    let mut out = vec![1.0; m];
    let mut running: f64 = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        let adj = ((m - rank) as f64 * p[i]).min(1.0);
        running = running.max(adj);
        out[i] = running;
    }
    out
}

/// Omnibus permutation test across groups (one value per session): the statistic is the
/// between-group sum of squares Σ nᵢ (meanᵢ − mean)², compared with 10,000 seeded random
/// relabellings of the pooled values. `None` with fewer than two non-empty groups.
pub fn omnibus_p(groups: &[Vec<f64>], seed: u64) -> Option<f64> {
    let groups: Vec<Vec<f64>> = groups
        .iter()
        .map(|g| g.iter().copied().filter(|x| x.is_finite()).collect())
        .filter(|g: &Vec<f64>| !g.is_empty())
        .collect();
    if groups.len() < 2 {
        return None;
    }
    let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
    let mut pooled: Vec<f64> = groups.concat();
    let grand = pooled.iter().sum::<f64>() / pooled.len() as f64;
    let stat = |values: &[f64]| {
        let mut at = 0;
        let mut ss = 0.0;
        for &n in &sizes {
            let m = values[at..at + n].iter().sum::<f64>() / n as f64;
            ss += n as f64 * (m - grand).powi(2);
            at += n;
        }
        ss
    };
    let observed = stat(&pooled);
    let extreme = |s: f64| s >= observed - 1e-9 * observed.abs().max(1.0);
    let mut rng = Rng::for_request(seed, pooled.len() as u64);
    Some(crate::stats::sequential_p(|| {
        for i in (1..pooled.len()).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            pooled.swap(i, j);
        }
        extreme(stat(&pooled))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn wilson_matches_newcombe_1998() {
        // Newcombe, "Two-sided confidence intervals for the single proportion" (Stat Med 1998),
        // table I, method 3 (score interval without continuity correction).
        for (x, n, lo, hi) in [
            (81, 263, 0.2553, 0.3662),
            (15, 148, 0.0624, 0.1605),
            (0, 20, 0.0, 0.1611),
            (1, 29, 0.0061, 0.1718),
        ] {
            let (l, h) = wilson(x, n, Z95).unwrap();
            assert!(
                close(l, lo, 5e-5) && close(h, hi, 5e-5),
                "{x}/{n}: {l:.4}–{h:.4}"
            );
        }
        assert_eq!(wilson(0, 0, Z95), None);
        assert_eq!(wilson(3, 3, Z95).map(|(_, h)| h), Some(1.0));
    }

    #[test]
    fn fisher_matches_published_values() {
        // Fisher's lady tasting tea (R: fisher.test(TeaTasting)$p.value = 0.4857).
        assert!(close(fisher_exact(3, 1, 1, 3), 0.485_714, 1e-6));
        // Fleiss et al., Statistical Methods for Rates and Proportions (R: Convictions,
        // two-sided p = 0.0005367).
        assert!(close(fisher_exact(2, 10, 15, 3), 0.000_536_7, 5e-8));
        // Identical rates: nothing to see.
        assert!(close(fisher_exact(5, 0, 5, 0), 1.0, 1e-12));
        assert!(close(fisher_exact(3, 2, 3, 2), 1.0, 1e-9));
    }

    #[test]
    fn holm_adjusts_step_down_and_keeps_the_order() {
        // Holm (1979): sorted p × (m − rank), made monotone. R: p.adjust(c(.01,.04,.03,.005), "holm").
        let adj = holm(&[0.01, 0.04, 0.03, 0.005]);
        let want = [0.03, 0.06, 0.06, 0.02];
        for (a, w) in adj.iter().zip(want) {
            assert!(close(*a, w, 1e-12), "{adj:?}");
        }
        assert_eq!(holm(&[0.5, 0.9]), vec![1.0, 1.0]);
        assert!(holm(&[]).is_empty());
    }

    #[test]
    fn the_omnibus_test_separates_shifted_groups_and_not_equal_ones() {
        let same: Vec<Vec<f64>> = (0..5)
            .map(|g| {
                (0..5)
                    .map(|i| 100.0 + ((i * 7 + g * 3) % 11) as f64)
                    .collect()
            })
            .collect();
        assert!(omnibus_p(&same, 1).unwrap() > 0.05);
        let mut shifted = same.clone();
        shifted[2].iter_mut().for_each(|x| *x += 40.0);
        assert!(omnibus_p(&shifted, 1).unwrap() < 0.01);
        assert_eq!(omnibus_p(&[vec![1.0], vec![]], 1), None);
    }
}
