//! OTLP export as use cases (docs/team.md): spans of the rows an ingest stored, a session's own
//! span once it has ended, and a backfill of an experiment.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::App;
use crate::output::otlp::{spans, Otlp, OtlpStatus, QUEUE_SPANS};
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

/// The doctor's line on OTLP export: off, or where spans go and what has not arrived.
pub(super) fn check(status: Option<OtlpStatus>) -> super::Check {
    let Some(s) = status else {
        return super::Check {
            name: "otlp export".into(),
            ok: true,
            detail: "off (set OTEL_EXPORTER_OTLP_ENDPOINT to send spans to a collector)".into(),
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
    /// The export's totals in this process; `None` when export is off.
    pub fn otlp_status(&self) -> Option<OtlpStatus> {
        self.otlp.as_ref().map(|o| o.status())
    }

    /// Wait (up to `timeout`) for queued spans to be sent; the totals after. A host calls it
    /// before it exits.
    pub async fn otlp_flush(&self, timeout: Duration) -> Option<OtlpStatus> {
        let otlp = self.otlp.clone()?;
        let o = otlp.clone();
        let _ = tokio::task::spawn_blocking(move || o.flush(timeout)).await;
        Some(otlp.status())
    }

    /// Spans of rows an ingest just stored (each the child of its session's span). Never waits
    /// on the endpoint; a session that cannot be read is skipped (a backfill sends it).
    pub(super) async fn otlp_rows(&self, rows: &[RequestRow]) {
        if self.otlp.is_none() || rows.is_empty() {
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
        let Some(otlp) = &self.otlp else { return };
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
        let Some(otlp) = &self.otlp else { return };
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
        let otlp = self.otlp.clone().ok_or_else(|| match Otlp::start_error() {
            Some(why) => Error::Invalid(format!(
                "OTLP export could not start: {why}. Check OTEL_EXPORTER_OTLP_ENDPOINT (e.g. http://localhost:4318) and OTEL_EXPORTER_OTLP_HEADERS"
            )),
            None => Error::Invalid(
                "OTLP export is off: set OTEL_EXPORTER_OTLP_ENDPOINT (e.g. http://localhost:4318) and, for a backend that needs credentials, OTEL_EXPORTER_OTLP_HEADERS".into(),
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
