//! Usage keys, their requests and daily rollups (the usage tables).

use crate::timestamp::Timestamp;
use serde::{Deserialize, Serialize};

use super::Hist;

/// The key alias prefix of usage keys (a session key's alias is `stackperf-<session id>`).
pub const ALIAS_PREFIX: &str = "stackperf-key-";

/// A count that may be absent or negative, as an unsigned total.
fn n(v: Option<i64>) -> u64 {
    v.and_then(|x| u64::try_from(x).ok()).unwrap_or(0)
}

/// Whether a key authorizes requests now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum KeyState {
    Active,
    Expired,
    Revoked,
}

impl KeyState {
    /// Its name as people read it (and as it is serialized).
    pub fn as_str(self) -> &'static str {
        self.into()
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
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    pub state: KeyState,
}

impl UsageKey {
    pub fn state_at(&self, now: Timestamp) -> KeyState {
        if self.revoked_at.is_some() {
            KeyState::Revoked
        } else if self.expires_at.is_some_and(|e| e <= now) {
            KeyState::Expired
        } else {
            KeyState::Active
        }
    }
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

/// Milliseconds per day.
pub const DAY_MS: f64 = 86_400_000.0;

/// The UTC day (days since 1970-01-01) of a time.
pub fn day_of(t: Timestamp) -> i64 {
    (t.ms() / DAY_MS).floor() as i64
}
