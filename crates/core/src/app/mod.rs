//! The application as one object: built once at start-up (the desktop shell manages it), one
//! method per user action. Each method calls the same services the CLI calls; nothing here knows
//! about a window.
//!
//! Init order (see [`App::open`]): paths → store (migrations) → keychain → key registry → stack.

mod database;
mod doctor;
mod live;
mod outputs;
mod prune;
mod query;
mod run_item;
mod run_plan;
mod runs;
mod secrets;
mod setup;
mod traffic;
mod usage;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::config::Registry;
use crate::credentials::RegistryIssuer;
use crate::secrets::{KeyringStore, Secrets};
use crate::session::Sessions;
use crate::stack::venv::Venv;
use crate::stack::{
    compose_run, DownReport, NativeStack, Ports, Runtime, ServiceState, ServiceStatus,
    SkippedProvider, StackEvent, StackLock, StackOptions, StackSecrets, UpReport,
};
use crate::store::Store;
use crate::{paths, Error};

pub use database::DatabaseInfo;
pub use doctor::{checks as doctor_checks, Check};
pub use live::{EdgeHealth, EnvView, Finalized, RequestBrief, RequestsPage, StartSession};
pub use outputs::{ExportFormat, ExportRequest, ExportWhat, Written};
pub use prune::{DataUsage, PruneReport};
pub use query::{Download, SessionDetail, SessionPage, TaskCardInfo, VariantInfo, MAX_PAGE};
pub use run_plan::{EstimateSource, PlanCell, RunPlan};
pub use runs::{RunEvent, RunSummary};
pub use setup::{Catalog, Choices, ConfigDoc, ConfigKind, DraftCheck, ExperimentChoice};
pub use traffic::TrafficReport;
pub use usage::{keychain_entry as usage_keychain_entry, usage_table, CreatedUsageKey};

/// Where a service's log can be read.
#[derive(Debug)]
pub enum LogSource {
    File(PathBuf),
    /// A prepared `docker compose logs` command.
    Compose(std::process::Command),
}

/// Where the app keeps and finds things.
#[derive(Debug, Clone)]
pub struct AppPaths {
    pub config_dir: PathBuf,
    pub data_dir: PathBuf,
    pub cache_dir: PathBuf,
    pub db_path: PathBuf,
    /// The `stackperf` CLI binary, which serves the simulator.
    pub stackperf_bin: PathBuf,
}

impl AppPaths {
    /// From the environment (`STACKPERF_CONFIG_DIR`, `STACKPERF_DATA_DIR`, `STACKPERF_DB`,
    /// `STACKPERF_CACHE_DIR`, `STACKPERF_BIN`) with defaults next to the running executable.
    pub fn from_env() -> Result<AppPaths, Error> {
        let exe = std::env::current_exe().map_err(crate::io_err("find the running executable"))?;
        let config_dir = match std::env::var_os("STACKPERF_CONFIG_DIR") {
            Some(d) => PathBuf::from(d),
            None => paths::default_config_dir()?,
        };
        let stackperf_bin = match std::env::var_os("STACKPERF_BIN") {
            Some(b) => PathBuf::from(b),
            None => exe
                .parent()
                .map(|d| d.join(format!("stackperf{}", std::env::consts::EXE_SUFFIX)))
                .unwrap_or_else(|| PathBuf::from("stackperf")),
        };
        Ok(AppPaths {
            config_dir,
            data_dir: paths::data_dir()?,
            cache_dir: paths::cache_dir()?,
            db_path: paths::db_path(None)?,
            stackperf_bin,
        })
    }
}

/// The stack as the Stack screen shows it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct StackView {
    /// The runtime that is up (native when nothing is).
    pub runtime: Runtime,
    pub services: Vec<ServiceStatus>,
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

/// How this host runs the stack: ports, health timeout, where Docker's output goes.
#[derive(Debug, Clone)]
pub struct StackSettings {
    pub ports: Ports,
    /// Grafana's port (Compose runtime only).
    pub grafana_port: u16,
    /// How long each service may take to become healthy.
    pub health_timeout: Duration,
    /// Let `docker compose` print to the terminal (the CLI) instead of reporting steps only.
    pub show_docker_output: bool,
}

impl StackSettings {
    /// Ports from `STACKPERF_EDGE_PORT` / `STACKPERF_LITELLM_PORT` / `STACKPERF_SIM_PORT` /
    /// `STACKPERF_PROMETHEUS_PORT` / `STACKPERF_GRAFANA_PORT` (tests run the stack on free ports),
    /// else the defaults; 120 s health timeout.
    pub fn from_env() -> StackSettings {
        StackSettings {
            ports: ports_from_env(),
            grafana_port: grafana_port(),
            health_timeout: Duration::from_secs(120),
            show_docker_output: false,
        }
    }
}

/// The application services: the one use-case layer every host (desktop shell, CLI) calls.
pub struct App {
    pub paths: AppPaths,
    /// Opened (migrations run) on first use, so commands that need no database never touch it.
    store: tokio::sync::OnceCell<Store>,
    secrets: Arc<Secrets>,
    issuer: Arc<RegistryIssuer>,
    stack: NativeStack,
    stack_options: StackOptions,
    settings: StackSettings,
    /// One stack operation at a time: a second click waits for the first instead of racing it.
    stack_lock: tokio::sync::Mutex<()>,
    /// Whether this app started the stack (and so stops it in [`App::shutdown`]).
    started_stack: std::sync::atomic::AtomicBool,
}

impl App {
    /// Open the store (running migrations) and build the long-lived services.
    pub async fn open(paths: AppPaths) -> Result<App, Error> {
        let secrets = Arc::new(Secrets::new(Box::new(KeyringStore::new())));
        App::open_with(paths, secrets).await
    }

    /// As [`App::open`], with a given secret store (tests use an in-memory one).
    pub async fn open_with(paths: AppPaths, secrets: Arc<Secrets>) -> Result<App, Error> {
        let app = App::new(paths, secrets, StackSettings::from_env());
        app.store().await?;
        Ok(app)
    }

    /// The services, without opening anything yet (the store opens on first use).
    pub fn new(paths: AppPaths, secrets: Arc<Secrets>, settings: StackSettings) -> App {
        let issuer = Arc::new(RegistryIssuer::new(&paths::key_registry(&paths.data_dir)));
        let stack_options = StackOptions {
            data_dir: paths.data_dir.clone(),
            cache_dir: paths.cache_dir.clone(),
            ports: settings.ports,
            health_timeout: settings.health_timeout,
            stackperf_bin: paths.stackperf_bin.clone(),
            scrape_interval_s: 2,
        };
        let stack = NativeStack::new(stack_options.clone());
        App {
            paths,
            store: tokio::sync::OnceCell::new(),
            secrets,
            issuer,
            stack,
            stack_options,
            settings,
            stack_lock: tokio::sync::Mutex::new(()),
            started_stack: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The database (opened and migrated on first use). Hosts reach it only through the use
    /// cases; core's own tests open the same file with `Store::open`.
    pub(crate) async fn store(&self) -> Result<&Store, Error> {
        self.store
            .get_or_try_init(|| async {
                // Only StackPerf's own data directory is created implicitly.
                if self.paths.db_path.parent() == Some(self.paths.data_dir.as_path()) {
                    // A data dir made by an earlier version may be world-readable.
                    #[cfg(unix)]
                    if self.paths.data_dir.is_dir() {
                        use std::os::unix::fs::PermissionsExt;
                        let _ = std::fs::set_permissions(
                            &self.paths.data_dir,
                            std::fs::Permissions::from_mode(0o700),
                        );
                    }
                    Store::open_creating_dir(&self.paths.db_path).await
                } else {
                    Store::open(&self.paths.db_path).await
                }
            })
            .await
    }

    /// The configuration, refusing one with problems (actions need a valid set).
    pub fn registry(&self) -> Result<Registry, Error> {
        let (reg, problems) = Registry::load(&self.paths.config_dir);
        if problems.is_empty() {
            Ok(reg)
        } else {
            Err(Error::Config(problems))
        }
    }

    fn proxy_url(&self) -> String {
        crate::stack::harness_url(&self.paths.data_dir, self.stack.state().as_ref())
    }

    async fn sessions(&self) -> Result<Sessions, Error> {
        Ok(Sessions {
            store: self.store().await?.clone(),
            data_dir: self.paths.data_dir.clone(),
            secrets: self.secrets.clone(),
            issuer: self.issuer.clone(),
            proxy_url: self.proxy_url(),
            litellm_version: Venv::in_cache(&self.paths.cache_dir).installed(),
        })
    }

    /// Keychain calls block (D-Bus); run them off the async threads.
    async fn keychain<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Secrets) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        crate::secrets::blocking(self.secrets.clone(), f).await
    }

    // ---- Stack ------------------------------------------------------------------------------

    /// Every service with its state, health, URL and version.
    pub async fn stack_status(&self) -> StackView {
        let state = self.stack.state();
        let compose = compose_run::is_active(&self.paths.data_dir);
        let services = if compose {
            let dir = self.paths.data_dir.clone();
            match tokio::task::spawn_blocking(move || compose_run::status(&dir)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => vec![compose_problem(e.to_string())],
                Err(e) => vec![compose_problem(e.to_string())],
            }
        } else {
            self.stack.status().await
        };
        // The URL harnesses are given: StackPerf's edge (LiteLLM for a stack without one).
        let running = |name: &str| {
            services
                .iter()
                .find(|s| s.name == name && s.state == ServiceState::Running)
                .and_then(|s| s.url.clone())
        };
        let proxy_url = running("edge").or_else(|| running("litellm"));
        StackView {
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
    pub async fn stack_up(
        &self,
        runtime: Runtime,
        progress: &(dyn Fn(StackEvent) + Send + Sync),
    ) -> Result<UpReport, Error> {
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
        self.stack_down(&|_| {}).await.map(Some)
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
    pub async fn stack_down(
        &self,
        progress: &(dyn Fn(StackEvent) + Send + Sync),
    ) -> Result<DownReport, Error> {
        let _busy = self.stack_lock.lock().await;
        let _other_processes = StackLock::acquire(&self.paths.data_dir, progress).await?;
        if compose_run::is_active(&self.paths.data_dir) {
            progress(StackEvent::Step {
                service: "compose".into(),
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
            started: up.services.iter().map(|s| s.name.clone()).collect(),
            kept: Vec::new(),
            services: up.services,
            skipped: up.skipped,
            total_ms: started.elapsed().as_millis() as u64,
            litellm_start_ms: 0,
        })
    }

    /// Where a service's log is: a file (native), or `docker compose logs` (Compose; the edge
    /// always runs natively).
    pub fn stack_log(&self, service: &str, follow: bool) -> Result<LogSource, Error> {
        if compose_run::is_active(&self.paths.data_dir) && service != "edge" {
            let c = crate::stack::compose::ComposeStack::new(&self.paths.data_dir);
            return Ok(LogSource::Compose(c.logs_command(service, follow)));
        }
        if !matches!(service, "edge" | "litellm" | "sim" | "prometheus") {
            return Err(Error::Invalid(format!(
                "unknown service `{service}`: the native stack has edge, litellm, sim and prometheus"
            )));
        }
        let path = self.stack.log_path(service);
        if !path.exists() {
            return Err(Error::NoLog {
                service: service.to_string(),
                path,
            });
        }
        Ok(LogSource::File(path))
    }

    /// The last `lines` lines of a service's log (shown when it fails).
    pub fn stack_log_tail(&self, service: &str, lines: usize) -> Result<Vec<String>, Error> {
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

    /// The `doctor` checks, each with its fix.
    pub async fn doctor(&self) -> Vec<Check> {
        doctor::checks(&self.paths, &self.stack).await
    }
}

/// Ports from `STACKPERF_EDGE_PORT` / `STACKPERF_LITELLM_PORT` / `STACKPERF_SIM_PORT` / `STACKPERF_PROMETHEUS_PORT`
/// (tests run the stack on free ports), else the defaults.
fn ports_from_env() -> Ports {
    let d = Ports::default();
    let get = |name: &str, default: u16| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    Ports {
        edge: get("STACKPERF_EDGE_PORT", d.edge),
        litellm: get("STACKPERF_LITELLM_PORT", d.litellm),
        sim: get("STACKPERF_SIM_PORT", d.sim),
        prometheus: get("STACKPERF_PROMETHEUS_PORT", d.prometheus),
    }
}

/// Grafana's port for the Compose runtime (`STACKPERF_GRAFANA_PORT`, default 3000).
fn grafana_port() -> u16 {
    std::env::var("STACKPERF_GRAFANA_PORT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

/// A row saying why the Compose services cannot be listed.
fn compose_problem(message: String) -> ServiceStatus {
    ServiceStatus {
        name: "compose".into(),
        state: ServiceState::Unhealthy,
        url: None,
        healthy: false,
        version: None,
        pid: None,
        container: None,
        log: None,
        detail: Some(message),
    }
}

async fn compose_available() -> bool {
    tokio::process::Command::new("docker")
        .args(["compose", "version"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}
