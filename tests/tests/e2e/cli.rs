//! The `stackperf` CLI as a user runs it: exit codes, messages, JSON output, the database.

use std::path::Path;
use std::process::Output;

use serde_json::Value;
use stackperf_e2e::{stackperf, workspace};

fn run(data: &Path, args: &[&str]) -> Output {
    stackperf(data)
        .args(args)
        .current_dir(workspace())
        .output()
        .expect("run stackperf")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

#[test]
fn the_shipped_configs_validate_and_list() {
    let _machine = stackperf_e2e::share();
    let data = tempfile::tempdir().expect("tempdir");
    let o = run(data.path(), &["config", "validate"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("is valid"));
    let o = run(data.path(), &["--json", "variant", "list"]);
    assert!(o.status.success());
    let v: Value = serde_json::from_slice(&o.stdout).expect("json");
    let names: Vec<&str> = v
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|x| x["name"].as_str())
        .collect();
    for h in [
        "claude-code",
        "codex",
        "opencode",
        "gemini-cli",
        "openhands",
    ] {
        assert!(
            names.contains(&format!("{h}-sim-fast").as_str()),
            "{names:?}"
        );
    }
    for args in [
        &["experiment", "list"][..],
        &["task-card", "list"],
        &["task-card", "show", "fix-failing-test"],
        &["experiment", "show", "sim-profiles"],
    ] {
        let o = run(data.path(), args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        let mut with_json = vec!["--json"];
        with_json.extend_from_slice(args);
        let o = run(data.path(), &with_json);
        assert!(
            serde_json::from_slice::<Value>(&o.stdout).is_ok(),
            "{args:?} --json is not JSON"
        );
    }
}

#[test]
fn broken_configs_are_all_reported_with_file_and_field_and_exit_1() {
    let _machine = stackperf_e2e::share();
    let data = tempfile::tempdir().expect("tempdir");
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    for sub in [
        "providers",
        "harnesses",
        "variants",
        "experiments",
        "task-cards",
    ] {
        std::fs::create_dir_all(d.join(sub)).expect("mkdir");
    }
    std::fs::write(d.join("providers/p.yaml"), "name: p\nroute_name: p\nprotocol_surface: openai_chat\nupstream_base_url: http://x\nmodels:\n  - {alias: m, upstream_model: m}\n").expect("write");
    std::fs::write(d.join("harnesses/h.yaml"), "name: h\nprotocol_surface: anthropic_messages\nbase_url_env: B\napi_key_env: K\nextra_env:\n  X: \"{{ modle }}\"\n").expect("write");
    std::fs::write(d.join("variants/v.yaml"), "name: v\nprovider: nope\nprovider_route: p\nmodel_alias: m\nharness_profile: h\nbenchmark_tags: {provider: p}\n").expect("write");
    std::fs::write(
        d.join("experiments/e.yaml"),
        "name: e\nvariants: [v, ghost]\n",
    )
    .expect("write");
    std::fs::write(d.join("task-cards/t.yaml"), "name: t\nrepo_path: .\ngoal: g\nstarting_prompt: s\nstop_condition: ''\nsession_timbox_minutes: 5\n").expect("write");
    let cfg = d.to_str().expect("utf8 path");
    let o = run(data.path(), &["--config-dir", cfg, "config", "validate"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    for needle in [
        "h.yaml:6: extra_env.X: unknown template variable `modle`",
        "v.yaml:2: provider: provider `nope` is not defined",
        "v.yaml", "missing the `model` tag",
        "e.yaml:2: variants[1]: variant `ghost` is not defined",
        "t.yaml:6: session_timbox_minutes: unknown field (fix: did you mean `session_timebox_minutes`?)",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
    assert!(!err.contains("panicked"));

    let o = run(
        data.path(),
        &["--json", "--config-dir", cfg, "config", "validate"],
    );
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["valid"], false);
    let problems = v["problems"].as_array().expect("problems");
    assert!(problems.len() >= 5, "{problems:?}");
    assert!(problems
        .iter()
        .all(|p| p["file"].as_str().is_some_and(|f| !f.is_empty())
            && p["fix"].as_str().is_some_and(|f| !f.is_empty())));

    // Every listing refuses to work on a broken config, with the same message.
    let o = run(data.path(), &["--config-dir", cfg, "variant", "list"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("provider `nope` is not defined"));
}

#[test]
fn unknown_names_and_missing_config_dir_are_user_errors() {
    let _machine = stackperf_e2e::share();
    let data = tempfile::tempdir().expect("tempdir");
    let o = run(data.path(), &["variant", "show", "no-such-variant"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("variant `no-such-variant` is not defined. Known: "),
        "{}",
        stderr(&o)
    );
    let o = run(
        data.path(),
        &[
            "--config-dir",
            "/nonexistent/stackperf",
            "config",
            "validate",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("config directory not found"));
    let o = run(data.path(), &["--help"]);
    assert!(o.status.success());
    for verb in ["config", "experiment", "variant", "task-card", "db", "sim"] {
        assert!(stdout(&o).contains(verb), "help lacks {verb}");
    }
}

#[test]
fn sync_keeps_old_fingerprints_when_a_variant_changes() {
    let _machine = stackperf_e2e::share();
    let data = tempfile::tempdir().expect("tempdir");
    let cfg = tempfile::tempdir().expect("tempdir");
    let copy = |from: &Path, to: &Path| {
        for entry in walk(from) {
            let rel = entry.strip_prefix(from).expect("prefix");
            let dest = to.join(rel);
            std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
            std::fs::copy(&entry, &dest).expect("copy");
        }
    };
    copy(&workspace().join("configs"), cfg.path());
    let db = data.path().join("db.sqlite");
    let args = |extra: &[&str]| -> Vec<String> {
        let mut v = vec![
            "--config-dir".to_string(),
            cfg.path().display().to_string(),
            "--db".into(),
            db.display().to_string(),
            "--json".into(),
        ];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let sync = || -> Value {
        let a = args(&["config", "sync"]);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let o = run(data.path(), &a);
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_slice(&o.stdout).expect("json")
    };
    let first = sync();
    assert!(
        first["report"]["new_fingerprints"]
            .as_array()
            .expect("list")
            .len()
            >= 10
    );
    let second = sync();
    assert_eq!(
        second["report"]["new_fingerprints"]
            .as_array()
            .expect("list")
            .len(),
        0,
        "re-sync must be idempotent"
    );
    let variant = cfg.path().join("variants/sim-fast-oai.yaml");
    let text = std::fs::read_to_string(&variant).expect("read");
    std::fs::write(
        &variant,
        text.replace(
            "harness: openai-compatible",
            "harness: openai-compatible\n  config: edited",
        ),
    )
    .expect("write");
    let third = sync();
    assert_eq!(
        third["report"]["new_fingerprints"],
        serde_json::json!(["sim-fast-oai"])
    );
    let a = args(&["db", "migrate"]);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let o = run(data.path(), &a);
    let v: Value = serde_json::from_slice(&o.stdout).expect("json");
    for t in [
        "providers",
        "harness_profiles",
        "variants",
        "experiments",
        "task_cards",
        "sessions",
        "requests",
        "metric_rollups",
        "artifacts",
    ] {
        assert!(
            v["tables"]
                .as_array()
                .expect("tables")
                .iter()
                .any(|x| x == t),
            "missing table {t}"
        );
    }
}

#[test]
fn db_path_follows_flag_env_and_data_dir() {
    let _machine = stackperf_e2e::share();
    let data = tempfile::tempdir().expect("tempdir");
    let o = run(data.path(), &["db", "path"]);
    assert_eq!(
        stdout(&o).trim(),
        data.path().join("stackperf.sqlite").display().to_string()
    );
    let o = stackperf(data.path())
        .args(["db", "path"])
        .env("STACKPERF_DB", "/tmp/x.sqlite")
        .output()
        .expect("run");
    assert_eq!(stdout(&o).trim(), "/tmp/x.sqlite");
    let o = run(data.path(), &["--db", "/tmp/y.sqlite", "db", "path"]);
    assert_eq!(stdout(&o).trim(), "/tmp/y.sqlite");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn stack_up_without_python_says_how_to_get_it() {
    let _machine = stackperf_e2e::share();
    let data = tempfile::tempdir().expect("tempdir");
    let cache = tempfile::tempdir().expect("tempdir");
    let port = stackperf_e2e::free_port().to_string();
    let o = stackperf(data.path())
        .args([
            "stack",
            "up",
            "--litellm-port",
            &port,
            "--sim-port",
            &stackperf_e2e::free_port().to_string(),
            "--prometheus-port",
            &stackperf_e2e::free_port().to_string(),
        ])
        .current_dir(workspace())
        .env("STACKPERF_CACHE_DIR", cache.path())
        .env("STACKPERF_PYTHON", "/nonexistent/python3")
        .env("LITELLM_MASTER_KEY", "sk-test-master-from-env")
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("Python 3 was not found")
            && err.contains("apt-get install python3 python3-venv"),
        "{err}"
    );
    assert!(
        std::net::TcpListener::bind(("127.0.0.1", port.parse::<u16>().expect("port"))).is_ok(),
        "nothing may be left listening"
    );
    assert!(!data.path().join("stack/state.json").exists());

    let o = stackperf(data.path())
        .args(["--json", "doctor"])
        .current_dir(workspace())
        .env("STACKPERF_CACHE_DIR", cache.path())
        .env("STACKPERF_PYTHON", "/nonexistent/python3")
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&o.stdout).expect("json");
    let python = v["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "python")
        .expect("python check")
        .clone();
    assert_eq!(python["ok"], false);
    assert!(python["fix"]
        .as_str()
        .unwrap_or_default()
        .contains("python3-venv"));
}

#[test]
fn collect_and_rollup_on_an_empty_store_do_nothing_and_say_so() {
    let _machine = stackperf_e2e::share();
    let data = tempfile::tempdir().expect("tempdir");
    let o = run(data.path(), &["--json", "rollup"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["collected"]["inserted"], 0);
    assert_eq!(v["recomputed_sessions"]["sim-profiles"], 0);
    let o = run(
        data.path(),
        &[
            "--json",
            "report",
            "compare",
            "--experiment",
            "sim-profiles",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert!(
        v["pairs"].as_array().expect("pairs").is_empty()
            || (v["pairs"][0]["verdict"]["kind"] == "insufficient"
                && v["pairs"][0]["verdict_text"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("not enough"))
    );
    let o = run(
        data.path(),
        &[
            "session",
            "create",
            "--experiment",
            "sim-profiles",
            "--variant",
            "codex-sim-fast",
            "--task-card",
            "sample-traffic",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("variant `codex-sim-fast` is not part of experiment `sim-profiles`; its variants are: sim-fast-oai, sim-slow-oai, sim-flaky-oai"), "{}", stderr(&o));
}

#[test]
fn prune_reads_the_retention_policy_and_refuses_a_bad_one() {
    let _machine = stackperf_e2e::share();
    let data = tempfile::tempdir().expect("tempdir");
    let o = run(data.path(), &["--json", "prune", "--dry-run"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    // configs/retention.yaml: the seed's 7 / 30 / 90 days.
    assert_eq!(
        (
            &v["retention"]["raw_days"],
            &v["retention"]["requests_days"],
            &v["retention"]["sessions_days"]
        ),
        (
            &serde_json::json!(7),
            &serde_json::json!(30),
            &serde_json::json!(90)
        )
    );
    assert_eq!(v["applied"], false);
    let human = run(data.path(), &["prune"]);
    assert!(
        stdout(&human).contains("Nothing to delete."),
        "{}",
        stdout(&human)
    );

    // A policy that would keep requests longer than their sessions is refused, with the file.
    let cfg = tempfile::tempdir().expect("configs");
    for sub in [
        "providers",
        "harnesses",
        "variants",
        "experiments",
        "task-cards",
    ] {
        std::fs::create_dir_all(cfg.path().join(sub)).expect("dir");
    }
    std::fs::write(
        cfg.path().join("retention.yaml"),
        "requests_days: 100\nsessions_days: 10\n",
    )
    .expect("write");
    let o = run(
        data.path(),
        &[
            "--config-dir",
            cfg.path().to_str().unwrap_or(""),
            "prune",
            "--dry-run",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("retention.yaml") && stderr(&o).contains("longer than sessions_days"),
        "{}",
        stderr(&o)
    );
}

/// `stackperf … | head`: the reader closes the pipe before the output is written. The CLI leaves
/// quietly (0 or 141, as a tool killed by SIGPIPE), never with a panic or an error message.
#[test]
fn a_closed_pipe_on_stdout_is_not_an_error() {
    let _machine = stackperf_e2e::share();
    let data = tempfile::tempdir().expect("tempdir");
    for args in [&["variant", "list"][..], &["--json", "variant", "list"][..]] {
        let mut child = stackperf(data.path())
            .args(args)
            .current_dir(workspace())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        drop(child.stdout.take());
        let o = child.wait_with_output().expect("wait");
        let err = stderr(&o);
        assert!(
            matches!(o.status.code(), Some(0 | 141)),
            "{args:?}: {:?} {err}",
            o.status
        );
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "{err}"
        );
    }
}

/// `stackperf plan` before any session: the timebox as an upper bound, an assumed spread (said
/// so), the detectable difference shrinking with repetitions, and a plan too small to tell
/// anything saying it.
#[test]
fn plan_estimates_time_and_detectable_difference_before_running() {
    let _machine = stackperf_e2e::share();
    let data = tempfile::tempdir().expect("tempdir");
    let plan = |repeat: &str| -> Value {
        let o = run(
            data.path(),
            &[
                "--json",
                "plan",
                "--experiment",
                "agent-shootout",
                "--repeat",
                repeat,
            ],
        );
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_slice(&o.stdout).expect("json")
    };
    let p = plan("10");
    assert_eq!(p["suite"], "agent-suite", "the experiment's suite: {p}");
    assert_eq!(p["sessions"], 4 * 4 * 10);
    assert_eq!(p["estimate_is_upper_bound"], true);
    assert_eq!(p["spread_source"], "assumed");
    // Four task cards with a 5-minute timebox, four variants, ten repetitions.
    assert_eq!(p["estimated_s"], 4.0 * 4.0 * 10.0 * 300.0);
    let r10 = p["detectable_ratio"].as_f64().expect("ratio");
    let r20 = plan("20")["detectable_ratio"].as_f64().expect("ratio");
    assert!(r20 < r10 && r10 > 1.0, "{r10} {r20}");
    let text = p["text"].to_string();
    assert!(
        text.contains("assumed") && text.contains("at most"),
        "{text}"
    );
    let tiny = plan("1");
    assert!(
        tiny["text"]
            .to_string()
            .contains("cannot detect anything useful"),
        "{tiny}"
    );
    // The words, and the errors a user meets.
    let o = run(
        data.path(),
        &["plan", "--experiment", "agent-shootout", "--repeat", "3"],
    );
    assert!(stdout(&o).contains("suite agent-suite") && stdout(&o).contains("48 sessions"));
    let o = run(
        data.path(),
        &["plan", "--experiment", "agent-shootout", "--suite", "nope"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("agent-suite"),
        "names the known suites: {}",
        stderr(&o)
    );
    let o = run(
        data.path(),
        &[
            "plan",
            "--experiment",
            "agent-shootout",
            "--suite",
            "agent-suite",
            "--task-card",
            "agent-quick",
        ],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("cannot be used with"), "{}", stderr(&o));
}
