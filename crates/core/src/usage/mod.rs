//! Usage mode: long-lived proxy keys for everyday use through the same proxy, not tied to a
//! benchmark session, and reports of their traffic by key, owner, team, model or day.
//!
//! Usage traffic is `requests.traffic = 'usage'`: it never has a session, so it never counts into
//! a session, a comparison or a session export, and usage reports read only it. Reports read the
//! per (key, model, UTC day) rollups the ingest keeps current ([`Rollup`]), never the raw rows.

pub mod hist;
mod report;

use serde::{Deserialize, Serialize};

pub use hist::Hist;
pub use report::assemble;

/// The key alias prefix of usage keys (a session key's alias is `stackperf-<session id>`).
pub const ALIAS_PREFIX: &str = "stackperf-key-";

/// What a usage report groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum UsageBy {
    Key,
    #[default]
    Owner,
    Team,
    Model,
    Day,
}

impl UsageBy {
    pub const ALL: [UsageBy; 5] = [
        UsageBy::Key,
        UsageBy::Owner,
        UsageBy::Team,
        UsageBy::Model,
        UsageBy::Day,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            UsageBy::Key => "key",
            UsageBy::Owner => "owner",
            UsageBy::Team => "team",
            UsageBy::Model => "model",
            UsageBy::Day => "day",
        }
    }

    pub fn parse(s: &str) -> Option<UsageBy> {
        UsageBy::ALL.into_iter().find(|b| b.as_str() == s)
    }
}

/// Whether a key authorizes requests now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    Active,
    Expired,
    Revoked,
}

impl KeyState {
    /// Its name as people read it (and as it is serialized).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Active => "active",
            KeyState::Expired => "expired",
            KeyState::Revoked => "revoked",
        }
    }
}

/// A usage key as listed (never its value).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct UsageKey {
    pub alias: String,
    pub owner: String,
    pub team: Option<String>,
    pub purpose: Option<String>,
    /// The model aliases it may call; `None` = every model the proxy serves.
    pub models: Option<Vec<String>>,
    /// Unix epoch milliseconds.
    pub created_at: f64,
    pub expires_at: Option<f64>,
    pub revoked_at: Option<f64>,
    pub state: KeyState,
}

impl UsageKey {
    pub fn state_at(&self, now_ms: f64) -> KeyState {
        if self.revoked_at.is_some() {
            KeyState::Revoked
        } else if self.expires_at.is_some_and(|e| e <= now_ms) {
            KeyState::Expired
        } else {
            KeyState::Active
        }
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

/// One (key, model, day) rollup of usage traffic.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rollup {
    pub key_alias: String,
    pub model: String,
    pub day: i64,
    pub requests: u64,
    pub errors: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_input_tokens: u64,
    pub cache_write_tokens: u64,
    pub reasoning_tokens: u64,
    pub cost_usd: f64,
    /// Requests with a known cost.
    pub priced: u64,
    pub latency: Hist,
    pub ttft: Hist,
}

/// The columns of one usage request a rollup needs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UsageRequest {
    pub model: Option<String>,
    pub error: bool,
    /// None where the edge did not time the request (its record lost).
    pub latency_ms: Option<f64>,
    pub ttft_ms: Option<f64>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub cached_input_tokens: Option<i64>,
    pub cache_write_tokens: Option<i64>,
    pub reasoning_tokens: Option<i64>,
    pub cost_usd: Option<f64>,
}

fn n(v: Option<i64>) -> u64 {
    v.and_then(|x| u64::try_from(x).ok()).unwrap_or(0)
}

impl Rollup {
    pub fn add(&mut self, r: &UsageRequest) {
        self.requests += 1;
        self.errors += u64::from(r.error);
        self.input_tokens += n(r.input_tokens);
        self.output_tokens += n(r.output_tokens);
        self.cached_input_tokens += n(r.cached_input_tokens);
        self.cache_write_tokens += n(r.cache_write_tokens);
        self.reasoning_tokens += n(r.reasoning_tokens);
        if let Some(c) = r.cost_usd.filter(|c| c.is_finite()) {
            self.cost_usd += c;
            self.priced += 1;
        }
        if let Some(l) = r.latency_ms {
            self.latency.add(l);
        }
        if let Some(t) = r.ttft_ms {
            self.ttft.add(t);
        }
    }

    pub fn merge(&mut self, o: &Rollup) {
        self.requests += o.requests;
        self.errors += o.errors;
        self.input_tokens += o.input_tokens;
        self.output_tokens += o.output_tokens;
        self.cached_input_tokens += o.cached_input_tokens;
        self.cache_write_tokens += o.cache_write_tokens;
        self.reasoning_tokens += o.reasoning_tokens;
        self.cost_usd += o.cost_usd;
        self.priced += o.priced;
        self.latency.merge(&o.latency);
        self.ttft.merge(&o.ttft);
    }
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

/// Milliseconds per day.
pub const DAY_MS: f64 = 86_400_000.0;

/// The UTC day (days since 1970-01-01) of a Unix epoch millisecond.
pub fn day_of(ms: f64) -> i64 {
    (ms / DAY_MS).floor() as i64
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

    #[test]
    fn days_round_trip_and_impossible_dates_are_refused() {
        assert_eq!(parse_day("1970-01-01"), Some(0));
        assert_eq!(parse_day("2026-11-28"), Some(20_785));
        assert_eq!(day_label(20_785), "2026-11-28");
        assert_eq!(day_of(20_785.0 * DAY_MS + 1.0), 20_785);
        assert_eq!(day_of(-1.0), -1);
        for bad in ["2026-02-30", "2026-13-01", "yesterday", "2026-11", ""] {
            assert_eq!(parse_day(bad), None, "{bad}");
        }
        assert_eq!(
            parse_day("2024-02-29").map(day_label).as_deref(),
            Some("2024-02-29")
        );
        for b in UsageBy::ALL {
            assert_eq!(UsageBy::parse(b.as_str()), Some(b));
        }
    }
}
