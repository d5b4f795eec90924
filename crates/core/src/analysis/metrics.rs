//! The metric registry: every compared metric defined once — its name, label, unit, direction,
//! how a session's value is made from its requests, and how many sessions a claim about it needs.
//! Rollups, the comparison, its verdicts, the distribution charts, the CLI, the exports and the UI
//! all read this list; adding a metric is one entry here (see the test at the bottom).

use serde::Serialize;

pub use crate::store::model::Measure;

pub use super::units::{format_value, Unit};

/// How a session's value comes from its requests (columns of `requests`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rollup {
    /// The median of a per-request column (requests where it is NULL left out).
    Median(Measure),
    /// The 95th percentile of a per-request column.
    P95(Measure),
    /// The sum of a per-request column; unknown (not 0) when no request has it.
    Sum(Measure),
    /// The sum of a per-request column that every request must have: unknown when any lacks
    /// it (a session cost with one unpriced request is not known).
    Total(Measure),
    /// One of the counts every rollup keeps (requests, token totals), under the metric's name.
    Counted,
    /// The largest value of a per-request column (context growth: peak input tokens).
    Max(Measure),
    /// How many requests have this value in a column (e.g. HTTP status 429).
    CountEq(Measure, i64),
    /// The median time from a response that ended in a tool call to the session's next request.
    ToolRoundTrip,
    /// Requests sent after a failed request of the session (the harness trying again; LiteLLM
    /// itself never retries upstream: `num_retries: 0`).
    Retries,
    /// Whether the run's verify step passed (1) or not (0); unknown for a manual session.
    TaskSuccess,
    /// The harness's own wall time in an automated run (start → exit), seconds.
    WallTime,
    /// Failed requests / requests.
    ErrorRate,
    /// Cached input tokens / input tokens.
    CacheHitRatio,
    /// The session's end − its start.
    Duration,
}

impl Rollup {
    /// The per-request column whose values a distribution chart of this metric draws.
    pub fn column(self) -> Option<Measure> {
        match self {
            Rollup::Median(c)
            | Rollup::P95(c)
            | Rollup::Sum(c)
            | Rollup::Total(c)
            | Rollup::Max(c)
            | Rollup::CountEq(c, _) => Some(c),
            _ => None,
        }
    }
}

/// One metric.
#[derive(Debug, Clone, Copy)]
pub struct MetricDef {
    /// The stable name (rollup cache, exports, JSON).
    pub name: &'static str,
    /// A short name for the command line (`--metric ttft`).
    pub short: &'static str,
    pub label: &'static str,
    pub unit: Unit,
    pub lower_is_better: bool,
    /// How a verdict says "better" ("faster", "fewer errors").
    pub better: &'static str,
    /// Sessions per variant a claim needs (below it: "indicative").
    pub claim_sessions: usize,
    pub rollup: Rollup,
}

/// Sessions per variant below which no difference is stated at all.
pub const MIN_SESSIONS: usize = 3;
/// Sessions per variant latency-like claims need to be more than indicative.
pub const MIN_SESSIONS_LATENCY: usize = 5;

/// Every compared metric, headline first.
pub const METRICS: &[MetricDef] = &[
    MetricDef {
        name: "task_success",
        short: "success",
        label: "Task success rate",
        unit: Unit::Ratio,
        lower_is_better: false,
        better: "more reliable",
        claim_sessions: MIN_SESSIONS,
        rollup: Rollup::TaskSuccess,
    },
    MetricDef {
        name: "wall_s",
        short: "wall",
        label: "Wall time (harness start to exit)",
        unit: Unit::Seconds,
        lower_is_better: true,
        better: "faster",
        claim_sessions: MIN_SESSIONS,
        rollup: Rollup::WallTime,
    },
    MetricDef {
        name: "duration_s",
        short: "duration",
        label: "Session duration",
        unit: Unit::Seconds,
        lower_is_better: true,
        better: "faster",
        claim_sessions: MIN_SESSIONS,
        rollup: Rollup::Duration,
    },
    MetricDef {
        name: "cost_usd",
        short: "cost",
        label: "Cost per session",
        unit: Unit::Usd,
        lower_is_better: true,
        better: "cheaper",
        claim_sessions: MIN_SESSIONS,
        rollup: Rollup::Total(Measure::CostUsd),
    },
    MetricDef {
        name: "requests",
        short: "requests",
        label: "Requests per session",
        unit: Unit::Count,
        lower_is_better: true,
        better: "fewer requests",
        claim_sessions: MIN_SESSIONS,
        rollup: Rollup::Counted,
    },
    MetricDef {
        name: "input_tokens",
        short: "input-tokens",
        label: "Input tokens per session",
        unit: Unit::Count,
        lower_is_better: true,
        better: "fewer input tokens",
        claim_sessions: MIN_SESSIONS,
        rollup: Rollup::Counted,
    },
    MetricDef {
        name: "tool_calls",
        short: "tool-calls",
        label: "Tool calls per session",
        unit: Unit::Count,
        lower_is_better: true,
        better: "fewer tool calls",
        claim_sessions: MIN_SESSIONS,
        rollup: Rollup::Sum(Measure::ToolCallCount),
    },
    MetricDef {
        name: "tool_round_trip_ms",
        short: "tool-rtt",
        label: "Tool round trip (tool call → next request)",
        unit: Unit::Milliseconds,
        lower_is_better: true,
        better: "quicker tool round trips",
        claim_sessions: MIN_SESSIONS,
        rollup: Rollup::ToolRoundTrip,
    },
    MetricDef {
        name: "model_time_ms",
        short: "model-time",
        label: "Time in the model (sum of request latencies)",
        unit: Unit::Milliseconds,
        lower_is_better: true,
        better: "less time waiting on the model",
        claim_sessions: MIN_SESSIONS,
        rollup: Rollup::Sum(Measure::LatencyMs),
    },
    MetricDef {
        name: "peak_input_tokens",
        short: "peak-input",
        label: "Peak input tokens per request (context growth)",
        unit: Unit::Count,
        lower_is_better: true,
        better: "a smaller context",
        claim_sessions: MIN_SESSIONS,
        rollup: Rollup::Max(Measure::InputTokens),
    },
    MetricDef {
        name: "output_tokens",
        short: "output-tokens",
        label: "Output tokens per session",
        unit: Unit::Count,
        lower_is_better: true,
        better: "fewer output tokens",
        claim_sessions: MIN_SESSIONS,
        rollup: Rollup::Counted,
    },
    MetricDef {
        name: "cached_input_tokens",
        short: "cached-tokens",
        label: "Cached input tokens per session (read from a cache)",
        unit: Unit::Count,
        lower_is_better: false,
        better: "more input read from cache",
        claim_sessions: MIN_SESSIONS,
        rollup: Rollup::Counted,
    },
    MetricDef {
        name: "cache_write_tokens",
        short: "cache-write-tokens",
        label: "Cache-write tokens per session",
        unit: Unit::Count,
        lower_is_better: true,
        better: "fewer cache writes",
        claim_sessions: MIN_SESSIONS,
        rollup: Rollup::Counted,
    },
    MetricDef {
        name: "reasoning_tokens",
        short: "reasoning-tokens",
        label: "Reasoning tokens per session (part of output)",
        unit: Unit::Count,
        lower_is_better: true,
        better: "fewer reasoning tokens",
        claim_sessions: MIN_SESSIONS,
        rollup: Rollup::Sum(Measure::ReasoningTokens),
    },
    MetricDef {
        name: "retries",
        short: "retries",
        label: "Retries (requests sent after a failed one)",
        unit: Unit::Count,
        lower_is_better: true,
        better: "fewer retries",
        claim_sessions: MIN_SESSIONS,
        rollup: Rollup::Retries,
    },
    MetricDef {
        name: "ttft_p50_ms",
        short: "ttft",
        label: "Time to first token",
        unit: Unit::Milliseconds,
        lower_is_better: true,
        better: "faster",
        claim_sessions: MIN_SESSIONS_LATENCY,
        rollup: Rollup::Median(Measure::TtftMs),
    },
    MetricDef {
        name: "ttft_p95_ms",
        short: "ttft-p95",
        label: "Time to first token p95 (per session)",
        unit: Unit::Milliseconds,
        lower_is_better: true,
        better: "faster",
        claim_sessions: MIN_SESSIONS,
        rollup: Rollup::P95(Measure::TtftMs),
    },
    MetricDef {
        name: "ttft_visible_p50_ms",
        short: "ttft-visible",
        label: "Time to first answer text",
        unit: Unit::Milliseconds,
        lower_is_better: true,
        better: "faster",
        claim_sessions: MIN_SESSIONS_LATENCY,
        rollup: Rollup::Median(Measure::TtftVisibleMs),
    },
    MetricDef {
        name: "proxy_overhead_ms",
        short: "stack-tax",
        label: "Stack tax to first token (edge + LiteLLM)",
        unit: Unit::Milliseconds,
        lower_is_better: true,
        better: "less proxy overhead",
        claim_sessions: MIN_SESSIONS_LATENCY,
        rollup: Rollup::Median(Measure::ProxyOverheadMs),
    },
    MetricDef {
        name: "latency_p50_ms",
        short: "latency",
        label: "Latency (median per session)",
        unit: Unit::Milliseconds,
        lower_is_better: true,
        better: "faster",
        claim_sessions: MIN_SESSIONS_LATENCY,
        rollup: Rollup::Median(Measure::LatencyMs),
    },
    MetricDef {
        name: "latency_p95_ms",
        short: "latency-p95",
        label: "Latency p95 (per session)",
        unit: Unit::Milliseconds,
        lower_is_better: true,
        better: "faster",
        claim_sessions: MIN_SESSIONS,
        rollup: Rollup::P95(Measure::LatencyMs),
    },
    MetricDef {
        name: "itl_p50_ms",
        short: "itl",
        label: "Inter-token latency",
        unit: Unit::Milliseconds,
        lower_is_better: true,
        better: "faster",
        claim_sessions: MIN_SESSIONS_LATENCY,
        rollup: Rollup::Median(Measure::ItlMs),
    },
    MetricDef {
        name: "tokens_per_s_p50",
        short: "tokens-per-s",
        label: "Output tokens/s",
        unit: Unit::TokensPerSecond,
        lower_is_better: false,
        better: "higher throughput",
        claim_sessions: MIN_SESSIONS,
        rollup: Rollup::Median(Measure::OutputTokensPerS),
    },
    MetricDef {
        name: "stalls",
        short: "stalls",
        label: "Stalls (gaps > 1 s)",
        unit: Unit::Count,
        lower_is_better: true,
        better: "fewer stalls",
        claim_sessions: MIN_SESSIONS,
        rollup: Rollup::Sum(Measure::StallCount),
    },
    MetricDef {
        name: "error_rate",
        short: "error-rate",
        label: "Error rate",
        unit: Unit::Ratio,
        lower_is_better: true,
        better: "fewer errors",
        claim_sessions: MIN_SESSIONS,
        rollup: Rollup::ErrorRate,
    },
    MetricDef {
        name: "rate_limited",
        short: "rate-limited",
        label: "Rate-limited requests (HTTP 429)",
        unit: Unit::Count,
        lower_is_better: true,
        better: "fewer rate limits",
        claim_sessions: MIN_SESSIONS,
        rollup: Rollup::CountEq(Measure::HttpStatus, 429),
    },
    MetricDef {
        name: "cache_hit_ratio",
        short: "cache-hits",
        label: "Cache hit ratio",
        unit: Unit::Ratio,
        lower_is_better: false,
        better: "more cache hits",
        claim_sessions: MIN_SESSIONS,
        rollup: Rollup::CacheHitRatio,
    },
];

/// Why a variant whose sessions count has no value at all for a metric: the metric only exists
/// for streamed requests (a harness that does not stream has no first token), or the model has
/// no price.
pub fn unmeasured_reason(m: &MetricDef) -> Option<&'static str> {
    match m.rollup.column()? {
        Measure::TtftMs | Measure::TtftVisibleMs => {
            Some("no first-token time: this harness does not stream")
        }
        Measure::ItlMs => Some("no inter-token latency: this harness does not stream"),
        Measure::StallCount | Measure::OutputTokensPerS => {
            Some("not measured: this harness does not stream")
        }
        Measure::ReasoningTokens => {
            Some("not reported: this provider does not count reasoning tokens")
        }
        Measure::CostUsd => {
            Some("n/a: no price is known for this model (declare one in its provider's config)")
        }
        Measure::ProxyOverheadMs => {
            Some("not measured: LiteLLM did not report when it called the provider")
        }
        Measure::LatencyMs
        | Measure::ToolCallCount
        | Measure::InputTokens
        | Measure::HttpStatus => None,
    }
}

/// A metric by its name or short name.
pub fn find(name: &str) -> Option<&'static MetricDef> {
    METRICS
        .iter()
        .find(|m| m.name == name || m.short == name || m.short.replace('-', "_") == name)
}

/// The metrics a distribution chart shows: those that are the median of a per-request value
/// (the chart draws the requests' values per variant).
pub fn chartable() -> impl Iterator<Item = &'static MetricDef> {
    METRICS
        .iter()
        .filter(|m| matches!(m.rollup, Rollup::Median(_)))
}

/// The per-request columns the rollups read (each once).
pub fn request_columns() -> Vec<Measure> {
    let mut cols: Vec<Measure> = Vec::new();
    for c in METRICS.iter().filter_map(|m| m.rollup.column()) {
        if !cols.contains(&c) {
            cols.push(c);
        }
    }
    cols
}

/// A fingerprint of what the rollups compute: cached rollups made under another registry are
/// recomputed.
pub fn fingerprint() -> f64 {
    let mut h: u32 = 2166136261;
    for m in METRICS {
        for b in format!("{}={:?};", m.name, m.rollup).bytes() {
            h = (h ^ b as u32).wrapping_mul(16777619);
        }
    }
    h as f64
}

/// What the UI needs to show a metric (the registry, on the wire).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct MetricInfo {
    pub name: String,
    pub short: String,
    pub label: String,
    pub unit: Unit,
    pub lower_is_better: bool,
    /// Whether a per-request distribution chart exists for it.
    pub chartable: bool,
    /// A column of the Compare screen's table of sessions.
    pub session_column: bool,
}

/// The metrics the Compare screen's table of sessions shows, one column each.
pub const SESSION_COLUMNS: &[&str] = &["ttft_p50_ms", "latency_p50_ms", "tokens_per_s_p50"];

impl From<&MetricDef> for MetricInfo {
    fn from(m: &MetricDef) -> MetricInfo {
        MetricInfo {
            name: m.name.into(),
            short: m.short.into(),
            label: m.label.into(),
            unit: m.unit,
            lower_is_better: m.lower_is_better,
            chartable: matches!(m.rollup, Rollup::Median(_)),
            session_column: SESSION_COLUMNS.contains(&m.name),
        }
    }
}

/// The registry as the UI receives it.
pub fn infos() -> Vec<MetricInfo> {
    METRICS.iter().map(MetricInfo::from).collect()
}

/// Whether one variant's difference to another is established, as data; [`Verdict::text`] says
/// it in words (the only place that does).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Verdict {
    /// Fewer than `need` sessions on a side.
    Insufficient {
        #[cfg_attr(feature = "specta", specta(type = f64))]
        need: usize,
        #[cfg_attr(feature = "specta", specta(type = f64))]
        have_a: usize,
        #[cfg_attr(feature = "specta", specta(type = f64))]
        have_b: usize,
    },
    /// No values to compare.
    NoData,
    /// A side has enough sessions but no value for this metric, for a known reason.
    NotMeasured { variant: String, reason: String },
    NoDifference {
        p: f64,
        /// Sessions per variant the claim would need to be more than indicative.
        #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
        indicative_below: Option<usize>,
    },
    Better {
        winner: String,
        loser: String,
        p: f64,
        #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
        indicative_below: Option<usize>,
    },
}

/// The two sides of a pair: names and how many sessions each contributes.
#[derive(Debug, Clone, Copy)]
pub struct Sides<'a> {
    pub a: &'a str,
    pub b: &'a str,
    pub na: usize,
    pub nb: usize,
}

impl Verdict {
    /// Judge `diff` = median(b) − median(a) with permutation p-value `p`; `sessions` are the
    /// sessions each side contributes at all (with or without a value for this metric).
    pub fn judge_with(
        sides: &Sides<'_>,
        sessions: (usize, usize),
        m: &MetricDef,
        diff: Option<f64>,
        p: Option<f64>,
    ) -> Verdict {
        let Sides { a, b, na, nb } = *sides;
        if let Some(reason) = unmeasured_reason(m) {
            for (name, n, s) in [(a, na, sessions.0), (b, nb, sessions.1)] {
                if n == 0 && s >= MIN_SESSIONS {
                    return Verdict::NotMeasured {
                        variant: name.into(),
                        reason: reason.into(),
                    };
                }
            }
        }
        Verdict::judge(sides, m, diff, p)
    }

    /// Judge `diff` = median(b) − median(a) with permutation p-value `p`.
    pub fn judge(sides: &Sides<'_>, m: &MetricDef, diff: Option<f64>, p: Option<f64>) -> Verdict {
        let Sides { a, b, na, nb } = *sides;
        if na.min(nb) < MIN_SESSIONS {
            return Verdict::Insufficient {
                need: MIN_SESSIONS,
                have_a: na,
                have_b: nb,
            };
        }
        let (Some(d), Some(p)) = (diff, p) else {
            return Verdict::NoData;
        };
        let indicative_below = (na.min(nb) < m.claim_sessions).then_some(m.claim_sessions);
        if p >= 0.05 {
            return Verdict::NoDifference {
                p,
                indicative_below,
            };
        }
        let b_better = if m.lower_is_better { d < 0.0 } else { d > 0.0 };
        let (winner, loser) = if b_better { (b, a) } else { (a, b) };
        Verdict::Better {
            winner: winner.into(),
            loser: loser.into(),
            p,
            indicative_below,
        }
    }

    /// The verdict in words.
    pub fn text(&self, m: &MetricDef) -> String {
        let caveat = |n: &Option<usize>| {
            n.map(|n| format!(" (indicative: this claim needs {n} sessions per variant)"))
                .unwrap_or_default()
        };
        match self {
            Verdict::Insufficient {
                need,
                have_a,
                have_b,
            } => format!(
                "not enough sessions (need at least {need} per variant; have {have_a} and {have_b})"
            ),
            Verdict::NoData => "no data".into(),
            Verdict::NotMeasured { variant, reason } => format!("{variant}: {reason}"),
            Verdict::NoDifference {
                p,
                indicative_below,
            } => format!(
                "no significant difference (p = {p:.3}){}",
                caveat(indicative_below)
            ),
            Verdict::Better {
                winner,
                loser,
                p,
                indicative_below,
            } => format!(
                "{winner} is {} than {loser} (p = {p:.3}){}",
                m.better,
                caveat(indicative_below)
            ),
        }
    }
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
