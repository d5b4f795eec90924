//! `stackperf edge serve`: StackPerf's own front in front of LiteLLM (the stack starts it).

use std::path::PathBuf;

use clap::Args;
use serde_json::json;
use stackperf_edge::{EdgeConfig, EdgeError};

use crate::sim_cmd::shutdown_signal;
use crate::{CliError, Global};

/// Flags of `edge serve`.
#[derive(Args, Debug)]
pub struct EdgeServeArgs {
    /// Loopback address to listen on (port 0 picks a free port)
    #[arg(long, default_value = "127.0.0.1:4100", value_name = "HOST:PORT")]
    listen: String,
    /// LiteLLM's address
    #[arg(long, default_value = "127.0.0.1:4000", value_name = "HOST:PORT")]
    upstream: String,
    /// The session-key registry [default: <data dir>/keys/registry.json]
    #[arg(long, value_name = "FILE")]
    registry: Option<PathBuf>,
    /// Where to append the edge's request records [default: <data dir>/capture/edge.jsonl]
    #[arg(long, value_name = "FILE")]
    spool: Option<PathBuf>,
    /// A gap between streamed deltas longer than this counts as a stall
    #[arg(long, default_value_t = 1000.0, value_name = "MS")]
    stall_ms: f64,
    /// Accept the master key held in this environment variable (for any model)
    #[arg(long, value_name = "NAME")]
    master_key_env: Option<String>,
    /// Send LiteLLM the token held in this environment variable (its auth hook then trusts the
    /// edge's correlation id)
    #[arg(long, value_name = "NAME")]
    edge_token_env: Option<String>,
    /// Serve the Prometheus metrics to requests bearing the token held in this environment
    /// variable (without it, no metrics are served)
    #[arg(long, value_name = "NAME")]
    metrics_token_env: Option<String>,
}

/// One thread for the proxy path: a frame read from LiteLLM is written to the client without a
/// cross-thread wake-up (measured on 2 cores, edge vs direct, p50 added to the end of a stream:
/// 0.42 ms with the multi-thread runtime, 0.25 ms with this one). The spool writer runs on its own
/// blocking thread.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Output)
}

pub async fn serve(g: &Global, a: EdgeServeArgs) -> Result<(), CliError> {
    let listen = a.listen.parse().map_err(|_| {
        CliError::Usage(format!(
            "--listen {}: expected HOST:PORT, e.g. 127.0.0.1:4100",
            a.listen
        ))
    })?;
    let data = stackperf_core::paths::data_dir()?;
    let from_env = |flag: &str, name: Option<String>| match name {
        Some(name) => std::env::var(&name)
            .map(Some)
            .map_err(|_| CliError::Usage(format!("{flag} {name}: the variable is not set"))),
        None => Ok(None),
    };
    let master_key = from_env("--master-key-env", a.master_key_env)?;
    let edge_token = from_env("--edge-token-env", a.edge_token_env)?;
    let metrics_token = from_env("--metrics-token-env", a.metrics_token_env)?;
    if !(a.stall_ms.is_finite() && a.stall_ms > 0.0) {
        return Err(CliError::Usage(
            "--stall-ms must be a positive number".into(),
        ));
    }
    let cfg = EdgeConfig {
        listen,
        upstream: a.upstream,
        registry: a
            .registry
            .unwrap_or_else(|| stackperf_core::paths::key_registry(&data)),
        spool: a
            .spool
            .unwrap_or_else(|| stackperf_core::paths::edge_spool(&data)),
        master_key,
        edge_token,
        metrics_token,
        stall_ms: a.stall_ms,
    };
    let listener = stackperf_edge::bind(&cfg).await.map_err(edge_err)?;
    let addr = listener.local_addr()?;
    if g.json {
        println!("{}", json!({"listening": format!("http://{addr}")}));
    } else {
        println!(
            "stackperf edge listening on http://{addr}, forwarding to http://{}; records in {}",
            cfg.upstream,
            cfg.spool.display()
        );
    }
    stackperf_edge::serve(cfg, listener, shutdown_signal())
        .await
        .map_err(edge_err)
}

fn edge_err(e: EdgeError) -> CliError {
    match e {
        EdgeError::NotLoopback(_) | EdgeError::Bind { .. } => CliError::Usage(e.to_string()),
        EdgeError::Spool { .. } => CliError::Edge(e.to_string()),
    }
}
