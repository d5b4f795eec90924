//! Sessions from the desktop: start, environment, the live panel (counts and per-request charts
//! straight from the store), finalize, and the capture tailer that keeps the store current.

use serde::{Deserialize, Serialize};

use super::{App, CaptureFailure, CapturePass, Events};
use crate::capture::{self, CollectReport};
use crate::config::{Registry, RenderFormat};
use crate::normalize::{model_index, RequestRow};
use crate::render::Rendered;
use crate::report::{self, SessionStats};
use crate::session::{CreateSession, FinalStatus, SessionRow};
pub use crate::store::edge_events::EdgeHealth;
pub use crate::store::RequestBrief;
use crate::timestamp::Timestamp;
use crate::{paths, Error};

/// What the Session screen's start button sends.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct StartSession {
    pub experiment: String,
    pub variant: String,
    pub task_card: String,
    pub label: Option<String>,
    pub exploratory: bool,
    /// Keep the harness's own state in the session folder (see `Choices::isolation`).
    #[serde(default)]
    pub isolate: bool,
}

/// A session's environment for display: the key's value is never in here (copying happens on
/// the Rust side, see [`App::session_env_text`]).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct EnvView {
    pub session_id: String,
    pub format: RenderFormat,
    pub default_format: RenderFormat,
    /// The environment in `format`, with the key replaced by a placeholder.
    pub text: String,
    /// Files written into the session directory, `(path, content)`; they name the key's
    /// variable, never its value.
    pub files: Vec<(String, String)>,
    pub launch_command: Option<String>,
    pub launch_checks: Vec<String>,
    pub api_key_env: String,
}

/// What finalizing did.
#[derive(Debug, Clone, Serialize)]
pub struct Finalized {
    pub session: SessionRow,
    /// The ingest pass that followed (None when it failed: see `collect_error`).
    pub collected: Option<CollectReport>,
    pub collect_error: Option<String>,
}

/// A page of a session's requests for the live panel: the rows stored or updated since the
/// previous page, and the cursor to ask for the next one (rows already shown may come again,
/// updated — LiteLLM's line lands a moment after the edge's: replace them by `request_id`).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct RequestsPage {
    pub rows: Vec<RequestBrief>,
    pub cursor: Option<Timestamp>,
    /// The edge's outages during the session and the requests they cost.
    pub edge: EdgeHealth,
}

impl App {
    /// Register a session, issue its key, write its files; returns the session and its
    /// environment (redacted) in the harness's own format.
    pub async fn session_start(&self, req: StartSession) -> Result<(SessionRow, EnvView), Error> {
        let (row, rendered) = self
            .session_create(&CreateSession {
                experiment: req.experiment,
                variant: req.variant,
                task_card: req.task_card,
                harness: None,
                label: req.label,
                exploratory: req.exploratory,
                isolate: req.isolate,
            })
            .await?;
        let view = env_view(&row.session_id, &rendered, rendered.default_format);
        Ok((row, view))
    }

    /// Register a session and issue its key; the rendered environment holds the key's value
    /// (for a terminal the operator controls — never send it to a web view).
    pub async fn session_create(
        &self,
        req: &CreateSession,
    ) -> Result<(SessionRow, Rendered), Error> {
        let reg = self.registry()?;
        let mut req = req.clone();
        req.label = req.label.filter(|l| !l.trim().is_empty());
        let (row, rendered) = self.sessions().await?.create(&reg, &req).await?;
        let limit = reg
            .task_card(&req.task_card)
            .map(|t| f64::from(t.session_timebox_minutes) * 60.0);
        self.record_environment(&row.session_id, limit).await?;
        Ok((row, rendered))
    }

    /// Record the environment a session begins in (docs/runs.md, "Environment"): this machine,
    /// its load, the other sessions active beside it and the time limit.
    pub(crate) async fn record_environment(
        &self,
        id: &str,
        time_limit_s: Option<f64>,
    ) -> Result<(), Error> {
        let store = self.store().await?;
        let others = store.active_sessions().await?.saturating_sub(1);
        let env = tokio::task::spawn_blocking(move || {
            crate::machine::Environment::now(others, time_limit_s)
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
        store.set_environment(id, &env).await
    }

    /// An active session's environment with its key (rewriting its files), for a terminal.
    pub async fn session_rendered(&self, id: &str) -> Result<Rendered, Error> {
        let reg = self.registry()?;
        self.sessions().await?.env(&reg, id).await
    }

    /// One session and its request statistics (none before its first request).
    pub async fn session_show(
        &self,
        id: &str,
    ) -> Result<(SessionRow, Option<SessionStats>), Error> {
        let s = self.sessions().await?.get(id).await?;
        let stats = report::session_stats(self.store().await?, &s.experiment)
            .await?
            .into_iter()
            .find(|x| x.session_id == s.session_id);
        Ok((s, stats))
    }

    /// The edge's outages while the session ran and the requests it lost to them.
    pub async fn session_edge_health(&self, id: &str) -> Result<EdgeHealth, Error> {
        let s = self.sessions().await?.get(id).await?;
        let mut h = self
            .store()
            .await?
            .edge_health(&s.session_id, s.created_at, s.ended_at)
            .await?;
        h.restarts = crate::stack::journal::read(
            &self.paths.data_dir.join("stack"),
            s.created_at,
            s.ended_at,
        );
        h.summary = h.sentence();
        Ok(h)
    }

    /// An active session's environment (redacted) in `format` (default: the harness's).
    pub async fn session_env(
        &self,
        id: &str,
        format: Option<RenderFormat>,
    ) -> Result<EnvView, Error> {
        let rendered = self.session_rendered(id).await?;
        let fmt = format.unwrap_or(rendered.default_format);
        Ok(env_view(id, &rendered, fmt))
    }

    /// The environment *with* the key, for the clipboard. Never send this to a web view.
    pub async fn session_env_text(
        &self,
        id: &str,
        format: Option<RenderFormat>,
    ) -> Result<String, Error> {
        let rendered = self.session_rendered(id).await?;
        Ok(rendered.format(format.unwrap_or(rendered.default_format)))
    }

    /// Sessions, newest first.
    pub async fn sessions_list(&self, experiment: Option<&str>) -> Result<Vec<SessionRow>, Error> {
        self.sessions().await?.list(experiment).await
    }

    /// End a session: revoke its key and record the result first (never held up by the
    /// capture), then take in what the proxy captured. A failed ingest is reported, not fatal:
    /// the session is final and its rows arrive with the next collect.
    pub async fn session_finalize(
        &self,
        id: &str,
        status: FinalStatus,
        outcome: Option<&str>,
        notes: Option<&str>,
    ) -> Result<Finalized, Error> {
        let session = self
            .sessions()
            .await?
            .finalize(id, status, nonempty(outcome), nonempty(notes))
            .await?;
        if let Some(load) = crate::machine::load_average() {
            self.store().await?.set_environment_end(id, load).await?;
        }
        let (collected, collect_error) = match self.ingest_now().await {
            Ok(r) => (Some(r), None),
            Err(e) => (None, Some(e.to_string())),
        };
        self.otlp_session(id).await;
        // The count as of now (the rows the ingest just stored included).
        let session = self.sessions().await?.get(id).await.unwrap_or(session);
        Ok(Finalized {
            session,
            collected,
            collect_error,
        })
    }

    /// Take in what is pending, then bring the session rollups of `experiment` (default: every
    /// configured experiment) up to date; how many rollups each recomputed.
    pub async fn rollup(
        &self,
        experiment: Option<&str>,
    ) -> Result<(CollectReport, Vec<(String, usize)>), Error> {
        let collected = self.ingest_now().await?;
        let names: Vec<String> = match experiment {
            Some(e) => vec![e.to_string()],
            None => self
                .registry()?
                .experiments
                .iter()
                .map(|l| l.value.name.clone())
                .collect(),
        };
        let mut per = Vec::new();
        for name in names {
            let n = report::rollup(self.store().await?, &name).await?;
            per.push((name, n));
        }
        Ok((collected, per))
    }

    /// The capture spool this app ingests.
    pub fn spool_path(&self) -> std::path::PathBuf {
        paths::spool(&self.paths.data_dir)
    }

    /// One ingest pass over the capture spool.
    pub async fn ingest_now(&self) -> Result<CollectReport, Error> {
        let (reg, _) = Registry::load(&self.paths.config_dir);
        let mut rows = Vec::new();
        let report = capture::collect_into(
            self.store().await?,
            &paths::spool(&self.paths.data_dir),
            &model_index(&reg),
            self.otlp().await.is_some().then_some(&mut rows),
            crate::ingest::rotate::rotate_bytes(),
        )
        .await?;
        self.otlp_rows(&rows).await;
        Ok(report)
    }

    /// Tail the capture spool until `stop` resolves, handing each pass to `on_pass`.
    pub async fn follow_capture<F, S>(&self, on_pass: F, stop: S) -> Result<(), Error>
    where
        F: FnMut(&CollectReport, &[RequestRow]),
        S: std::future::Future<Output = ()>,
    {
        let (reg, _) = Registry::load(&self.paths.config_dir);
        // Each pass's rows become spans beside the tail (store reads, never the endpoint), to
        // the export in use when they arrive (the settings may start one while the tail runs).
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<RequestRow>>();
        let mut on_pass = on_pass;
        let on_pass = move |report: &CollectReport, rows: &[RequestRow]| {
            if !rows.is_empty() {
                let _ = tx.send(rows.to_vec());
            }
            on_pass(report, rows)
        };
        let spans = async {
            while let Some(rows) = rx.recv().await {
                self.otlp_rows(&rows).await;
            }
        };
        let (spool, models) = (paths::spool(&self.paths.data_dir), model_index(&reg));
        let follow = capture::follow(
            self.store().await?,
            &spool,
            &models,
            std::time::Duration::from_millis(500),
            on_pass,
            stop,
        );
        let (ended, ()) = tokio::join!(follow, spans);
        ended
    }

    /// Keep the store current for the app's lifetime: tail the capture spool, telling `events`
    /// of each stored batch; on a failure tell it too and start again two seconds later (the
    /// cursor is in the database, so nothing is lost or stored twice). Never returns.
    pub async fn run_tailer(&self, events: &dyn Events) {
        loop {
            let on_pass = |report: &CollectReport, rows: &[RequestRow]| {
                events.capture(CapturePass::of(report, rows));
            };
            if let Err(e) = self.follow_capture(on_pass, std::future::pending()).await {
                events.capture_error(CaptureFailure::from(&e));
            }
            // Back off before retrying a failed tailer (not synchronisation).
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        }
    }

    /// Every request of a session in arrival order (the drill-down).
    pub async fn session_requests(&self, id: &str) -> Result<Vec<RequestBrief>, Error> {
        Ok(self.session_requests_since(id, None).await?.rows)
    }

    /// A session's requests stored or changed after `since` (all with `None`), in arrival order:
    /// the live panel appends these instead of reloading the session. (`ingested_at` is written
    /// per batch with sub-millisecond precision, so a later batch is strictly after the cursor.)
    pub async fn session_requests_since(
        &self,
        id: &str,
        since: Option<Timestamp>,
    ) -> Result<RequestsPage, Error> {
        let (rows, cursor) = self.store().await?.requests_since(id, since).await?;
        let edge = self.session_edge_health(id).await?;
        Ok(RequestsPage { rows, cursor, edge })
    }
}

fn nonempty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

fn env_view(id: &str, rendered: &Rendered, fmt: RenderFormat) -> EnvView {
    let redacted = rendered.redacted();
    EnvView {
        session_id: id.to_string(),
        format: fmt,
        default_format: rendered.default_format,
        text: redacted.format(fmt),
        files: redacted
            .files
            .iter()
            .map(|f| (f.path.display().to_string(), f.content.clone()))
            .collect(),
        launch_command: rendered.launch_command.clone(),
        launch_checks: rendered.launch_checks.clone(),
        api_key_env: rendered.api_key_env.clone(),
    }
}
