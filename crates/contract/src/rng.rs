//! A tiny deterministic PRNG (SplitMix64). The simulator must be reproducible given `--seed`, and
//! statistics (bootstrap, permutation tests) reproducible run to run;
//! owning the generator keeps that promise independent of third-party crate versions.

/// SplitMix64 generator: fast, well distributed, trivially seedable.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for the `seq`-th request under `seed`: requests get independent streams, so
    /// the plan of request N does not depend on how many random numbers earlier requests drew.
    pub fn for_request(seed: u64, seq: u64) -> Self {
        let mut r = Rng(seed ^ seq.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        r.next_u64();
        r
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal sample (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(f64::MIN_POSITIVE);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Uniform integer in [lo, hi] (inclusive); returns `lo` when the range is empty.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.next_u64() % (hi - lo + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_and_sequence_give_the_same_stream() {
        let a: Vec<u64> = (0..5).map(|_| Rng::for_request(7, 3).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(
            Rng::for_request(7, 3).next_u64(),
            Rng::for_request(7, 4).next_u64()
        );
        assert_ne!(
            Rng::for_request(7, 3).next_u64(),
            Rng::for_request(8, 3).next_u64()
        );
    }

    #[test]
    fn unit_and_range_stay_in_bounds_and_normal_is_centred() {
        let mut r = Rng::for_request(1, 1);
        let mut sum = 0.0;
        for _ in 0..20_000 {
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
            let k = r.range(3, 5);
            assert!((3..=5).contains(&k));
            sum += r.normal();
        }
        assert!((sum / 20_000.0).abs() < 0.05, "mean {}", sum / 20_000.0);
    }
}
