//! How many sessions a difference needs: the normal-approximation sample sizes of a two-sided
//! two-sample test, used to say "about N more sessions per variant would tell" when a comparison
//! cannot tell yet.

/// The standard normal quantile Φ⁻¹(p) (Acklam's rational approximation, relative error below
/// 1.2e-9); `None` outside (0, 1).
pub fn normal_quantile(p: f64) -> Option<f64> {
    if !(p > 0.0 && p < 1.0) {
        return None;
    }
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    const LOW: f64 = 0.024_25;
    Some(if p < LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - LOW {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    })
}

/// Sessions per variant for a two-sided test of two means `delta` apart, with standard deviation
/// `sd`, at level `alpha` with `power`: n = 2 (z₁₋α/₂ + z_power)² σ² / δ².
pub fn sessions_for_means(delta: f64, sd: f64, alpha: f64, power: f64) -> Option<f64> {
    if !(delta.is_finite() && sd.is_finite()) || delta == 0.0 || sd < 0.0 {
        return None;
    }
    let z = normal_quantile(1.0 - alpha / 2.0)? + normal_quantile(power)?;
    Some(2.0 * (z * sd / delta).powi(2))
}

/// Sessions per variant for a two-sided test of two success rates `p1` and `p2` (normal
/// approximation without continuity correction, Fleiss):
/// n = (z₁₋α/₂ √(2 p̄ q̄) + z_power √(p₁q₁ + p₂q₂))² / (p₁ − p₂)².
pub fn sessions_for_rates(p1: f64, p2: f64, alpha: f64, power: f64) -> Option<f64> {
    let ok = |p: f64| (0.0..=1.0).contains(&p);
    if !(ok(p1) && ok(p2)) || p1 == p2 {
        return None;
    }
    let pbar = (p1 + p2) / 2.0;
    let a = normal_quantile(1.0 - alpha / 2.0)? * (2.0 * pbar * (1.0 - pbar)).sqrt();
    let b = normal_quantile(power)? * (p1 * (1.0 - p1) + p2 * (1.0 - p2)).sqrt();
    Some(((a + b) / (p1 - p2)).powi(2))
}

/// The fewest sessions per variant at which an exact two-sided two-sample test (permutation, or
/// Fisher's for rates) can reach `alpha` at all: the most extreme split has p = 2 / C(2n, n).
pub fn min_sessions_for(alpha: f64) -> usize {
    let mut n = 2usize;
    loop {
        let c = (0..n).fold(1.0, |acc, i| acc * (2 * n - i) as f64 / (i + 1) as f64);
        if 2.0 / c <= alpha || n >= 1000 {
            return n;
        }
        n += 1;
    }
}

/// The pooled within-cell standard deviation of `cells` (each a list of ln times); `None` when
/// no cell has two values.
pub fn pooled_sd(cells: &[Vec<f64>]) -> Option<f64> {
    let (mut ss, mut df) = (0.0, 0usize);
    for c in cells.iter().filter(|c| c.len() >= 2) {
        let m = c.iter().sum::<f64>() / c.len() as f64;
        ss += c.iter().map(|x| (x - m).powi(2)).sum::<f64>();
        df += c.len() - 1;
    }
    (df > 0).then(|| (ss / df as f64).sqrt())
}

/// The slowdown ratio one variant needs (on every task) to be found with 80 % power over
/// `blocks` randomized complete blocks of `k` variants: a paired comparison of ln times with
/// spread √2·σ per block, at α = 0.05 / (k(k−1)/2) (Holm's first step), with the blocks
/// discounted by the rank test's asymptotic efficiency against the t test, 3/π · k/(k+1).
/// The suite simulations in docs/statistics.md print it beside what they find.
pub fn detectable_ratio(spread: f64, k: usize, blocks: usize) -> Option<f64> {
    if k < 2 || blocks < 2 {
        return None;
    }
    let pairs = (k * (k - 1) / 2) as f64;
    let z_alpha = normal_quantile(1.0 - 0.05 / pairs / 2.0)?;
    let z_power = normal_quantile(0.8)?;
    let efficiency = 3.0 / std::f64::consts::PI * k as f64 / (k as f64 + 1.0);
    let n = blocks as f64 * efficiency;
    Some(((z_alpha + z_power) * spread * 2f64.sqrt() / n.sqrt()).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_match_published_values() {
        // Φ⁻¹ from standard normal tables (Abramowitz & Stegun 26.2).
        for (p, z) in [
            (0.975, 1.959_963_985),
            (0.8, 0.841_621_234),
            (0.9975, 2.807_033_768),
            (0.5, 0.0),
            (0.01, -2.326_347_874),
        ] {
            let got = normal_quantile(p).unwrap();
            assert!((got - z).abs() < 1e-8, "Φ⁻¹({p}) = {got}, want {z}");
        }
        assert_eq!(normal_quantile(0.0), None);
        assert_eq!(normal_quantile(1.0), None);
    }

    #[test]
    fn sample_sizes_match_textbook_values() {
        // Cohen's medium effect (d = 0.5), α = 0.05, 80 % power: 63 per group (normal
        // approximation; 64 with the t correction).
        let n = sessions_for_means(0.5, 1.0, 0.05, 0.8).unwrap();
        assert_eq!(n.ceil(), 63.0, "{n}");
        // 50 % vs 70 % success, α = 0.05, 80 % power: 93 per group (Fleiss, no continuity
        // correction).
        let n = sessions_for_rates(0.5, 0.7, 0.05, 0.8).unwrap();
        assert_eq!(n.ceil(), 93.0, "{n}");
        assert_eq!(sessions_for_means(0.0, 1.0, 0.05, 0.8), None);
        // 3 vs 3: p ≥ 2/20 = 0.1; 4 vs 4: 2/70 = 0.029. Ten pairs (α = 0.005): 5 vs 5 gives
        // 2/252 = 0.0079, 6 vs 6 gives 2/924 = 0.0022.
        assert_eq!(min_sessions_for(0.05), 4);
        assert_eq!(min_sessions_for(0.005), 6);
        assert_eq!(sessions_for_rates(0.4, 0.4, 0.05, 0.8), None);
    }

    #[test]
    fn detectable_ratio_shrinks_with_blocks_and_grows_with_spread() {
        let small = detectable_ratio(0.1, 5, 40).unwrap();
        // 8 tasks × 5 trials at 10 % spread: about 10 % (the simulations find a 10 % slowdown
        // in ~97 % of experiments there).
        assert!(small > 1.05 && small < 1.12, "{small}");
        assert!(detectable_ratio(0.1, 5, 80).unwrap() < small);
        assert!(detectable_ratio(0.3, 5, 40).unwrap() > small);
        assert_eq!(detectable_ratio(0.1, 1, 40), None);
        assert_eq!(detectable_ratio(0.1, 3, 1), None);
    }

    #[test]
    fn pooled_sd_uses_cells_with_repetitions() {
        assert_eq!(pooled_sd(&[vec![1.0]]), None);
        let sd = pooled_sd(&[vec![1.0, 3.0], vec![5.0], vec![2.0, 2.0]]).unwrap();
        // ss = 2 + 0 over df = 2.
        assert!((sd - 1.0).abs() < 1e-12);
    }
}
