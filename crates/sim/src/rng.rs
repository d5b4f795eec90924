//! The deterministic PRNG, shared with the core crate.

pub use stackperf_core::rng::Rng;
