//! Real traffic while the app's ingest is killed: 200 streamed requests over 20 concurrent streams
//! through LiteLLM; `stackperf collect --follow` is SIGKILLed mid-run and restarted. Every request
//! the simulator served ends up exactly once in the database.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use stackperf_e2e::{python, workspace, StackEnv};

const N: usize = 200;

fn follower(env: &StackEnv) -> Child {
    env.cmd(&["--json", "collect", "--follow"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("collect --follow")
}

#[test]
fn killing_the_ingest_mid_traffic_loses_and_duplicates_nothing() {
    let env = StackEnv::new("live");
    let master = env.up_with_master_key();
    let after_seq = env.truth_last_seq();

    let mut first = follower(&env);
    let traffic = Command::new(python())
        .arg(workspace().join("tests/python/concurrent_traffic.py"))
        .args([&env.proxy_url(), &master, "sim-fast", &N.to_string(), "20"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("traffic");

    // Kill the ingest once the simulator has served a share of the traffic.
    let deadline = Instant::now() + Duration::from_secs(120);
    let served_at_kill = loop {
        let served = env.truth_after(after_seq).len();
        if served >= N / 3 || Instant::now() > deadline {
            break served;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    first.kill().expect("kill -9 the ingest");
    assert!(
        served_at_kill < N,
        "the ingest must die while traffic still flows ({served_at_kill} of {N} served)"
    );
    eprintln!("ingest killed after {served_at_kill} of {N} requests were served");
    first.wait().expect("reap");
    let mut second = follower(&env);

    let out = traffic.wait_with_output().expect("traffic finished");
    let sent: Value = serde_json::from_slice(&out.stdout).expect("traffic JSON");
    assert_eq!(sent["ok"].as_u64(), Some(N as u64), "{sent}");

    // The simulator served exactly N; the database must hold exactly N of them, once each.
    assert_eq!(env.truth_after(after_seq).len(), N);
    let count = || -> usize {
        let out = env.run(&[
            "export",
            "requests",
            "--format",
            "json",
            "--include-internal",
        ]);
        let rows: Vec<Value> = serde_json::from_slice(&out.stdout).expect("rows");
        let mine: Vec<&Value> = rows.iter().filter(|r| r["model"] == "sim-fast").collect();
        let mut ids: Vec<&str> = mine
            .iter()
            .filter_map(|r| r["litellm_call_id"].as_str())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), mine.len(), "duplicate rows");
        mine.len()
    };
    // The restarted follower catches up by itself; wait for it (bounded) rather than for a fixed time.
    let until = Instant::now() + Duration::from_secs(30);
    let mut n = count();
    while n < N && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100));
        n = count();
    }
    let _ = second.kill();
    let _ = second.wait();
    assert_eq!(n, N, "rows after the restart");
}
