//! Benchmark sessions end to end on the real stack: create → the harness environment → traffic
//! from SDKs configured only by that environment → finalize → the database holds exactly what the
//! simulator served, attributed to the session, with TTFT matching the ground truth → the key is
//! refused afterwards → `report compare` over repeated sessions ranks the slower profile slower.

use std::collections::HashMap;
use std::process::Command;

use serde_json::Value;
use stackperf_e2e::{median, parse_rfc3339_ms, python, workspace, StackEnv};

#[path = "sessions/checks.rs"]
mod checks;
use checks::{nothing_secret_and_nothing_open_to_others, prometheus_counts_equal_the_database};

fn traffic(env: &HashMap<String, String>, args: &[&str]) -> Value {
    let mut c = Command::new(python());
    c.arg(workspace().join("tests/python/session_traffic.py"))
        .args(args);
    for k in [
        "OPENAI_BASE_URL",
        "OPENAI_API_KEY",
        "OPENAI_MODEL",
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN",
        "ANTHROPIC_MODEL",
    ] {
        c.env_remove(k);
    }
    c.envs(env);
    let out = c.output().expect("run session_traffic.py");
    assert!(
        out.status.success(),
        "traffic {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("traffic JSON")
}

fn create(
    s: &StackEnv,
    experiment: &str,
    variant: &str,
    extra: &[&str],
) -> (String, HashMap<String, String>) {
    let session = s.create_session(experiment, variant, extra);
    (session.id, session.env.into_iter().collect())
}

fn finalize(s: &StackEnv, id: &str) -> Value {
    s.json(&[
        "session",
        "finalize",
        id,
        "--status",
        "completed",
        "--outcome",
        "done",
    ])
}

/// Tests that take the machine alone (`stackperf_e2e::quiet`): `scripts/test.sh` runs them
/// after the others, one at a time (`::quiet::` in their names).
mod quiet {
    use super::*;

    #[test]
    fn sessions_capture_attribute_match_ground_truth_and_compare() {
        let _quiet = stackperf_e2e::quiet(); // first tokens against the ground truth
        let s = StackEnv::new("sessions");
        let master = s.up_with_master_key();
        // `stack up` warms the proxy up through the simulator; only what comes after counts here.
        let after_seq = s.truth_last_seq();

        // --- one session per SDK surface, each configured only from its rendered environment ---------
        let (a, env_a) = create(&s, "sim-profiles", "sim-fast-oai", &["--label", "e2e"]);
        assert_eq!(env_a["OPENAI_BASE_URL"], format!("{}/v1", s.proxy_url()));
        assert_eq!(env_a["OPENAI_MODEL"], "sim-fast");
        let key_a = env_a["OPENAI_API_KEY"].clone();
        assert!(key_a.len() >= 32 + 20 && key_a != master);
        let sent = traffic(&env_a, &["openai", "8"]);
        assert_eq!(sent["ok"], 8);

        let (b, env_b) = create(&s, "harness-shootout", "claude-code-sim-fast", &[]);
        assert_eq!(env_b["ANTHROPIC_BASE_URL"], s.proxy_url());
        assert_eq!(env_b["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"], "1");
        let sent = traffic(&env_b, &["anthropic", "4"]);
        assert_eq!(sent["ok"], 4);

        let c_id = claude_code_session(&s);

        // The env can be shown again while the session is active.
        let again = s.json(&["session", "env", &a]);
        assert_eq!(again["env"]["OPENAI_API_KEY"], key_a.as_str());

        let fa = finalize(&s, &a);
        assert_eq!(fa["session"]["status"], "completed");
        assert_eq!(fa["session"]["request_count"], 8);
        let fb = finalize(&s, &b);
        assert_eq!(fb["session"]["request_count"], 4);

        // The key is refused after finalize, and its environment can no longer be shown.
        let rejected = traffic(&env_a, &["rejected"]);
        assert_eq!(rejected["status"], 401, "{rejected}");
        assert!(
            rejected["message"]
                .as_str()
                .unwrap_or_default()
                .contains("revoked"),
            "{rejected}"
        );
        let out = s.run(&["session", "env", &a]);
        assert_eq!(out.status.code(), Some(1));
        // A key that never existed is refused too.
        let mut bogus = env_a.clone();
        bogus.insert("OPENAI_API_KEY".into(), "sk-bogus-session-key".into());
        assert_eq!(traffic(&bogus, &["rejected"])["status"], 401);

        let (ra, rb, rc) = stored_rows(&s, &a, &b, &c_id);
        first_tokens_match_ground_truth(&s, after_seq, [&ra, &rb, &rc]);
        repeated_sessions_rank_the_slow_profile_slower(&s, &master);
        let csv = charts_exports_and_sample_traffic(&s);
        nothing_secret_and_nothing_open_to_others(&s, &csv, &key_a, &master);
    }
}

/// A real harness: Claude Code from npm, run non-interactively with nothing but the rendered
/// environment, isolated; finalized. Returns its session id.
fn claude_code_session(s: &StackEnv) -> String {
    // A real harness: Claude Code from npm, run non-interactively with nothing but the rendered env.
    let claude = workspace().join("tests/harness/node_modules/.bin/claude");
    assert!(
        claude.exists(),
        "{} missing: run scripts/test-env.sh",
        claude.display()
    );
    let (c_id, env_c) = create(
        s,
        "harness-shootout",
        "claude-code-sim-fast",
        &["--label", "claude-code e2e", "--isolate"],
    );
    assert!(
        env_c
            .get("CLAUDE_CONFIG_DIR")
            .is_some_and(|v| v.contains(&c_id)),
        "an isolated session points Claude Code at its own folder: {env_c:?}"
    );
    let home = tempfile::tempdir().expect("home");
    let mut cmd = Command::new("timeout");
    cmd.arg("180")
        .arg(&claude)
        .args(["-p", "Say hello in five words", "--output-format", "json"])
        .env("HOME", home.path());
    for k in [
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN",
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_MODEL",
    ] {
        cmd.env_remove(k);
    }
    let out = cmd.envs(&env_c).output().expect("run claude");
    assert!(
        out.status.success(),
        "claude failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Isolated: Claude Code's state went to the session folder, nothing to the home directory.
    let in_home: Vec<_> = stackperf_e2e::files_under(home.path());
    assert!(in_home.is_empty(), "Claude Code wrote to HOME: {in_home:?}");
    let config_dir = std::path::PathBuf::from(&env_c["CLAUDE_CONFIG_DIR"]);
    assert!(
        config_dir.join(".claude.json").exists(),
        "{}",
        config_dir.display()
    );
    let result: Value = serde_json::from_slice(&out.stdout).expect("claude --output-format json");
    assert!(
        result["result"].as_str().is_some_and(|r| !r.is_empty()),
        "{result}"
    );
    let fc = finalize(s, &c_id);
    assert!(
        fc["session"]["request_count"].as_i64().unwrap_or(0) >= 1,
        "Claude Code's requests were captured: {fc}"
    );
    c_id
}

/// The three sessions' rows: attributed, priced and on the surfaces their clients used.
fn stored_rows(s: &StackEnv, a: &str, b: &str, c_id: &str) -> (Vec<Value>, Vec<Value>, Vec<Value>) {
    // --- the database against the simulator's ground truth --------------------------------------
    // LiteLLM writes its line (tokens for non-streamed calls) a moment after the edge's.
    s.merged_requests();
    let rows = |session: &str| -> Vec<Value> {
        s.json(&[
            "export",
            "requests",
            "--format",
            "json",
            "--session",
            session,
        ])
        .as_array()
        .expect("rows")
        .clone()
    };
    let (ra, rb, rc) = (rows(a), rows(b), rows(c_id));
    assert_eq!((ra.len(), rb.len()), (8, 4));
    for r in &rc {
        assert_eq!(
            (
                r["harness_profile"].as_str(),
                r["status"].as_str(),
                r["protocol_surface"].as_str()
            ),
            (
                Some("claude-code"),
                Some("success"),
                Some("anthropic_messages")
            ),
            "{r}"
        );
        assert!(
            r["ttft_ms"].as_f64().is_some(),
            "Claude Code streams: TTFT is defined: {r}"
        );
    }
    // Declared prices (configs/providers/sim.yaml, sim-fast: $0.50 in, $0.05 cached, $2.00 out
    // per million tokens): every request's cost is exactly its tokens × those prices.
    for r in &ra {
        let t = |k: &str| r[k].as_f64().unwrap_or(0.0);
        let (input, cached, output) = (
            t("input_tokens"),
            t("cached_input_tokens"),
            t("output_tokens"),
        );
        assert!(input > 0.0 && output > 0.0, "{r}");
        let want = (input - cached) * 0.5e-6 + cached * 0.05e-6 + output * 2.0e-6;
        let got = r["cost_usd"].as_f64().expect("a priced model has a cost");
        assert!(
            (got - want).abs() < 1e-12,
            "cost {got} ≠ tokens × prices {want}: {r}"
        );
    }
    for r in &ra {
        assert_eq!(r["session_id"], a);
        assert_eq!(r["variant"], "sim-fast-oai");
        assert_eq!(r["experiment"], "sim-profiles");
        assert_eq!(r["provider"], "sim");
        assert_eq!(r["status"], "success");
        assert!(
            r["request_started_at"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z')),
            "RFC 3339 times"
        );
    }
    assert!(rb
        .iter()
        .all(|r| r["harness_profile"] == "claude-code"
            && r["protocol_surface"] == "anthropic_messages"));
    let surfaces: Vec<&str> = ra
        .iter()
        .filter_map(|r| r["protocol_surface"].as_str())
        .collect();
    assert!(
        surfaces.contains(&"openai_chat") && surfaces.contains(&"openai_responses"),
        "{surfaces:?}"
    );
    (ra, rb, rc)
}

/// When the first token was seen, against the moment the simulator sent it (its ground truth).
fn first_tokens_match_ground_truth(s: &StackEnv, after_seq: u64, [ra, rb, rc]: [&[Value]; 3]) {
    let mut truth = s.truth_after(after_seq);
    truth.sort_by(|x, y| {
        x["arrived_unix_ms"]
            .as_f64()
            .unwrap_or(0.0)
            .total_cmp(&y["arrived_unix_ms"].as_f64().unwrap_or(0.0))
    });
    let mut all: Vec<Value> = ra.iter().chain(rb).chain(rc).cloned().collect();
    all.sort_by(|x, y| {
        x["request_started_at"]
            .as_str()
            .cmp(&y["request_started_at"].as_str())
    });
    assert_eq!(
        all.len(),
        truth.len(),
        "the database holds exactly the requests the simulator served"
    );
    // TTFT through the proxy = the proxy's time before it calls upstream + the upstream's TTFT.
    // What must match the ground truth is *when* the first token was seen: our first-token time
    // against the moment the simulator sent it. And TTFT may never be shorter than the upstream's.
    let mut ttft_err = Vec::new();
    let mut provider_ttft_err = Vec::new();
    for (row, t) in all.iter().zip(&truth) {
        assert_eq!(
            row["output_tokens"], t["output_tokens"],
            "output tokens equal what the upstream reported: {row} vs {t}"
        );
        assert_eq!(
            row["input_tokens"], t["input_tokens"],
            "input tokens: {row} vs {t}"
        );
        let streamed = row["streamed"] == 1;
        assert_eq!(streamed, t["stream"] == true);
        match (row["ttft_ms"].as_f64(), t["first_token_ms"].as_f64()) {
            (Some(m), Some(g)) if streamed => {
                assert!(
                    m >= g - 1.0,
                    "measured TTFT {m:.1} ms is shorter than the upstream's {g:.1} ms: {row}"
                );
                let provider = row["provider_ttft_ms"]
                    .as_f64()
                    .expect("provider TTFT where TTFT is defined");
                provider_ttft_err.push((provider - g).abs());
                let seen = row["first_token_at"]
                    .as_str()
                    .and_then(parse_rfc3339_ms)
                    .expect("first_token_at");
                let sent = t["arrived_unix_ms"].as_f64().expect("arrived") + g;
                ttft_err.push((seen - sent).abs());
            }
            (None, _) if !streamed => assert!(row["ttft_missing_reason"]
                .as_str()
                .is_some_and(|r| r.contains("not streamed"))),
            other => panic!("TTFT must be right or absent: {other:?} for {row}"),
        }
    }
    let med = median(&ttft_err);
    assert!(
        ttft_err.len() >= 6 && med < 5.0,
        "first token seen vs sent: median error {med:.2} ms over {} streams ({ttft_err:?})",
        ttft_err.len()
    );
    eprintln!(
        "first-token time vs ground truth: median error {med:.2} ms, max {:.2} ms over {} streams",
        ttft_err.iter().cloned().fold(0.0, f64::max),
        ttft_err.len()
    );
    let pmed = median(&provider_ttft_err);
    eprintln!(
        "provider TTFT vs the simulator's TTFT: median error {pmed:.2} ms, max {:.2} ms",
        provider_ttft_err.iter().cloned().fold(0.0, f64::max)
    );
    // The proxy's own hop (LiteLLM → simulator → edge) is in this figure: 2–4 ms idle, a 5.17 ms
    // median was seen on a loaded 2-core CI machine; a wrong anchor would be off by tens of ms.
    assert!(
        pmed < 8.0,
        "provider TTFT vs ground truth: median error {pmed:.2} ms ({provider_ttft_err:?})"
    );
}

/// Repeated sessions: the comparison ranks the slow profile slower; exploratory and flaky
/// sessions are kept apart.
fn repeated_sessions_rank_the_slow_profile_slower(s: &StackEnv, master: &str) {
    // --- repeated sessions: the comparison ranks the slow profile slower --------------------------
    for round in 0..4 {
        for variant in ["sim-fast-oai", "sim-slow-oai"] {
            let (id, env) = create(
                s,
                "sim-profiles",
                variant,
                &["--label", &format!("round {round}")],
            );
            assert_eq!(traffic(&env, &["chat-stream", "3"])["ok"], 3);
            finalize(s, &id);
        }
    }
    let (explore, env_x) = create(s, "sim-profiles", "sim-fast-oai", &["--exploratory"]);
    traffic(&env_x, &["chat-stream", "1"]);
    finalize(s, &explore);

    // One failed call with the master key (not a session row), so LiteLLM's failure counters
    // exist for the dashboards check.
    let failed = stackperf_e2e::raw_post(
        &s.proxy_url(),
        "/v1/chat/completions",
        &[("Authorization", &format!("Bearer {master}"))],
        br#"{"model":"sim-always-500","messages":[{"role":"user","content":"x"}]}"#,
    );
    assert_eq!(failed.status, 500, "{}", failed.body);
    prometheus_counts_equal_the_database(s);

    let cmp = s.json(&["report", "compare", "--experiment", "sim-profiles"]);
    let variant = |name: &str| {
        cmp["variants"]
            .as_array()
            .expect("variants")
            .iter()
            .find(|v| v["variant"] == name)
            .cloned()
            .expect("variant row")
    };
    let (fast, slow) = (variant("sim-fast-oai"), variant("sim-slow-oai"));
    assert_eq!(fast["sessions"], 5, "four rounds plus the first session");
    assert_eq!(slow["sessions"], 4);
    let lat = |v: &Value, k: &str| v["metrics"]["latency_p50_ms"][k].clone();
    assert!(lat(&slow, "median").as_f64() > lat(&fast, "median").as_f64());
    let (fast_hi, slow_lo) = (
        lat(&fast, "ci95")[1].as_f64().expect("ci"),
        lat(&slow, "ci95")[0].as_f64().expect("ci"),
    );
    assert!(
        slow_lo > fast_hi,
        "the 95 % intervals separate: fast ≤ {fast_hi:.1} ms, slow ≥ {slow_lo:.1} ms"
    );
    let verdict = cmp["pairs"]
        .as_array()
        .expect("pairs")
        .iter()
        .find(|p| {
            p["metric"] == "latency_p50_ms" && p["b"] == "sim-slow-oai" && p["a"] == "sim-fast-oai"
        })
        .expect("pair")["verdict_text"]
        .clone();
    assert!(
        verdict
            .as_str()
            .is_some_and(|v| v.starts_with("sim-fast-oai is faster than sim-slow-oai")),
        "{verdict}"
    );
    let flaky = variant("sim-flaky-oai");
    assert_eq!(flaky["sessions"], 0);
    let flaky_pair = cmp["pairs"].as_array().expect("pairs").iter().any(|p| {
        p["b"] == "sim-flaky-oai"
            && p["verdict"]["kind"] == "insufficient"
            && p["verdict_text"]
                .as_str()
                .is_some_and(|v| v.starts_with("not enough sessions"))
    });
    assert!(
        flaky_pair
            || !cmp["pairs"]
                .as_array()
                .expect("pairs")
                .iter()
                .any(|p| p["b"] == "sim-flaky-oai")
    );
    let excluded: Vec<&Value> = cmp["excluded"]
        .as_array()
        .expect("excluded")
        .iter()
        .collect();
    assert!(excluded.iter().any(|x| x["session_id"] == explore.as_str()
        && x["excluded"]
            .as_str()
            .is_some_and(|r| r.contains("exploratory"))));
    assert_eq!(cmp["task_cards"], serde_json::json!(["sample-traffic"]));
}

/// Charts, exports, the HTML report and sample traffic, as the window does them; returns the
/// requests CSV.
fn charts_exports_and_sample_traffic(s: &StackEnv) -> String {
    // Charts: the TTFT and latency distributions per variant, PNG (embedded font) and SVG; kept in
    // target/test-artifacts for a look.
    let artifacts = workspace().join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    for (metric, format) in [("ttft", "png"), ("latency", "svg"), ("tokens-per-s", "png")] {
        let path = artifacts.join(format!("sim-profiles-{metric}.{format}"));
        let v = s.json(&[
            "report",
            "chart",
            "--experiment",
            "sim-profiles",
            "--metric",
            metric,
            "--format",
            format,
            "--out",
            path.to_str().expect("utf8"),
        ]);
        assert!(v["rows"].as_u64().unwrap_or(0) >= 12, "{metric}: {v}");
        let bytes = std::fs::read(&path).expect("chart written");
        match format {
            "png" => assert_eq!(&bytes[1..4], b"PNG"),
            _ => assert!(String::from_utf8_lossy(&bytes).contains("sim-slow-oai (n = 12")),
        }
    }

    // Exports carry aliases only: no session key, no master key anywhere the app wrote.
    let export = s.run(&[
        "export",
        "requests",
        "--format",
        "csv",
        "--experiment",
        "sim-profiles",
    ]);
    let csv = String::from_utf8_lossy(&export.stdout);
    assert!(csv.starts_with("request_id,litellm_call_id,session_id,"));
    assert!(csv.lines().count() > 8 + 24);

    // What the window does, the CLI does: the HTML report, and sample traffic with nothing but a
    // session's own environment.
    let html = artifacts.join("sim-profiles-report.html");
    let v = s.json(&[
        "export",
        "report",
        "--experiment",
        "sim-profiles",
        "--out",
        html.to_str().expect("utf8"),
    ]);
    assert!(v["rows"].as_u64().unwrap_or(0) >= 2, "{v}");
    let text = std::fs::read_to_string(&html).expect("report written");
    // One chart per chartable metric of the registry (TTFT, first text, latency, ITL, tok/s …).
    assert!(text.starts_with("<!doctype html>") && text.matches("<svg").count() >= 3);
    let (t_id, _) = create(
        s,
        "sim-profiles",
        "sim-fast-oai",
        &["--label", "cli traffic"],
    );
    let sent = s.json(&["session", "traffic", &t_id, "--count", "3"]);
    assert_eq!(
        (sent["sent"].as_u64(), sent["ok"].as_u64()),
        (Some(3), Some(3)),
        "{sent}"
    );
    assert_eq!(finalize(s, &t_id)["session"]["request_count"], 3);
    let out = s.run(&["session", "traffic", &t_id, "--count", "1"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a finalized session sends nothing"
    );

    s.run(&["stack", "down"]);
    csv.to_string()
}
