//! `stackperf run` end to end: real harness CLIs (pinned in tests/harness) launched headless by
//! the runner with nothing but each session's rendered environment, against the real stack, in
//! fresh copies of a fixture repository, verified, finalized, compared; a suite (the shipped
//! `agent-suite`, whose scripted agent has a known truth) run in randomized blocks and analysed
//! per task (the test is `agent_suite.rs`, started first); an infrastructure error (a harness
//! binary missing for one attempt) classed as such and retried; and a run SIGKILLed mid-way
//! resumes without repeating a finished session. Each test on its own stack, side by side.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;
use stackperf_e2e::{workspace, StackEnv};

#[path = "runs/checks.rs"]
mod checks;
pub(crate) use checks::{check_infra_error, check_item, check_suite_run, SUITE_TASKS};

/// A copy of the shipped configuration plus a fixture task card and a two-variant experiment.
pub(crate) fn config_dir(root: &Path) -> std::path::PathBuf {
    let configs = root.join("configs");
    let out = Command::new("cp")
        .arg("-r")
        .arg(workspace().join("configs"))
        .arg(&configs)
        .output()
        .expect("cp");
    assert!(out.status.success());
    // Where the shipped task cards' `repo_path: examples/task-repo` resolves (beside configs/).
    let repo = root.join("examples/task-repo");
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
            "name: run-fixture\nrepo_path: {}\nrepo_ref: HEAD\ngoal: write the marker\nstarting_prompt: Run a shell command that writes the file stackperf-agent.txt in the current folder, then say done.\nstop_condition: the harness exits\nsession_timebox_minutes: 5\nsetup: test ! -e UNCOMMITTED && touch SETUP_RAN \"$TMPDIR/left-behind\" && echo \"$TMPDIR\" > TMPDIR_SEEN\nverify:\n  command: test -f README.md && test -f SETUP_RAN && test -s stackperf-agent.txt && test \"$(cat TMPDIR_SEEN)\" = \"$TMPDIR\"\n  timeout_seconds: 30\n",
            repo.display()
        ),
    )
    .expect("task card");
    std::fs::write(
        configs.join("experiments/run-fixture.yaml"),
        "name: run-fixture\nvariants: [claude-code-sim-agent, codex-sim-agent, opencode-sim-agent, gemini-cli-sim-agent]\n",
    )
    .expect("experiment");
    infra_fixture(root, &configs);
    std::fs::write(
        configs.join("experiments/agent-suite-run.yaml"),
        format!(
            "name: agent-suite-run\nvariants: [{}]\nsuite: agent-suite\n",
            suite_variants().join(", ")
        ),
    )
    .expect("experiment");
    std::fs::write(
        configs.join("experiments/openhands-suite-run.yaml"),
        "name: openhands-suite-run\nvariants: [openhands-sim-agent]\nsuite: agent-suite\n",
    )
    .expect("experiment");
    configs
}

/// A variant whose harness binary is missing on its first attempt: the task card's setup links
/// it in place only when an earlier attempt already ran (`tried` marks that).
fn infra_fixture(root: &Path, configs: &Path) {
    let bin = root.join("once-bin");
    std::fs::create_dir_all(&bin).expect("bin");
    let opencode = workspace().join("tests/harness/node_modules/.bin/opencode");
    let harness = std::fs::read_to_string(configs.join("harnesses/opencode.yaml"))
        .expect("opencode profile")
        .replacen("name: opencode", "name: opencode-once", 1)
        .replacen(
            "argv: [opencode,",
            &format!("argv: [{},", bin.join("opencode").display()),
            1,
        );
    std::fs::write(configs.join("harnesses/opencode-once.yaml"), harness).expect("harness");
    let variant = std::fs::read_to_string(configs.join("variants/opencode-sim-agent.yaml"))
        .expect("variant")
        .replacen(
            "name: opencode-sim-agent",
            "name: opencode-once-sim-agent",
            1,
        )
        .replacen(
            "harness_profile: opencode",
            "harness_profile: opencode-once",
            1,
        );
    std::fs::write(
        configs.join("variants/opencode-once-sim-agent.yaml"),
        variant,
    )
    .expect("v");
    std::fs::write(
        configs.join("experiments/infra-fixture.yaml"),
        "name: infra-fixture\nvariants: [opencode-once-sim-agent]\n",
    )
    .expect("experiment");
    let tried = root.join("tried");
    std::fs::write(
        configs.join("task-cards/infra-once.yaml"),
        format!(
            "name: infra-once\nrepo_path: examples/task-repo\ngoal: write the marker\nstarting_prompt: Run a shell command that writes the file stackperf-agent.txt in the current folder, then say done.\nstop_condition: the harness exits\nsession_timebox_minutes: 5\nsetup: if [ -e {tried} ]; then ln -sf {opencode} {link}; else touch {tried}; fi\nverify:\n  command: test -s stackperf-agent.txt\n  timeout_seconds: 30\n",
            tried = tried.display(),
            opencode = opencode.display(),
            link = bin.join("opencode").display(),
        ),
    )
    .expect("task card");
}

/// OpenHands as scripts/test-env.sh installs it (CPython 3.12 venv), if it could.
pub(crate) fn openhands() -> Option<std::path::PathBuf> {
    let bin = workspace().join("tests/harness/openhands-venv/bin/openhands");
    if bin.exists() {
        return Some(bin);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "OpenHands is not installed (scripts/test-env.sh needs CPython 3.12)"
    );
    eprintln!("OpenHands is not installed (no CPython 3.12): the suite runs without it");
    None
}

/// The suite's variants: the four npm harnesses (OpenHands works the suite's task cards in a run
/// of its own, `agent_suite::openhands_…`).
pub(crate) fn suite_variants() -> Vec<&'static str> {
    FOUR.to_vec()
}

pub(crate) fn run_cmd(env: &StackEnv, configs: &Path, args: &[&str]) -> Command {
    let mut c = env.cmd(&[]);
    let bin = workspace().join("tests/harness/node_modules/.bin");
    // OpenHands alone from its venv (not the venv's python and pip ahead of everything else).
    let oh_dir = configs.with_file_name("openhands-bin");
    if let Some(oh) = openhands() {
        std::fs::create_dir_all(&oh_dir).expect("bin dir");
        let link = oh_dir.join("openhands");
        if !link.exists() {
            std::os::unix::fs::symlink(oh, &link).expect("symlink");
        }
    }
    let path = format!(
        "{}:{}:{}",
        bin.display(),
        oh_dir.display(),
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

/// `run_cmd` carried out: it must succeed (else the test fails with its stderr); its JSON summary.
pub(crate) fn run_ok(env: &StackEnv, configs: &Path, args: &[&str]) -> Value {
    let out = run_cmd(env, configs, args).output().expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("summary json")
}

/// The real stack and a copy of the configuration with the fixtures.
pub(crate) fn start(name: &str) -> (StackEnv, tempfile::TempDir, std::path::PathBuf) {
    let env = StackEnv::new(name);
    env.up_with_master_key();
    let root = tempfile::tempdir().expect("root");
    let configs = config_dir(root.path());
    (env, root, configs)
}

/// `run` over the fixture task card, every variant once, with `extra` arguments.
fn fixture_run<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--experiment",
        "run-fixture",
        "--task-card",
        "run-fixture",
        "--repeat",
        "1",
        "--timeout",
        "180",
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn a_killed_run_resumes_where_it_stopped_and_two_sessions_at_a_time_are_isolated() {
    let (env, _root, configs) = start("runs-resume");

    // A run killed (SIGKILL) after its first session resumes where it stopped.
    let once = fixture_run(&["--order", "interleaved"]);
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
    let of_run = stackperf_e2e::sessions_of_run(&sessions, &run_id);
    assert_eq!(of_run.len(), 5, "4 items + the one interrupted: {of_run:?}");
    assert_eq!(
        of_run.iter().filter(|s| s["status"] == "aborted").count(),
        1
    );
    assert!(of_run.iter().all(|s| s["status"] != "active"));

    // Two sessions at a time: each isolated and verified; the concurrency is recorded.
    let parallel = fixture_run(&["--parallel", "2"]);
    let par = run_ok(&env, &configs, &parallel);
    assert_eq!(par["run"]["parallel"], 2, "{par}");
    let items = par["items"].as_array().expect("items");
    assert!(items.iter().all(|i| i["outcome"] == "success"), "{par}");
    let beside: Vec<i64> = items
        .iter()
        .filter_map(|i| i["session_id"].as_str())
        .map(|id| {
            let s = env.json(&[
                "--config-dir",
                configs.to_str().unwrap_or(""),
                "session",
                "show",
                id,
            ]);
            s["stats"]["environment"]["concurrent_sessions"]
                .as_i64()
                .unwrap_or(-1)
        })
        .collect();
    assert!(
        beside.iter().all(|n| (0..=1).contains(n)) && beside.contains(&1),
        "with two at a time, some session began beside another: {beside:?}"
    );
    temp_folders_were_the_items_own_and_are_gone(env.data.path());
}

/// Every item's commands saw one temporary folder of the item's own (setup wrote its path,
/// verify compared it), and it is gone with what setup left in it — but for the item killed
/// mid-way, whose folder goes with its session's files.
fn temp_folders_were_the_items_own_and_are_gone(data: &Path) {
    let mut seen = Vec::new();
    let mut dirs = vec![data.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).expect("read dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.file_name().is_some_and(|n| n == "TMPDIR_SEEN") {
                seen.push(
                    std::fs::read_to_string(&p)
                        .expect("read")
                        .trim()
                        .to_string(),
                );
            }
        }
    }
    let distinct: std::collections::BTreeSet<&String> = seen.iter().collect();
    assert_eq!(distinct.len(), seen.len(), "one folder per item: {seen:?}");
    assert!(
        seen.len() >= 8,
        "the resumed and the parallel run's items: {seen:?}"
    );
    let left: Vec<&String> = seen
        .iter()
        .filter(|t| Path::new(t).join("left-behind").exists())
        .collect();
    assert!(left.len() <= 1, "left behind: {left:?} of {seen:?}");
    for t in &seen {
        assert!(Path::new(t).starts_with(data), "{t} is in the data folder");
    }
}

const FOUR: [&str; 4] = [
    "claude-code-sim-agent",
    "codex-sim-agent",
    "opencode-sim-agent",
    "gemini-cli-sim-agent",
];
