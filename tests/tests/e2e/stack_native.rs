//! The native stack end to end: `stack up` installs and starts the real LiteLLM, the simulator and
//! Prometheus; the real SDKs go through the proxy; Prometheus sees the traffic; every dashboard
//! query names metrics LiteLLM really exposes; `stack down` leaves nothing behind; no secret leaks.
//! Needs a Secret Service (scripts/test.sh runs the tests inside one).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use stackperf_e2e::{files_under, parse_rfc3339_ms, python, workspace, StackEnv};

/// POST JSON with a bearer key; returns the status (0 when the connection failed) and the body.
fn post(url: &str, key: &str, body: serde_json::Value) -> (u16, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        match client.post(url).bearer_auth(key).json(&body).send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                (status, r.text().await.unwrap_or_default())
            }
            Err(e) => (0, e.to_string()),
        }
    })
}

fn get(url: &str) -> Option<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    rt.block_on(async {
        reqwest::Client::builder()
            .no_proxy()
            .build()
            .ok()?
            .get(url)
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()
    })
}

/// Poll a Prometheus query until `ok(value)` or the deadline (Prometheus scrapes the edge every
/// 2 s, LiteLLM every 15 s).
fn wait_query(prom: &str, query: &str, ok: impl Fn(f64) -> bool, within: Duration) -> Option<f64> {
    let until = Instant::now() + within;
    let mut last = None;
    while Instant::now() < until {
        let url = format!("{prom}/api/v1/query?query={}", urlencode(query));
        if let Some(body) = get(&url) {
            let v: Value = serde_json::from_str(&body).unwrap_or_default();
            last = v["data"]["result"][0]["value"][1]
                .as_str()
                .and_then(|s| s.parse::<f64>().ok());
            if last.is_some_and(&ok) {
                return last;
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    last
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn scan_for(dir: &Path, secrets: &[&str]) {
    for f in files_under(dir) {
        let bytes = std::fs::read(&f).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        for s in secrets {
            assert!(!text.contains(s), "secret found in {}", f.display());
        }
    }
}

#[test]
fn stack_up_serves_every_surface_prometheus_counts_and_down_leaves_nothing() {
    let mut env = StackEnv::new("stack");
    // Beside the data directory, a folder named like a module LiteLLM imports: LiteLLM puts
    // `../..` of its working directory first on its import path, and from the stack directory
    // that folder replaced the real `httptools` (every connection failed). Nothing below may
    // change with it there.
    let parent = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(parent.path().join("httptools")).expect("a decoy module folder");
    env.data = tempfile::tempdir_in(parent.path()).expect("tempdir");
    let master = format!("sk-e2e-master-{}", std::process::id());
    let fake_provider_key = format!("sk-ant-e2e-fake-{}", std::process::id());
    env.set_secret("LITELLM_MASTER_KEY", &master);
    env.set_secret("ANTHROPIC_API_KEY", &fake_provider_key);
    let (ep, lp, sp, pp) = (
        env.edge_port,
        env.litellm_port,
        env.sim_port,
        env.prometheus_port,
    );
    let port_args = env.port_args();
    let ports: Vec<&str> = port_args.iter().map(String::as_str).collect();

    // A port held by someone else is refused with an explanation, and nothing is started.
    let blocker = std::net::TcpListener::bind(("127.0.0.1", lp)).expect("bind");
    let mut args = vec!["stack", "up"];
    args.extend(&ports);
    let out = env.run(&args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains(&format!("port {lp} on 127.0.0.1 is already in use")));
    drop(blocker);

    // Two `stack up` at once on one data dir (the desktop and a terminal): one starts the stack,
    // the other waits for it and finds it running — one set of services, none orphaned.
    let mut args = vec!["--json", "stack", "up"];
    args.extend(&ports);
    let t0 = Instant::now();
    let racer = env
        .cmd(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the second stack up");
    let out = env.run(&args);
    let first_up = t0.elapsed();
    let raced = racer.wait_with_output().expect("second stack up");
    let mut reports = Vec::new();
    for o in [&out, &raced] {
        assert!(
            o.status.success(),
            "stack up failed:\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        reports.push(serde_json::from_slice::<Value>(&o.stdout).expect("up JSON"));
    }
    let already: Vec<bool> = reports
        .iter()
        .map(|r| r["already_running"].as_bool().expect("already_running"))
        .collect();
    assert!(
        already == [false, true] || already == [true, false],
        "exactly one of two concurrent `stack up` starts the stack: {already:?}"
    );
    let report = reports.remove(if already[0] { 1 } else { 0 });
    let mut started: Vec<&str> = report["started"]
        .as_array()
        .expect("started")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    started.sort_unstable();
    assert_eq!(
        started,
        ["edge", "litellm", "prometheus", "sim"],
        "{report}"
    );
    for s in report["services"].as_array().expect("services") {
        assert_eq!(s["state"], "running", "{s}");
        assert_eq!(s["healthy"], true, "{s}");
    }
    let names: Vec<&str> = report["services"]
        .as_array()
        .expect("services")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names, ["sim", "litellm", "edge", "prometheus"]);
    let skipped: Vec<&str> = report["skipped"]
        .as_array()
        .expect("skipped")
        .iter()
        .filter_map(|s| s["provider"].as_str())
        .collect();
    assert!(
        skipped.contains(&"openai") && !skipped.contains(&"anthropic"),
        "{skipped:?}"
    );
    eprintln!(
        "first stack up: {:.1} s (LiteLLM start {} ms)",
        first_up.as_secs_f64(),
        report["litellm_start_ms"]
    );

    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(env.data.path().join("stack/state.json")).expect("state"),
    )
    .expect("state json");
    let pids: Vec<u64> = state["services"]
        .as_array()
        .expect("services")
        .iter()
        .filter_map(|s| s["pid"].as_u64())
        .collect();

    // The real SDKs, every surface, through the edge and LiteLLM, as a harness would. (`stack up`
    // also sent warm-up requests, on their own alias, which the count below leaves out.)
    let proxy = format!("http://127.0.0.1:{ep}");
    let out = Command::new(python())
        .arg(workspace().join("tests/python/proxy_check.py"))
        .args([&proxy, &master])
        .output()
        .expect("run proxy_check.py");
    assert!(
        out.status.success(),
        "SDK traffic through LiteLLM failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let traffic: Value = serde_json::from_slice(&out.stdout).expect("json");
    let n = traffic["requests"].as_f64().expect("count");
    assert_eq!(n, 9.0);
    let failed = traffic["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|c| c["case"] == "chat_500")
        .expect("error case");
    assert_eq!(
        failed["error"], 500,
        "the upstream 500 must reach the client unchanged (no silent fallback)"
    );

    // Prometheus scrapes LiteLLM and counts exactly those requests.
    let prom = format!("http://127.0.0.1:{pp}");
    assert_eq!(
        wait_query(
            &prom,
            "up{job=\"litellm\"}",
            |v| v == 1.0,
            Duration::from_secs(45)
        ),
        Some(1.0),
        "LiteLLM target not up"
    );
    let counted = wait_query(
        &prom,
        "sum(litellm_proxy_total_requests_metric_total{requested_model!=\"stackperf-warmup\"})",
        |v| v >= n,
        Duration::from_secs(45),
    );
    assert_eq!(
        counted,
        Some(n),
        "Prometheus counted {counted:?} requests, sent {n}"
    );

    // (The dashboards are checked against LiteLLM's and StackPerf's own metrics in
    // tests/tests/e2e/sessions.rs, where sessions make StackPerf's series exist.)

    // Every kind of upstream failure becomes exactly one error row with a status and an error class,
    // and the proxy keeps serving.
    let failures = [
        ("sim-always-429", false, Some(429u64), "RateLimitError"),
        ("sim-always-500", false, Some(500), "InternalServerError"),
        ("sim-always-timeout", false, Some(408), "Timeout"),
        // Broken streams: the client had a 200 and then an error in the stream; the row says what
        // the client got (the status) and what went wrong (LiteLLM's error class).
        (
            "sim-always-disconnect",
            true,
            Some(200),
            "APIConnectionError",
        ),
        ("sim-always-malformed", true, Some(200), "JSONDecodeError"),
    ];
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64()
        * 1000.0
        - 1.0;
    for (model, stream, _, _) in failures {
        let body = serde_json::json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]});
        let (status, text) = post(&format!("{proxy}/v1/chat/completions"), &master, body);
        assert!(status != 200 || stream, "{model}: {status} {text}");
    }
    let (status, _) = post(
        &format!("{proxy}/v1/chat/completions"),
        &master,
        serde_json::json!({"model": "sim-fast", "messages": [{"role": "user", "content": "still there?"}]}),
    );
    assert_eq!(
        status, 200,
        "the proxy keeps serving after upstream failures"
    );
    let rows = env.merged_requests();
    for (model, stream, http, class) in failures {
        let mine: Vec<&Value> = rows
            .iter()
            .filter(|r| {
                r["model"] == model
                    && r["request_started_at"]
                        .as_str()
                        .and_then(parse_rfc3339_ms)
                        .is_some_and(|t| t >= since)
            })
            .collect();
        assert_eq!(mine.len(), 1, "{model}: exactly one row, got {mine:?}");
        let r = mine[0];
        assert_eq!(r["status"], "error", "{r}");
        assert_eq!(r["error_class"], class, "{r}");
        assert_eq!(r["http_status"].as_u64(), http, "{r}");
        assert_eq!(r["streamed"], i64::from(stream), "{r}");
        // Right or absent: a stream cut off after content keeps its TTFT; otherwise a reason.
        match r["ttft_ms"].as_f64() {
            Some(t) => assert!(
                stream && t > 0.0 && t <= r["latency_ms"].as_f64().unwrap_or(0.0),
                "{r}"
            ),
            None => assert!(r["ttft_missing_reason"].is_string(), "{r}"),
        }
        assert!(
            r["error_code"].as_str() != Some(""),
            "empty codes are null: {r}"
        );
    }

    // Each service's log is readable; an unknown service is a clear user error.
    let out = env.run(&["stack", "logs", "litellm"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("POST /v1/chat/completions"),
        "the log shows the requests just served"
    );
    let out = env.run(&["stack", "logs", "sim"]);
    assert!(out.status.success());
    let out = env.run(&["stack", "logs", "grafana"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("edge, litellm, sim and prometheus"));

    // A second `up` is idempotent and fast.
    let mut args = vec!["--json", "stack", "up"];
    args.extend(&ports);
    let t1 = Instant::now();
    let out = env.run(&args);
    assert!(out.status.success());
    let again: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(again["already_running"], true);
    eprintln!("second stack up: {:.2} s", t1.elapsed().as_secs_f64());

    let out = env.run(&["--json", "stack", "status"]);
    let status: Value = serde_json::from_slice(&out.stdout).expect("status json");
    assert!(
        status["services"]
            .as_array()
            .expect("services")
            .iter()
            .all(|s| s["healthy"] == true),
        "{status}"
    );

    // A service that dies is what `doctor` reports, with what to run.
    let sim_pid = env.service_pid("sim");
    assert!(Command::new("kill")
        .args(["-9", &sim_pid.to_string()])
        .status()
        .expect("kill")
        .success());
    let out = env.run(&["--json", "doctor"]);
    let (code, doctor): (Option<i32>, Value) = (
        out.status.code(),
        serde_json::from_slice(&out.stdout).expect("doctor json"),
    );
    assert_eq!(code, Some(1), "{doctor}");
    let sim_check = doctor["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "service sim")
        .cloned()
        .expect("a check for the simulator");
    assert_eq!(sim_check["ok"], false, "{sim_check}");
    assert!(
        sim_check["fix"]
            .as_str()
            .unwrap_or_default()
            .contains("stack up"),
        "{sim_check}"
    );

    let mut pids = pids;
    pids.extend(restart_only_what_died(&env, &ports, &master));

    let out = env.run(&["--json", "stack", "down"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let down: Value = serde_json::from_slice(&out.stdout).expect("down json");
    assert_eq!(
        down["stopped"].as_array().expect("stopped").len(),
        4,
        "{down}"
    );
    assert_eq!(down["already_gone"], serde_json::json!([]), "{down}");
    for pid in pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().next())
            .unwrap_or("gone")
            .to_string();
        assert!(
            state == "gone" || state == "Z",
            "pid {pid} still running ({state})"
        );
    }
    for port in [ep, lp, sp, pp] {
        assert!(
            std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
            "port {port} still in use after down"
        );
    }

    // Nothing the stack wrote holds a key value.
    scan_for(env.data.path(), &[&master, &fake_provider_key]);
    let config =
        std::fs::read_to_string(env.data.path().join("stack/litellm/config.yaml")).expect("config");
    assert!(
        config.contains("os.environ/LITELLM_MASTER_KEY")
            && config.contains("os.environ/ANTHROPIC_API_KEY")
    );

    for name in ["LITELLM_MASTER_KEY", "ANTHROPIC_API_KEY"] {
        assert!(env.run(&["secrets", "delete", name]).status.success());
    }
}

/// With the simulator dead (killed above), `stack up` starts only it; then with LiteLLM killed,
/// only LiteLLM. The services that kept running keep their pids, traffic through the edge works
/// after each restart (the restarted service shares the internal secrets of the running ones),
/// and the simulator's ground-truth ids stay unique across its restart. Returns the new pids.
fn restart_only_what_died(env: &StackEnv, ports: &[&str], master: &str) -> Vec<u64> {
    let pid_of = |name: &str| u64::from(env.service_pid(name));
    let chat = |label: &str| {
        let url = format!("http://127.0.0.1:{}/v1/chat/completions", env.edge_port);
        let body = serde_json::json!({"model": "sim-fast", "messages": [{"role": "user", "content": label}]});
        let (status, text) = post(&url, master, body);
        assert_eq!(status, 200, "after restarting {label}: {text}");
    };
    let mut new_pids = Vec::new();
    for (dead, kept) in [
        ("sim", ["edge", "litellm", "prometheus"]),
        ("litellm", ["edge", "sim", "prometheus"]),
    ] {
        let before: Vec<u64> = kept.iter().map(|n| pid_of(n)).collect();
        if dead == "litellm" {
            let pid = env.service_pid("litellm").to_string();
            assert!(Command::new("kill")
                .args(["-9", &pid])
                .status()
                .expect("kill")
                .success());
        }
        let mut args = vec!["--json", "stack", "up"];
        args.extend(ports);
        let out = env.run(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let up: Value = serde_json::from_slice(&out.stdout).expect("up json");
        assert_eq!(up["started"], serde_json::json!([dead]), "{up}");
        let mut kept_now: Vec<&str> = up["kept"]
            .as_array()
            .expect("kept")
            .iter()
            .filter_map(|k| k.as_str())
            .collect();
        kept_now.sort_unstable();
        let mut want = kept.to_vec();
        want.sort_unstable();
        assert_eq!(kept_now, want, "{up}");
        let after: Vec<u64> = kept.iter().map(|n| pid_of(n)).collect();
        assert_eq!(before, after, "services that were healthy kept running");
        new_pids.push(pid_of(dead));
        chat(dead);
    }
    let truth =
        std::fs::read_to_string(env.data.path().join("stack/sim-truth.jsonl")).expect("truth log");
    let ids: Vec<String> = truth
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["id"].as_str().map(String::from))
        .collect();
    let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert!(ids.len() > 10, "{} ids", ids.len());
    assert_eq!(
        unique.len(),
        ids.len(),
        "ground-truth ids repeat across a restart"
    );
    new_pids
}
