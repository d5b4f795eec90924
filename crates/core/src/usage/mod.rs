//! Usage mode: long-lived proxy keys for everyday use through the same proxy, not tied to a
//! benchmark session, and reports of their traffic by key, owner, team, model or day.
//!
//! Usage traffic is `requests.traffic = 'usage'`: it never has a session, so it never counts into
//! a session, a comparison or a session export, and usage reports read only it. Reports read the
//! per (key, model, UTC day) rollups the ingest keeps current ([`Rollup`]), never the raw rows.

mod report;

use serde::{Deserialize, Serialize};

pub use crate::store::model::hist::{self, Hist};
pub use crate::store::model::{
    day_of, KeyState, Rollup, UsageKey, UsageRequest, ALIAS_PREFIX, DAY_MS,
};
pub use report::assemble;

/// What a usage report groups by.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, strum::VariantArray,
)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString)]
#[strum(serialize_all = "snake_case")]
pub enum UsageBy {
    Key,
    #[default]
    Owner,
    Team,
    Model,
    Day,
}

impl UsageBy {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn parse(s: &str) -> Option<UsageBy> {
        s.parse().ok()
    }
}

/// What `key create` asks for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct NewUsageKey {
    pub owner: String,
    pub team: Option<String>,
    pub purpose: Option<String>,
    /// `None` or empty = every model.
    pub models: Option<Vec<String>>,
    /// Days until it expires; `None` = never.
    pub expires_days: Option<f64>,
}

/// Which usage a report covers (every filter optional; days are UTC days since 1970-01-01,
/// both ends included).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct UsageFilter {
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub since_day: Option<i64>,
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub until_day: Option<i64>,
    pub key: Option<String>,
    pub owner: Option<String>,
    pub team: Option<String>,
    pub model: Option<String>,
}

/// One line of a usage report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct UsageRow {
    /// The key alias, owner, team, model or day (YYYY-MM-DD) this line is about.
    pub group: String,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub requests: u64,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub errors: u64,
    pub error_rate: f64,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub input_tokens: u64,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub output_tokens: u64,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub cached_input_tokens: u64,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub cache_write_tokens: u64,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub reasoning_tokens: u64,
    /// The cost of the priced requests; `None` when no request had a price.
    pub cost_usd: Option<f64>,
    /// Requests without a known cost (their provider declares no price).
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub unpriced: u64,
    /// Percentiles of the latency the client saw, and of the time to first token (streams).
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub ttft_p50_ms: Option<f64>,
    pub ttft_p95_ms: Option<f64>,
}

/// One group's traffic on one day (the report's chart over time).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct UsagePoint {
    /// YYYY-MM-DD (UTC).
    pub day: String,
    pub group: String,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub requests: u64,
    /// Input plus output tokens.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub tokens: u64,
    pub cost_usd: f64,
}

/// A usage report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct UsageReport {
    pub by: UsageBy,
    /// The days covered, YYYY-MM-DD (UTC), both included.
    pub since: String,
    pub until: String,
    /// Largest first (by requests).
    pub rows: Vec<UsageRow>,
    pub total: UsageRow,
    /// Per day and group, oldest first.
    pub days: Vec<UsagePoint>,
    /// How the percentiles are read (so nobody mistakes them for exact).
    pub note: String,
}

/// `YYYY-MM-DD` of a day number.
pub fn day_label(day: i64) -> String {
    let mut s = crate::export::rfc3339(day as f64 * DAY_MS);
    s.truncate(10);
    s
}

/// The day number of `YYYY-MM-DD`.
pub fn parse_day(s: &str) -> Option<i64> {
    let mut it = s.trim().splitn(3, '-');
    let y: i64 = it.next()?.parse().ok()?;
    let m: i64 = it.next()?.parse().ok()?;
    let d: i64 = it.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let day = era * 146_097 + doe - 719_468;
    (day_label(day) == s.trim()).then_some(day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timestamp::Timestamp;
    use strum::VariantArray;

    #[test]
    fn days_round_trip_and_impossible_dates_are_refused() {
        assert_eq!(parse_day("1970-01-01"), Some(0));
        assert_eq!(parse_day("2026-11-28"), Some(20_785));
        assert_eq!(day_label(20_785), "2026-11-28");
        assert_eq!(day_of(Timestamp::from_ms(20_785.0 * DAY_MS + 1.0)), 20_785);
        assert_eq!(day_of(Timestamp::from_ms(-1.0)), -1);
        for bad in ["2026-02-30", "2026-13-01", "yesterday", "2026-11", ""] {
            assert_eq!(parse_day(bad), None, "{bad}");
        }
        assert_eq!(
            parse_day("2024-02-29").map(day_label).as_deref(),
            Some("2024-02-29")
        );
        for &b in UsageBy::VARIANTS {
            assert_eq!(UsageBy::parse(b.as_str()), Some(b));
        }
    }
}
