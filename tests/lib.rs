//! Shared helpers for end-to-end tests: locate the real `stackperf` binary, start the real
//! simulator on a free loopback port, find the test Python environment.

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

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
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
}

impl Sim {
    /// Start the simulator on a free port with extra arguments.
    pub fn start(args: &[&str]) -> Sim {
        Sim::start_with_env(args, &[])
    }

    /// Start the simulator with extra arguments and environment variables.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Sim {
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
        Sim { child, base_url }
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
