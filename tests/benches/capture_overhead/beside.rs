//! A second LiteLLM beside the stack's: the same program, arguments and environment as the
//! stack's own (read from /proc), with its config changed by the caller — for side-by-side
//! comparisons of one change at a time.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use stackperf_e2e::{free_port, raw_request, StackEnv};

use crate::Proxy;

/// The stack's LiteLLM config as JSON (the file is JSON under comment lines; JSON is YAML).
fn stack_config(env: &StackEnv) -> Value {
    let path = env.data.path().join("stack/litellm/config.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let json: String = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    serde_json::from_str(&json).unwrap()
}

/// Starts LiteLLM `name` with the stack's config as `patch` leaves it, `extra_env` added to the
/// stack's environment and `extra_args` to its arguments; waits until it is healthy. Returns it
/// (killed on drop) and its port.
pub fn litellm_beside(
    env: &StackEnv,
    name: &str,
    patch: impl FnOnce(&mut Value),
    extra_env: &[(String, String)],
    extra_args: &[String],
) -> (Proxy, u16) {
    let mut config = stack_config(env);
    patch(&mut config);
    let path = env
        .data
        .path()
        .join(format!("stack/litellm/config-{name}.yaml"));
    std::fs::write(&path, config.to_string()).unwrap();
    let pid = env.service_pid("litellm");
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let argv: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    let port = free_port();
    let mut cmd = Command::new(&argv[0]);
    let mut i = 1;
    while i < argv.len() {
        match argv[i].as_str() {
            "--config" => {
                cmd.arg("--config").arg(&path);
                i += 2;
            }
            "--port" => {
                cmd.arg("--port").arg(port.to_string());
                i += 2;
            }
            other => {
                cmd.arg(other);
                i += 1;
            }
        }
    }
    cmd.args(extra_args);
    cmd.env_clear();
    cmd.envs(environ(pid));
    cmd.envs(extra_env.iter().map(|(k, v)| (k, v)));
    let log = std::fs::File::create(env.data.path().join(format!("litellm-{name}.log"))).unwrap();
    let proxy = Proxy {
        child: cmd
            .stdout(log.try_clone().unwrap())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap(),
    };
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let up = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && raw_request("GET", &url, "/health/liveliness", &[], b"").status == 200;
        if up {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "LiteLLM {name} did not become healthy"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    (proxy, port)
}

/// A process's environment (from /proc).
pub fn environ(pid: u32) -> Vec<(String, String)> {
    std::fs::read(format!("/proc/{pid}/environ"))
        .unwrap()
        .split(|b| *b == 0)
        .filter_map(|kv| {
            String::from_utf8_lossy(kv)
                .split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}
