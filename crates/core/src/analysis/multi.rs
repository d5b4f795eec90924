//! Statistics over several tasks and repeated trials (docs/statistics.md): pass@k and pass^k,
//! ranks within a task, Friedman's test over tasks with Holm-adjusted post-hoc pairs and the
//! Nemenyi critical difference (Demšar 2006), and the Cochran–Mantel–Haenszel test of success
//! stratified by task.

use statrs::distribution::{ChiSquared, ContinuousCDF, Normal};

/// pass@k: the chance that at least one of `k` trials drawn from `n` (of which `c` succeeded)
/// succeeds — the unbiased estimator of Chen et al. (2021), 1 − C(n−c, k) / C(n, k), in its
/// product form. `None` when `k` is 0 or more than `n`.
pub fn pass_at_k(n: u64, c: u64, k: u64) -> Option<f64> {
    if k == 0 || k > n || c > n {
        return None;
    }
    if n - c < k {
        return Some(1.0);
    }
    let none: f64 = ((n - c + 1)..=n)
        .map(|i| 1.0 - k as f64 / i as f64)
        .product();
    Some(1.0 - none)
}

/// pass^k: the chance that all of `k` trials drawn from `n` succeed, C(c, k) / C(n, k) (the
/// reliability figure tau-bench reports beside pass@k).
pub fn pass_hat_k(n: u64, c: u64, k: u64) -> Option<f64> {
    if k == 0 || k > n || c > n {
        return None;
    }
    Some(
        (0..k)
            .map(|i| (c.saturating_sub(i)) as f64 / (n - i) as f64)
            .product(),
    )
}

/// Ranks of `row` (1 = smallest), ties sharing their average rank.
pub fn ranks(row: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..row.len()).collect();
    order.sort_by(|&i, &j| row[i].total_cmp(&row[j]));
    let mut out = vec![0.0; row.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && row[order[j + 1]] == row[order[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &o in &order[i..=j] {
            out[o] = avg;
        }
        i = j + 1;
    }
    out
}

/// Friedman's rank sum test of a complete block design.
#[derive(Debug, Clone, PartialEq)]
pub struct Friedman {
    /// Friedman's chi-squared, corrected for ties (R's `friedman.test`).
    pub statistic: f64,
    pub df: f64,
    pub p: f64,
    /// Each column's mean rank over the blocks (1 = smallest value).
    pub mean_ranks: Vec<f64>,
}

/// Friedman's test over `blocks` (one row per block — a task — and one column per treatment — a
/// variant). `None` with fewer than two blocks or two treatments, or rows of unequal length.
pub fn friedman(blocks: &[Vec<f64>]) -> Option<Friedman> {
    let n = blocks.len();
    let k = blocks.first()?.len();
    if n < 2 || k < 2 || blocks.iter().any(|b| b.len() != k) {
        return None;
    }
    let mut sums = vec![0.0; k];
    let mut ties = 0.0;
    for b in blocks {
        let r = ranks(b);
        for (s, x) in sums.iter_mut().zip(&r) {
            *s += x;
        }
        ties += tie_term(&r);
    }
    let (nf, kf) = (n as f64, k as f64);
    let centre = nf * (kf + 1.0) / 2.0;
    let ss: f64 = sums.iter().map(|s| (s - centre).powi(2)).sum();
    let denom = nf * kf * (kf + 1.0) - ties / (kf - 1.0);
    let mean_ranks = sums.iter().map(|s| s / nf).collect();
    if denom <= 0.0 {
        // Every block tied throughout: no evidence of any difference.
        return Some(Friedman {
            statistic: 0.0,
            df: kf - 1.0,
            p: 1.0,
            mean_ranks,
        });
    }
    let statistic = 12.0 * ss / denom;
    Some(Friedman {
        statistic,
        df: kf - 1.0,
        p: chi2_sf(statistic, kf - 1.0)?,
        mean_ranks,
    })
}

/// Σ (t³ − t) over the groups of tied ranks in one block.
fn tie_term(r: &[f64]) -> f64 {
    let mut sorted = r.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut total = 0.0;
    let mut i = 0;
    while i < sorted.len() {
        let j = sorted[i..].iter().take_while(|x| **x == sorted[i]).count();
        let t = j as f64;
        total += t * t * t - t;
        i += j;
    }
    total
}

/// The survival function of the chi-squared distribution with `df` degrees of freedom.
pub fn chi2_sf(x: f64, df: f64) -> Option<f64> {
    let d = ChiSquared::new(df).ok()?;
    Some(d.sf(x.max(0.0)))
}

/// The two-sided p-value of a standard normal statistic.
pub fn normal_two_sided(z: f64) -> f64 {
    match Normal::new(0.0, 1.0) {
        Ok(n) => (2.0 * n.sf(z.abs())).min(1.0),
        Err(_) => 1.0,
    }
}

/// One post-hoc pair after Friedman's test: the difference of mean ranks as a z statistic
/// (Demšar 2006, §3.2.2), its two-sided p and the Holm-adjusted p over every pair.
#[derive(Debug, Clone, PartialEq)]
pub struct RankPair {
    pub a: usize,
    pub b: usize,
    pub z: f64,
    pub p: f64,
    pub p_holm: f64,
}

/// Every pair of treatments compared by mean rank over `n_blocks` blocks.
pub fn rank_pairs(mean_ranks: &[f64], n_blocks: usize) -> Vec<RankPair> {
    let k = mean_ranks.len() as f64;
    let se = (k * (k + 1.0) / (6.0 * n_blocks as f64)).sqrt();
    let mut pairs = Vec::new();
    for a in 0..mean_ranks.len() {
        for b in (a + 1)..mean_ranks.len() {
            let z = (mean_ranks[a] - mean_ranks[b]) / se;
            pairs.push(RankPair {
                a,
                b,
                z,
                p: normal_two_sided(z),
                p_holm: 1.0,
            });
        }
    }
    let adjusted = crate::tests_of::holm(&pairs.iter().map(|p| p.p).collect::<Vec<_>>());
    for (p, adj) in pairs.iter_mut().zip(adjusted) {
        p.p_holm = adj;
    }
    pairs
}

/// The Nemenyi critical difference of mean ranks at α = 0.05 for `k` treatments over `n`
/// blocks: q_α √(k(k+1)/6n), q_α from Demšar (2006), Table 5(a). `None` outside k = 2…10.
pub fn critical_difference(k: usize, n: usize) -> Option<f64> {
    const Q05: [f64; 9] = [
        1.960, 2.343, 2.569, 2.728, 2.850, 2.949, 3.031, 3.102, 3.164,
    ];
    let q = Q05.get(k.checked_sub(2)?)?;
    (n > 0).then(|| q * ((k * (k + 1)) as f64 / (6.0 * n as f64)).sqrt())
}

/// One stratum's 2×2 table: rows the two treatments, columns success / failure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Table2 {
    pub a_success: f64,
    pub a_failure: f64,
    pub b_success: f64,
    pub b_failure: f64,
}

/// The Cochran–Mantel–Haenszel test over strata.
#[derive(Debug, Clone, PartialEq)]
pub struct Cmh {
    /// Mantel–Haenszel chi-squared (1 df), with R's continuity correction.
    pub statistic: f64,
    pub p: f64,
    /// The Mantel–Haenszel common odds ratio (a's odds of success over b's); `None` when
    /// undefined (no discordant information).
    pub odds_ratio: Option<f64>,
}

/// CMH test of `strata` (R's `mantelhaen.test` for 2×2×K tables, `correct = TRUE`). Strata with
/// fewer than two observations carry no information and are skipped; `None` when no stratum
/// has any variance.
pub fn cmh(strata: &[Table2]) -> Option<Cmh> {
    let (mut delta, mut var, mut num, mut den) = (0.0, 0.0, 0.0, 0.0);
    for t in strata {
        let (r1, r2) = (t.a_success + t.a_failure, t.b_success + t.b_failure);
        let (c1, c2) = (t.a_success + t.b_success, t.a_failure + t.b_failure);
        let n = r1 + r2;
        if n < 2.0 {
            continue;
        }
        delta += t.a_success - r1 * c1 / n;
        var += r1 * r2 * c1 * c2 / (n * n * (n - 1.0));
        num += t.a_success * t.b_failure / n;
        den += t.a_failure * t.b_success / n;
    }
    if var <= 0.0 {
        return None;
    }
    let yates = if delta.abs() >= 0.5 { 0.5 } else { 0.0 };
    let statistic = (delta.abs() - yates).powi(2) / var;
    Some(Cmh {
        statistic,
        p: chi2_sf(statistic, 1.0)?,
        odds_ratio: (den > 0.0).then(|| num / den),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    /// C(n, k) by the definition, for the hand-computed cases.
    fn choose(n: u64, k: u64) -> f64 {
        if k > n {
            return 0.0;
        }
        (0..k).map(|i| (n - i) as f64 / (i + 1) as f64).product()
    }

    #[test]
    fn pass_at_k_matches_its_definition() {
        // n = 5 trials, c = 2 successes, k = 2: 1 − C(3,2)/C(5,2) = 1 − 3/10.
        assert!(close(pass_at_k(5, 2, 2).unwrap(), 0.7, 1e-12));
        // k = 1 is the success rate.
        assert!(close(pass_at_k(10, 3, 1).unwrap(), 0.3, 1e-12));
        // Fewer failures than k: some success is certain.
        assert_eq!(pass_at_k(4, 3, 2), Some(1.0));
        assert_eq!(pass_at_k(4, 0, 2), Some(0.0));
        for n in 1..=12 {
            for c in 0..=n {
                for k in 1..=n {
                    let want = 1.0 - choose(n - c, k) / choose(n, k);
                    assert!(
                        close(pass_at_k(n, c, k).unwrap(), want, 1e-12),
                        "{n} {c} {k}"
                    );
                    let all = choose(c, k) / choose(n, k);
                    assert!(
                        close(pass_hat_k(n, c, k).unwrap(), all, 1e-12),
                        "{n} {c} {k}"
                    );
                }
            }
        }
        assert_eq!(pass_at_k(3, 1, 4), None, "k above n");
        assert_eq!(pass_hat_k(3, 1, 0), None);
        // pass^2 of 3 successes in 5: C(3,2)/C(5,2) = 3/10.
        assert!(close(pass_hat_k(5, 3, 2).unwrap(), 0.3, 1e-12));
    }

    #[test]
    fn ranks_average_ties() {
        assert_eq!(ranks(&[3.0, 1.0, 2.0]), vec![3.0, 1.0, 2.0]);
        assert_eq!(ranks(&[5.0, 5.0, 1.0, 5.0]), vec![3.0, 3.0, 1.0, 3.0]);
    }

    /// R's `friedman.test(RoundingTimes)` (Hollander & Wolfe 1973, p. 140; the example in R's
    /// documentation): Friedman chi-squared = 11.143, df = 2, p-value = 0.003805.
    #[test]
    fn friedman_matches_r_on_rounding_times() {
        let data = [
            [5.40, 5.50, 5.55],
            [5.85, 5.70, 5.75],
            [5.20, 5.60, 5.50],
            [5.55, 5.50, 5.40],
            [5.90, 5.85, 5.70],
            [5.45, 5.55, 5.60],
            [5.40, 5.40, 5.35],
            [5.45, 5.50, 5.35],
            [5.25, 5.15, 5.00],
            [5.85, 5.80, 5.70],
            [5.25, 5.20, 5.10],
            [5.65, 5.55, 5.45],
            [5.60, 5.35, 5.45],
            [5.05, 5.00, 4.95],
            [5.50, 5.50, 5.40],
            [5.45, 5.55, 5.50],
            [5.55, 5.55, 5.35],
            [5.45, 5.50, 5.55],
            [5.50, 5.45, 5.25],
            [5.65, 5.60, 5.40],
            [5.70, 5.65, 5.55],
            [6.30, 6.30, 6.25],
        ];
        let blocks: Vec<Vec<f64>> = data.iter().map(|r| r.to_vec()).collect();
        let f = friedman(&blocks).unwrap();
        assert!(close(f.statistic, 11.143, 5e-4), "{}", f.statistic);
        assert_eq!(f.df, 2.0);
        assert!(close(f.p, 0.003805, 5e-7), "{}", f.p);
        // Wide angle is fastest in most blocks: the smallest mean rank.
        assert!(f.mean_ranks[2] < f.mean_ranks[0] && f.mean_ranks[2] < f.mean_ranks[1]);
        assert!(friedman(&blocks[..1]).is_none(), "one block");
        let tied = vec![vec![1.0, 1.0], vec![2.0, 2.0]];
        assert_eq!(friedman(&tied).unwrap().p, 1.0);
    }

    /// R's `mantelhaen.test(Rabbits)` (Agresti 1990, penicillin and rabbits; R's documentation
    /// example): Mantel-Haenszel X-squared = 3.9286, df = 1, p-value = 0.04747. The common odds
    /// ratio from its definition, Σ a d / n ÷ Σ b c / n = 3.5 / 0.5.
    #[test]
    fn cmh_matches_r_on_rabbits() {
        let t = |a_s, b_s, a_f, b_f| Table2 {
            a_success: a_s,
            a_failure: a_f,
            b_success: b_s,
            b_failure: b_f,
        };
        // R's array(c(0, 0, 6, 5, …), dim = c(2, 2, 5)) is column-major: x[1,1], x[2,1],
        // x[1,2], x[2,2] per stratum.
        let strata = [
            t(0.0, 0.0, 6.0, 5.0),
            t(3.0, 0.0, 3.0, 6.0),
            t(6.0, 2.0, 0.0, 4.0),
            t(5.0, 6.0, 1.0, 0.0),
            t(2.0, 5.0, 0.0, 0.0),
        ];
        let r = cmh(&strata).unwrap();
        assert!(close(r.statistic, 3.9286, 5e-5), "{}", r.statistic);
        assert!(close(r.p, 0.04747, 5e-6), "{}", r.p);
        assert!(close(r.odds_ratio.unwrap(), 7.0, 1e-12));
        assert!(cmh(&[t(1.0, 0.0, 0.0, 0.0)]).is_none(), "no variance");
    }

    #[test]
    fn rank_pairs_and_critical_difference() {
        // Demšar's worked example (§3.2.2): k = 4, N = 14, CD at α = .05 is 2.569·√(20/84) = 1.25.
        assert!(close(critical_difference(4, 14).unwrap(), 1.2536, 1e-3));
        assert!(critical_difference(11, 14).is_none());
        let pairs = rank_pairs(&[1.0, 2.0, 3.0], 30);
        assert_eq!(pairs.len(), 3);
        // se = √(3·4/180); 2 ranks apart → z = −7.75, p ≈ 1e-14.
        let far = &pairs[1];
        assert_eq!((far.a, far.b), (0, 2));
        assert!(far.z < -7.0 && far.p < 1e-10 && far.p_holm >= far.p);
        assert!(close(normal_two_sided(1.959_964), 0.05, 1e-6));
    }
}
