//! LiteLLM's proxy config, generated from the provider configs. Keys appear only as
//! `os.environ/NAME`: their values reach LiteLLM through the child process environment.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::config::{Provider, Registry, Surface};
use crate::secrets::MASTER_KEY;

/// The environment variable through which the simulator's (random, per-start) key is passed.
pub const SIM_KEY_ENV: &str = "STACKPERF_SIM_API_KEY";
/// Where the auth hook finds the session-key registry (hashes only).
/// The token the edge sends LiteLLM so the auth hook trusts its correlation id.
pub const EDGE_TOKEN_ENV: &str = "STACKPERF_EDGE_TOKEN";
/// The bearer token Prometheus presents to read the edge's metrics (they name sessions, variants
/// and labels; the token opens nothing else).
pub const METRICS_TOKEN_ENV: &str = "STACKPERF_METRICS_TOKEN";
pub const KEY_REGISTRY_ENV: &str = "STACKPERF_KEY_REGISTRY";
/// Where the capture logger appends one line per request.
pub const SPOOL_ENV: &str = "STACKPERF_SPOOL";
/// The alias `stack up` warms the proxy up with (routed to the simulator, never benchmarked).
pub const WARMUP_ALIAS: &str = "stackperf-warmup";

/// The Python modules LiteLLM loads from the config's directory: `(file name, source)`.
pub const MODULES: &[(&str, &str)] = &[
    (
        "stackperf_auth.py",
        include_str!("../../../../configs/litellm/stackperf_auth.py"),
    ),
    (
        "stackperf_capture.py",
        include_str!("../../../../configs/litellm/stackperf_capture.py"),
    ),
];

/// A provider left out of the proxy config, and why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct SkippedProvider {
    pub provider: String,
    pub reason: String,
    pub fix: String,
    /// The model aliases that will not be served.
    pub models: Vec<String>,
}

/// The generated config and what it needs.
#[derive(Debug, Clone)]
pub struct LitellmPlan {
    /// The config file's text (JSON, which is valid YAML).
    pub config: String,
    /// Secret names whose values must be in LiteLLM's environment.
    pub key_names: Vec<String>,
    /// Variables holding upstream URLs that must be in LiteLLM's environment.
    pub url_envs: Vec<String>,
    pub served: Vec<String>,
    pub skipped: Vec<SkippedProvider>,
    /// Whether any served provider is the simulator.
    pub uses_simulator: bool,
    /// The alias to warm the proxy up with ([`WARMUP_ALIAS`]), when a simulator is served.
    pub warmup_model: Option<String>,
}

/// LiteLLM's provider prefix for a provider.
pub fn litellm_prefix(p: &Provider) -> String {
    p.litellm_provider.clone().unwrap_or_else(|| {
        match p.protocol_surface {
            Surface::OpenaiChat | Surface::OpenaiResponses => "openai",
            Surface::AnthropicMessages => "anthropic",
            Surface::GoogleGenerateContent => "gemini",
        }
        .to_string()
    })
}

/// `scheme://host[:port]` and the path of a URL (`http://h:1/v1` → (`http://h:1`, `/v1`)).
fn split_url(url: &str) -> (&str, &str) {
    let after_scheme = url.find("://").map(|i| i + 3).unwrap_or(0);
    match url[after_scheme..].find('/') {
        Some(i) => url.split_at(after_scheme + i),
        None => (url, ""),
    }
}

/// Generate the proxy config.
///
/// * `has_secret(name)` — whether a provider key is available (keychain or environment);
/// * `has_env(name)` — whether an upstream-URL variable is set;
/// * `sim_origin` — where the simulator is reachable from LiteLLM (`http://127.0.0.1:8765`).
pub fn generate(
    reg: &Registry,
    has_secret: &dyn Fn(&str) -> bool,
    has_env: &dyn Fn(&str) -> bool,
    sim_origin: &str,
) -> LitellmPlan {
    let mut model_list = Vec::new();
    let mut plan = LitellmPlan {
        config: String::new(),
        key_names: Vec::new(),
        url_envs: Vec::new(),
        served: Vec::new(),
        skipped: Vec::new(),
        uses_simulator: false,
        warmup_model: None,
    };
    for p in reg.providers.iter().map(|l| &l.value) {
        let models: Vec<String> = p.models.iter().map(|m| m.alias.clone()).collect();
        let skip = |reason: String, fix: String| SkippedProvider {
            provider: p.name.clone(),
            reason,
            fix,
            models: models.clone(),
        };
        let key_ref = if p.simulator {
            Some(SIM_KEY_ENV.to_string())
        } else {
            match &p.api_key_env {
                Some(name) if !has_secret(name) => {
                    plan.skipped.push(skip(
                        format!("its API key {name} is not set"),
                        format!("run `stackperf secrets set {name}` (or export {name}), then `stackperf stack up` again"),
                    ));
                    continue;
                }
                other => other.clone(),
            }
        };
        let api_base = match (&p.upstream_base_url, &p.upstream_base_url_env) {
            (_, Some(env)) if !has_env(env) => {
                plan.skipped.push(skip(
                    format!("its upstream URL variable {env} is not set"),
                    format!("export {env}=https://…, then `stackperf stack up` again"),
                ));
                continue;
            }
            (_, Some(env)) => {
                plan.url_envs.push(env.clone());
                format!("os.environ/{env}")
            }
            (Some(url), None) if p.simulator => format!("{sim_origin}{}", split_url(url).1),
            (Some(url), None) => url.clone(),
            (None, None) => continue,
        };
        let prefix = litellm_prefix(p);
        for m in &p.models {
            let mut params = Map::new();
            params.insert(
                "model".into(),
                json!(format!("{prefix}/{}", m.upstream_model)),
            );
            params.insert("api_base".into(), json!(api_base));
            if let Some(k) = &key_ref {
                params.insert("api_key".into(), json!(format!("os.environ/{k}")));
            }
            if let Some(t) = p.routing_defaults.timeout_seconds {
                params.insert("timeout".into(), json!(t));
            }
            if !p.routing_defaults.extra_headers.is_empty() {
                params.insert(
                    "extra_headers".into(),
                    json!(p.routing_defaults.extra_headers),
                );
            }
            model_list.push(json!({
                "model_name": m.alias,
                "litellm_params": Value::Object(params),
                "model_info": {"stackperf_provider": p.name, "stackperf_route": p.route_name},
            }));
        }
        if let Some(k) = key_ref.filter(|k| k != SIM_KEY_ENV) {
            plan.key_names.push(k);
        }
        plan.uses_simulator |= p.simulator;
        if p.simulator
            && plan.warmup_model.is_none()
            && p.protocol_surface != crate::config::Surface::AnthropicMessages
        {
            // A separate alias keeps warm-up traffic out of every benchmark series.
            if let Some(m) = p.models.first() {
                model_list.push(json!({
                    "model_name": WARMUP_ALIAS,
                    "litellm_params": {"model": format!("{prefix}/{}", m.upstream_model), "api_base": api_base, "api_key": format!("os.environ/{SIM_KEY_ENV}")},
                    "model_info": {"stackperf_provider": p.name, "stackperf_route": "warmup"},
                }));
                plan.warmup_model = Some(WARMUP_ALIAS.to_string());
            }
        }
        plan.served.push(p.name.clone());
    }
    let config = json!({
        "model_list": model_list,
        "litellm_settings": {
            // StackPerf's capture (one spool line per request, TTFT from the first content delta)
            // and Prometheus for the live dashboards.
            "callbacks": ["stackperf_capture.capture", "prometheus"],
            // Content capture is off unless the operator turns it on explicitly.
            "turn_off_message_logging": true,
            "require_auth_for_metrics_endpoint": false,
        },
        // Retries inside the proxy would hide upstream errors and distort latency.
        "router_settings": {"num_retries": 0},
        // Session keys are checked by StackPerf's hook against its registry (LiteLLM's virtual keys
        // need a database the native stack does not run); the master key stays the admin key.
        "general_settings": {
            "master_key": format!("os.environ/{MASTER_KEY}"),
            "custom_auth": "stackperf_auth.user_api_key_auth",
        },
    });
    let body = serde_json::to_string_pretty(&config).unwrap_or_default();
    plan.config = format!("# Generated by StackPerf from the provider configs; edits are overwritten.\n# Secrets are referenced as os.environ/NAME and never written here.\n{body}\n");
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> Registry {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
        let (reg, problems) = Registry::load(&dir);
        assert!(problems.is_empty(), "{problems:?}");
        reg
    }

    #[test]
    fn providers_without_keys_are_skipped_with_the_command_that_fixes_it() {
        let reg = registry();
        let plan = generate(
            &reg,
            &|name| name == "ANTHROPIC_API_KEY",
            &|_| false,
            "http://127.0.0.1:9999",
        );
        assert!(
            plan.served.contains(&"sim".to_string())
                && plan.served.contains(&"anthropic".to_string())
        );
        let openai = plan
            .skipped
            .iter()
            .find(|s| s.provider == "openai")
            .unwrap();
        assert!(openai.fix.contains("stackperf secrets set OPENAI_API_KEY"));
        assert!(openai.models.contains(&"openai-gpt-4.1".to_string()));
        assert_eq!(plan.key_names, vec!["ANTHROPIC_API_KEY".to_string()]);
        assert!(plan.uses_simulator);
    }

    #[test]
    fn the_config_routes_aliases_and_references_keys_by_name_only() {
        let reg = registry();
        let plan = generate(&reg, &|_| true, &|_| true, "http://127.0.0.1:9999");
        let body: String = plan
            .config
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        let v: Value = serde_json::from_str(&body).unwrap();
        let find = |alias: &str| {
            v["model_list"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["model_name"] == alias)
                .unwrap()
                .clone()
        };
        let sim = find("sim-fast");
        assert_eq!(sim["litellm_params"]["model"], "openai/sim-fast");
        assert_eq!(
            sim["litellm_params"]["api_base"], "http://127.0.0.1:9999/v1",
            "simulator URL follows the stack's port"
        );
        assert_eq!(
            sim["litellm_params"]["api_key"],
            "os.environ/STACKPERF_SIM_API_KEY"
        );
        let claude = find("anthropic-sonnet-4.5");
        assert_eq!(
            claude["litellm_params"]["model"],
            "anthropic/claude-sonnet-4-5"
        );
        assert_eq!(
            claude["litellm_params"]["api_key"],
            "os.environ/ANTHROPIC_API_KEY"
        );
        assert_eq!(
            find("sim-anthropic-fast")["litellm_params"]["api_base"],
            "http://127.0.0.1:9999"
        );
        assert_eq!(
            find("openrouter-glm-4.6")["litellm_params"]["extra_headers"]["X-Title"],
            "StackPerf"
        );
        assert_eq!(
            find("fireworks-qwen3-coder")["litellm_params"]["model"],
            "fireworks_ai/accounts/fireworks/models/qwen3-coder-480b-a35b-instruct"
        );
        assert_eq!(
            v["general_settings"]["master_key"],
            "os.environ/LITELLM_MASTER_KEY"
        );
        assert_eq!(v["litellm_settings"]["turn_off_message_logging"], true);
        assert!(v["litellm_settings"]["callbacks"]
            .as_array()
            .unwrap()
            .contains(&json!("prometheus")));
    }

    #[test]
    fn urls_split_into_origin_and_path() {
        assert_eq!(
            split_url("http://127.0.0.1:8765/v1"),
            ("http://127.0.0.1:8765", "/v1")
        );
        assert_eq!(
            split_url("https://api.anthropic.com"),
            ("https://api.anthropic.com", "")
        );
    }
}
