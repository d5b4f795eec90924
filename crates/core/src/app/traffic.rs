//! "Generate sample traffic": requests sent through the proxy with nothing but a session's own
//! rendered environment (base URL, key, model), so a first run needs no harness and no API key.

use std::time::Instant;

use serde::Serialize;

use super::{App, Events, TrafficStep};
use crate::config::Surface;
use crate::Error;

/// What a batch did.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct TrafficReport {
    pub sent: u32,
    pub ok: u32,
    pub failed: u32,
    /// The first failure, as the proxy answered it.
    pub first_error: Option<String>,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub elapsed_ms: u64,
}

const PROMPTS: [&str; 4] = [
    "Say hello and describe this repository in one sentence.",
    "List three risks of changing a public API.",
    "Explain what a flaky test is in two sentences.",
    "Suggest a name for a benchmarking tool.",
];

impl App {
    /// Send `count` streamed requests, one after another, with the session's environment.
    /// `progress(done, count)` is called after each.
    pub async fn session_sample_traffic(
        &self,
        id: &str,
        count: u32,
        events: &dyn Events,
    ) -> Result<TrafficReport, Error> {
        let progress = |done: u32, total: u32| {
            events.traffic(TrafficStep {
                session_id: id.to_string(),
                done,
                total,
            })
        };
        let reg = self.registry()?;
        let session = self.sessions().await?.get(id).await?;
        let harness = reg
            .harness(&session.harness_profile)
            .ok_or_else(|| Error::NotFound {
                kind: "harness profile",
                name: session.harness_profile.clone(),
                known: String::new(),
            })?;
        let rendered = self.sessions().await?.env(&reg, id).await?;
        let var = |name: &str| {
            rendered
                .env
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.expose().to_string())
        };
        let base = var(&harness.base_url_env).ok_or_else(|| {
            Error::Invalid(format!("the environment has no {}", harness.base_url_env))
        })?;
        let key = var(&harness.api_key_env).unwrap_or_default();
        let model = harness
            .model_env
            .as_deref()
            .and_then(var)
            .or_else(|| reg.variant(&session.variant).map(|v| v.model_alias.clone()))
            .unwrap_or_default();
        let base = base.trim_end_matches('/').to_string();
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(std::time::Duration::from_secs(120))
            .build()
            .map_err(|e| Error::Internal(format!("HTTP client: {e}")))?;
        let started = Instant::now();
        let mut report = TrafficReport {
            sent: 0,
            ok: 0,
            failed: 0,
            first_error: None,
            elapsed_ms: 0,
        };
        for i in 0..count {
            let prompt = PROMPTS[i as usize % PROMPTS.len()];
            let req = match harness.protocol_surface {
                Surface::OpenaiChat => client
                    .post(format!("{base}/chat/completions"))
                    .bearer_auth(&key)
                    .json(&serde_json::json!({
                        "model": model, "stream": true, "max_tokens": 64,
                        "messages": [{"role": "user", "content": prompt}],
                    })),
                Surface::OpenaiResponses => client
                    .post(format!("{base}/responses"))
                    .bearer_auth(&key)
                    .json(&serde_json::json!({
                        "model": model, "stream": true, "max_output_tokens": 64, "input": prompt,
                    })),
                Surface::AnthropicMessages => client
                    .post(format!("{base}/v1/messages"))
                    .bearer_auth(&key)
                    .header("anthropic-version", "2023-06-01")
                    .json(&serde_json::json!({
                        "model": model, "stream": true, "max_tokens": 64,
                        "messages": [{"role": "user", "content": prompt}],
                    })),
                Surface::GoogleGenerateContent => {
                    return Err(Error::Invalid(
                        "sample traffic speaks the OpenAI and Anthropic surfaces; drive a Gemini session with its harness".into(),
                    ))
                }
            };
            report.sent += 1;
            match send(req).await {
                Ok(()) => report.ok += 1,
                Err(e) => {
                    report.failed += 1;
                    if report.first_error.is_none() {
                        report.first_error = Some(e);
                    }
                }
            }
            progress(i + 1, count);
        }
        report.elapsed_ms = started.elapsed().as_millis() as u64;
        Ok(report)
    }
}

/// Send and read the whole (streamed) body; an error says what the proxy answered.
async fn send(req: reqwest::RequestBuilder) -> Result<(), String> {
    let resp = req
        .send()
        .await
        .map_err(|e| format!("the proxy did not answer ({e}); is the stack running?"))?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        return Err(format!(
            "HTTP {status}: {}",
            body.chars().take(300).collect::<String>()
        ));
    }
    let mut resp = resp;
    while resp
        .chunk()
        .await
        .map_err(|e| format!("the stream broke: {e}"))?
        .is_some()
    {}
    Ok(())
}
