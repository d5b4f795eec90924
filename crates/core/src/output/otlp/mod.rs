//! OTLP export (docs/team.md, "Sending spans to an OTLP backend"): each captured request as a
//! span in the GenAI semantic conventions, its session as the parent span, sent over OTLP/HTTP
//! (protobuf) by the `opentelemetry-otlp` exporter — live as rows are ingested, and as a
//! backfill (`stackperf export otlp`). Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set; `OTEL_EXPORTER_OTLP_HEADERS` carries a
//! backend's credentials (read by the exporter, never printed).
//!
//! A slow or dead endpoint never holds up ingest: spans go to a bounded queue that a thread of
//! its own drains; what does not fit is dropped and counted, what the endpoint refuses is
//! counted as failed. Both are shown (`stackperf doctor`, the end of a CLI command) and
//! nothing is lost from the store: a backfill sends it again.

pub mod client;
pub mod metrics;
pub mod settings;
pub mod spans;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::{SpanData, SpanExporter as _};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::Error;

/// Spans waiting to be sent at most; more are dropped (and counted).
pub const QUEUE_SPANS: usize = 20_000;
/// Spans per export request.
const BATCH: usize = 512;

/// Where spans go.
#[derive(Clone)]
pub struct OtlpConfig {
    /// The traces URL (`…/v1/traces`).
    pub endpoint: String,
    /// The metrics URL (`…/v1/metrics`).
    pub metrics_endpoint: String,
    /// Extra headers (a backend's credentials); the exporter also reads `OTEL_EXPORTER_OTLP_HEADERS`.
    pub headers: HashMap<String, String>,
    pub timeout: Duration,
}

impl std::fmt::Debug for OtlpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpConfig")
            .field("endpoint", &shown(&self.endpoint))
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl OtlpConfig {
    /// From the standard variables; `None` (export off) when neither endpoint variable is set.
    pub fn from_env() -> Option<OtlpConfig> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let base = var("OTEL_EXPORTER_OTLP_ENDPOINT");
        let under = |path: &str| {
            base.as_ref()
                .map(|b| format!("{}/v1/{path}", b.trim_end_matches('/')))
        };
        let endpoint = var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| under("traces"))?;
        let metrics_endpoint = var("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
            .or_else(|| under("metrics"))
            .unwrap_or_else(|| metrics_beside(&endpoint));
        Some(OtlpConfig {
            endpoint,
            metrics_endpoint,
            headers: HashMap::new(),
            timeout: Duration::from_secs(10),
        })
    }
}

/// The metrics URL beside a traces URL (`…/v1/traces` → `…/v1/metrics`).
pub fn metrics_beside(traces: &str) -> String {
    match traces.strip_suffix("/v1/traces") {
        Some(base) => format!("{base}/v1/metrics"),
        None => format!("{}/v1/metrics", traces.trim_end_matches('/')),
    }
}

/// The resource every span and metric is sent with.
pub(crate) fn resource() -> opentelemetry_sdk::Resource {
    opentelemetry_sdk::Resource::builder_empty()
        .with_service_name("stackperf")
        .build()
}

/// The endpoint as it may be shown: scheme, host, port and path (no credentials, no query).
pub fn shown(endpoint: &str) -> String {
    match url::Url::parse(endpoint) {
        Ok(u) => format!(
            "{}://{}{}{}",
            u.scheme(),
            u.host_str().unwrap_or(""),
            u.port().map(|p| format!(":{p}")).unwrap_or_default(),
            u.path()
        ),
        Err(_) => "(an endpoint that is not a URL)".into(),
    }
}

/// `text` without the endpoint's password (an error message may quote the URL).
pub fn redact(text: &str, endpoint: &str) -> String {
    let Some(password) = url::Url::parse(endpoint)
        .ok()
        .and_then(|u| u.password().map(str::to_string))
        .filter(|p| !p.is_empty())
    else {
        return text.to_string();
    };
    let decoded = percent_encoding::percent_decode_str(&password)
        .decode_utf8_lossy()
        .into_owned();
    let mut out = text.replace(&password, "***");
    if !decoded.is_empty() {
        out = out.replace(&decoded, "***");
    }
    out
}

/// What the export has done so far in this process.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct OtlpStatus {
    pub endpoint: String,
    /// Spans the endpoint accepted.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub sent: u64,
    /// Spans dropped because the queue was full (a slow or dead endpoint).
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub dropped: u64,
    /// Spans the endpoint refused or never answered for.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub failed: u64,
    /// Spans waiting to be sent.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub queued: u64,
    /// Flushes of the metrics the endpoint did not take.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub metric_flushes_failed: u64,
    /// The last export error, if any.
    pub last_error: Option<String>,
}

#[cfg(test)]
mod tests {
    /// Refused, not a panic: the exporter's runtime is let go without waiting (dropping it
    /// would panic on an async thread, where the desktop and the tests start the export).
    #[tokio::test]
    async fn an_endpoint_that_is_no_url_is_refused_on_an_async_thread() {
        let config = super::OtlpConfig {
            endpoint: "not a url at all".into(),
            metrics_endpoint: "not a url either".into(),
            headers: Default::default(),
            timeout: std::time::Duration::from_secs(1),
        };
        let e = super::Otlp::start(config).err().expect("refused");
        assert!(e.to_string().contains("OTLP endpoint"), "{e}");
    }

    #[test]
    fn an_endpoints_password_is_never_shown() {
        let e = "https://team:p%40ss+w0rd@otel.example:4318/v1/traces?token=x";
        assert_eq!(super::shown(e), "https://otel.example:4318/v1/traces");
        let msg = "error sending request for url (https://team:p%40ss+w0rd@otel.example) p@ss+w0rd";
        let r = super::redact(msg, e);
        assert!(!r.contains("p%40ss") && !r.contains("p@ss"), "{r}");
        assert_eq!(super::redact("no password", "http://h:1"), "no password");
    }
}

impl OtlpStatus {
    /// In words: where to, and what became of the spans.
    pub fn line(&self) -> String {
        format!(
            "to {}: {} spans sent, {} dropped (queue full), {} failed, {} queued{}{}",
            self.endpoint,
            self.sent,
            self.dropped,
            self.failed,
            self.queued,
            match self.metric_flushes_failed {
                0 => String::new(),
                n => format!(", {n} metric flushes failed"),
            },
            self.last_error
                .as_ref()
                .map(|e| format!("; last error: {e}"))
                .unwrap_or_default()
        )
    }
}

#[derive(Default)]
struct Stats {
    queued: AtomicUsize,
    sent: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
    metric_flushes_failed: AtomicU64,
    last_error: std::sync::Mutex<Option<String>>,
}

enum Msg {
    Spans(Vec<SpanData>),
    Flush(std::sync::mpsc::SyncSender<()>),
}

/// The process's export: absent when the environment configures none, else started or why not.
static GLOBAL: OnceLock<Option<Result<Arc<Otlp>, String>>> = OnceLock::new();
/// Exports started from StackPerf's settings in this process ([`Otlp::remember`]).
static FROM_SETTINGS: std::sync::Mutex<Vec<Arc<Otlp>>> = std::sync::Mutex::new(Vec::new());

/// The export queue and the thread that drains it.
pub struct Otlp {
    tx: mpsc::UnboundedSender<Msg>,
    stats: Arc<Stats>,
    endpoint: String,
    meters: metrics::Meters,
}

impl Otlp {
    /// Start exporting to `config` (a thread with its own runtime sends the spans).
    pub fn start(config: OtlpConfig) -> Result<Otlp, Error> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Internal(format!("OTLP runtime: {e}")))?;
        let (exporter, metric_exporter) = match exporters(rt.handle(), &config) {
            Ok(both) => both,
            Err(e) => {
                // Dropped without waiting: a runtime dropped on an async thread would panic.
                rt.shutdown_background();
                return Err(e);
            }
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let endpoint = config.endpoint.clone();
        let stats = Arc::new(Stats::default());
        let for_thread = stats.clone();
        std::thread::Builder::new()
            .name("stackperf-otlp".into())
            .spawn(move || rt.block_on(drain(exporter, rx, for_thread, endpoint)))
            .map_err(|e| Error::Internal(format!("OTLP thread: {e}")))?;
        Ok(Otlp {
            tx,
            stats,
            endpoint: shown(&config.endpoint),
            meters: metrics::Meters::new(metric_exporter),
        })
    }

    /// The process's export, when the environment configures one.
    pub fn global() -> Option<Arc<Otlp>> {
        GLOBAL
            .get_or_init(|| {
                let config = OtlpConfig::from_env()?;
                let endpoint = config.endpoint.clone();
                Some(Otlp::start(config).map(Arc::new).map_err(|e| {
                    let why = redact(&e.to_string(), &endpoint);
                    tracing::warn!("{why}");
                    why
                }))
            })
            .clone()?
            .ok()
    }

    /// Why the export the environment configures could not start (`None`: it started, or none
    /// is configured, or [`Otlp::global`] has not been asked yet).
    pub fn start_error() -> Option<String> {
        GLOBAL.get()?.as_ref()?.as_ref().err().cloned()
    }

    /// The process's export if one was started (nothing to flush otherwise).
    pub fn started() -> Option<Arc<Otlp>> {
        GLOBAL.get()?.as_ref()?.as_ref().ok().cloned()
    }

    /// Count `otlp` (started from StackPerf's settings) among this process's exports, which a
    /// host flushes before it exits ([`Otlp::all_started`]), until [`Otlp::forget`].
    pub fn remember(otlp: &Arc<Otlp>) {
        FROM_SETTINGS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(otlp.clone());
    }

    /// No longer count `otlp` (replaced by another; flushed by whoever replaced it).
    pub fn forget(otlp: &Arc<Otlp>) {
        FROM_SETTINGS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|o| !Arc::ptr_eq(o, otlp));
    }

    /// Every export started in this process: the environment's and the settings'.
    pub fn all_started() -> Vec<Arc<Otlp>> {
        let settings = FROM_SETTINGS.lock().unwrap_or_else(|e| e.into_inner());
        Otlp::started()
            .into_iter()
            .chain(settings.iter().cloned())
            .collect()
    }

    /// Queue spans; never waits. What does not fit in the queue is dropped and counted.
    pub fn send(&self, spans: Vec<SpanData>) {
        let n = spans.len();
        if n == 0 {
            return;
        }
        let before = self.stats.queued.fetch_add(n, Ordering::SeqCst);
        if before + n > QUEUE_SPANS || self.tx.send(Msg::Spans(spans)).is_err() {
            self.stats.queued.fetch_sub(n, Ordering::SeqCst);
            self.stats.dropped.fetch_add(n as u64, Ordering::SeqCst);
        }
    }

    /// A request's client metrics (sent every 10 s and on a flush).
    pub fn record(
        &self,
        r: &crate::store::spans::SpanRequest,
        s: &crate::store::spans::SpanSession,
    ) {
        self.meters.record(r, s);
    }

    /// Wait (up to `timeout`) until the spans queued before have been sent or have failed, and
    /// send the metrics recorded so far. Blocks: call it off an async runtime's threads.
    pub fn flush(&self, timeout: Duration) -> bool {
        let spans = self.flush_spans(timeout);
        if !self.meters.flush() {
            self.stats
                .metric_flushes_failed
                .fetch_add(1, Ordering::SeqCst);
        }
        spans
    }

    /// Wait (up to `timeout`) until the spans queued before have been sent or have failed.
    pub fn flush_spans(&self, timeout: Duration) -> bool {
        let (done, wait) = std::sync::mpsc::sync_channel(1);
        self.tx.send(Msg::Flush(done)).is_ok() && wait.recv_timeout(timeout).is_ok()
    }

    pub fn status(&self) -> OtlpStatus {
        OtlpStatus {
            endpoint: self.endpoint.clone(),
            sent: self.stats.sent.load(Ordering::SeqCst),
            dropped: self.stats.dropped.load(Ordering::SeqCst),
            failed: self.stats.failed.load(Ordering::SeqCst),
            queued: self.stats.queued.load(Ordering::SeqCst) as u64,
            metric_flushes_failed: self.stats.metric_flushes_failed.load(Ordering::SeqCst),
            last_error: self
                .stats
                .last_error
                .lock()
                .map(|e| e.clone())
                .unwrap_or(None),
        }
    }
}

/// The span and metric exporters for `config`, their requests run on `rt`.
fn exporters(
    rt: &tokio::runtime::Handle,
    config: &OtlpConfig,
) -> Result<
    (
        opentelemetry_otlp::SpanExporter,
        opentelemetry_otlp::MetricExporter,
    ),
    Error,
> {
    let http = reqwest::Client::builder()
        .timeout(config.timeout)
        .build()
        .map_err(|e| Error::Invalid(format!("OTLP: {e}")))?;
    let client = client::ReqwestClient {
        http,
        rt: rt.clone(),
    };
    let refused = |url: &str, e: &dyn std::fmt::Display| {
        Error::Invalid(format!(
            "OTLP endpoint {}: {}",
            shown(url),
            redact(&e.to_string(), url)
        ))
    };
    let spans = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client.clone())
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(config.endpoint.clone())
        .with_timeout(config.timeout)
        .with_headers(config.headers.clone())
        .build()
        .map_err(|e| refused(&config.endpoint, &e))?;
    let metrics = opentelemetry_otlp::MetricExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(config.metrics_endpoint.clone())
        .with_timeout(config.timeout)
        .with_headers(config.headers.clone())
        .build()
        .map_err(|e| refused(&config.metrics_endpoint, &e))?;
    Ok((spans, metrics))
}

/// Send what arrives, in batches, until every sender is gone.
async fn drain(
    mut exporter: opentelemetry_otlp::SpanExporter,
    mut rx: mpsc::UnboundedReceiver<Msg>,
    stats: Arc<Stats>,
    endpoint: String,
) {
    exporter.set_resource(&resource());
    let mut batch: Vec<SpanData> = Vec::new();
    while let Some(msg) = rx.recv().await {
        let mut flushes = Vec::new();
        let mut take = |m: Msg, batch: &mut Vec<SpanData>| match m {
            Msg::Spans(s) => batch.extend(s),
            Msg::Flush(done) => flushes.push(done),
        };
        take(msg, &mut batch);
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(m) => take(m, &mut batch),
                Err(_) => break,
            }
        }
        while !batch.is_empty() {
            let rest = batch.split_off(batch.len().min(BATCH));
            let chunk = std::mem::replace(&mut batch, rest);
            let n = chunk.len();
            match exporter.export(chunk).await {
                Ok(()) => {
                    stats.sent.fetch_add(n as u64, Ordering::SeqCst);
                }
                Err(e) => {
                    stats.failed.fetch_add(n as u64, Ordering::SeqCst);
                    if let Ok(mut last) = stats.last_error.lock() {
                        *last = Some(redact(&e.to_string(), &endpoint));
                    }
                }
            }
            stats.queued.fetch_sub(n, Ordering::SeqCst);
        }
        for done in flushes {
            let _ = done.try_send(());
        }
    }
}
