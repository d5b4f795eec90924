//! The suite run (`stackperf run --experiment agent-suite-run`: 40 real harness sessions one at a
//! time, ~200–260 s, the longest end-to-end test), checked by `runs/checks.rs`. Its module's name
//! sorts first on purpose: libtest starts tests in name order, so it begins at once and the other
//! tests share the remaining threads around it. As `runs::…` it started 83 s in and ended the
//! binary's run 80 s after every other test had finished (e2e 346 s, measured).

use serde_json::Value;

use super::runs::{check_infra_error, check_suite_run, openhands, run_cmd, start};

#[test]
fn a_suite_runs_real_harnesses_in_blocks_verified_and_compared_per_task() {
    let (env, root, configs) = start("runs-suite");
    let cfg = configs.to_str().unwrap_or("");
    let suite_args = [
        "--experiment",
        "agent-suite-run",
        "--repeat",
        "2",
        "--timeout",
        "180",
    ];
    let out = run_cmd(&env, &configs, &suite_args).output().expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).expect("summary json");
    check_suite_run(&env, cfg, &summary);
    check_infra_error(&env, &configs, root.path());

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
    let mut want = vec![
        ("claude-code", 8),
        ("codex", 8),
        ("gemini-cli", 8),
        ("opencode", 8),
    ];
    if openhands().is_some() {
        want.push(("openhands", 8));
    }
    assert_eq!(groups, want, "{by}");
}
