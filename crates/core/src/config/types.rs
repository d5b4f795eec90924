//! The five configuration types (docs/configuration.md). Every struct rejects unknown fields.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The wire protocol a client speaks or an upstream serves (the contract's one enum).
pub use stackperf_contract::Surface;

/// A model an upstream exposes, under the alias clients ask the proxy for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    pub alias: String,
    pub upstream_model: String,
    /// What the model costs, when the provider declares it (the simulator, custom routes, or to
    /// pin a price): StackPerf then computes each request's cost from tokens × these prices
    /// instead of taking LiteLLM's.
    #[serde(default)]
    pub price: Option<Price>,
}

/// Prices in US dollars per million tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Input tokens not read from or written to a cache.
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
    /// Cached input tokens read [default: the input price].
    #[serde(default)]
    pub cached_input_per_mtok: Option<f64>,
    /// Input tokens written to a cache [default: the input price].
    #[serde(default)]
    pub cache_write_per_mtok: Option<f64>,
    /// When these prices were taken (e.g. `2026-11-01`): recorded with every session (`price`).
    #[serde(default)]
    pub as_of: Option<String>,
}

impl Price {
    /// The cost of one request. `input` counts every prompt token, cached and cache-write
    /// included (LiteLLM's `prompt_tokens`); `None` without output and input counts.
    pub fn cost(
        &self,
        input: Option<i64>,
        output: Option<i64>,
        cached: Option<i64>,
        cache_write: Option<i64>,
    ) -> Option<f64> {
        let (input, output) = (input?.max(0) as f64, output?.max(0) as f64);
        let cached = cached.unwrap_or(0).max(0) as f64;
        let write = cache_write.unwrap_or(0).max(0) as f64;
        let fresh = (input - cached - write).max(0.0);
        let per = 1e-6;
        Some(
            fresh * self.input_per_mtok * per
                + cached * self.cached_input_per_mtok.unwrap_or(self.input_per_mtok) * per
                + write * self.cache_write_per_mtok.unwrap_or(self.input_per_mtok) * per
                + output * self.output_per_mtok * per,
        )
    }
}

/// Per-route defaults handed to the proxy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingDefaults {
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
    #[serde(default)]
    pub extra_headers: BTreeMap<String, String>,
}

/// An upstream endpoint and the models it exposes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub route_name: String,
    pub protocol_surface: Surface,
    /// LiteLLM's provider prefix (`openai`, `anthropic`, `gemini`, `fireworks_ai`, `openrouter`…);
    /// derived from the protocol surface when absent.
    #[serde(default)]
    pub litellm_provider: Option<String>,
    #[serde(default)]
    pub upstream_base_url: Option<String>,
    #[serde(default)]
    pub upstream_base_url_env: Option<String>,
    /// Name of the secret holding the API key (keychain entry / environment variable), never the key.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// True for StackPerf's simulated provider: the stack starts it.
    #[serde(default)]
    pub simulator: bool,
    pub models: Vec<ModelEntry>,
    #[serde(default)]
    pub routing_defaults: RoutingDefaults,
}

impl Provider {
    pub fn model(&self, alias: &str) -> Option<&ModelEntry> {
        self.models.iter().find(|m| m.alias == alias)
    }
}

/// How a rendered file is serialized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    Json,
    Toml,
    Text,
}

/// A file a harness needs (Codex `config.toml`, OpenCode JSON, Gemini `settings.json`), written
/// into the session directory. `content` is structured data (or a string for `text`); every
/// string inside it is a template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenderFile {
    /// Path relative to the session directory (templated).
    pub path: String,
    pub format: FileFormat,
    pub content: serde_json::Value,
}

/// The default output format of `session env`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum RenderFormat {
    #[default]
    Shell,
    Dotenv,
    Json,
    Toml,
}

/// A check the operator runs before launching the harness.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaunchCheck {
    pub description: String,
    #[serde(default)]
    pub command: Option<String>,
}

/// How to point one harness at the proxy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HarnessProfile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub protocol_surface: Surface,
    /// Variable that receives the proxy base URL (`{{ base_url }}`).
    pub base_url_env: String,
    /// Path appended to the proxy URL to form `{{ base_url }}` (e.g. `/v1`).
    #[serde(default)]
    pub base_url_path: String,
    /// Variable that receives the session key.
    pub api_key_env: String,
    /// Variable that receives the model alias, when the harness reads one.
    #[serde(default)]
    pub model_env: Option<String>,
    /// Further variables; values are templates.
    #[serde(default)]
    pub extra_env: BTreeMap<String, String>,
    #[serde(default)]
    pub files: Vec<RenderFile>,
    #[serde(default)]
    pub render_format: RenderFormat,
    #[serde(default)]
    pub launch_checks: Vec<LaunchCheck>,
    /// How to run the harness once the environment is set (shown to the operator).
    #[serde(default)]
    pub launch_command: Option<String>,
    /// Per-session isolation of the harness's own state (history, settings, caches), so one
    /// session cannot carry anything into the next or into the operator's own use.
    #[serde(default)]
    pub isolation: Option<Isolation>,
    /// How an automated run starts the harness unattended.
    #[serde(default)]
    pub headless: Option<Headless>,
}

/// An unattended, non-interactive launch: the command line (each word a template; `{{ prompt }}`
/// is the task card's prompt) and variables only a run needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Headless {
    pub argv: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// How to read the harness's own figures from its output (a cross-check beside StackPerf's).
    #[serde(default)]
    pub report: Option<crate::run::ReportFormat>,
}

/// What isolating a harness's state takes, and what it costs the operator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Isolation {
    /// Variables that move the harness's state into the session folder; values are templates.
    pub env: BTreeMap<String, String>,
    /// What isolation changes, in a sentence (shown where the operator chooses it).
    pub effect: String,
    /// What the operator gives up with it (their login, settings, history, …).
    pub gives_up: String,
}

/// One benchmarkable combination of provider × model × harness × harness config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub provider: String,
    pub provider_route: String,
    pub model_alias: String,
    pub harness_profile: String,
    /// Overrides of the harness's environment; values are templates.
    #[serde(default)]
    pub harness_env_overrides: BTreeMap<String, String>,
    pub benchmark_tags: BTreeMap<String, String>,
}

/// A named comparison set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub variants: Vec<String>,
    /// The suite its runs take when no task card is named (`configs/suites/NAME.yaml`).
    #[serde(default)]
    pub suite: Option<String>,
}

/// A set of task cards a decision is made over (`configs/suites/NAME.yaml`): each run repeats
/// every one of them for every variant, and the comparison is made within each task, then
/// combined (docs/statistics.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub tasks: Vec<SuiteTask>,
}

/// One task of a suite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteTask {
    pub task_card: String,
    /// Its weight in the suite's summaries [default 1].
    #[serde(default)]
    pub weight: Option<f64>,
    /// Free labels such as `size: large` or `language: rust`.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// The work and when to stop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskCard {
    pub name: String,
    pub repo_path: String,
    pub goal: String,
    pub starting_prompt: String,
    pub stop_condition: String,
    pub session_timebox_minutes: u32,
    #[serde(default)]
    pub notes: String,
    /// The commit, tag or branch every automated run starts from [default: HEAD]; each run
    /// works in a fresh copy of the repository at it.
    #[serde(default)]
    pub repo_ref: Option<String>,
    /// A shell command run in the fresh copy before the harness starts (`sh -c`).
    #[serde(default)]
    pub setup: Option<String>,
    /// How an automated run decides whether the task succeeded.
    #[serde(default)]
    pub verify: Option<VerifyStep>,
}

/// A shell command whose exit status 0 means the task succeeded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyStep {
    pub command: String,
    #[serde(default = "default_verify_timeout")]
    pub timeout_seconds: u64,
}

fn default_verify_timeout() -> u64 {
    300
}
