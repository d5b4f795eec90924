//! Shared helpers for end-to-end tests: locate the real `stackperf` binary, start the real
//! simulator on a free loopback port, find the test Python environment.
#![allow(clippy::disallowed_methods)] // tests start programs as a user would (core's builder is for the app)

mod machine;
mod raw;
pub use machine::{free_port, free_ports, quiet, share, Quiet, Share};
pub use raw::{raw_post, raw_request, RawResponse};

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `stackperf` binary built alongside this test (`STACKPERF_BIN` overrides).
pub fn stackperf_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("STACKPERF_BIN") {
        return PathBuf::from(p);
    }
    // target/<profile>/deps/<test-exe> → target/<profile>/stackperf
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target profile directory");
    let bin = dir.join(format!("stackperf{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} not found: build it with `cargo build -p stackperf-cli` (cargo test --workspace does)",
        bin.display()
    );
    bin
}

/// A `stackperf` command with an isolated data directory.
pub fn stackperf(data_dir: &std::path::Path) -> Command {
    let mut c = Command::new(stackperf_bin());
    c.env("STACKPERF_DATA_DIR", data_dir)
        .env_remove("STACKPERF_DB")
        .env_remove("STACKPERF_CONFIG_DIR");
    c
}

/// Where the LiteLLM virtualenv is cached across test runs (`STACKPERF_CACHE_DIR` overrides).
pub fn cache_dir() -> PathBuf {
    std::env::var_os("STACKPERF_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/stackperf-cache"))
}

/// Every regular file under `dir`, recursively.
pub fn files_under(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else if p.is_file() {
                out.push(p);
            }
        }
    }
    out
}

/// The Python interpreter of the test environment (`scripts/test-env.sh` creates it).
pub fn python() -> PathBuf {
    let p = std::env::var_os("STACKPERF_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(".venv-test/bin/python"));
    assert!(p.exists(), "{} not found: run `scripts/test-env.sh` (the README's test command does) to create the SDK test environment", p.display());
    p
}

/// A running `stackperf sim serve`, killed on drop.
pub struct Sim {
    child: Child,
    pub base_url: String,
    _share: Share,
}

impl Sim {
    /// Start the simulator on a free port with extra arguments.
    pub fn start(args: &[&str]) -> Sim {
        Sim::start_with_env(args, &[])
    }

    /// Start the simulator with extra arguments and environment variables.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Sim {
        let share = share();
        let dir = std::env::temp_dir();
        let mut child = stackperf(&dir)
            .args(["sim", "serve", "--listen", "127.0.0.1:0", "--json"])
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start stackperf sim serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the listening line");
        let v: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("bad listening line {line:?}: {e}"));
        let base_url = v["listening"].as_str().expect("listening url").to_string();
        Sim {
            child,
            base_url,
            _share: share,
        }
    }

    /// The simulator's ground truth, keyed by request id.
    pub fn truth(&self) -> std::collections::HashMap<String, serde_json::Value> {
        let body = http_get(&self.base_url, "/_sim/requests");
        let v: serde_json::Value = serde_json::from_str(&body).expect("ground truth json");
        v["requests"]
            .as_array()
            .expect("requests array")
            .iter()
            .map(|r| (r["id"].as_str().unwrap_or_default().to_string(), r.clone()))
            .collect()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.0 GET with the standard library, usable from sync and async tests alike.
pub fn http_get(base_url: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let addr = base_url.trim_start_matches("http://");
    let mut conn = std::net::TcpStream::connect(addr).expect("connect");
    write!(conn, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").expect("send request");
    let mut raw = String::new();
    conn.read_to_string(&mut raw).expect("read response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("HTTP response");
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "GET {path}: {head}"
    );
    body.to_string()
}

/// Median of a non-empty slice.
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// A stack of one's own for a test: isolated data dir and keyring service, free ports, and
/// `stack down` when dropped (also when the test fails half-way; a no-op if nothing runs).
pub struct StackEnv {
    pub data: tempfile::TempDir,
    pub keyring: String,
    pub edge_port: u16,
    pub litellm_port: u16,
    pub sim_port: u16,
    pub prometheus_port: u16,
    _share: Share,
}

impl StackEnv {
    pub fn new(name: &str) -> StackEnv {
        let share = share();
        let [edge_port, litellm_port, sim_port, prometheus_port] = free_ports();
        StackEnv {
            _share: share,
            data: tempfile::tempdir().expect("tempdir"),
            keyring: format!("stackperf-e2e-{name}-{}", std::process::id()),
            edge_port,
            litellm_port,
            sim_port,
            prometheus_port,
        }
    }

    /// `stackperf ARGS` in this environment (provider keys from the outer environment removed).
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = stackperf(self.data.path());
        c.args(args)
            .current_dir(workspace())
            .env("STACKPERF_CACHE_DIR", cache_dir())
            .env("STACKPERF_KEYRING_SERVICE", &self.keyring);
        for k in [
            "LITELLM_MASTER_KEY",
            "OPENAI_API_KEY",
            "ANTHROPIC_API_KEY",
            "FIREWORKS_API_KEY",
            "OPENROUTER_API_KEY",
        ] {
            c.env_remove(k);
        }
        c
    }

    pub fn run(&self, args: &[&str]) -> std::process::Output {
        self.cmd(args).output().expect("run stackperf")
    }

    /// Run and parse `--json` output, failing the test with stderr if the command fails.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        self.json_with_env(args, &[])
    }

    /// `json` with variables set for the command (say, another machine's `STACKPERF_MACHINE_ID`).
    pub fn json_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> serde_json::Value {
        let mut full = vec!["--json"];
        full.extend_from_slice(args);
        let out = self
            .cmd(&full)
            .envs(env.iter().copied())
            .output()
            .expect("run stackperf");
        assert!(
            out.status.success(),
            "stackperf {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "stackperf {args:?}: not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// `stackperf secrets set NAME` with the value on stdin.
    pub fn set_secret(&self, name: &str, value: &str) {
        use std::io::Write;
        let mut child = self
            .cmd(&["secrets", "set", name])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(value.as_bytes())
            .expect("write");
        let out = child.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "secrets set {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The port flags of `stack up`.
    pub fn port_args(&self) -> Vec<String> {
        [
            "--edge-port",
            &self.edge_port.to_string(),
            "--litellm-port",
            &self.litellm_port.to_string(),
            "--sim-port",
            &self.sim_port.to_string(),
            "--prometheus-port",
            &self.prometheus_port.to_string(),
        ]
        .map(String::from)
        .to_vec()
    }

    /// `stack up --json` on this environment's ports.
    pub fn up(&self) -> serde_json::Value {
        let ports = self.port_args();
        let mut args = vec!["stack", "up"];
        args.extend(ports.iter().map(String::as_str));
        self.json(&args)
    }

    /// Store a fresh master key in this environment's keychain, start the stack, return the key.
    pub fn up_with_master_key(&self) -> String {
        let master = format!("sk-e2e-master-{}-{}", self.keyring, std::process::id());
        self.set_secret("LITELLM_MASTER_KEY", &master);
        self.up();
        master
    }

    /// The simulator's ground-truth records with a sequence number above `after`.
    pub fn truth_after(&self, after: u64) -> Vec<serde_json::Value> {
        let body = http_get(
            &self.sim_url(),
            &format!("/_sim/requests?since_seq={}", after + 1),
        );
        let v: serde_json::Value = serde_json::from_str(&body).expect("ground truth JSON");
        v["requests"].as_array().cloned().unwrap_or_default()
    }

    /// `session create` on the `sample-traffic` task card: the session id and its rendered
    /// environment (with the key).
    pub fn create_session(&self, experiment: &str, variant: &str, extra: &[&str]) -> Session {
        self.create_session_with_env(experiment, variant, extra, &[])
    }

    /// `create_session` with variables set for the command.
    pub fn create_session_with_env(
        &self,
        experiment: &str,
        variant: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Session {
        let mut args = vec![
            "session",
            "create",
            "--experiment",
            experiment,
            "--variant",
            variant,
            "--task-card",
            "sample-traffic",
        ];
        args.extend_from_slice(extra);
        let v = self.json_with_env(&args, env);
        assert_eq!(v["session"]["status"], "active", "{v}");
        Session {
            id: v["session"]["session_id"]
                .as_str()
                .expect("session id")
                .to_string(),
            env: v["environment"]["env"]
                .as_object()
                .expect("environment")
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect(),
        }
    }

    /// `collect`, then every stored request — once LiteLLM's line has been merged into every
    /// request LiteLLM answered (it writes its line a little after the edge; bounded wait).
    pub fn merged_requests(&self) -> Vec<serde_json::Value> {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let out = self.run(&["collect"]);
            assert!(
                out.status.success(),
                "collect: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            // Every row, StackPerf's own (master-key) traffic included: tests send some.
            let out = self.run(&[
                "export",
                "requests",
                "--format",
                "json",
                "--include-internal",
            ]);
            assert!(
                out.status.success(),
                "export: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("rows");
            // An edge row still waiting for LiteLLM's line, or (on a loaded machine) LiteLLM's
            // line of a request through the edge that came before the edge's own.
            let waiting = rows.iter().any(|r| {
                (r["timed_at"] == "edge"
                    && r["has_litellm_record"] == 0
                    && ["ok", "http_error", "stream_error"]
                        .contains(&r["outcome"].as_str().unwrap_or("")))
                    || (r["timed_at"] == "litellm"
                        && r["request_id"]
                            .as_str()
                            .is_some_and(|id| id.starts_with("edge-")))
            });
            if !waiting || std::time::Instant::now() > until {
                return rows;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// The PID `stack up` recorded for a service.
    pub fn service_pid(&self, name: &str) -> u32 {
        let state: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(self.data.path().join("stack/state.json"))
                .expect("stack state"),
        )
        .expect("stack state JSON");
        state["services"]
            .as_array()
            .expect("services")
            .iter()
            .find(|s| s["name"] == name)
            .and_then(|s| s["pid"].as_u64())
            .unwrap_or_else(|| panic!("no {name} in the stack state")) as u32
    }

    /// The highest sequence number the simulator has recorded (0 before any request). `stack up`
    /// warms the proxy through the simulator, so tests count from here.
    pub fn truth_last_seq(&self) -> u64 {
        self.truth_after(0)
            .iter()
            .filter_map(|r| r["seq"].as_u64())
            .max()
            .unwrap_or(0)
    }

    /// The URL harnesses are given: StackPerf's edge.
    pub fn proxy_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.edge_port)
    }

    /// LiteLLM itself, behind the edge.
    pub fn litellm_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.litellm_port)
    }

    pub fn sim_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.sim_port)
    }
}

/// A session of a [`StackEnv`].
pub struct Session {
    pub id: String,
    /// The rendered environment, variable → value.
    pub env: std::collections::BTreeMap<String, String>,
}

impl Session {
    /// The session key (whichever variable the harness reads it from).
    pub fn key(&self) -> &str {
        [
            "OPENAI_API_KEY",
            "ANTHROPIC_AUTH_TOKEN",
            "ANTHROPIC_API_KEY",
            "GEMINI_API_KEY",
        ]
        .iter()
        .find_map(|k| self.env.get(*k))
        .map(String::as_str)
        .expect("a key variable in the rendered environment")
    }
}

impl Drop for StackEnv {
    fn drop(&mut self) {
        let _ = self.run(&["stack", "down"]);
    }
}

/// The sessions of `session list --json` that a run made (labelled `run_… #N`).
pub fn sessions_of_run<'a>(
    sessions: &'a serde_json::Value,
    run_id: &str,
) -> Vec<&'a serde_json::Value> {
    sessions
        .as_array()
        .expect("sessions")
        .iter()
        .filter(|s| {
            s["operator_label"]
                .as_str()
                .is_some_and(|l| l.starts_with(run_id))
        })
        .collect()
}

/// Parse the RFC 3339 timestamps exports write (`YYYY-MM-DDTHH:MM:SS.mmmZ`) to epoch ms.
pub fn parse_rfc3339_ms(s: &str) -> Option<f64> {
    let t = chrono::DateTime::parse_from_rfc3339(s).ok()?;
    Some(t.timestamp_micros() as f64 / 1000.0)
}

/// Metric names (LiteLLM's and StackPerf's) and `by (...)` labels in a PromQL expression.
pub fn promql_names(expr: &str) -> (Vec<String>, Vec<String>) {
    // Metric names are what remains once label selectors `{…}` and `by (…)` lists are removed.
    let mut bare = String::new();
    let mut depth = 0;
    for c in expr.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ if depth == 0 => bare.push(c),
            _ => {}
        }
    }
    while let Some(i) = bare.find("by (") {
        let end = bare[i..].find(')').map(|e| i + e + 1).unwrap_or(bare.len());
        bare.replace_range(i..end, "");
    }
    let mut metrics = Vec::new();
    for prefix in ["litellm_", "stackperf_"] {
        let mut rest = bare.as_str();
        while let Some(i) = rest.find(prefix) {
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            metrics.push(tail[..end].to_string());
            rest = &tail[end..];
        }
    }
    let mut labels = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find("by (") {
        let tail = &rest[i + 4..];
        let end = tail.find(')').unwrap_or(tail.len());
        labels.extend(
            tail[..end]
                .split(',')
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty() && l != "le"),
        );
        rest = &tail[end..];
    }
    (metrics, labels)
}

/// Every metric and `by` label the Grafana dashboards use is in `metrics_text` (LiteLLM's
/// `/metrics/` and StackPerf's edge metrics, concatenated).
pub fn check_dashboards_against(metrics_text: &str) {
    let samples: Vec<(&str, &str)> = metrics_text
        .lines()
        .filter(|l| l.starts_with("litellm_") || l.starts_with("stackperf_"))
        .map(|l| {
            let end = l.find(['{', ' ']).unwrap_or(l.len());
            (&l[..end], l)
        })
        .collect();
    let dir = workspace().join("configs/grafana/dashboards");
    let mut checked = 0;
    for file in files_under(&dir) {
        let d: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).expect("read"))
                .expect("dashboard JSON");
        let mut exprs: Vec<String> = d["panels"]
            .as_array()
            .expect("panels")
            .iter()
            .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
            .filter_map(|t| t["expr"].as_str().map(str::to_string))
            .collect();
        exprs.extend(
            d["templating"]["list"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v["query"].as_str().map(str::to_string)),
        );
        for expr in exprs {
            let (metrics, labels) = promql_names(&expr);
            for m in &metrics {
                assert!(
                    samples.iter().any(|(n, _)| n == m),
                    "{}: metric {m} is exposed neither by LiteLLM nor by StackPerf's edge",
                    file.display()
                );
                checked += 1;
            }
            for l in &labels {
                let found = samples.iter().any(|(n, line)| {
                    metrics.iter().any(|m| m == n) && line.contains(&format!("{l}=\""))
                });
                assert!(found, "{}: label {l} is not on {metrics:?}", file.display());
            }
        }
    }
    assert!(checked >= 10, "only {checked} metric references checked");
}
