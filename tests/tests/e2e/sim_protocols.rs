//! The simulator over raw HTTP: Google generateContent (no SDK here), TTFT timed from outside on
//! every surface, determinism by seed, auth and bad input.

use std::time::Instant;

use futures::StreamExt;
use serde_json::{json, Value};
use stackperf_e2e::{median, Sim};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

/// True when `text` holds `marker` followed by something other than a closing quote (content,
/// as opposed to the empty strings of preamble frames).
fn has_content(text: &str, marker: &str) -> bool {
    text.match_indices(marker)
        .any(|(i, m)| text[i + m.len()..].chars().next().is_some_and(|c| c != '"'))
}

/// POST and time the first body chunk that carries content after `marker`; read the whole body.
/// A request the simulator cut off (injected disconnect) reports status 0.
async fn timed(sim: &Sim, path: &str, body: Value, marker: &str) -> (u16, f64, String, String) {
    // The client is made before the clock starts: making one loads the system's TLS roots
    // (~7 ms), which is no part of the time to first content.
    let client = client();
    let t0 = Instant::now();
    let resp = match client
        .post(format!("{}{path}", sim.base_url))
        .header("authorization", "Bearer test")
        .json(&body)
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => return (0, f64::NAN, e.to_string(), String::new()),
    };
    let status = resp.status().as_u16();
    let id = resp
        .headers()
        .get("x-sim-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let mut stream = resp.bytes_stream();
    let mut text = String::new();
    let mut first = f64::NAN;
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else { break };
        text.push_str(&String::from_utf8_lossy(&chunk));
        if first.is_nan() && has_content(&text, marker) {
            first = t0.elapsed().as_secs_f64() * 1000.0;
        }
    }
    (status, first, text, id)
}

fn sse_data(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).expect("valid JSON frame"))
        .collect()
}

#[tokio::test]
async fn google_generate_content_json_sse_and_array_streams() {
    let sim = Sim::start(&[]);
    let req = json!({"contents": [{"role": "user", "parts": [{"text": "hello"}]}], "generationConfig": {"maxOutputTokens": 5}});
    let (status, _, body, _) = timed(
        &sim,
        "/v1beta/models/sim-fast:generateContent",
        req.clone(),
        "candidates",
    )
    .await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["usageMetadata"]["candidatesTokenCount"], 5);
    assert_eq!(v["candidates"][0]["finishReason"], "MAX_TOKENS");

    let (status, _, body, _) = timed(
        &sim,
        "/v1beta/models/sim-fast:streamGenerateContent?alt=sse",
        req.clone(),
        "text",
    )
    .await;
    assert_eq!(status, 200);
    let frames = sse_data(&body);
    let last = frames.last().expect("frames");
    assert_eq!(last["usageMetadata"]["candidatesTokenCount"], 5);
    let text: String = frames
        .iter()
        .filter_map(|f| f["candidates"][0]["content"]["parts"][0]["text"].as_str())
        .collect();
    assert_eq!(text.split_whitespace().count(), 5);

    let (status, _, body, _) = timed(
        &sim,
        "/v1beta/models/sim-fast:streamGenerateContent",
        req,
        "text",
    )
    .await;
    assert_eq!(status, 200);
    let arr: Vec<Value> = serde_json::from_str(&body).expect("a JSON array of chunks");
    assert_eq!(
        arr.last().expect("chunks")["candidates"][0]["finishReason"],
        "MAX_TOKENS"
    );

    let head = client()
        .head(format!("{}/", sim.base_url))
        .send()
        .await
        .expect("HEAD /");
    assert_eq!(head.status().as_u16(), 200);
}

/// Tests that take the machine alone (`stackperf_e2e::quiet`): `scripts/test.sh` runs them
/// after the others, one at a time (`::quiet::` in their names).
mod quiet {
    use super::*;

    #[tokio::test]
    async fn ttft_timed_from_outside_matches_the_profile_on_every_surface() {
        let _quiet = stackperf_e2e::quiet(); // first content timed from outside
        let sim = Sim::start(&[]);
        let msg = json!([{"role": "user", "content": "hi"}]);
        let cases = [
            (
                "/v1/chat/completions",
                json!({"model": "sim-steady", "stream": true, "messages": msg}),
                "\"content\":\"",
            ),
            (
                "/v1/responses",
                json!({"model": "sim-steady", "stream": true, "input": "hi"}),
                "\"delta\":\"",
            ),
            (
                "/v1/messages",
                json!({"model": "sim-steady", "stream": true, "max_tokens": 100, "messages": msg}),
                "\"text\":\"",
            ),
            (
                "/v1beta/models/sim-steady:streamGenerateContent?alt=sse",
                json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}),
                "\"text\":\"",
            ),
        ];
        // Warm-up so connection setup is not timed.
        let _ = timed(&sim, cases[0].0, cases[0].1.clone(), cases[0].2).await;
        for (path, body, marker) in cases {
            let mut samples = Vec::new();
            for _ in 0..5 {
                let (status, first, _, _) = timed(&sim, path, body.clone(), marker).await;
                assert_eq!(status, 200, "{path}");
                samples.push(first);
            }
            let m = median(&samples);
            assert!(
                (m - 200.0).abs() < 5.0,
                "{path}: first content after {m:.1} ms, configured 200 ms ({samples:?})"
            );
        }
    }
}

#[tokio::test]
async fn the_same_seed_gives_the_same_behaviour() {
    let body = json!({"model": "sim-flaky", "messages": [{"role": "user", "content": "hi"}]});
    let mut runs = Vec::new();
    for seed in ["11", "11", "12"] {
        let sim = Sim::start(&["--seed", seed]);
        let mut outcomes = Vec::new();
        for _ in 0..12 {
            let (status, _, text, _) = timed(&sim, "/v1/chat/completions", body.clone(), "x").await;
            outcomes.push((status, text.len()));
        }
        let truth: Vec<(u64, String)> = {
            let mut t: Vec<_> = sim
                .truth()
                .into_values()
                .map(|r| {
                    (
                        r["seq"].as_u64().unwrap_or(0),
                        format!("{}", r["scheduled_ttft_ms"]),
                    )
                })
                .collect();
            t.sort();
            t
        };
        runs.push((outcomes, truth));
    }
    assert_eq!(runs[0], runs[1], "same seed, different behaviour");
    assert_ne!(runs[0].1, runs[2].1, "different seeds, same TTFT schedule");
}

#[tokio::test]
async fn missing_keys_bad_json_and_wrong_keys_get_protocol_errors() {
    let sim = Sim::start(&[]);
    let c = client();
    let r = c
        .post(format!("{}/v1/messages", sim.base_url))
        .json(&json!({"model": "m", "max_tokens": 5, "messages": []}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 401);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["error"]["type"], "authentication_error");
    let r = c
        .post(format!("{}/v1/chat/completions", sim.base_url))
        .bearer_auth("k")
        .body("{not json")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 400);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["error"]["type"], "invalid_request_error");
    let r = c
        .post(format!(
            "{}/v1beta/models/sim-fast:generateContent",
            sim.base_url
        ))
        .json(&json!({}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 401);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["error"]["status"], "UNAUTHENTICATED");

    // With --api-key-env only that key is accepted.
    let strict = Sim::start_with_env(
        &["--api-key-env", "E2E_SIM_KEY"],
        &[("E2E_SIM_KEY", "only-this-key")],
    );
    let body = json!({"model": "sim-fast", "messages": [{"role": "user", "content": "hi"}]});
    let bad = c
        .post(format!("{}/v1/chat/completions", strict.base_url))
        .bearer_auth("other")
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(bad.status().as_u16(), 401);
    let good = c
        .post(format!("{}/v1/chat/completions", strict.base_url))
        .bearer_auth("only-this-key")
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(good.status().as_u16(), 200);
}

#[tokio::test]
async fn custom_profiles_timeouts_and_the_jsonl_ground_truth_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let profiles = dir.path().join("profiles.yaml");
    std::fs::write(
        &profiles,
        "profiles:\n  - name: quick-timeout\n    ttft_ms: 10\n    tokens_per_second: 100\n    output_tokens_min: 1\n    output_tokens_max: 1\n    timeout_hang_ms: 300\n    errors: { timeout: 1.0 }\n  - name: tiny\n    ttft_ms: 20\n    tokens_per_second: 1000\n    output_tokens_min: 3\n    output_tokens_max: 3\n",
    )
    .expect("write profiles");
    let log = dir.path().join("truth.jsonl");
    let sim = Sim::start(&[
        "--profiles",
        profiles.to_str().expect("utf8"),
        "--log",
        log.to_str().expect("utf8"),
    ]);
    let body = |m: &str| json!({"model": m, "messages": [{"role": "user", "content": "hi"}]});

    let t0 = Instant::now();
    let (status, _, text, timeout_id) =
        timed(&sim, "/v1/chat/completions", body("quick-timeout"), "x").await;
    let waited = t0.elapsed().as_millis();
    assert_eq!(status, 504, "{text}");
    assert!(
        waited >= 300,
        "the timeout fault answered after {waited} ms, configured 300 ms"
    );
    let (status, _, text, tiny_id) = timed(&sim, "/v1/chat/completions", body("tiny"), "x").await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["usage"]["completion_tokens"], 3);

    let lines: Vec<Value> = std::fs::read_to_string(&log)
        .expect("log written")
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let find = |id: &str| {
        lines
            .iter()
            .find(|l| l["id"] == id)
            .unwrap_or_else(|| panic!("{id} not in the log: {lines:?}"))
    };
    assert_eq!(find(&timeout_id)["outcome"], "timeout");
    assert_eq!(find(&timeout_id)["status"], 504);
    assert_eq!(find(&tiny_id)["outcome"], "ok");
    assert_eq!(find(&tiny_id)["profile"], "tiny");

    // A broken profiles file is refused with the file and the field named.
    std::fs::write(&profiles, "profiles:\n  - name: bad\n    ttft_ms: -1\n    tokens_per_second: 1\n    output_tokens_min: 1\n    output_tokens_max: 1\n").expect("write");
    let out = stackperf_e2e::stackperf(dir.path())
        .args([
            "sim",
            "profiles",
            "--profiles",
            profiles.to_str().expect("utf8"),
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("profiles.yaml") && err.contains("bad.ttft_ms"),
        "{err}"
    );
}
