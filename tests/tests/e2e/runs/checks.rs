//! The runs end-to-end test's checks of a suite run (blocks, outcomes against what the scripted
//! agent wrote, the per-task comparison, its export and report), of an infrastructure error, and
//! of the harnesses' own figures against the proxy's.

use std::path::Path;

use serde_json::Value;
use stackperf_e2e::StackEnv;

use super::{run_cmd, suite_variants};

/// The shipped `agent-suite`'s task cards, sorted.
pub const SUITE_TASKS: [&str; 4] = [
    "agent-coin-flip",
    "agent-long",
    "agent-quick",
    "agent-steps",
];

/// The suite run: randomized complete blocks, every session verified against what the scripted
/// agent did (its marker or its wrong result in the session's copy), the comparison per task.
pub fn check_suite_run(env: &StackEnv, cfg: &str, summary: &Value) {
    assert_eq!(summary["run"]["status"], "completed", "{summary}");
    assert_eq!(summary["run"]["order"], "blocks");
    assert_eq!(summary["run"]["suite"], "agent-suite");
    let items = summary["items"].as_array().expect("items");
    let variants = suite_variants();
    let nv = variants.len();
    assert_eq!(items.len(), nv * 4 * 2, "{nv} variants × 4 task cards × 2");
    // Each block: one task card, every variant once; each repetition: every task card once.
    for (r, rep) in items.chunks(nv * 4).enumerate() {
        let mut tasks = Vec::new();
        for block in rep.chunks(nv) {
            let mut vs: Vec<&str> = block.iter().filter_map(|i| i["variant"].as_str()).collect();
            vs.sort();
            let mut want = variants.clone();
            want.sort();
            assert_eq!(vs, want, "a block is every variant once: {block:?}");
            assert!(block
                .iter()
                .all(|i| i["task_card"] == block[0]["task_card"]));
            assert!(block.iter().all(|i| i["repetition"] == r));
            tasks.push(block[0]["task_card"].as_str().unwrap_or_default());
        }
        tasks.sort();
        assert_eq!(tasks, SUITE_TASKS);
    }
    let mut flips = (0, 0);
    for it in items {
        let right = check_item(env, cfg, it);
        if it["task_card"] == "agent-coin-flip" {
            flips.0 += usize::from(right);
            flips.1 += usize::from(!right);
        }
    }
    assert!(
        flips.0 > 0 && flips.1 > 0,
        "the 50 % task is mixed: {flips:?}"
    );
    let cmp = &summary["comparison"];
    let suite = &cmp["suite"];
    assert_eq!(suite["tasks"].as_array().map(Vec::len), Some(4), "{suite}");
    assert_eq!(suite["k"], 2);
    assert_eq!(suite["cells"].as_array().map(Vec::len), Some(nv * 4));
    assert_eq!(suite["time"]["blocks"], 8, "{suite}");
    assert_eq!(suite["time"]["ranks"].as_array().map(Vec::len), Some(nv));
    for c in suite["cells"].as_array().expect("cells") {
        if c["task_card"] != "agent-coin-flip" {
            assert_eq!(
                (c["successes"].as_u64(), c["known"].as_u64()),
                (Some(2), Some(2)),
                "{c}"
            );
            assert_eq!(c["flipped"], false, "{c}");
        }
        assert!(c["time_ratio"].as_f64().is_some_and(|r| r >= 1.0), "{c}");
    }
    for v in suite["variants"].as_array().expect("variants") {
        assert_eq!(v["trials"], 8, "{v}");
        assert_eq!(v["infra_errors"], 0, "{v}");
        assert!(v["flip_rate"].as_f64().is_some(), "{v}");
    }
    // The headlines are the suite's verdicts, not pooled medians.
    let heads = cmp["headlines"].as_array().expect("headlines");
    assert_eq!(heads.len(), 3);
    assert_eq!(heads[0]["text"], suite["headlines"][0]["text"]);
    assert!(
        heads[0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("tasks")),
        "{heads:?}"
    );
    // One machine, one session at a time, one time limit: nothing of that to warn about (the
    // load may differ, which is measured, not controlled).
    let notes = cmp["environment_notes"].to_string();
    assert!(
        !notes.contains("machines")
            && !notes.contains("concurrency")
            && !notes.contains("time limits"),
        "{notes}"
    );
    // The text report prints the per-task grid.
    let out = env.run(&[
        "--config-dir",
        cfg,
        "report",
        "compare",
        "--experiment",
        "agent-suite-run",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("per task") && text.contains("agent-coin-flip") && text.contains("Friedman"),
        "{text}"
    );
    // The per-task export and the HTML report carry the same analysis.
    let export = |what: &str| {
        let out = env.run(&[
            "--config-dir",
            cfg,
            "export",
            what,
            "--experiment",
            "agent-suite-run",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let csv = export("tasks");
    assert_eq!(csv.lines().count(), 1 + nv * 4, "{csv}");
    assert!(csv
        .lines()
        .next()
        .is_some_and(|h| h.contains("pass_at_k") && h.contains("flipped")));
    let html = export("report");
    assert!(
        html.contains("<h2>Per task</h2>")
            && html.contains("critical difference")
            && html.contains("agent-long"),
        "the report has the per-task grid and the CD diagram"
    );
}

/// One item of a suite run, done once and verified against the truth: what the scripted agent's
/// last command wrote in the session's copy; its session completed, isolated, alone on the
/// machine, and the harness's own figures agree with the proxy's. Whether it got it right.
pub fn check_item(env: &StackEnv, cfg: &str, it: &Value) -> bool {
    assert_eq!(it["state"], "done", "{it}");
    assert_eq!(it["attempts"], 1, "{it}");
    let id = it["session_id"].as_str().expect("session");
    let s = env.json(&["--config-dir", cfg, "session", "show", id]);
    assert_eq!(s["status"], "completed", "{s}");
    assert_eq!(s["isolated"], true, "runs isolate harness state: {s}");
    // The environment it ran in: this machine, one session at a time, the run's limit.
    let e = &s["stats"]["environment"];
    assert_eq!(e["concurrent_sessions"], 0, "{e}");
    assert_eq!(e["time_limit_s"], 180.0, "{e}");
    assert!(e["cpus"].as_u64().is_some_and(|c| c >= 1), "{e}");
    assert!(
        e["load_start"].is_number() && e["load_end"].is_number(),
        "{e}"
    );
    let work = env.data.path().join("sessions").join(id).join("work");
    // The truth: what the scripted agent's last command wrote in this session's copy.
    let right = work.join("stackperf-agent.txt").exists();
    let wrong = work.join("stackperf-agent.wrong").exists();
    assert!(right != wrong, "exactly one result file: {s}");
    let (want, class) = if right {
        ("success", "success")
    } else {
        ("failed verify", "task_failure")
    };
    assert_eq!(it["outcome"], want, "{it}");
    assert_eq!(it["outcome_class"], class, "{it}");
    let calls = match it["task_card"].as_str() {
        Some("agent-long") => 6,
        Some("agent-steps") => 3,
        Some("agent-coin-flip") => 2,
        _ => 1,
    };
    if it["task_card"] != "agent-coin-flip" {
        assert!(right, "only the coin-flip task goes wrong: {it}");
    }
    // Every step is a tool round trip: calls + 1 requests at least.
    assert!(
        s["request_count"].as_i64().unwrap_or(0) > calls,
        "{calls} tool calls: {s}"
    );
    cross_check(&s);
    right
}

/// A harness binary missing for one attempt: an infrastructure error, retried in a new session,
/// never a task failure; with no retries left, the run exits non-zero.
pub fn check_infra_error(env: &StackEnv, configs: &Path, root: &Path) {
    let args = [
        "--experiment",
        "infra-fixture",
        "--task-card",
        "infra-once",
        "--repeat",
        "1",
    ];
    let out = run_cmd(env, configs, &args).output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("harness could not start"), "{stderr}");
    let summary: Value = serde_json::from_slice(&out.stdout).expect("json");
    let item = &summary["items"][0];
    assert_eq!(item["attempts"], 2, "{item}");
    assert_eq!(item["outcome"], "success", "{item}");
    let cmp = &summary["comparison"];
    let v = &cmp["variants"][0];
    assert_eq!(v["infra_errors"], 1, "{v}");
    assert_eq!(v["sessions"], 1, "the failed attempt is not a trial: {v}");
    assert_eq!(v["metrics"]["task_success"]["median"], 1.0, "{v}");
    let excluded = cmp["excluded"].as_array().expect("excluded");
    assert!(
        excluded
            .iter()
            .any(|s| s["outcome"] == "harness_not_started"
                && s["excluded"]
                    .as_str()
                    .is_some_and(|e| e.starts_with("infrastructure error"))),
        "{excluded:?}"
    );
    // No retries left: the run says what is missing and exits 1.
    std::fs::remove_file(root.join("tried")).expect("reset");
    std::fs::remove_file(root.join("once-bin/opencode")).expect("reset");
    let mut no_retry = args.to_vec();
    no_retry.extend(["--retry-infra", "0"]);
    let out = run_cmd(env, configs, &no_retry).output().expect("run");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("infrastructure error") && stderr.contains("--resume"),
        "{stderr}"
    );
}

/// What the harness itself printed (its headless JSON) against what the proxy recorded: the
/// same tokens, and the same number of model calls where the harness counts them.
pub fn cross_check(s: &Value) {
    if s["harness_profile"] == "openhands" {
        // Its profile names no report format (OpenHands' --json events carry no totals).
        assert!(s["harness_report"].is_null(), "{s}");
        return;
    }
    let h = &s["harness_report"];
    assert!(h.is_object(), "the harness's own figures were read: {s}");
    let reqs = s["requests"].as_array().expect("requests");
    let sum = |k: &str| reqs.iter().filter_map(|r| r[k].as_i64()).sum::<i64>();
    let (input, output) = (sum("input_tokens"), sum("output_tokens"));
    eprintln!(
        "{}: harness says {h}; StackPerf: {} requests, {input} in / {output} out",
        s["harness_profile"],
        reqs.len()
    );
    assert_eq!(h["input_tokens"].as_i64(), Some(input), "{h} vs {s}");
    assert_eq!(h["output_tokens"].as_i64(), Some(output), "{h} vs {s}");
    if let Some(calls) = h["model_calls"].as_i64() {
        assert_eq!(calls, reqs.len() as i64, "{h}");
    }
    if let Some(tools) = h["tool_calls"].as_i64() {
        let seen = reqs
            .iter()
            .filter_map(|r| r["tool_call_count"].as_i64())
            .sum::<i64>();
        assert_eq!(
            tools, seen,
            "tool calls the harness ran vs the edge saw: {h}"
        );
    }
}
