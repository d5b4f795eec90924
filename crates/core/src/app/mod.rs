//! The application as one object: built once at start-up (the desktop shell manages it), one
//! method per user action. Each method calls the same services the CLI calls; nothing here knows
//! about a window.
//!
//! Init order (see [`App::open`]): paths → store (migrations) → keychain → key registry → stack.

mod database;
mod doctor;
mod events;
mod live;
mod otlp;
mod outputs;
mod prune;
mod query;
mod run_item;
mod run_plan;
mod run_switch;
mod run_worker;
mod runs;
mod secrets;
mod setup;
mod stack;
mod traffic;
mod usage;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Registry;
use crate::credentials::RegistryIssuer;
use crate::secrets::{KeyringStore, Secrets};
use crate::session::Sessions;
use crate::stack::venv::Venv;
use crate::stack::{NativeStack, Ports, StackOptions};
use crate::store::Store;
use crate::{paths, Error};

pub use crate::output::otlp::settings::{OtlpSettings, OtlpSource};
pub use database::DatabaseInfo;
pub use doctor::{checks as doctor_checks, Check};
pub use events::{
    CaptureFailure, CapturePass, Events, OnRun, OnStack, OnTraffic, ProgressKind, Quiet, StackLine,
    TrafficStep,
};
pub use live::{EdgeHealth, EnvView, Finalized, RequestBrief, RequestsPage, StartSession};
pub use otlp::OtlpBackfill;
pub use outputs::{ExportFormat, ExportRequest, ExportWhat, Written};
pub use prune::{DataUsage, PruneReport};
pub use query::{Download, SessionDetail, SessionPage, TaskCardInfo, VariantInfo, MAX_PAGE};
pub use run_plan::{EstimateSource, PlanCell, RunPlan};
pub use run_worker::{lease_ttl, this_worker};
pub use runs::{RunEvent, RunSummary};
pub use setup::{Catalog, Choices, ConfigDoc, ConfigKind, DraftCheck, ExperimentChoice};
pub use stack::{LogSource, StackView};
pub use traffic::TrafficReport;
pub use usage::{keychain_entry as usage_keychain_entry, usage_table, CreatedUsageKey};

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
    /// The cancellable run in progress (`run_start_cancellable`, `run_cancel`).
    run_switch: run_switch::RunSwitch,
    /// Where spans go, when OTLP export is configured (docs/team.md): the environment's, started
    /// with the app, or the settings' (started on first use, [`App::otlp`]).
    otlp: otlp::Slot,
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
            run_switch: run_switch::RunSwitch::default(),
            otlp: otlp::Slot::new(crate::output::otlp::Otlp::global()),
        }
    }

    /// Send spans to this export instead of the one the environment or settings configure (tests).
    pub fn with_otlp(self, otlp: Option<Arc<crate::output::otlp::Otlp>>) -> App {
        App {
            otlp: otlp::Slot::fixed(otlp),
            ..self
        }
    }

    /// The database (opened and migrated on first use). Hosts reach it only through the use
    /// cases; core's own tests open the same file with `Store::open`.
    pub(crate) async fn store(&self) -> Result<&Store, Error> {
        self.store
            .get_or_try_init(|| async {
                if crate::store::is_server_url(&self.paths.db_path) {
                    let password = self.db_password(&self.paths.db_path).await?;
                    return Store::open_server(&self.paths.db_path, password.as_ref()).await;
                }
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

    /// A PostgreSQL store's password when its URL and `PGPASSWORD` give none: the secret
    /// `STACKPERF_DB_PASSWORD` (environment, else the OS keychain: `stackperf secrets set
    /// STACKPERF_DB_PASSWORD`). Without any, libpq's passfile (`~/.pgpass`) is read.
    async fn db_password(
        &self,
        url: &std::path::Path,
    ) -> Result<Option<crate::secrets::Secret>, Error> {
        let in_url = crate::store::url_has_password(&url.to_string_lossy());
        if in_url || std::env::var_os("PGPASSWORD").is_some() {
            return Ok(None);
        }
        // The keychain is blocking D-Bus: asked off the async threads, as every keychain call.
        // Without a keychain (SSH, CI) the passfile is still there to try.
        match self
            .keychain(|s| Ok(s.resolve(crate::secrets::DB_PASSWORD)?.map(|(v, _)| v)))
            .await
        {
            Err(Error::KeychainUnavailable(_)) => Ok(None),
            other => other,
        }
    }

    /// Copy this (SQLite) store into the PostgreSQL store at `to` (docs/team.md, "Moving in"):
    /// idempotent, every row checked to have arrived; `progress` hears of each table.
    pub async fn db_copy(
        &self,
        to: &std::path::Path,
        progress: impl FnMut(&crate::store::TableCopy),
    ) -> Result<Vec<crate::store::TableCopy>, Error> {
        if !crate::store::is_server_url(to) {
            return Err(Error::Invalid(
                "copy into a PostgreSQL store: --to postgres://user@host:port/database".into(),
            ));
        }
        let password = self.db_password(to).await?;
        let target = Store::open_server(to, password.as_ref()).await?;
        self.store().await?.copy_to(&target, progress).await
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

    /// The `doctor` checks, each with its fix.
    pub async fn doctor(&self) -> Vec<Check> {
        let mut checks = doctor::checks(&self.paths, &self.stack).await;
        checks.push(otlp::check(self.otlp().await.map(|o| o.status())));
        checks
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
