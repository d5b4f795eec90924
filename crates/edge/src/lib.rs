//! StackPerf's edge: the loopback HTTP front every harness talks to, in front of LiteLLM.
//!
//! It only observes, authorizes and forwards (LiteLLM stays the single routing layer):
//! - times each request at the socket the harness talks to (arrival, first content, first
//!   visible answer text, gaps between deltas, last byte) by reading the SSE of all four surfaces;
//! - lets a session key reach only inference routes and its own variant's models, and answers
//!   every bad key with a 401 in the surface's own error format;
//! - writes its own record of every model call it accepted ([`record`]), keyed by a correlation id
//!   it sends to LiteLLM as `x-stackperf-request-id`, so a request LiteLLM never answered, or
//!   answered half, still becomes a row.

mod auth;
mod body;
pub mod metrics;
mod proxy;
pub mod record;
pub mod routes;
pub mod sse;
mod upstream;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

pub use auth::MAX_KEY_LEN;
pub use proxy::{EDGE_TOKEN_HEADER, HEALTH_PATH, REQUEST_ID_HEADER};
pub use record::{EdgeRecord, EdgeStart, Event, InstanceMark, Outcome, SpoolLine};

/// The edge's errors (start-up only: requests never fail, they get HTTP answers).
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    #[error("the edge listens on loopback addresses only; {0} is not one (use 127.0.0.1)")]
    NotLoopback(SocketAddr),
    #[error("cannot listen on {addr}: {source}. Is another program using the port?")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot open the edge spool {path}: {source}")]
    Spool {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// How to run the edge.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    pub listen: SocketAddr,
    /// LiteLLM's `host:port`.
    pub upstream: String,
    /// The session-key registry (JSON, hashes only).
    pub registry: PathBuf,
    /// Where the edge appends its records.
    pub spool: PathBuf,
    /// The master key (accepted for any model; inference routes only).
    pub master_key: Option<String>,
    /// Sent to LiteLLM as `x-stackperf-edge-token` (its auth hook trusts the correlation id only
    /// with it).
    pub edge_token: Option<String>,
    /// The bearer token that reads the edge's Prometheus metrics (without one they are not served).
    pub metrics_token: Option<String>,
    /// A gap between content deltas longer than this is a stall.
    pub stall_ms: f64,
}

/// Wall-clock time in Unix epoch seconds (the clock LiteLLM's records use too).
pub fn now_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Bind the listener (so the caller can report the address before serving).
pub async fn bind(cfg: &EdgeConfig) -> Result<tokio::net::TcpListener, EdgeError> {
    if !cfg.listen.ip().is_loopback() {
        return Err(EdgeError::NotLoopback(cfg.listen));
    }
    tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|source| EdgeError::Bind {
            addr: cfg.listen,
            source,
        })
}

/// Serve until `stop` resolves; then stop accepting, give open requests a moment, and flush the
/// spool.
pub async fn serve(
    cfg: EdgeConfig,
    listener: tokio::net::TcpListener,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), EdgeError> {
    let (sink, writer) = record::writer(cfg.spool.clone()).map_err(|source| EdgeError::Spool {
        path: cfg.spool.clone(),
        source,
    })?;
    let metrics = Arc::new(metrics::Metrics::default());
    let sink = sink.with_metrics(metrics.clone());
    let instance = new_instance_id();
    let mark = |at| record::InstanceMark {
        instance: instance.clone(),
        at,
        pid: Some(std::process::id()),
    };
    // Every request's start line is written after this, so ingest knows the instance.
    sink.event(record::Event::Up(mark(now_s())));
    let marks = sink.clone();
    let shared = Arc::new(proxy::Shared::new(&cfg, sink, metrics, instance.clone()));
    let conns = tokio_util_tracker();
    tokio::pin!(stop);
    loop {
        let (stream, _) = tokio::select! {
            _ = &mut stop => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let sh = shared.clone();
        let guard = conns.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| proxy::handle(sh.clone(), req));
            let _ = http1::Builder::new()
                .max_buf_size(8 << 20)
                .serve_connection(TokioIo::new(stream), svc)
                .await;
            drop(guard);
        });
    }
    drop(listener);
    drop(shared);
    // Open requests hold the sink; wait for them (bounded), then for the final sync.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while Arc::strong_count(&conns) > 1 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // After the last record this instance will write: a start line without its record is lost.
    marks.event(record::Event::Down(mark(now_s())));
    drop(marks);
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
    Ok(())
}

/// A random id for this edge process (the middle of its correlation ids).
fn new_instance_id() -> String {
    let mut b = [0u8; 6];
    let _ = getrandom::fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A counter of open connections (an `Arc` whose strong count is the number of clones alive).
fn tokio_util_tracker() -> Arc<()> {
    Arc::new(())
}
