//! A team's run (docs/team.md, "Joining a run"): two StackPerf "machines" — each its own data
//! dir, keychain, stack and machine id — on one PostgreSQL store. Machine A starts a run of 8
//! items on the simulator, machine B joins it (`run --join`) and is SIGKILLed in the middle of
//! its second item. Every item is done exactly once; B's item is taken over by A once B's lease
//! has run out, the session B left is finalized as aborted (`worker lost`, an infrastructure
//! error); the comparison counts every finished session, from both machines.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use stackperf_e2e::{workspace, StackEnv};

/// Leases of 3 s (renewed every second): a killed worker's item is taken over within 3 s.
const LEASE: &str = "3";

/// The shipped configuration plus a scripted "agent" (curl through the session's proxy, then
/// two seconds of work), a task card on a fixture repository, and a two-variant experiment.
fn config_dir(root: &Path) -> PathBuf {
    let configs = root.join("configs");
    let ok = Command::new("cp")
        .arg("-r")
        .arg(workspace().join("configs"))
        .arg(&configs)
        .status()
        .expect("cp")
        .success();
    assert!(ok);
    let repo = root.join("repo");
    std::fs::create_dir_all(&repo).expect("repo");
    std::fs::write(repo.join("README.md"), "# fixture\n").expect("write");
    for args in [
        &["init", "-q"][..],
        &["add", "."],
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "f",
        ],
    ] {
        let ok = Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(args)
            .status()
            .expect("git")
            .success();
        assert!(ok, "git {args:?}");
    }
    // The "agent": one streamed request through the session's proxy, then two seconds of work.
    let agent = root.join("agent.sh");
    std::fs::write(
        &agent,
        "curl -sS --fail -N \"$OPENAI_BASE_URL/chat/completions\" -H \"Authorization: Bearer $OPENAI_API_KEY\" \
         -H 'Content-Type: application/json' \
         -d \"{\\\"model\\\":\\\"$1\\\",\\\"stream\\\":true,\\\"messages\\\":[{\\\"role\\\":\\\"user\\\",\\\"content\\\":\\\"hi\\\"}]}\" \
         > reply.txt && sleep 2\n",
    )
    .expect("agent");
    let profile = std::fs::read_to_string(configs.join("harnesses/openai-compatible.yaml"))
        .expect("profile")
        .replacen("name: openai-compatible", "name: curl-agent", 1)
        + &format!(
            "headless:\n  argv: [sh, {}, \"{{{{ model_alias }}}}\"]\n",
            agent.display()
        );
    std::fs::write(configs.join("harnesses/curl-agent.yaml"), profile).expect("harness");
    let variant = std::fs::read_to_string(configs.join("variants/sim-fast-oai.yaml"))
        .expect("variant")
        .replacen(
            "harness_profile: openai-compatible",
            "harness_profile: curl-agent",
            1,
        );
    for name in ["team-a", "team-b"] {
        std::fs::write(
            configs.join(format!("variants/{name}.yaml")),
            variant.replacen("name: sim-fast-oai", &format!("name: {name}"), 1),
        )
        .expect("variant");
    }
    std::fs::write(
        configs.join("task-cards/team-task.yaml"),
        format!(
            "name: team-task\nrepo_path: {}\nrepo_ref: HEAD\ngoal: one streamed answer\nstarting_prompt: say hi\nstop_condition: the agent exits\nsession_timebox_minutes: 2\nverify:\n  command: grep -q 'data:' reply.txt\n  timeout_seconds: 10\n",
            repo.display()
        ),
    )
    .expect("task card");
    std::fs::write(
        configs.join("experiments/team-run.yaml"),
        "name: team-run\nvariants: [team-a, team-b]\n",
    )
    .expect("experiment");
    configs
}

/// `stackperf --db URL --config-dir C --json ARGS` as machine `machine`.
fn on(env: &StackEnv, machine: &str, url: &str, configs: &Path, args: &[&str]) -> Command {
    let mut c = env.cmd(&["--db", url, "--config-dir"]);
    c.arg(configs)
        .arg("--json")
        .args(args)
        .env("STACKPERF_MACHINE_ID", machine)
        .env("STACKPERF_LEASE_SECONDS", LEASE);
    c
}

/// Progress events (`--json` prints them on stderr), one per line.
fn events(child: &mut std::process::Child) -> impl Iterator<Item = Value> {
    let stderr = child.stderr.take().expect("stderr");
    BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str::<Value>(&l).ok())
}

#[test]
fn two_machines_share_one_run_and_a_killed_workers_item_is_done_again() {
    let pg = stackperf_testpg::server().expect("PostgreSQL");
    let url = pg.fresh_database("team_run").expect("database");
    let (a, b) = (StackEnv::new("team-a"), StackEnv::new("team-b"));
    a.up_with_master_key();
    b.up_with_master_key();
    let root = tempfile::tempdir().expect("root");
    let configs = config_dir(root.path());

    let run_args = [
        "run",
        "--experiment",
        "team-run",
        "--task-card",
        "team-task",
        "--repeat",
        "4",
        "--timeout",
        "60",
    ];
    let mut started = on(&a, "machine-a", &url, &configs, &run_args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run on A");
    let mut a_events = events(&mut started);
    let run_id = a_events
        .find(|e| e["kind"] == "planned")
        .and_then(|e| e["run_id"].as_str().map(str::to_string))
        .expect("A plans the run");
    // A's progress is read on (so its stderr never fills) while B works.
    let a_log = std::thread::spawn(move || a_events.collect::<Vec<Value>>());

    let mut joined = on(&b, "machine-b", &url, &configs, &["run", "--join", &run_id])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("join on B");
    let mut b_started = Vec::new();
    let mut b_finished = 0;
    for e in events(&mut joined) {
        if e["kind"] == "item_finished" {
            b_finished += 1;
        }
        if e["kind"] == "item_started" {
            b_started.push((e["index"].as_u64().expect("index"), e["session_id"].clone()));
            if b_started.len() == 2 {
                break;
            }
        }
    }
    assert_eq!(
        (b_started.len(), b_finished),
        (2, 1),
        "B took two items before the run ran out"
    );
    joined.kill().expect("SIGKILL B");
    let _ = joined.wait();
    let (lost_index, lost_session) = b_started[1].clone();
    let lost_session = lost_session.as_str().expect("session id").to_string();

    let out = started.wait_with_output().expect("A ends");
    let a_progress = a_log.join().expect("A's progress");
    assert!(out.status.success(), "A's run failed: {a_progress:?}");
    let summary: Value = serde_json::from_slice(&out.stdout).expect("summary");
    check_items(&summary, b_started[0].0, lost_index, &lost_session);
    check_sessions(&a, &url, &configs, &run_id, &lost_session);
}

/// Every item done once, by one of the two machines; B's lost item done again by A.
fn check_items(summary: &Value, b_done: u64, lost_index: u64, lost_session: &str) {
    assert_eq!(summary["run"]["status"], "completed", "{summary}");
    let items = summary["items"].as_array().expect("items");
    assert_eq!(items.len(), 8);
    assert!(
        items
            .iter()
            .all(|i| i["state"] == "done" && i["outcome_class"] == "success"),
        "{summary}"
    );
    let machines: BTreeSet<&str> = items
        .iter()
        .filter_map(|i| i["worker"]["machine_id"].as_str())
        .collect();
    assert_eq!(machines.len(), 2, "items done on both machines: {summary}");
    let lost = &items[lost_index as usize];
    assert_eq!(lost["attempts"], 2, "B's session, then A's: {lost}");
    assert_ne!(lost["session_id"], lost_session, "{lost}");
    let b_machine = &items[b_done as usize]["worker"]["machine_id"];
    assert_ne!(&lost["worker"]["machine_id"], b_machine, "taken over by A");
}

/// One finished session per item (none twice), B's session aborted as a lost worker's, and the
/// comparison over every finished session from both machines.
fn check_sessions(a: &StackEnv, url: &str, configs: &Path, run_id: &str, lost: &str) {
    let cfg = configs.to_str().expect("utf-8");
    let sessions = a.json(&[
        "--db",
        url,
        "--config-dir",
        cfg,
        "session",
        "list",
        "--experiment",
        "team-run",
    ]);
    let of_run = stackperf_e2e::sessions_of_run(&sessions, run_id);
    assert_eq!(of_run.len(), 9, "8 items + the one B left: {of_run:?}");
    let mut per_item: BTreeMap<&str, usize> = BTreeMap::new();
    for s in of_run.iter().filter(|s| s["status"] == "completed") {
        *per_item
            .entry(s["operator_label"].as_str().unwrap_or(""))
            .or_default() += 1;
    }
    assert_eq!(per_item.len(), 8, "{per_item:?}");
    assert!(
        per_item.values().all(|n| *n == 1),
        "none twice: {per_item:?}"
    );
    let left = of_run
        .iter()
        .find(|s| s["session_id"] == lost)
        .expect("B's session");
    assert_eq!(left["status"], "aborted", "{left}");
    assert!(
        left["outcome"]
            .as_str()
            .is_some_and(|o| o.starts_with("worker lost")),
        "{left}"
    );
    let machines: BTreeSet<&str> = of_run
        .iter()
        .filter(|s| s["status"] == "completed")
        .filter_map(|s| s["machine_id"].as_str())
        .collect();
    assert_eq!(machines.len(), 2, "{of_run:?}");
    let cmp = a.json(&[
        "--db",
        url,
        "--config-dir",
        cfg,
        "report",
        "compare",
        "--experiment",
        "team-run",
    ]);
    let counted: u64 = cmp["variants"]
        .as_array()
        .expect("variants")
        .iter()
        .map(|v| v["sessions"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(counted, 8, "every finished session, none twice: {cmp}");
}
