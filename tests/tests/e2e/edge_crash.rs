//! LiteLLM killed (-9) and restarted while a harness streams over 20 connections through the
//! edge: every request the client sent becomes exactly one row with the outcome the client saw
//! (including the ones LiteLLM never answered, or answered half), and the session's error rate is
//! the client's. Then the same with the edge itself killed (-9) and restarted by `stack up`: every
//! request it accepted is one row, the streams it cut are errors (`edge_lost`, never LiteLLM's
//! "success"), the session shows the downtime and Compare leaves the session out.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use stackperf_e2e::{http_get, python, workspace, StackEnv};

/// The command line, environment and directory of a running process, to start it again.
fn snapshot(pid: u32) -> (Vec<String>, Vec<(String, String)>, std::path::PathBuf) {
    let split = |b: Vec<u8>| -> Vec<String> {
        b.split(|c| *c == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).to_string())
            .collect()
    };
    let argv = split(std::fs::read(format!("/proc/{pid}/cmdline")).expect("cmdline"));
    let env = split(std::fs::read(format!("/proc/{pid}/environ")).expect("environ"))
        .into_iter()
        .filter_map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).expect("cwd");
    (argv, env, cwd)
}

/// How many requests the edge's spool shows open (a start line, no record) that arrived less
/// than `within_s` ago.
fn just_begun(spool: &std::path::Path, within_s: f64) -> usize {
    let text = std::fs::read_to_string(spool).unwrap_or_default();
    let mut open: HashMap<String, f64> = HashMap::new();
    for v in text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
    {
        if let Some(id) = v["start"]["edge_id"].as_str() {
            open.insert(
                id.to_string(),
                v["start"]["arrived"].as_f64().unwrap_or(0.0),
            );
        } else if let Some(id) = v["edge_id"].as_str() {
            open.remove(id);
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    open.values().filter(|a| now - **a < within_s).count()
}

/// The session's stored requests (every one once: a duplicate fails here).
fn session_rows(env: &StackEnv, session: &str) -> Vec<Value> {
    let export = env.run(&[
        "export",
        "requests",
        "--format",
        "json",
        "--include-internal",
    ]);
    let rows: Vec<Value> = serde_json::from_slice(&export.stdout).expect("rows");
    let mine: Vec<Value> = rows
        .into_iter()
        .filter(|r| r["session_id"] == session)
        .collect();
    let ids: std::collections::HashSet<&str> = mine
        .iter()
        .filter_map(|r| r["request_id"].as_str())
        .collect();
    assert_eq!(ids.len(), mine.len(), "duplicate rows");
    mine
}

fn wait_for(what: &str, within: Duration, mut ok: impl FnMut() -> bool) {
    let until = Instant::now() + within;
    while !ok() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn killing_litellm_mid_traffic_leaves_one_row_per_request_with_the_clients_outcome() {
    let env = StackEnv::new("crash");
    env.up_with_master_key();
    let created = env.create_session("sim-profiles", "sim-fast-oai", &[]);
    let (session, key) = (created.id.clone(), created.key().to_string());
    let pid = env.service_pid("litellm");
    let (argv, litellm_env, cwd) = snapshot(pid);

    let stop = env.data.path().join("STOP");
    let (mut traffic, rx, reader) = start_traffic(&env, &key, "sim-fast", "0.5", &stop);
    let mut seen: Vec<Value> = Vec::new();
    let drain = |seen: &mut Vec<Value>| seen.extend(rx.try_iter());
    let ok = |seen: &[Value]| seen.iter().filter(|v| v["outcome"] == "ok").count();
    let failed = |seen: &[Value]| {
        seen.iter()
            .filter(|v| v["outcome"].is_string() && v["outcome"] != "ok")
            .count()
    };

    wait_for("40 good requests", Duration::from_secs(60), || {
        drain(&mut seen);
        ok(&seen) >= 40
    });
    let status = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    wait_for(
        "the client to see the outage",
        Duration::from_secs(30),
        || {
            drain(&mut seen);
            failed(&seen) >= 20
        },
    );
    let log = std::fs::File::create(env.data.path().join("litellm-restarted.log")).expect("log");
    let mut restarted = Command::new(&argv[0])
        .args(&argv[1..])
        .env_clear()
        .envs(litellm_env)
        .current_dir(cwd)
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("restart LiteLLM");
    wait_for("LiteLLM healthy again", Duration::from_secs(180), || {
        drain(&mut seen);
        std::panic::catch_unwind(|| http_get(&env.litellm_url(), "/health/liveliness")).is_ok()
    });
    let ok_at_restart = ok(&seen);
    wait_for(
        "40 good requests after the restart",
        Duration::from_secs(90),
        || {
            drain(&mut seen);
            ok(&seen) >= ok_at_restart + 40
        },
    );
    std::fs::write(&stop, b"stop").expect("stop file");
    assert!(traffic.wait().expect("traffic").success());
    reader.join().expect("reader");
    drain(&mut seen);
    let summary = seen.pop().expect("summary line");
    let records: Vec<&Value> = seen.iter().filter(|v| v["i"].is_u64()).collect();
    assert_eq!(
        summary["sent"].as_u64(),
        Some(records.len() as u64),
        "{summary}"
    );

    let collected = env.run(&["collect"]);
    assert!(
        collected.status.success(),
        "{}",
        String::from_utf8_lossy(&collected.stderr)
    );
    let mine = session_rows(&env, &session);
    let by_id: HashMap<&str, &Value> = mine
        .iter()
        .map(|r| (r["request_id"].as_str().unwrap_or_default(), r))
        .collect();
    let mut outcomes: HashMap<String, usize> = HashMap::new();
    for rec in &records {
        let id = rec["id"]
            .as_str()
            .unwrap_or_else(|| panic!("the edge answered every request with its id: {rec}"));
        let row = by_id.get(id).unwrap_or_else(|| panic!("no row for {rec}"));
        let client_ok = rec["outcome"] == "ok";
        assert_eq!(
            row["status"] == "success",
            client_ok,
            "client {rec} vs row {row}"
        );
        if let Some(s) = rec["status"].as_u64() {
            assert_eq!(
                row["http_status"].as_u64(),
                Some(s),
                "client {rec} vs row {row}"
            );
        }
        *outcomes
            .entry(format!("{} / {}", rec["outcome"], row["outcome"]))
            .or_default() += 1;
    }
    assert_eq!(mine.len(), records.len(), "rows = requests the client sent");
    let client_errors = records.iter().filter(|r| r["outcome"] != "ok").count();
    let row_errors = mine.iter().filter(|r| r["status"] == "error").count();
    assert_eq!(
        row_errors, client_errors,
        "the session's error rate is the client's"
    );
    assert!(client_errors > 0 && client_errors < records.len());
    eprintln!(
        "{} requests, {client_errors} failed as the client saw them; client / stored outcomes: {outcomes:?}",
        records.len()
    );
    let _ = restarted.kill();
    let _ = restarted.wait();
}

/// Streamed traffic on 20 connections until `stop` exists; the client's view of every request
/// arrives on the channel.
fn start_traffic(
    env: &StackEnv,
    key: &str,
    model: &str,
    pause_s: &str,
    stop: &std::path::Path,
) -> (
    std::process::Child,
    mpsc::Receiver<Value>,
    std::thread::JoinHandle<()>,
) {
    let mut traffic = Command::new(python())
        .arg(workspace().join("tests/python/crash_traffic.py"))
        .args([&env.proxy_url(), key, model, "20", pause_s])
        .arg(stop)
        .arg("3000")
        .stdout(Stdio::piped())
        .spawn()
        .expect("traffic");
    let (tx, rx) = mpsc::channel::<Value>();
    let out = traffic.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                let _ = tx.send(v);
            }
        }
    });
    (traffic, rx, reader)
}

#[test]
fn killing_the_edge_mid_stream_leaves_no_request_unrecorded_and_flags_the_session() {
    let env = StackEnv::new("edgecrash");
    env.up_with_master_key();
    let created = env.create_session("sim-profiles", "sim-slow-oai", &[]);
    let (session, key) = (created.id.clone(), created.key().to_string());
    let edge_pid = env.service_pid("edge");
    let stop = env.data.path().join("STOP");
    let (mut traffic, rx, reader) = start_traffic(&env, &key, "sim-slow", "0.3", &stop);
    let mut seen: Vec<Value> = Vec::new();
    let ok = |seen: &[Value]| seen.iter().filter(|v| v["outcome"] == "ok").count();
    let refused = |seen: &[Value]| {
        seen.iter()
            .filter(|v| v["outcome"] == "connect_error")
            .count()
    };

    wait_for("12 complete streams", Duration::from_secs(60), || {
        seen.extend(rx.try_iter());
        ok(&seen) >= 12
    });
    // Kill it while streams are open: the edge's own spool says which requests it is serving
    // (start lines without their record). The workers start in step, so right after a wave ends
    // none is; a request that arrived under 300 ms ago has at least its 600 ms TTFT ahead.
    let spool = env.data.path().join("capture/edge.jsonl");
    wait_for(
        "a request just begun at the edge",
        Duration::from_secs(60),
        || {
            seen.extend(rx.try_iter());
            just_begun(&spool, 0.3) > 0
        },
    );
    let status = Command::new("kill")
        .args(["-9", &edge_pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    wait_for("refused connections", Duration::from_secs(30), || {
        seen.extend(rx.try_iter());
        refused(&seen) >= 10
    });
    let up = env.up();
    assert_ne!(
        env.service_pid("edge"),
        edge_pid,
        "stack up restarted the edge"
    );
    let (ok_at_restart, seen_at_restart) = (ok(&seen), seen.len());
    let until = Instant::now() + Duration::from_secs(90);
    loop {
        seen.extend(rx.try_iter());
        if ok(&seen) >= ok_at_restart + 20 {
            break;
        }
        if Instant::now() > until {
            let mut after: HashMap<String, usize> = HashMap::new();
            for v in &seen[seen_at_restart..] {
                *after
                    .entry(format!("{} {}", v["outcome"], v["status"]))
                    .or_default() += 1;
            }
            let tail = |name: &str| {
                let text = std::fs::read_to_string(env.data.path().join("stack/logs").join(name))
                    .unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                lines[lines.len().saturating_sub(15)..].join("\n")
            };
            panic!(
                "timed out waiting for 20 complete streams after the restart; since it the client saw {after:?} \
                 (traffic exited: {:?}); stack up said {up}\nedge.log:\n{}\nlitellm.log:\n{}",
                traffic.try_wait(),
                tail("edge.log"),
                tail("litellm.log")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::write(&stop, b"stop").expect("stop file");
    assert!(traffic.wait().expect("traffic").success());
    reader.join().expect("reader");
    seen.extend(rx.try_iter());
    let summary = seen.pop().expect("summary line");
    let records: Vec<&Value> = seen.iter().filter(|v| v["i"].is_u64()).collect();
    assert_eq!(
        summary["sent"].as_u64(),
        Some(records.len() as u64),
        "{summary}"
    );

    let collected = env.json(&["collect"]);
    let mine = session_rows(&env, &session);
    let by_id: HashMap<&str, &Value> = mine
        .iter()
        .map(|r| (r["request_id"].as_str().unwrap_or_default(), r))
        .collect();
    let mut answered = std::collections::HashSet::new();
    let mut cut = 0;
    for rec in &records {
        let Some(id) = rec["id"].as_str() else {
            // Refused while the edge was down, or cut before its response began.
            assert_ne!(rec["outcome"], "ok", "{rec}");
            continue;
        };
        answered.insert(id);
        let row = by_id.get(id).unwrap_or_else(|| panic!("no row for {rec}"));
        let client_ok = rec["outcome"] == "ok";
        assert_eq!(
            row["status"] == "success",
            client_ok,
            "client {rec} vs row {row}"
        );
        if row["outcome"] == "edge_lost" {
            cut += 1;
            assert!(
                row["ttft_ms"].is_null() && row["http_status"].is_null(),
                "{row}"
            );
        } else if let Some(s) = rec["status"].as_u64() {
            assert_eq!(
                row["http_status"].as_u64(),
                Some(s),
                "client {rec} vs row {row}"
            );
        }
    }
    assert!(
        mine.iter().any(|r| r["outcome"] == "edge_lost"),
        "the kill cut no request: {collected}"
    );
    // Rows the client has no id for: accepted, then cut before the response began.
    let unanswered: Vec<&Value> = mine
        .iter()
        .filter(|r| !answered.contains(r["request_id"].as_str().unwrap_or_default()))
        .collect();
    let no_id = records.iter().filter(|r| r["id"].is_null()).count();
    assert!(unanswered.len() <= no_id, "{unanswered:?}");
    // Cut with its start line written: `edge_lost`. Killed in the instant after the edge handed it
    // to LiteLLM and before its start line reached the spool (the writer's next wake-up; under
    // load, a few ms): LiteLLM's line alone, `not_timed_at_edge` — an error without timings that
    // the session counts with its losses, never a success.
    for r in &unanswered {
        let by_litellm = r["outcome"] == "not_timed_at_edge"
            && r["has_litellm_record"] == 1
            && r["ttft_ms"].is_null();
        assert!(r["outcome"] == "edge_lost" || by_litellm, "{r}");
        assert_eq!(r["status"], "error", "{r}");
    }
    let lost = mine.iter().filter(|r| r["outcome"] == "edge_lost").count();
    assert!(
        mine.iter().all(|r| r["outcome"] != "not_timed_at_edge"
            || !answered.contains(r["request_id"].as_str().unwrap_or_default())),
        "a request the client got an answer for had its start written"
    );

    // The session shows the outage and what it cost.
    let show = env.json(&["session", "show", &session]);
    let edge = &show["edge"];
    assert_eq!(edge["lost_requests"].as_u64(), Some(lost as u64), "{edge}");
    let outages = edge["outages"].as_array().expect("outages");
    assert_eq!(outages.len(), 1, "{edge}");
    assert_eq!(outages[0]["crashed"], true);
    let down_ms = edge["down_ms"].as_f64().expect("down_ms");
    assert!(down_ms > 0.0 && down_ms < 60_000.0, "{edge}");
    let lost_words = if lost == 1 {
        "1 request lost its stream".to_string()
    } else {
        format!("{lost} requests lost their stream")
    };
    assert!(
        edge["summary"]
            .as_str()
            .is_some_and(|s| s.contains("the edge was down") && s.contains(&lost_words)),
        "{edge}"
    );
    // `stack up` journaled what it found down and restarted while the session ran.
    let restarts = edge["restarts"].as_array().expect("restarts");
    assert!(
        restarts
            .iter()
            .any(|e| e["service"] == "edge" && e["event"] == "found_down")
            && restarts
                .iter()
                .any(|e| e["service"] == "edge" && e["event"] == "started"),
        "{edge}"
    );
    assert!(
        edge["summary"]
            .as_str()
            .is_some_and(|s| s.contains("edge was found down by `stack up` and restarted")),
        "{edge}"
    );
    // Compare leaves it out, saying why.
    env.json(&["session", "finalize", &session, "--status", "completed"]);
    let cmp = env.json(&["report", "compare", "--experiment", "sim-profiles"]);
    let excluded = cmp["excluded"].as_array().expect("excluded");
    assert!(
        excluded.iter().any(|s| s["session_id"] == session.as_str()
            && s["excluded"]
                .as_str()
                .is_some_and(|r| r.contains("lost telemetry"))),
        "{excluded:?}"
    );
    eprintln!(
        "{} requests: {} rows, {lost} edge_lost ({cut} of them after their response began), {} refused while down; the edge was down {:.1} s",
        records.len(),
        mine.len(),
        refused(&seen),
        down_ms / 1000.0
    );
}
