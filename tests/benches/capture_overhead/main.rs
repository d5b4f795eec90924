//! Benchmark (prints figures; not a test): the latency StackPerf adds to a request.
//!
//!   scripts/with-keyring.sh cargo bench -p stackperf-e2e --bench capture_overhead
//!   STACKPERF_BENCH_REQUESTS=400 …                    (pairs; default 300)
//!   STACKPERF_BENCH_EDGE_ONLY=1 …                     (only the edge vs direct)
//!   STACKPERF_BENCH_STACKPERF_ONLY=1 …                (only StackPerf vs LiteLLM alone)
//!   STACKPERF_BENCH_SPLIT=1 …                         (also LiteLLM + capture, without the edge)
//!   STACKPERF_BENCH_SURFACES=1 …                      (only the stack's tax per surface, 4.)
//!   STACKPERF_BENCH_GAP_MS=N …                        (4. and 5.: a pause after each request)
//!   STACKPERF_BENCH_AB='{"config": {…}, "env": {…}, "args": […]}' …
//!       (only: the stack's LiteLLM vs a second one with that change — a JSON merge patch of its
//!        config, variables, arguments — per surface, both reached directly; 5.)
//!
//! It builds the release CLI it runs (`cargo build --release -p stackperf-cli`) first, unless
//! `STACKPERF_BIN` names the binary to run.
//! 1. StackPerf vs LiteLLM alone: A is the path a harness takes after `stack up` (StackPerf's
//!    edge → LiteLLM with the capture callback + Prometheus); B is a second LiteLLM from the same
//!    venv, config and environment without the capture callback, reached directly.
//! 2. The edge alone: C is a `stackperf edge serve` in front of the simulator; D the simulator
//!    reached directly.
//!
//! Streamed chat requests for `sim-steady` (exactly 200 ms TTFT, 20 tokens at 100 tok/s, no
//! jitter) alternate within each pair (order flipped every pair), timed by a raw HTTP client: time
//! to the first content chunk and to the end of the stream. Targets: StackPerf adds < 0.5 ms at
//! p50 and < 2 ms at p99 over LiteLLM alone; the edge alone adds < 0.2 ms at p50.
//! 3. The floor under the last target: a byte pump (a forwarder that parses nothing, run as its
//!    own process like the edge) in front of the same simulator vs direct — what one more process
//!    on the loopback path costs on the machine at hand.
//! 4. The stack's tax per protocol surface (surfaces.rs).
//! 5. One change to LiteLLM, measured side by side per surface (surfaces.rs, beside.rs).
#![allow(clippy::disallowed_methods)] // tests start programs as a user would (core's builder is for the app)
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark aborts on setup failure

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use stackperf_e2e::{free_port, http_get, stackperf_bin, workspace, Sim, StackEnv};

mod beside;
mod surfaces;

struct Proxy {
    child: Child,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn percentile(v: &[f64], p: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
    s[rank.clamp(1, s.len()) - 1]
}

/// One streamed request: (ms to the first content chunk, ms to the end of the stream).
async fn timed(client: &reqwest::Client, port: u16, key: &str) -> (f64, f64) {
    let t = Instant::now();
    let mut resp = client
        .post(format!("http://127.0.0.1:{port}/v1/chat/completions"))
        .bearer_auth(key)
        .json(&serde_json::json!({
            "model": "sim-steady", "stream": true,
            "messages": [{"role": "user", "content": "overhead"}],
        }))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "HTTP {}", resp.status());
    let mut first = None;
    while let Some(chunk) = resp.chunk().await.unwrap() {
        // The first chunk with text (LiteLLM's first chunk carries the role and empty content).
        let text = String::from_utf8_lossy(&chunk);
        if first.is_none()
            && text
                .match_indices("\"content\":\"")
                .any(|(i, m)| !text[i + m.len()..].starts_with('"'))
        {
            first = Some(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    (
        first.unwrap_or(f64::NAN),
        t.elapsed().as_secs_f64() * 1000.0,
    )
}

/// Build the release CLI and point the e2e helpers at it (unless `STACKPERF_BIN` already names
/// the binary to measure).
fn release_cli() {
    if std::env::var_os("STACKPERF_BIN").is_some() {
        return;
    }
    let root = workspace();
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "-q", "-p", "stackperf-cli"])
        .current_dir(&root)
        .status()
        .expect("run cargo build");
    assert!(
        status.success(),
        "cargo build --release -p stackperf-cli failed"
    );
    let bin = root.join("target/release/stackperf");
    assert!(bin.exists(), "{} not built", bin.display());
    std::env::set_var("STACKPERF_BIN", bin);
}

/// The simulator's ground-truth records with a sequence number above `after`, in order.
fn truth_since(sim: &str, after: u64) -> Vec<serde_json::Value> {
    let body = http_get(sim, &format!("/_sim/requests?since_seq={}", after + 1));
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut recs = v["requests"].as_array().cloned().unwrap_or_default();
    recs.sort_by_key(|r| r["seq"].as_u64());
    recs
}

fn last_seq(sim: &str) -> u64 {
    truth_since(sim, 0)
        .last()
        .and_then(|r| r["seq"].as_u64())
        .unwrap_or(0)
}

/// One side's samples: as the client timed them, and net of the simulator's own timing.
#[derive(Default)]
struct Side {
    first: Vec<f64>,
    total: Vec<f64>,
    net_first: Vec<f64>,
    net_total: Vec<f64>,
}

/// A 95 % bootstrap interval of `percentile(a, p) - percentile(b, p)` (independent resamples of
/// each side, 2,000 rounds, fixed seed): how far the printed difference could move by chance.
fn bootstrap_diff(a: &[f64], b: &[f64], p: f64) -> (f64, f64) {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move |n: usize| {
        // splitmix64
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) % n as u64) as usize
    };
    let mut diffs: Vec<f64> = (0..2000)
        .map(|_| {
            let ra: Vec<f64> = (0..a.len()).map(|_| a[next(a.len())]).collect();
            let rb: Vec<f64> = (0..b.len()).map(|_| b[next(b.len())]).collect();
            percentile(&ra, p) - percentile(&rb, p)
        })
        .collect();
    diffs.sort_by(|x, y| x.total_cmp(y));
    (percentile(&diffs, 2.5), percentile(&diffs, 97.5))
}

fn print_row(what: &str, names: (&str, &str), a: &[f64], b: &[f64]) {
    let (a50, b50) = (percentile(a, 50.0), percentile(b, 50.0));
    let (a99, b99) = (percentile(a, 99.0), percentile(b, 99.0));
    let (l50, h50) = bootstrap_diff(a, b, 50.0);
    let (l99, h99) = bootstrap_diff(a, b, 99.0);
    println!(
        "  {what:<20} {} p50 {a50:7.2} ms  p99 {a99:7.2} ms | {} p50 {b50:7.2} ms  p99 {b99:7.2} ms | added p50 {:+.2} ms [{l50:+.2}, {h50:+.2}]  p99 {:+.2} ms [{l99:+.2}, {h99:+.2}]",
        names.0,
        names.1,
        a50 - b50,
        a99 - b99
    );
}

/// Interleave `pairs` requests to `x` and `y` (order flipped every pair), both served by the
/// simulator at `sim`; print their p50/p99 and the difference — as the client timed them, and net
/// of the simulator's own timing (its TTFT timer fires on a 1 ms tick, so its TTFT varies by up to
/// a millisecond with the arrival's phase; subtracting the TTFT and duration it logged for each
/// request leaves exactly the time spent on the way there and back).
async fn compare(
    client: &reqwest::Client,
    pairs: usize,
    (x, x_name): (u16, &str),
    (y, y_name): (u16, &str),
    (key, sim): (&str, &str),
    target: &str,
) {
    for _ in 0..20 {
        timed(client, x, key).await;
        timed(client, y, key).await;
    }
    let after = last_seq(sim);
    let mut runs: Vec<(u16, f64, f64)> = Vec::with_capacity(2 * pairs);
    for k in 0..pairs {
        let order = if k % 2 == 0 { [x, y] } else { [y, x] };
        for port in order {
            let (f, t) = timed(client, port, key).await;
            runs.push((port, f, t));
        }
    }
    let truth = truth_since(sim, after);
    let (mut xs, mut ys) = (Side::default(), Side::default());
    for (i, (port, f, t)) in runs.iter().enumerate() {
        let side = if *port == x { &mut xs } else { &mut ys };
        side.first.push(*f);
        side.total.push(*t);
        if truth.len() == runs.len() {
            let ttft = truth[i]["first_token_ms"].as_f64().unwrap_or(f64::NAN);
            let dur = truth[i]["finished_ms"].as_f64().unwrap_or(f64::NAN);
            side.net_first.push(f - ttft);
            side.net_total.push(t - dur);
        }
    }
    println!("{x_name} vs {y_name}: {pairs} interleaved pairs of streamed sim-steady requests (200 ms TTFT, 20 tokens)");
    let names = (x_name, y_name);
    print_row("time to first chunk", names, &xs.first, &ys.first);
    print_row("total latency", names, &xs.total, &ys.total);
    if xs.net_first.is_empty() {
        println!(
            "  (net figures unavailable: the simulator logged {} requests for {})",
            truth.len(),
            runs.len()
        );
    } else {
        println!(
            "  net of the simulator's logged TTFT / duration (the time on the way there and back):"
        );
        print_row("  first chunk", names, &xs.net_first, &ys.net_first);
        print_row("  end of stream", names, &xs.net_total, &ys.net_total);
    }
    println!("  (target: {target}; [..] = 95 % bootstrap interval of the difference)");
}

/// The environment variable that turns this benchmark's own executable into the byte pump.
const PUMP_ENV: &str = "STACKPERF_BENCH_PUMP_TO";

#[tokio::main]
async fn main() {
    if let Some(upstream) = std::env::var(PUMP_ENV).ok().and_then(|v| v.parse().ok()) {
        byte_pump(upstream);
    }
    let pairs: usize = std::env::var("STACKPERF_BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let only_edge = std::env::var_os("STACKPERF_BENCH_EDGE_ONLY").is_some();
    let only_stackperf = std::env::var_os("STACKPERF_BENCH_STACKPERF_ONLY").is_some();
    let only_surfaces = std::env::var_os("STACKPERF_BENCH_SURFACES").is_some();
    release_cli();
    let env = StackEnv::new("overhead");
    let master = env.up_with_master_key();
    if only_surfaces {
        return per_surface(&env, pairs);
    }
    if let Ok(change) = std::env::var("STACKPERF_BENCH_AB") {
        return surfaces::one_change(&env, &master, &change, pairs);
    }
    // B: the same config without the capture callback, same program, same environment.
    let (_b, port_b) = beside::litellm_beside(
        &env,
        "no-capture",
        |c| c["litellm_settings"]["callbacks"] = serde_json::json!(["prometheus"]),
        &[],
        &[],
    );
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    // C: an edge of its own in front of a simulator of its own (D, which accepts any key; the
    // master key is accepted by the edge for any model).
    let sim = Sim::start(&[]);
    let port_d: u16 = sim
        .base_url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap();
    let port_c = free_port();
    let _c = Proxy {
        child: Command::new(stackperf_bin())
            .args(["edge", "serve", "--listen", &format!("127.0.0.1:{port_c}")])
            .args(["--upstream", &format!("127.0.0.1:{port_d}")])
            .arg("--registry")
            .arg(env.data.path().join("none.json"))
            .arg("--spool")
            .arg(env.data.path().join("bench-edge.jsonl"))
            .args(["--master-key-env", "BENCH_MASTER"])
            .env("BENCH_MASTER", &master)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while client
        .get(format!(
            "http://127.0.0.1:{port_c}{}",
            "/_stackperf/edge/health"
        ))
        .send()
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "the bench edge did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let stack_sim = env.sim_url();
    if std::env::var_os("STACKPERF_BENCH_SPLIT").is_some() {
        // Where StackPerf's share goes: LiteLLM with the capture callback, reached directly.
        compare(
            &client,
            pairs,
            (env.litellm_port, "LiteLLM + capture"),
            (port_b, "LiteLLM alone"),
            (&master, &stack_sim),
            "the capture callback's own share",
        )
        .await;
    }
    if !only_edge {
        compare(
            &client,
            pairs,
            (env.edge_port, "StackPerf (edge + capture)"),
            (port_b, "LiteLLM alone"),
            (&master, &stack_sim),
            "added < 0.5 ms at p50, < 2 ms at p99",
        )
        .await;
    }
    if only_stackperf {
        return;
    }
    compare(
        &client,
        pairs,
        (port_c, "edge"),
        (port_d, "direct"),
        (&master, &sim.base_url),
        "added < 0.2 ms at p50",
    )
    .await;
    // The floor under that target: one more loopback hop through a process that only copies bytes.
    let (_pump, port_p) = pump_process(port_d);
    compare(
        &client,
        pairs,
        (port_p, "byte pump"),
        (port_d, "direct"),
        (&master, &sim.base_url),
        "none: what any extra hop costs on this machine (reference for the edge's figure)",
    )
    .await;
    per_surface(&env, pairs);
}

/// 4.: a session of the stack per row's variant (their keys go through the edge) and the
/// simulator's own key, read from the stack's simulator process.
fn per_surface(env: &StackEnv, rounds: usize) {
    let mut sessions: Vec<((&str, &str), stackperf_e2e::Session)> = Vec::new();
    for s in &surfaces::SURFACES {
        if !sessions.iter().any(|(v, _)| *v == s.session) {
            sessions.push((s.session, env.create_session(s.session.0, s.session.1, &[])));
        }
    }
    let keys = surfaces::SURFACES.each_ref().map(|s| {
        sessions
            .iter()
            .find_map(|(v, session)| (*v == s.session).then(|| session.key()))
            .expect("a session per variant")
    });
    let sim_key = beside::environ(env.service_pid("sim"))
        .into_iter()
        .find_map(|(k, v)| (k == "STACKPERF_SIM_API_KEY").then_some(v))
        .expect("the simulator's key");
    surfaces::run(env, keys, &sim_key, rounds);
}

/// Starts this executable again as the byte pump in front of `127.0.0.1:upstream`: a process of
/// its own, as the edge is. Returns it (killed on drop) and the port it listens on.
fn pump_process(upstream: u16) -> (Proxy, u16) {
    use std::io::BufRead;
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(PUMP_ENV, upstream.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().parse().expect("the pump prints its port");
    (Proxy { child }, port)
}

/// A TCP forwarder to `127.0.0.1:upstream` that parses nothing (a thread per direction, blocking
/// copies, no Nagle): the least a process between client and server can add. Prints its port and
/// serves until killed.
fn byte_pump(upstream: u16) -> ! {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    println!("{}", listener.local_addr().unwrap().port());
    for client in listener.incoming().flatten() {
        let Ok(server) = std::net::TcpStream::connect(("127.0.0.1", upstream)) else {
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        for (mut from, mut to) in [
            (client.try_clone().unwrap(), server.try_clone().unwrap()),
            (server, client),
        ] {
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut from, &mut to);
                let _ = to.shutdown(std::net::Shutdown::Write);
            });
        }
    }
    std::process::exit(0)
}
