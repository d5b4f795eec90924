//! The stack use cases: its state as the Stack screen shows it, bringing it up and down (native
//! or Compose), the sessions a stop would cut off, its services' logs.

use std::path::PathBuf;

use serde::Serialize;

use super::{App, Events, Quiet};
use crate::config::Registry;
use crate::stack::{
    compose_run, DownReport, Runtime, ServiceState, ServiceStatus, SkippedProvider, StackEvent,
    StackLock, StackSecrets, UpReport,
};
use crate::Error;
use stackperf_contract::Service;

/// Where a service's log can be read.
#[derive(Debug)]
pub enum LogSource {
    File(PathBuf),
    /// A prepared `docker compose logs` command.
    Compose(std::process::Command),
}

/// The stack as the Stack screen shows it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct StackView {
    /// The runtime that is up (native when nothing is).
    pub runtime: Runtime,
    pub services: Vec<ServiceStatus>,
    /// Why the services cannot be listed (`docker compose ps` failed), when it did.
    pub problem: Option<String>,
    pub skipped: Vec<SkippedProvider>,
    /// The URL harnesses are given when the stack runs: StackPerf's edge.
    pub proxy_url: Option<String>,
    /// The installed LiteLLM version, if any.
    pub litellm_installed: Option<String>,
    pub litellm_pinned: String,
    /// Whether `docker compose` answers here (the Compose runtime needs a Docker engine).
    pub compose_available: bool,
    pub config_dir: String,
    pub data_dir: String,
}

impl App {
    /// Every service with its state, health, URL and version.
    pub async fn stack_status(&self) -> StackView {
        let state = self.stack.state();
        let compose = compose_run::is_active(&self.paths.data_dir);
        let mut problem = None;
        let services = if compose {
            let dir = self.paths.data_dir.clone();
            let status = tokio::task::spawn_blocking(move || compose_run::status(&dir))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()));
            status.unwrap_or_else(|e| {
                problem = Some(e);
                Vec::new()
            })
        } else {
            self.stack.status().await
        };
        // The URL harnesses are given: StackPerf's edge (LiteLLM for a stack without one).
        let running = |name: Service| {
            services
                .iter()
                .find(|s| s.name == name && s.state == ServiceState::Running)
                .and_then(|s| s.url.clone())
        };
        let proxy_url = running(Service::Edge).or_else(|| running(Service::Litellm));
        StackView {
            problem,
            runtime: if compose {
                Runtime::Compose
            } else {
                Runtime::Native
            },
            services,
            skipped: state.map(|s| s.skipped).unwrap_or_default(),
            proxy_url,
            litellm_installed: self.stack.venv().installed(),
            litellm_pinned: crate::stack::venv::LITELLM_VERSION.to_string(),
            compose_available: compose_available().await,
            config_dir: self.paths.config_dir.display().to_string(),
            data_dir: self.paths.data_dir.display().to_string(),
        }
    }

    /// Start the stack (native: installing LiteLLM on first use), reporting each step.
    pub async fn stack_up(&self, runtime: Runtime, events: &dyn Events) -> Result<UpReport, Error> {
        let progress = &|e: StackEvent| events.stack(e.into());
        let _busy = self.stack_lock.lock().await;
        let _other_processes = StackLock::acquire(&self.paths.data_dir, progress).await?;
        let reg = self.registry()?;
        if runtime == Runtime::Compose {
            return self.compose_up(reg, progress).await;
        }
        if compose_run::is_active(&self.paths.data_dir) {
            return Err(Error::StackConflict(
                "the Compose runtime is running; stop it before starting the native stack".into(),
            ));
        }
        let reg2 = reg.clone();
        let secrets = self
            .keychain(move |s| StackSecrets::resolve(&reg2, s))
            .await?;
        if let Some(w) = &secrets.keychain_warning {
            progress(StackEvent::Warning {
                message: format!("provider keys can only come from the environment: {w}"),
            });
        }
        let report = self.stack.up(&reg, &secrets, progress).await?;
        // Only a stack this app started whole is this app's to stop when it exits.
        if !report.already_running && report.kept.is_empty() {
            self.started_stack
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(report)
    }

    /// Stop the stack if this app started it (a stack that was already running when the app
    /// came is left alone). The desktop calls this when its window closes.
    pub async fn shutdown(&self) -> Result<Option<DownReport>, Error> {
        if !self
            .started_stack
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            return Ok(None);
        }
        self.stack_down(&Quiet).await.map(Some)
    }

    /// Leave the stack running when this app exits (the user chose to keep a session going).
    pub fn detach_stack(&self) {
        self.started_stack
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }

    /// The ids of the sessions that are active now (a closing window asks about them).
    pub async fn active_sessions(&self) -> Result<Vec<String>, Error> {
        Ok(self
            .store()
            .await?
            .sessions(None)
            .await?
            .into_iter()
            .filter(|s| s.status == crate::session::SessionStatus::Active)
            .map(|s| s.session_id)
            .collect())
    }

    /// Stop every service the stack started (either runtime).
    pub async fn stack_down(&self, events: &dyn Events) -> Result<DownReport, Error> {
        let progress = &|e: StackEvent| events.stack(e.into());
        let _busy = self.stack_lock.lock().await;
        let _other_processes = StackLock::acquire(&self.paths.data_dir, progress).await?;
        if compose_run::is_active(&self.paths.data_dir) {
            progress(StackEvent::Step {
                service: None,
                message: "docker compose down".into(),
            });
            let dir = self.paths.data_dir.clone();
            tokio::task::spawn_blocking(move || compose_run::down(&dir))
                .await
                .map_err(|e| Error::Compose(e.to_string()))??;
        }
        self.stack.down(progress).await
    }

    async fn compose_up(
        &self,
        reg: Registry,
        progress: &(dyn Fn(StackEvent) + Send + Sync),
    ) -> Result<UpReport, Error> {
        let started = std::time::Instant::now();
        let secrets = self.secrets.clone();
        let opts = self.stack_options.clone();
        let (grafana, show) = (self.settings.grafana_port, self.settings.show_docker_output);
        // Progress goes through a channel: the blocking docker call cannot borrow the callback.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<StackEvent>();
        let task = tokio::task::spawn_blocking(move || {
            let send = move |e| {
                let _ = tx.send(e);
            };
            compose_run::up(&reg, &secrets, &opts, grafana, show, &send)
        });
        while let Some(e) = rx.recv().await {
            progress(e);
        }
        let up = task.await.map_err(|e| Error::Compose(e.to_string()))??;
        self.started_stack
            .store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(UpReport {
            already_running: false,
            started: up.services.iter().map(|s| s.name).collect(),
            kept: Vec::new(),
            services: up.services,
            skipped: up.skipped,
            total_ms: started.elapsed().as_millis() as u64,
            litellm_start_ms: 0,
        })
    }

    /// Where a service's log is: a file (native), or `docker compose logs` (Compose; the edge
    /// always runs natively).
    pub fn stack_log(&self, service: Service, follow: bool) -> Result<LogSource, Error> {
        if compose_run::is_active(&self.paths.data_dir) && service != Service::Edge {
            let c = crate::stack::compose::ComposeStack::new(&self.paths.data_dir);
            return Ok(LogSource::Compose(c.logs_command(service, follow)));
        }
        if !Service::NATIVE_START_ORDER.contains(&service) {
            return Err(Error::Invalid(format!(
                "{service} runs only in the Compose stack; the native stack has edge, litellm, sim and prometheus"
            )));
        }
        let path = self.stack.log_path(service);
        if !path.exists() {
            return Err(Error::NoLog { service, path });
        }
        Ok(LogSource::File(path))
    }

    /// The last `lines` lines of a service's log (shown when it fails).
    pub fn stack_log_tail(&self, service: Service, lines: usize) -> Result<Vec<String>, Error> {
        let path = match self.stack_log(service, false) {
            Ok(LogSource::File(p)) => p,
            Ok(LogSource::Compose(_)) => return Ok(Vec::new()),
            Err(Error::NoLog { .. }) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        Ok(all[all.len().saturating_sub(lines)..]
            .iter()
            .map(|l| l.to_string())
            .collect())
    }
}

async fn compose_available() -> bool {
    crate::stack::process::tokio_command("docker")
        .args(["compose", "version"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}
