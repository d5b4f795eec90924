//! HTTP probes of the stack's services: health checks, versions, and the proxy warm-up.

use std::path::Path;
use std::time::Duration;

use super::native::ServiceRecord;

/// LiteLLM's first streamed request on each surface carries tens to hundreds of milliseconds of
/// one-time set-up. Pay it here, against the simulator, so the first benchmark session does not.
/// The requests are tagged `stackperf-warmup` and are captured as internal traffic (the master
/// key's alias), which exports and counts leave out.
pub(crate) async fn warm_up(proxy: &str, master_key: &str, model: &str) {
    let client = http();
    let msg = serde_json::json!([{"role": "user", "content": "warm-up"}]);
    let calls = [
        (
            "/v1/chat/completions",
            serde_json::json!({"model": model, "messages": msg, "stream": true, "max_tokens": 2}),
        ),
        (
            "/v1/chat/completions",
            serde_json::json!({"model": model, "messages": msg, "max_tokens": 2}),
        ),
        (
            "/v1/responses",
            serde_json::json!({"model": model, "input": "warm-up", "stream": true, "max_output_tokens": 2}),
        ),
        (
            "/v1/messages",
            serde_json::json!({"model": model, "messages": msg, "stream": true, "max_tokens": 2}),
        ),
    ];
    for (path, body) in calls {
        let sent = client
            .post(format!("{proxy}{path}"))
            .bearer_auth(master_key)
            .header("x-litellm-tags", "stackperf-warmup")
            .json(&body)
            .send()
            .await;
        if let Ok(resp) = sent {
            let _ = resp.bytes().await;
        }
    }
}

/// The client every health probe uses: made once per process (making one loads the system's TLS
/// roots, ~7 ms), without idle connections (a pooled connection belongs to the runtime that made
/// it, and probes run on several: the CLI's, the desktop's, each test's).
pub(crate) fn http() -> reqwest::Client {
    static CLIENT: std::sync::LazyLock<reqwest::Client> = std::sync::LazyLock::new(|| {
        reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(2))
            .pool_max_idle_per_host(0)
            .build()
            .unwrap_or_default()
    });
    CLIENT.clone()
}

pub(crate) async fn healthy(client: &reqwest::Client, rec: &ServiceRecord) -> bool {
    client
        .get(format!("{}{}", rec.url, rec.health_path))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

pub(crate) async fn prometheus_version(bin: &Path) -> Option<String> {
    let out = super::process::tokio_command(bin)
        .arg("--version")
        .output()
        .await
        .ok()?;
    let text = String::from_utf8_lossy(if out.stdout.is_empty() {
        &out.stderr
    } else {
        &out.stdout
    })
    .to_string();
    text.split_whitespace()
        .skip_while(|w| *w != "version")
        .nth(1)
        .map(str::to_string)
}
