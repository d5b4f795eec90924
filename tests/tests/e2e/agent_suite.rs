//! The suite run (`stackperf run --experiment agent-suite-run`: 32 real harness sessions one at a
//! time, the longest end-to-end test), checked by `runs/checks.rs`, and OpenHands on the suite's
//! task cards in a run of its own. The module's name sorts first on purpose: libtest starts tests
//! in name order, so these begin at once and the other tests share the remaining threads around
//! them. As `runs::…` the suite started 83 s in and ended the binary's run 80 s after every other
//! test had finished (e2e 346 s, measured). With OpenHands among its variants (~10 s a session,
//! 89 s of the suite's 197 s measured alone) it stayed the binary's critical path in CI (e2e
//! 314 s); OpenHands' sessions now run beside it.

use super::runs::{
    check_infra_error, check_item, check_suite_run, openhands, run_ok, start, SUITE_TASKS,
};

#[test]
fn a_suite_runs_real_harnesses_in_blocks_verified_and_compared_per_task() {
    let (env, _root, configs) = start("runs-suite");
    let cfg = configs.to_str().unwrap_or("");
    let suite_args = [
        "--experiment",
        "agent-suite-run",
        "--repeat",
        "2",
        "--timeout",
        "180",
    ];
    let summary = run_ok(&env, &configs, &suite_args);
    check_suite_run(&env, cfg, &summary);

    // The same sessions pooled by harness (across experiments: here the one).
    let by = env.json(&[
        "--config-dir",
        configs.to_str().unwrap_or(""),
        "report",
        "compare",
        "--by",
        "harness",
        "--experiment",
        "agent-suite-run",
    ]);
    assert_eq!(by["group_by"], "harness", "{by}");
    assert!(
        by["suite"]["cells"].is_array(),
        "grouped: still per task: {by}"
    );
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
    let want = vec![
        ("claude-code", 8),
        ("codex", 8),
        ("gemini-cli", 8),
        ("opencode", 8),
    ];
    assert_eq!(groups, want, "{by}");
}

/// OpenHands (CPython 3.12, its own venv) works the suite's four task cards, once each, in a run
/// of its own: each session verified against what the scripted agent did, as the suite's are;
/// then the infrastructure-error fixture on the same stack.
#[test]
fn a_suite_run_of_openhands_is_verified_and_an_infra_error_is_retried() {
    let (env, root, configs) = start("runs-openhands");
    let cfg = configs.to_str().unwrap_or("");
    if openhands().is_some() {
        let args = [
            "--experiment",
            "openhands-suite-run",
            "--repeat",
            "1",
            "--timeout",
            "180",
        ];
        let summary = run_ok(&env, &configs, &args);
        assert_eq!(summary["run"]["status"], "completed", "{summary}");
        assert_eq!(summary["run"]["suite"], "agent-suite");
        let items = summary["items"].as_array().expect("items");
        let mut tasks: Vec<&str> = items
            .iter()
            .filter_map(|i| i["task_card"].as_str())
            .collect();
        tasks.sort_unstable();
        assert_eq!(tasks, SUITE_TASKS);
        for it in items {
            assert_eq!(it["variant"], "openhands-sim-agent", "{it}");
            check_item(&env, cfg, it);
        }
    }
    check_infra_error(&env, &configs, root.path());
}
