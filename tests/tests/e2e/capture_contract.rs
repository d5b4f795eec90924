//! The capture contract (docs/capture-contract.md): the spool line between LiteLLM's capture
//! logger (Python) and `normalize` (Rust), pinned by fixtures recorded from real LiteLLM runs.
//!
//! - `the_python_logger_writes_the_recorded_lines` (README's test command): the logger, fed each
//!   fixture's recorded kwargs, writes exactly the recorded line. The Rust side reads the same
//!   fixtures in `crates/core/tests/it/capture_contract.rs`.
//! - `record_capture_fixtures` (ignored; run after a LiteLLM upgrade or a logger change):
//!   `cargo test -p stackperf-e2e --test e2e capture_contract -- --ignored` brings the real stack up,
//!   sends one request per case on every surface through the edge, and rewrites
//!   `tests/fixtures/capture/litellm.jsonl`.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use stackperf_e2e::{python, workspace, StackEnv};

fn fixtures() -> std::path::PathBuf {
    workspace().join("tests/fixtures/capture/litellm.jsonl")
}

#[test]
fn the_python_logger_writes_the_recorded_lines() {
    let out = Command::new(python())
        .arg(workspace().join("tests/python/capture_replay.py"))
        .arg(fixtures())
        .output()
        .expect("run capture_replay.py");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "capture_replay.py: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(
        report["cases"].as_u64().unwrap_or(0) >= 12,
        "every case is replayed: {report}"
    );
    assert_eq!(
        report["mismatches"],
        serde_json::json!([]),
        "the logger no longer writes what it wrote when the fixtures were recorded: {report}"
    );
    // After a rotation (the spool renamed aside) the logger starts a new file.
    assert_eq!(report["rotation"], "reopened", "{report}");
    assert!(out.status.success());
}

#[test]
#[ignore = "records fixtures from a real stack; run by hand after a LiteLLM or logger change"]
fn record_capture_fixtures() {
    let s = StackEnv::new("fixtures");
    let record = s.data.path().join("record.jsonl");
    let master = format!("sk-e2e-master-{}", std::process::id());
    s.set_secret("LITELLM_MASTER_KEY", &master);
    let ports = s.port_args();
    let mut args = vec!["stack", "up"];
    args.extend(ports.iter().map(String::as_str));
    let up = s
        .cmd(&args)
        .env("STACKPERF_CAPTURE_RECORD", &record)
        .output()
        .expect("stack up");
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    // Only what the traffic below causes counts (stack up warms the proxy up).
    let _ = std::fs::remove_file(&record);

    let out = Command::new(python())
        .arg(workspace().join("tests/python/fixture_traffic.py"))
        .args([&s.proxy_url(), master.as_str()])
        .output()
        .expect("fixture traffic");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cases: serde_json::Map<String, Value> =
        serde_json::from_slice(&out.stdout).expect("case ids");

    // LiteLLM writes its line a moment after the response ends: wait (bounded) for every case.
    let deadline = Instant::now() + Duration::from_secs(30);
    let by_edge_id = loop {
        let text = std::fs::read_to_string(&record).unwrap_or_default();
        let lines: Vec<Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let found: std::collections::HashMap<String, Value> = lines
            .into_iter()
            .filter_map(|r| Some((r["line"]["edge_id"].as_str()?.to_string(), r)))
            .collect();
        let missing: Vec<&String> = cases
            .iter()
            .filter(|(_, id)| id.as_str().is_none_or(|id| !found.contains_key(id)))
            .map(|(c, _)| c)
            .collect();
        if missing.is_empty() {
            break found;
        }
        assert!(Instant::now() < deadline, "no capture line for {missing:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut text = String::new();
    for (case, id) in &cases {
        let mut r = by_edge_id[id.as_str().expect("id")].clone();
        r["case"] = Value::String(case.clone());
        text.push_str(&serde_json::to_string(&r).expect("json"));
        text.push('\n');
    }
    std::fs::create_dir_all(fixtures().parent().expect("dir")).expect("fixtures dir");
    std::fs::write(fixtures(), text).expect("write fixtures");
    s.run(&["stack", "down"]);
    eprintln!("wrote {} cases to {}", cases.len(), fixtures().display());
}
