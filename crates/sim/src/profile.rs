//! Latency/error profiles. The model name a client asks for selects a profile; unknown model
//! names fall back to the `default` profile so real clients that send extra model names
//! (title generation, sub-agents) still get answers.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::rng::Rng;
use crate::SimError;

/// Probabilities (0–1) of each injected fault; they are drawn once per request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorMix {
    /// 429 with a `retry-after` header.
    #[serde(default)]
    pub rate_limit: f64,
    /// 500 in the surface's own error format.
    #[serde(default)]
    pub server_error: f64,
    /// The connection is dropped mid-stream (or before the body, when not streaming).
    #[serde(default)]
    pub disconnect: f64,
    /// A chunk that is not valid JSON, then the stream ends.
    #[serde(default)]
    pub malformed_chunk: f64,
    /// No answer for `timeout_hang_ms`, then 504.
    #[serde(default)]
    pub timeout: f64,
}

impl ErrorMix {
    fn total(&self) -> f64 {
        self.rate_limit + self.server_error + self.disconnect + self.malformed_chunk + self.timeout
    }
}

/// One simulated model's behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Median time from request arrival to the first content token.
    pub ttft_ms: f64,
    /// Standard deviation of the TTFT (normal distribution, clamped at 0).
    #[serde(default)]
    pub ttft_jitter_ms: f64,
    /// Output token rate after the first token.
    pub tokens_per_second: f64,
    /// Relative standard deviation of the token rate (0.1 = 10 %).
    #[serde(default)]
    pub tokens_per_second_jitter: f64,
    pub output_tokens_min: u64,
    pub output_tokens_max: u64,
    #[serde(default)]
    pub errors: ErrorMix,
    /// Share of the input reported as read from the provider's prompt cache.
    #[serde(default)]
    pub cached_input_ratio: f64,
    /// Share of the input reported as written to the prompt cache.
    #[serde(default)]
    pub cache_write_ratio: f64,
    #[serde(default = "default_retry_after")]
    pub retry_after_seconds: u64,
    #[serde(default = "default_hang")]
    pub timeout_hang_ms: u64,
    /// Reasoning (thinking) deltas streamed before the answer text, at the same token rate.
    #[serde(default)]
    pub reasoning_tokens: u64,
    /// Act as a scripted agent: when a request offers a shell/command tool and carries no tool
    /// result yet, answer with a call to that tool (writing a marker file); answer the request
    /// that carries the result with text. Chat completions and responses only.
    #[serde(default)]
    pub scripted_agent: bool,
}

fn default_retry_after() -> u64 {
    1
}
fn default_hang() -> u64 {
    30_000
}

/// The fault injected into one request.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    RateLimit { retry_after_seconds: u64 },
    ServerError,
    Disconnect { after_tokens: u64 },
    MalformedChunk { after_tokens: u64 },
    Timeout { hang_ms: u64 },
}

impl Fault {
    pub fn name(&self) -> &'static str {
        match self {
            Fault::RateLimit { .. } => "rate_limit",
            Fault::ServerError => "server_error",
            Fault::Disconnect { .. } => "disconnect",
            Fault::MalformedChunk { .. } => "malformed_chunk",
            Fault::Timeout { .. } => "timeout",
        }
    }
}

/// Everything decided about one request before the first byte is sent.
#[derive(Debug, Clone)]
pub struct Plan {
    pub seq: u64,
    pub id: String,
    pub model: String,
    pub profile: String,
    pub ttft_ms: f64,
    pub tokens_per_second: f64,
    pub output_tokens: u64,
    /// True when the client's max-tokens limit cut the planned output.
    pub truncated: bool,
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub cache_write_tokens: u64,
    pub fault: Option<Fault>,
    pub words: Vec<&'static str>,
    /// Reasoning deltas before the first answer token (streaming only).
    pub reasoning_tokens: u64,
    pub scripted_agent: bool,
}

impl Plan {
    /// Offset from arrival at which output token `i` (0-based) is due (after the reasoning).
    pub fn token_due_ms(&self, i: u64) -> f64 {
        self.reasoning_due_ms(self.reasoning_tokens + i)
    }

    /// Offset from arrival at which reasoning token `k` (0-based) is due.
    pub fn reasoning_due_ms(&self, k: u64) -> f64 {
        self.ttft_ms + k as f64 * 1000.0 / self.tokens_per_second
    }

    /// The text of tokens `from..to`, one word per token.
    pub fn text(&self, from: u64, to: u64) -> String {
        let (from, to) = (from as usize, (to as usize).min(self.words.len()));
        self.words
            .get(from..to)
            .map(|w| w.concat())
            .unwrap_or_default()
    }
}

const WORDS: &[&str] = &[
    "the ",
    "quick ",
    "model ",
    "returns ",
    "a ",
    "patch ",
    "for ",
    "your ",
    "failing ",
    "test ",
    "and ",
    "explains ",
    "why ",
    "it ",
    "works ",
    "with ",
    "small ",
    "steps ",
    "in ",
    "Rust ",
];

impl Profile {
    fn check(&self) -> Vec<String> {
        let mut out = Vec::new();
        let name = &self.name;
        if name.trim().is_empty() {
            out.push("name: must not be empty".to_string());
        }
        if !(self.ttft_ms.is_finite() && self.ttft_ms >= 0.0) {
            out.push(format!("{name}.ttft_ms: must be a number ≥ 0"));
        }
        if !(self.ttft_jitter_ms.is_finite() && self.ttft_jitter_ms >= 0.0) {
            out.push(format!("{name}.ttft_jitter_ms: must be a number ≥ 0"));
        }
        if !(self.tokens_per_second.is_finite() && self.tokens_per_second > 0.0) {
            out.push(format!("{name}.tokens_per_second: must be > 0"));
        }
        if !(self.tokens_per_second_jitter.is_finite()
            && (0.0..1.0).contains(&self.tokens_per_second_jitter))
        {
            out.push(format!(
                "{name}.tokens_per_second_jitter: must be in [0, 1)"
            ));
        }
        if self.output_tokens_min == 0 || self.output_tokens_min > self.output_tokens_max {
            out.push(format!(
                "{name}.output_tokens_min: must be ≥ 1 and ≤ output_tokens_max"
            ));
        }
        for (field, v) in [
            ("cached_input_ratio", self.cached_input_ratio),
            ("cache_write_ratio", self.cache_write_ratio),
            ("errors.rate_limit", self.errors.rate_limit),
            ("errors.server_error", self.errors.server_error),
            ("errors.disconnect", self.errors.disconnect),
            ("errors.malformed_chunk", self.errors.malformed_chunk),
            ("errors.timeout", self.errors.timeout),
        ] {
            if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
                out.push(format!("{name}.{field}: must be a probability in [0, 1]"));
            }
        }
        if self.cached_input_ratio + self.cache_write_ratio > 1.0 {
            out.push(format!(
                "{name}: cached_input_ratio + cache_write_ratio must be ≤ 1"
            ));
        }
        if self.errors.total() > 1.0 + 1e-9 {
            out.push(format!(
                "{name}.errors: the probabilities add up to more than 1"
            ));
        }
        out
    }

    /// Decide everything about one request. `max_tokens` is the client's output limit.
    pub fn plan(
        &self,
        seed: u64,
        seq: u64,
        model: &str,
        input_tokens: u64,
        max_tokens: Option<u64>,
    ) -> Plan {
        let mut rng = Rng::for_request(seed, seq);
        let ttft_ms = (self.ttft_ms + rng.normal() * self.ttft_jitter_ms).max(0.0);
        let rate_factor = (1.0 + rng.normal() * self.tokens_per_second_jitter).clamp(0.1, 10.0);
        let tokens_per_second = self.tokens_per_second * rate_factor;
        let planned = rng.range(self.output_tokens_min, self.output_tokens_max);
        let limit = max_tokens.filter(|m| *m > 0).unwrap_or(u64::MAX);
        let output_tokens = planned.min(limit);
        let cached_input_tokens = (input_tokens as f64 * self.cached_input_ratio).floor() as u64;
        let cache_write_tokens = (input_tokens as f64 * self.cache_write_ratio).floor() as u64;
        let fault = self.draw_fault(&mut rng, output_tokens);
        let words = (0..output_tokens)
            .map(|_| WORDS[(rng.next_u64() % WORDS.len() as u64) as usize])
            .collect();
        Plan {
            seq,
            id: format!("simreq_{seed:x}_{seq:06}"),
            model: model.to_string(),
            profile: self.name.clone(),
            ttft_ms,
            tokens_per_second,
            output_tokens,
            truncated: planned > limit,
            input_tokens,
            cached_input_tokens,
            cache_write_tokens,
            fault,
            words,
            reasoning_tokens: self.reasoning_tokens,
            scripted_agent: self.scripted_agent,
        }
    }

    fn draw_fault(&self, rng: &mut Rng, output_tokens: u64) -> Option<Fault> {
        let e = &self.errors;
        let u = rng.unit();
        let after = rng.range(0, output_tokens / 2);
        let mut acc = 0.0;
        let table: [(f64, Fault); 5] = [
            (
                e.rate_limit,
                Fault::RateLimit {
                    retry_after_seconds: self.retry_after_seconds,
                },
            ),
            (e.server_error, Fault::ServerError),
            (
                e.disconnect,
                Fault::Disconnect {
                    after_tokens: after,
                },
            ),
            (
                e.malformed_chunk,
                Fault::MalformedChunk {
                    after_tokens: after,
                },
            ),
            (
                e.timeout,
                Fault::Timeout {
                    hang_ms: self.timeout_hang_ms,
                },
            ),
        ];
        for (p, fault) in table {
            acc += p;
            if p > 0.0 && u < acc {
                return Some(fault);
            }
        }
        None
    }
}

fn builtin(name: &str, ttft: f64, jitter: f64, tps: f64, min: u64, max: u64) -> Profile {
    Profile {
        name: name.to_string(),
        description: String::new(),
        ttft_ms: ttft,
        ttft_jitter_ms: jitter,
        tokens_per_second: tps,
        tokens_per_second_jitter: if jitter > 0.0 { 0.05 } else { 0.0 },
        output_tokens_min: min,
        output_tokens_max: max,
        errors: ErrorMix::default(),
        cached_input_ratio: 0.0,
        cache_write_ratio: 0.0,
        retry_after_seconds: default_retry_after(),
        timeout_hang_ms: default_hang(),
        reasoning_tokens: 0,
        scripted_agent: false,
    }
}

fn describe(mut p: Profile, text: &str) -> Profile {
    p.description = text.to_string();
    p
}

/// The built-in profiles, always available.
pub fn builtin_profiles() -> Vec<Profile> {
    let all_fail = |name: &str, errors: ErrorMix, text: &str| {
        let mut p = builtin(name, 50.0, 0.0, 400.0, 20, 40);
        p.errors = errors;
        p.timeout_hang_ms = 10_000;
        describe(p, text)
    };
    vec![
        describe(
            builtin("default", 100.0, 10.0, 200.0, 20, 60),
            "used for any model name without a profile",
        ),
        describe(
            builtin("sim-fast", 60.0, 5.0, 500.0, 20, 60),
            "fast model: ~60 ms TTFT, ~500 tok/s",
        ),
        describe(
            builtin("sim-slow", 600.0, 60.0, 60.0, 30, 90),
            "slow model: ~600 ms TTFT, ~60 tok/s",
        ),
        describe(
            Profile {
                scripted_agent: true,
                ..builtin("sim-agent", 60.0, 5.0, 500.0, 10, 20)
            },
            "scripted agent: calls the harness's shell tool once (writes stackperf-agent.txt), then answers",
        ),
        describe(
            Profile {
                reasoning_tokens: 40,
                ..builtin("sim-reasoning", 100.0, 0.0, 100.0, 20, 20)
            },
            "reasoning model: thinking deltas from ~100 ms, answer text from ~500 ms",
        ),
        describe(
            builtin("sim-steady", 200.0, 0.0, 100.0, 20, 20),
            "no jitter: exactly 200 ms TTFT, 100 tok/s, 20 tokens",
        ),
        describe(
            Profile {
                cached_input_ratio: 0.75,
                cache_write_ratio: 0.1,
                ..builtin("sim-cached", 80.0, 8.0, 300.0, 20, 60)
            },
            "reports 75 % of the input as prompt-cache reads, 10 % as cache writes",
        ),
        describe(
            Profile {
                errors: ErrorMix {
                    rate_limit: 0.05,
                    server_error: 0.05,
                    disconnect: 0.03,
                    malformed_chunk: 0.02,
                    timeout: 0.0,
                },
                ..builtin("sim-flaky", 150.0, 40.0, 150.0, 20, 80)
            },
            "15 % of requests fail: 429, 500, mid-stream disconnect, malformed chunk",
        ),
        all_fail(
            "sim-429",
            ErrorMix {
                rate_limit: 1.0,
                ..ErrorMix::default()
            },
            "always 429 with retry-after",
        ),
        all_fail(
            "sim-500",
            ErrorMix {
                server_error: 1.0,
                ..ErrorMix::default()
            },
            "always 500",
        ),
        all_fail(
            "sim-disconnect",
            ErrorMix {
                disconnect: 1.0,
                ..ErrorMix::default()
            },
            "always drops the connection mid-stream",
        ),
        all_fail(
            "sim-malformed",
            ErrorMix {
                malformed_chunk: 1.0,
                ..ErrorMix::default()
            },
            "always sends a malformed chunk",
        ),
        all_fail(
            "sim-timeout",
            ErrorMix {
                timeout: 1.0,
                ..ErrorMix::default()
            },
            "never answers within 10 s",
        ),
    ]
}

/// The profile registry: built-ins plus any loaded from a file (file entries win by name).
#[derive(Debug, Clone)]
pub struct Profiles(BTreeMap<String, Profile>);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfilesFile {
    profiles: Vec<Profile>,
}

impl Profiles {
    pub fn builtin() -> Self {
        Profiles(
            builtin_profiles()
                .into_iter()
                .map(|p| (p.name.clone(), p))
                .collect(),
        )
    }

    /// Built-ins plus the profiles in a YAML file (`profiles: [ {name: ..., ...} ]`).
    pub fn with_file(path: &Path) -> Result<Self, SimError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SimError::Profiles(format!("{}: cannot read: {e}", path.display())))?;
        let file: ProfilesFile =
            stackperf_contract::yaml::decode_document(path, &text).map_err(|problems| {
                SimError::Profiles(
                    problems
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("\n"),
                )
            })?;
        let mut out = Self::builtin();
        let mut errors = Vec::new();
        for p in file.profiles {
            errors.extend(
                p.check()
                    .into_iter()
                    .map(|e| format!("{}: profiles.{e}", path.display())),
            );
            out.0.insert(p.name.clone(), p);
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(SimError::Profiles(errors.join("\n")))
        }
    }

    /// The profile for a requested model name (`default` when none matches).
    pub fn resolve(&self, model: &str) -> &Profile {
        self.0
            .get(model)
            .or_else(|| self.0.get("default"))
            .unwrap_or_else(|| &DEFAULT)
    }

    pub fn all(&self) -> impl Iterator<Item = &Profile> {
        self.0.values()
    }
}

static DEFAULT: std::sync::LazyLock<Profile> =
    std::sync::LazyLock::new(|| builtin("default", 100.0, 10.0, 200.0, 20, 60));

#[cfg(test)]
#[path = "profile_tests.rs"]
mod tests;
