//! The real harness CLIs (pinned in tests/harness) through StackPerf's edge, each run for one
//! non-interactive turn with nothing but its session's rendered environment: Codex (responses),
//! OpenCode (chat completions) and Gemini CLI (streamGenerateContent, bridged to the simulator's
//! OpenAI-style provider and on LiteLLM's native Gemini route). Claude Code is driven in
//! tests/sessions.rs. The edge's allowlist must not cut a route a real harness uses.

use std::process::{Command, Stdio};

use serde_json::Value;
use stackperf_e2e::{workspace, StackEnv};

/// One turn of `variant` (of `harness-shootout`, or of the experiment given as
/// `experiment/variant`); with `isolate`, also checks that the harness wrote nothing under the
/// paths of `home_state` in HOME (its state went to the session folder).
fn run_turn(
    env: &StackEnv,
    variant: &str,
    argv: &[&str],
    isolate: Option<&[&str]>,
) -> (String, std::process::Output) {
    let mut extra = vec!["--label", "harness e2e"];
    if isolate.is_some() {
        extra.push("--isolate");
    }
    let (experiment, variant) = variant
        .split_once('/')
        .unwrap_or(("harness-shootout", variant));
    let session = env.create_session(experiment, variant, &extra);
    assert!(
        !session.env.iter().any(|(k, _)| k == "HOME"),
        "{variant}: the rendered env must not move HOME for the operator's shell"
    );
    let home = tempfile::tempdir().expect("home");
    let work = tempfile::tempdir().expect("work dir");
    // A temporary folder of its own, removed after (OpenCode's runtime unpacks 5 MB there).
    let tmp = tempfile::tempdir().expect("tmp dir");
    let bin = workspace()
        .join("tests/harness/node_modules/.bin")
        .join(argv[0]);
    assert!(
        bin.exists(),
        "{} missing: run scripts/test-env.sh",
        bin.display()
    );
    let mut cmd = Command::new("timeout");
    cmd.arg("240").arg(&bin).args(&argv[1..]);
    // Only the rendered environment (plus what any shell has) reaches the harness.
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("TERM", "dumb")
        .env("CI", "1")
        .env("TMPDIR", tmp.path())
        .current_dir(work.path())
        .stdin(Stdio::null());
    cmd.envs(&session.env);
    let out = cmd.output().expect("run the harness");
    for state in isolate.unwrap_or_default() {
        let path = home.path().join(state);
        assert!(
            !path.exists(),
            "{variant} isolated, yet it wrote {}: {:?}",
            path.display(),
            stackperf_e2e::files_under(home.path())
        );
    }
    (session.id, out)
}

fn check(env: &StackEnv, name: &str, id: &str, out: &std::process::Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{name} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let fin = env.json(&["session", "finalize", id, "--status", "completed"]);
    let rows = env.merged_requests();
    let mine: Vec<&Value> = rows.iter().filter(|r| r["session_id"] == id).collect();
    assert!(!mine.is_empty(), "{name}: no request captured: {fin}");
    for r in &mine {
        assert_eq!(r["timed_at"], "edge", "{name}: {r}");
        assert_eq!(r["status"], "success", "{name}: {r}");
        assert_eq!(r["has_litellm_record"], 1, "{name}: {r}");
        assert!(r["ttft_ms"].as_f64().is_some(), "{name} streams: {r}");
    }
    eprintln!(
        "{name}: {} request(s) through the edge, surfaces {:?}",
        mine.len(),
        mine.iter()
            .map(|r| r["protocol_surface"].as_str().unwrap_or("?"))
            .collect::<Vec<_>>()
    );
}

#[test]
fn codex_opencode_and_gemini_cli_work_through_the_edge_with_only_the_rendered_env() {
    let env = StackEnv::new("harness");
    env.up_with_master_key();

    let (id, out) = run_turn(
        &env,
        "codex-sim-fast",
        &[
            "codex",
            "exec",
            "--skip-git-repo-check",
            "--json",
            "Say hello in five words",
        ],
        None,
    );
    check(&env, "codex", &id, &out);

    let (id, out) = run_turn(
        &env,
        "opencode-sim-fast",
        &[
            "opencode",
            "run",
            "--format",
            "json",
            "--title",
            "e2e",
            "Say hello in five words",
        ],
        // Its sessions database and config; logs and the download cache stay in HOME.
        Some(&[
            ".local/share/opencode/opencode.db",
            ".config/opencode/opencode.jsonc",
        ]),
    );
    check(&env, "opencode", &id, &out);

    // Gemini CLI keeps its home in the session folder whether isolated or not: nothing in
    // ~/.gemini either way.
    let gemini = [
        "gemini",
        "-p",
        "Say hello in five words",
        "--output-format",
        "json",
    ];
    let (id, out) = run_turn(&env, "gemini-cli-sim-fast", &gemini, Some(&[".gemini"]));
    check(&env, "gemini-cli", &id, &out);
    // The same on LiteLLM's native Gemini route (no translation to chat completions).
    let (id, out) = run_turn(
        &env,
        "gemini-cli-routes/gemini-cli-sim-gemini",
        &gemini,
        None,
    );
    check(&env, "gemini-cli (native route)", &id, &out);

    // No route, key or model any of them used was refused at the edge (refusals are logged).
    let log =
        std::fs::read_to_string(env.data.path().join("stack/logs/edge.log")).unwrap_or_default();
    let refused: Vec<&str> = log.lines().filter(|l| l.contains("refused")).collect();
    assert!(
        refused.is_empty(),
        "the edge refused what a harness asked for:\n{}",
        refused.join("\n")
    );
}
