//! StackPerf's edge as a stack service: how both runtimes start it (natively, in front of
//! whichever LiteLLM runs), and the record the Compose runtime keeps of it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::litellm_config::{EDGE_TOKEN_ENV, METRICS_TOKEN_ENV};
use super::native::ServiceRecord;
use super::process::{self, alive, runs, terminate_group};
use super::ServiceState;
use super::{ServiceStatus, StackOptions, StackSecrets};
use crate::secrets::MASTER_KEY;
use crate::{io_err, Error, APP_VERSION};
use stackperf_contract::Service;

/// The command line of `stackperf edge serve` in front of LiteLLM on `litellm_port`, and the
/// secrets it reads from its environment (the master key, the edge token shared with LiteLLM,
/// the metrics token Prometheus presents).
pub fn command(
    data: &Path,
    edge_port: u16,
    litellm_port: u16,
    secrets: &StackSecrets,
) -> (Vec<String>, Vec<(String, String)>) {
    let args = vec![
        "edge".to_string(),
        "serve".to_string(),
        "--listen".to_string(),
        format!("127.0.0.1:{edge_port}"),
        "--upstream".to_string(),
        format!("127.0.0.1:{litellm_port}"),
        "--registry".to_string(),
        crate::paths::key_registry(data).display().to_string(),
        "--spool".to_string(),
        crate::paths::edge_spool(data).display().to_string(),
        "--master-key-env".to_string(),
        MASTER_KEY.to_string(),
        "--edge-token-env".to_string(),
        EDGE_TOKEN_ENV.to_string(),
        "--metrics-token-env".to_string(),
        METRICS_TOKEN_ENV.to_string(),
    ];
    let env = [
        (MASTER_KEY, &secrets.master_key),
        (EDGE_TOKEN_ENV, &secrets.edge_token),
        (METRICS_TOKEN_ENV, &secrets.metrics_token),
    ]
    .map(|(k, v)| (k.to_string(), v.expose().to_string()))
    .to_vec();
    (args, env)
}

/// The record the Compose runtime keeps of its (native) edge.
fn record_path(data_dir: &Path) -> PathBuf {
    data_dir.join("stack").join("compose").join("edge.json")
}

/// Start the edge for the Compose runtime and wait until it listens (it starts in well under a
/// second; LiteLLM is already healthy by then). Blocking, like the rest of the Compose runtime.
pub fn start_for_compose(
    opts: &StackOptions,
    secrets: &StackSecrets,
) -> Result<ServiceRecord, Error> {
    let (args, env) = command(&opts.data_dir, opts.ports.edge, opts.ports.litellm, secrets);
    let dir = opts.data_dir.join("stack");
    let log = dir.join("logs").join("edge.log");
    let pid = process::spawn(&opts.stackperf_bin, &args, &env, &dir, &log)?;
    let rec = ServiceRecord {
        name: Service::Edge,
        pid,
        port: opts.ports.edge,
        url: format!("http://127.0.0.1:{}", opts.ports.edge),
        health_path: stackperf_contract::wire::HEALTH_PATH.into(),
        log: log.clone(),
        version: Some(APP_VERSION.to_string()),
        marker: "edge serve".into(),
    };
    for _ in 0..200 {
        if process::port_listening(rec.port) {
            let text = serde_json::to_string_pretty(&rec).unwrap_or_default();
            std::fs::write(record_path(&opts.data_dir), text)
                .map_err(io_err("write the Compose edge record"))?;
            return Ok(rec);
        }
        if !alive(pid) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(Error::ServiceFailed {
        service: Service::Edge,
        message: "StackPerf's edge did not start".into(),
        log: log.clone(),
        tail: process::tail(&log, 20),
    })
}

/// The Compose runtime's edge, if one was started.
pub fn compose_record(data_dir: &Path) -> Option<ServiceRecord> {
    serde_json::from_str(&std::fs::read_to_string(record_path(data_dir)).ok()?).ok()
}

/// Stop the Compose runtime's edge (SIGTERM to its group, then SIGKILL) and forget it.
pub fn stop_for_compose(data_dir: &Path) {
    if let Some(rec) = compose_record(data_dir) {
        if alive(rec.pid) && runs(rec.pid, &rec.marker) {
            terminate_group(rec.pid, Duration::from_secs(10));
        }
    }
    let _ = std::fs::remove_file(record_path(data_dir));
}

/// The Compose runtime's edge as a status row.
pub fn compose_status(data_dir: &Path) -> Option<ServiceStatus> {
    let rec = compose_record(data_dir)?;
    let running = alive(rec.pid) && runs(rec.pid, &rec.marker);
    Some(ServiceStatus {
        name: rec.name,
        state: if running {
            ServiceState::Running
        } else {
            ServiceState::Stale
        },
        url: Some(rec.url),
        healthy: running,
        version: rec.version,
        pid: Some(rec.pid),
        container: None,
        log: Some(rec.log),
        detail: (!running).then(|| "recorded as started but not running; `stackperf stack up --runtime compose` restarts it".to_string()),
    })
}
