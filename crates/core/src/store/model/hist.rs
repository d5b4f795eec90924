//! A log-bucketed histogram of milliseconds: mergeable across keys, models and days, and small
//! enough to store per usage rollup. A value's bucket spans a factor of [`GROWTH`], and a
//! percentile is read as its bucket's geometric middle, so it is within ±1 % of the exact
//! nearest-rank percentile (values under [`FLOOR_MS`] all read as half of it).

use std::collections::BTreeMap;

/// Each bucket's upper bound over its lower bound.
pub const GROWTH: f64 = 1.02;
/// Values below this share bucket 0.
pub const FLOOR_MS: f64 = 0.1;

/// Counts per bucket index.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hist {
    buckets: BTreeMap<u32, u64>,
    count: u64,
}

fn index(v: f64) -> u32 {
    if v.is_nan() || v < FLOOR_MS {
        return 0;
    }
    // Capped far above any latency (1.02^2000 × 0.1 ms is ~10^16 ms).
    (1.0 + ((v / FLOOR_MS).ln() / GROWTH.ln()).floor()).min(2000.0) as u32
}

fn middle(i: u32) -> f64 {
    if i == 0 {
        FLOOR_MS / 2.0
    } else {
        FLOOR_MS * GROWTH.powf(f64::from(i - 1) + 0.5)
    }
}

impl Hist {
    pub fn add(&mut self, v: f64) {
        if v.is_finite() {
            *self.buckets.entry(index(v)).or_default() += 1;
            self.count += 1;
        }
    }

    pub fn merge(&mut self, other: &Hist) {
        for (i, n) in &other.buckets {
            *self.buckets.entry(*i).or_default() += n;
        }
        self.count += other.count;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The nearest-rank `p`-quantile (0 < p ≤ 1), `None` when empty.
    pub fn quantile(&self, p: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((p * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (i, n) in &self.buckets {
            seen += n;
            if seen >= rank {
                return Some(middle(*i));
            }
        }
        self.buckets.keys().next_back().map(|i| middle(*i))
    }

    /// Compact text form: `index:count` pairs, comma-separated.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(self.buckets.len() * 8);
        for (k, (i, n)) in self.buckets.iter().enumerate() {
            if k > 0 {
                out.push(',');
            }
            out.push_str(&i.to_string());
            out.push(':');
            out.push_str(&n.to_string());
        }
        out
    }

    /// Add the counts of an [`Hist::encode`]d histogram (malformed pairs are skipped).
    pub fn merge_encoded(&mut self, text: &str) {
        for pair in text.split(',') {
            let Some((i, n)) = pair.split_once(':') else {
                continue;
            };
            if let (Ok(i), Ok(n)) = (i.parse::<u32>(), n.parse::<u64>()) {
                *self.buckets.entry(i).or_default() += n;
                self.count += n;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(sorted: &[f64], p: f64) -> f64 {
        let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    }

    #[test]
    fn percentiles_are_within_one_percent_of_the_exact_nearest_rank() {
        // A skewed spread over five decades, as latencies are.
        let mut state = 7u64;
        let mut values: Vec<f64> = (0..20_000)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                let u = (state >> 11) as f64 / (1u64 << 53) as f64;
                0.5 * 10f64.powf(5.0 * u)
            })
            .collect();
        let mut h = Hist::default();
        for v in &values {
            h.add(*v);
        }
        values.sort_by(f64::total_cmp);
        for p in [0.01, 0.5, 0.9, 0.95, 0.99, 1.0] {
            let (got, want) = (h.quantile(p).unwrap(), exact(&values, p));
            assert!(
                (got / want - 1.0).abs() <= 0.0101,
                "p{p}: {got} vs exact {want}"
            );
        }
    }

    #[test]
    fn merged_and_decoded_histograms_equal_one_built_from_all_values() {
        let (mut a, mut b, mut all) = (Hist::default(), Hist::default(), Hist::default());
        for i in 0..500 {
            let v = f64::from(i) * 3.7;
            if i % 3 == 0 { &mut a } else { &mut b }.add(v);
            all.add(v);
        }
        let mut merged = Hist::default();
        merged.merge_encoded(&a.encode());
        merged.merge(&b);
        assert_eq!(merged, all);
        assert_eq!(merged.count(), 500);
        assert_eq!(Hist::default().quantile(0.5), None);
        let mut junk = Hist::default();
        junk.merge_encoded("x,1:2:3,4:");
        assert_eq!(junk.count(), 0, "malformed pairs are skipped");
        junk.add(f64::NAN);
        assert_eq!(junk.count(), 0);
        junk.add(0.0);
        assert_eq!(junk.quantile(0.5), Some(FLOOR_MS / 2.0));
    }
}
