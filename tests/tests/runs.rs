//! `stackperf run` end to end: real harness CLIs (pinned in tests/harness) launched headless by
//! the runner with nothing but each session's rendered environment, against the real stack, in
//! fresh copies of a fixture repository, verified, finalized, compared; and a run SIGKILLed
//! mid-way resumes without repeating a finished session.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;
use stackperf_e2e::{workspace, StackEnv};

/// A copy of the shipped configuration plus a fixture task card and a two-variant experiment.
fn config_dir(root: &Path) -> std::path::PathBuf {
    let configs = root.join("configs");
    let out = Command::new("cp")
        .arg("-r")
        .arg(workspace().join("configs"))
        .arg(&configs)
        .output()
        .expect("cp");
    assert!(out.status.success());
    let repo = root.join("task-repo");
    std::fs::create_dir_all(&repo).expect("repo");
    std::fs::write(repo.join("README.md"), "# fixture\n").expect("write");
    let git = |args: &[&str]| {
        let ok = Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .output()
            .expect("git")
            .status
            .success();
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-qm", "fixture"]);
    std::fs::write(repo.join("UNCOMMITTED"), "x").expect("write");
    std::fs::write(
        configs.join("task-cards/run-fixture.yaml"),
        format!(
            "name: run-fixture\nrepo_path: {}\nrepo_ref: HEAD\ngoal: write the marker\nstarting_prompt: Run a shell command that writes the file stackperf-agent.txt in the current folder, then say done.\nstop_condition: the harness exits\nsession_timebox_minutes: 5\nsetup: test ! -e UNCOMMITTED && touch SETUP_RAN\nverify:\n  command: test -f README.md && test -f SETUP_RAN && test -s stackperf-agent.txt\n  timeout_seconds: 30\n",
            repo.display()
        ),
    )
    .expect("task card");
    std::fs::write(
        configs.join("experiments/run-fixture.yaml"),
        "name: run-fixture\nvariants: [claude-code-sim-agent, codex-sim-agent, opencode-sim-agent, gemini-cli-sim-agent]\n",
    )
    .expect("experiment");
    configs
}

fn run_cmd(env: &StackEnv, configs: &Path, args: &[&str]) -> Command {
    let mut c = env.cmd(&[]);
    let bin = workspace().join("tests/harness/node_modules/.bin");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    c.env("PATH", path)
        .arg("--config-dir")
        .arg(configs)
        .arg("--json")
        .arg("run")
        .args(args);
    c
}

#[test]
fn a_run_launches_real_harnesses_verifies_compares_and_resumes_after_a_kill() {
    let env = StackEnv::new("runs");
    env.up_with_master_key();
    let root = tempfile::tempdir().expect("root");
    let configs = config_dir(root.path());
    let common = [
        "--experiment",
        "run-fixture",
        "--task-card",
        "run-fixture",
        "--repeat",
        "2",
        "--timeout",
        "180",
    ];

    let out = run_cmd(&env, &configs, &common).output().expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).expect("summary json");
    assert_eq!(summary["run"]["status"], "completed", "{summary}");
    assert_eq!(summary["run"]["order"], "interleaved");
    let items = summary["items"].as_array().expect("items");
    let variants: Vec<&str> = items.iter().filter_map(|i| i["variant"].as_str()).collect();
    let four = [
        "claude-code-sim-agent",
        "codex-sim-agent",
        "opencode-sim-agent",
        "gemini-cli-sim-agent",
    ];
    assert_eq!(variants, [four, four].concat(), "interleaved");
    for it in items {
        assert_eq!(it["state"], "done", "{it}");
        assert_eq!(it["outcome"], "success", "{it}");
        let id = it["session_id"].as_str().expect("session");
        let s = env.json(&[
            "--config-dir",
            configs.to_str().unwrap_or(""),
            "session",
            "show",
            id,
        ]);
        assert_eq!(s["status"], "completed", "{s}");
        assert_eq!(s["isolated"], true, "runs isolate harness state: {s}");
        // The scripted agent: a tool call, the harness runs it, the result goes back, an answer.
        assert!(
            s["request_count"].as_i64().unwrap_or(0) >= 2,
            "a tool round trip means at least two requests: {s}"
        );
        // Each session worked in its own fresh copy: committed files only, setup ran there.
        let work = env.data.path().join("sessions").join(id).join("work");
        assert!(work.join("README.md").exists() && work.join("SETUP_RAN").exists());
        assert!(
            work.join("stackperf-agent.txt").exists(),
            "the harness ran the tool in its copy"
        );
        assert!(!work.join("UNCOMMITTED").exists());
        // The price in force was recorded with the session, with its date.
        assert!(s["price"]["as_of"].is_string(), "{s}");
        cross_check(&s);
    }
    let cmp = &summary["comparison"];
    for v in cmp["variants"].as_array().expect("variants") {
        assert_eq!(v["sessions"], 2, "{v}");
        assert_eq!(v["metrics"]["task_success"]["median"], 1.0, "{v}");
        assert!(
            v["metrics"]["wall_s"]["median"]
                .as_f64()
                .is_some_and(|w| w > 0.0),
            "{v}"
        );
        assert!(
            v["metrics"]["cost_usd"]["median"]
                .as_f64()
                .is_some_and(|c| c > 0.0),
            "{v}"
        );
        // The edge saw the harness's tool call in the stream (names only), and the harness ran
        // the tool between that response and its next request.
        let metric = |m: &str| v["metrics"][m]["median"].as_f64();
        // Per successful task: every session succeeded, so the total over two sessions / 2.
        for (k, m) in [
            ("cost_per_success", "cost_usd"),
            ("wall_per_success", "wall_s"),
        ] {
            let ps = &v[k];
            assert_eq!(
                (ps["sessions"].as_u64(), ps["successes"].as_u64()),
                (Some(2), Some(2)),
                "{v}"
            );
            let mean = v["metrics"][m]["median"].as_f64().expect("median");
            // Two sessions: the median is their mean, and so is the total / 2.
            assert!(
                ps["value"]
                    .as_f64()
                    .is_some_and(|x| (x - mean).abs() < 1e-9),
                "{k}: {v}"
            );
        }
        assert!(metric("tool_calls").is_some_and(|c| c >= 1.0), "{v}");
        assert!(
            metric("tool_round_trip_ms").is_some_and(|ms| ms > 0.0),
            "{v}"
        );
    }
    // The verdict lines: each names a variant or says how many more sessions would tell.
    for h in cmp["headlines"].as_array().expect("headlines") {
        let text = h["text"].as_str().unwrap_or_default();
        assert!(
            h["settled"] == true || text.contains("more sessions"),
            "{h}"
        );
    }
    assert!(cmp["tests"]
        .as_array()
        .expect("tests")
        .iter()
        .any(|t| t["metric"] == "task_success" && t["pairwise"] == "fisher_exact"));

    // The same sessions pooled by harness (across experiments: here the one).
    let by = env.json(&[
        "--config-dir",
        configs.to_str().unwrap_or(""),
        "report",
        "compare",
        "--by",
        "harness",
        "--experiment",
        "run-fixture",
    ]);
    assert_eq!(by["group_by"], "harness", "{by}");
    let groups: Vec<(&str, u64)> = by["variants"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| {
            (
                g["variant"].as_str().unwrap_or(""),
                g["sessions"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        groups,
        [
            ("claude-code", 2),
            ("codex", 2),
            ("gemini-cli", 2),
            ("opencode", 2)
        ],
        "{by}"
    );

    // A run killed (SIGKILL) after its first session resumes where it stopped.
    let mut once = common.to_vec();
    once[5] = "1";
    let mut child = run_cmd(&env, &configs, &once)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn run");
    let stderr = child.stderr.take().expect("stderr");
    let mut run_id = String::new();
    for line in BufReader::new(stderr).lines() {
        let v: Value = serde_json::from_str(&line.expect("line")).unwrap_or_default();
        if v["kind"] == "planned" {
            run_id = v["run_id"].as_str().unwrap_or_default().to_string();
        }
        if v["kind"] == "item_started" && v["index"] == 1 {
            break; // the first session is done, the second has begun
        }
    }
    assert!(!run_id.is_empty());
    child.kill().expect("kill");
    let _ = child.wait();

    let out = run_cmd(&env, &configs, &["--resume", &run_id])
        .output()
        .expect("resume");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resumed: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(resumed["run"]["status"], "completed", "{resumed}");
    let items = resumed["items"].as_array().expect("items");
    assert_eq!(items.len(), 4);
    let ids: std::collections::BTreeSet<&str> = items
        .iter()
        .filter_map(|i| i["session_id"].as_str())
        .collect();
    assert_eq!(ids.len(), 4, "one session per item: {resumed}");
    assert!(items.iter().all(|i| i["outcome"] == "success"), "{resumed}");
    // The interrupted session was finalized as aborted, not left active, and not reused.
    let sessions = env.json(&[
        "--config-dir",
        configs.to_str().unwrap_or(""),
        "session",
        "list",
        "--experiment",
        "run-fixture",
    ]);
    let of_run: Vec<&Value> = sessions
        .as_array()
        .expect("sessions")
        .iter()
        .filter(|s| {
            s["operator_label"]
                .as_str()
                .is_some_and(|l| l.starts_with(&run_id))
        })
        .collect();
    assert_eq!(of_run.len(), 5, "4 items + the one interrupted: {of_run:?}");
    assert_eq!(
        of_run.iter().filter(|s| s["status"] == "aborted").count(),
        1
    );
    assert!(of_run.iter().all(|s| s["status"] != "active"));
}

/// What the harness itself printed (its headless JSON) against what the proxy recorded: the
/// same tokens, and the same number of model calls where the harness counts them.
fn cross_check(s: &Value) {
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
