//! OTLP export as use cases (docs/team.md): spans of the rows an ingest stored, a session's own
//! span once it has ended, a backfill of an experiment, and the export's settings (the
//! desktop's Stack screen; the standard variables win when set).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::Serialize;

use super::App;
use crate::output::otlp::settings::{self, OtlpSettings, OtlpSource, HEADERS_SECRET};
use crate::output::otlp::{spans, Otlp, OtlpStatus, QUEUE_SPANS};
use crate::secrets::Secret;
use crate::store::model::RequestRow;
use crate::store::spans::SpanRequest;
use crate::Error;

/// What a backfill sent.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct OtlpBackfill {
    pub experiment: String,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub sessions: usize,
    /// Spans queued: one per session and one per request.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub spans: usize,
    /// The export's totals after it (this process).
    pub status: OtlpStatus,
}

/// The app's export: the environment's (given at start), else the one the settings configure,
/// started on first use (its headers come from the keychain, which is asked off the async
/// threads) and again after the settings change.
pub(super) struct Slot {
    current: RwLock<Option<Arc<Otlp>>>,
    /// Whether the settings were looked at (and the export, if any, started); held while starting.
    tried: tokio::sync::Mutex<bool>,
    /// Why the settings' export could not start.
    error: RwLock<Option<String>>,
}

impl Slot {
    pub(super) fn new(from_env: Option<Arc<Otlp>>) -> Slot {
        let tried = from_env.is_some() || settings::from_environment();
        Slot {
            current: RwLock::new(from_env),
            tried: tokio::sync::Mutex::new(tried),
            error: RwLock::new(None),
        }
    }

    /// An export given by the host (tests): the settings are not looked at.
    pub(super) fn fixed(otlp: Option<Arc<Otlp>>) -> Slot {
        Slot {
            current: RwLock::new(otlp),
            tried: tokio::sync::Mutex::new(true),
            error: RwLock::new(None),
        }
    }

    fn get(&self) -> Option<Arc<Otlp>> {
        self.current
            .read()
            .map(|c| c.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    fn set(&self, otlp: Option<Arc<Otlp>>) -> Option<Arc<Otlp>> {
        let mut c = self.current.write().unwrap_or_else(|e| e.into_inner());
        std::mem::replace(&mut *c, otlp)
    }

    fn set_error(&self, error: Option<String>) {
        *self.error.write().unwrap_or_else(|e| e.into_inner()) = error;
    }

    fn error(&self) -> Option<String> {
        self.error
            .read()
            .map(|e| e.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }
}

/// The doctor's line on OTLP export: off, or where spans go and what has not arrived.
pub(super) fn check(status: Option<OtlpStatus>) -> super::Check {
    let Some(s) = status else {
        return super::Check {
            name: "otlp export".into(),
            ok: true,
            detail: "off (set OTEL_EXPORTER_OTLP_ENDPOINT, or the desktop's OTLP export on the Stack screen, to send spans to a collector)".into(),
            fix: String::new(),
        };
    };
    let lost = s.dropped + s.failed;
    super::Check {
        name: "otlp export".into(),
        ok: lost == 0,
        detail: s.line(),
        fix: if lost == 0 {
            String::new()
        } else {
            "check the endpoint (and OTEL_EXPORTER_OTLP_HEADERS), then `stackperf export otlp --experiment E` sends what did not arrive".into()
        },
    }
}

impl App {
    /// The export's totals in this process; `None` when export is off (or not started yet).
    pub fn otlp_status(&self) -> Option<OtlpStatus> {
        self.otlp.get().map(|o| o.status())
    }

    /// The export in use, if any: the environment's, else the settings' (started on first use).
    pub(super) async fn otlp(&self) -> Option<Arc<Otlp>> {
        let mut tried = self.otlp.tried.lock().await;
        if !*tried {
            *tried = true;
            let started = self.otlp_from_settings().await;
            self.otlp.set_error(started.as_ref().err().cloned());
            self.otlp.set(started.ok().flatten());
        }
        self.otlp.get()
    }

    /// The export the saved settings configure (`Ok(None)`: none saved). The reason it could
    /// not start never quotes a header value.
    async fn otlp_from_settings(&self) -> Result<Option<Arc<Otlp>>, String> {
        let Some(endpoint) =
            settings::saved_endpoint(&self.paths.data_dir).map_err(|e| e.to_string())?
        else {
            return Ok(None);
        };
        let headers = match self
            .keychain(|s| Ok(s.resolve(HEADERS_SECRET)?.map(|(v, _)| v)))
            .await
        {
            Ok(Some(h)) => settings::parse_headers(h.expose()).map_err(|e| e.to_string())?,
            Ok(None) => Default::default(),
            Err(e) => return Err(format!("the OTLP headers could not be read: {e}")),
        };
        let otlp =
            Arc::new(Otlp::start(settings::config(&endpoint, headers)).map_err(|e| e.to_string())?);
        Otlp::remember(&otlp);
        Ok(Some(otlp))
    }

    /// The export's settings and state (the desktop's OTLP export panel).
    pub async fn otlp_settings(&self) -> OtlpSettings {
        let current = self.otlp().await;
        let (saved_endpoint, file_error) = match settings::saved_endpoint(&self.paths.data_dir) {
            Ok(e) => (e, None),
            Err(e) => (None, Some(e.to_string())),
        };
        let headers_saved = self
            .keychain(|s| s.list(&[(HEADERS_SECRET.to_string(), Vec::new())]))
            .await
            .ok()
            .and_then(|l| l.first().map(|i| i.in_keychain))
            .unwrap_or(false);
        let env = settings::from_environment();
        OtlpSettings {
            endpoint: current.as_ref().map(|o| o.status().endpoint),
            source: current.as_ref().map(|_| {
                if env {
                    OtlpSource::Environment
                } else {
                    OtlpSource::Settings
                }
            }),
            saved_endpoint,
            headers_saved,
            status: current.map(|o| o.status()),
            error: if env {
                Otlp::start_error()
            } else {
                self.otlp.error().or(file_error)
            },
        }
    }

    /// Save the export's endpoint (`None` or empty: off) and, when given, the backend's headers
    /// (`key=value,…`, kept in the keychain; empty: removed), then restart the export from them —
    /// unless the standard variables configure it (they win; the settings are still saved).
    pub async fn otlp_configure(
        &self,
        endpoint: Option<String>,
        headers: Option<Secret>,
    ) -> Result<OtlpSettings, crate::Error> {
        let endpoint = endpoint.filter(|e| !e.trim().is_empty());
        if let Some(problem) = endpoint.as_deref().and_then(settings::endpoint_problem) {
            return Err(crate::Error::Invalid(format!("OTLP endpoint: {problem}")));
        }
        if let Some(h) = &headers {
            settings::parse_headers(h.expose())?;
        }
        settings::save_endpoint(&self.paths.data_dir, endpoint.as_deref())?;
        match headers {
            Some(h) if h.expose().trim().is_empty() => {
                self.keychain(|s| s.delete(HEADERS_SECRET).map(|_| ()))
                    .await?
            }
            Some(h) => self.keychain(move |s| s.set(HEADERS_SECRET, h)).await?,
            None => {}
        }
        if !settings::from_environment() {
            let mut tried = self.otlp.tried.lock().await;
            if let Some(old) = self.otlp.set(None) {
                Otlp::forget(&old);
                // What the old endpoint still had queued goes out before it is dropped.
                let _ =
                    tokio::task::spawn_blocking(move || old.flush(Duration::from_secs(5))).await;
            }
            self.otlp.set_error(None);
            *tried = false;
        }
        Ok(self.otlp_settings().await)
    }

    /// Wait (up to `timeout`) for queued spans to be sent; the totals after. A host calls it
    /// before it exits.
    pub async fn otlp_flush(&self, timeout: Duration) -> Option<OtlpStatus> {
        let otlp = self.otlp.get()?;
        let o = otlp.clone();
        let _ = tokio::task::spawn_blocking(move || o.flush(timeout)).await;
        Some(otlp.status())
    }

    /// Spans of rows an ingest just stored (each the child of its session's span). Never waits
    /// on the endpoint; a session that cannot be read is skipped (a backfill sends it).
    pub(super) async fn otlp_rows(&self, rows: &[RequestRow]) {
        if rows.is_empty() || self.otlp().await.is_none() {
            return;
        }
        let mut by: BTreeMap<&str, Vec<SpanRequest>> = BTreeMap::new();
        for r in rows {
            if let Some(s) = r.session_id.as_deref() {
                by.entry(s).or_default().push(SpanRequest::from(r));
            }
        }
        for (id, reqs) in by {
            self.otlp_requests(id, &reqs).await;
        }
    }

    async fn otlp_requests(&self, session_id: &str, reqs: &[SpanRequest]) {
        let Some(otlp) = self.otlp().await else {
            return;
        };
        let Ok(store) = self.store().await else {
            return;
        };
        match store.span_session(session_id).await {
            Ok(Some(s)) => {
                reqs.iter().for_each(|r| otlp.record(r, &s));
                otlp.send(reqs.iter().map(|r| spans::request_span(r, &s)).collect())
            }
            Ok(None) => {}
            Err(e) => tracing::warn!("OTLP: session {session_id}: {e}"),
        }
    }

    /// A session's own span, once it has ended.
    pub(super) async fn otlp_session(&self, session_id: &str) {
        let Some(otlp) = self.otlp().await else {
            return;
        };
        let Ok(store) = self.store().await else {
            return;
        };
        match store.span_session(session_id).await {
            Ok(Some(s)) => otlp.send(vec![spans::session_span(&s)]),
            Ok(None) => {}
            Err(e) => tracing::warn!("OTLP: session {session_id}: {e}"),
        }
    }

    /// Send every session of `experiment` and its requests (`stackperf export otlp`), waiting
    /// for the queue to make room as it goes and for the last span to be sent.
    pub async fn export_otlp(&self, experiment: &str) -> Result<OtlpBackfill, Error> {
        let otlp = self.otlp().await.ok_or_else(|| match Otlp::start_error().or(self.otlp.error()) {
            Some(why) => Error::Invalid(format!(
                "OTLP export could not start: {why}. Check OTEL_EXPORTER_OTLP_ENDPOINT (e.g. http://localhost:4318) and OTEL_EXPORTER_OTLP_HEADERS"
            )),
            None => Error::Invalid(
                "OTLP export is off: set OTEL_EXPORTER_OTLP_ENDPOINT (e.g. http://localhost:4318) and, for a backend that needs credentials, OTEL_EXPORTER_OTLP_HEADERS (or set both in the desktop's OTLP export, on the Stack screen)".into(),
            ),
        })?;
        self.registry()?.experiment_or_err(experiment)?;
        let store = self.store().await?;
        let sessions = store.span_sessions(experiment).await?;
        let mut count = 0;
        for s in &sessions {
            let mut batch = vec![spans::session_span(s)];
            for r in store.span_requests(&s.session_id).await? {
                otlp.record(&r, s);
                batch.push(spans::request_span(&r, s));
            }
            count += batch.len();
            while otlp.status().queued as usize + batch.len() > QUEUE_SPANS {
                let o = otlp.clone();
                let sent =
                    tokio::task::spawn_blocking(move || o.flush_spans(Duration::from_secs(30)))
                        .await
                        .unwrap_or(false);
                if !sent {
                    break; // the endpoint is stuck: what does not fit is dropped and counted
                }
            }
            otlp.send(batch);
        }
        let o = otlp.clone();
        let _ = tokio::task::spawn_blocking(move || o.flush(Duration::from_secs(60))).await;
        Ok(OtlpBackfill {
            experiment: experiment.to_string(),
            sessions: sessions.len(),
            spans: count,
            status: otlp.status(),
        })
    }
}
