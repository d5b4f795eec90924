//! Analysis: the metric registry, per-session rollups, the comparison across sessions and the
//! statistics behind it.

pub mod environment;
pub mod group;
pub mod headline;
pub mod metrics;
pub mod multi;
pub mod per_success;
pub mod power;
pub mod report;
pub mod rollup;
pub mod stack_tax;
pub mod stats;
pub mod suite;
pub mod tests_of;
pub mod units;
