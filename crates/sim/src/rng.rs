//! The deterministic PRNG (the contract crate's, so a seed means the same stream everywhere).

pub use stackperf_contract::rng::Rng;
