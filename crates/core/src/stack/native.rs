//! The native runtime: LiteLLM from the managed venv, the simulator (`stackperf sim serve`) and
//! Prometheus as loopback processes in their own process groups, tracked in a state file.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::journal::{
    self,
    ServiceEventKind::{FoundDown, Started, Stopped},
};
use super::launch::Needs;
use super::litellm_config::SkippedProvider;
use super::probe::{healthy, http, warm_up};
use super::process::{alive, port_free, runs, terminate_group};
use super::venv::Venv;
use super::{
    prometheus, Ports, Progress, Runtime, ServiceState, ServiceStatus, StackEvent, StackOptions,
    StackSecrets,
};
use crate::config::Registry;
use crate::timestamp::Timestamp;
use crate::{io_err, Error};
use stackperf_contract::Service;

/// One started service.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceRecord {
    pub name: Service,
    pub pid: u32,
    pub port: u16,
    pub url: String,
    pub health_path: String,
    pub log: PathBuf,
    pub version: Option<String>,
    /// A word of the command line, checked before signalling (PID reuse guard).
    pub marker: String,
}

/// What a running stack consists of (`<data>/stack/state.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StackState {
    pub runtime: Runtime,
    pub started_at_ms: Timestamp,
    pub ports: Ports,
    pub services: Vec<ServiceRecord>,
    pub skipped: Vec<SkippedProvider>,
    /// Which internal secrets (simulator key, edge token, master key) the services were started
    /// with, as a hash: a partial restart is only possible with the same ones.
    #[serde(default)]
    pub secrets_fingerprint: Option<String>,
}

/// What `up` did.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct UpReport {
    pub already_running: bool,
    /// The services this `up` started (all of them on a fresh start; after a crash, only those
    /// that were down).
    pub started: Vec<Service>,
    /// The services that were healthy and kept running.
    pub kept: Vec<Service>,
    pub services: Vec<ServiceStatus>,
    pub skipped: Vec<SkippedProvider>,
    /// Wall time of the whole `up`.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub total_ms: u64,
    /// Of that, the time LiteLLM took from spawn to healthy.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub litellm_start_ms: u64,
}

/// What `down` did.
#[derive(Debug, Clone, Serialize, Default)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct DownReport {
    pub stopped: Vec<Service>,
    pub already_gone: Vec<Service>,
    pub ports_still_in_use: Vec<u16>,
}

/// The native stack.
pub struct NativeStack {
    pub(super) opts: StackOptions,
}

/// The order services start in: the edge last (and so first to stop).
const START_ORDER: [Service; 4] = Service::NATIVE_START_ORDER;

fn check_port_free(service: Service, port: u16) -> Result<(), Error> {
    if port_free(port) {
        return Ok(());
    }
    let flag = format!("--{service}-port");
    Err(Error::PortInUse {
        service,
        port,
        hint: format!("Stop the program using it (`ss -ltnp 'sport = :{port}'` shows which), or pick another port with {flag}."),
    })
}

fn report_not_served(skipped: &[SkippedProvider], progress: Progress<'_>) {
    for s in skipped {
        progress(StackEvent::NotServed {
            provider: s.provider.clone(),
            message: format!(
                "provider `{}` is not served: {}. Fix: {}",
                s.provider, s.reason, s.fix
            ),
        });
    }
}

impl NativeStack {
    pub fn new(opts: StackOptions) -> Self {
        NativeStack { opts }
    }

    /// `<data>/stack`.
    pub fn dir(&self) -> PathBuf {
        self.opts.data_dir.join("stack")
    }

    fn state_path(&self) -> PathBuf {
        self.dir().join("state.json")
    }

    /// The log file of a service.
    pub fn log_path(&self, service: Service) -> PathBuf {
        self.dir().join("logs").join(format!("{service}.log"))
    }

    /// The generated LiteLLM config.
    pub fn litellm_config_path(&self) -> PathBuf {
        self.dir()
            .join(Service::Litellm.as_str())
            .join("config.yaml")
    }

    pub fn venv(&self) -> Venv {
        Venv::in_cache(&self.opts.cache_dir)
    }

    /// The recorded state, if a stack was started.
    pub fn state(&self) -> Option<StackState> {
        serde_json::from_str(&std::fs::read_to_string(self.state_path()).ok()?).ok()
    }

    fn save_state(&self, state: &StackState) -> Result<(), Error> {
        write_private(
            &self.state_path(),
            &serde_json::to_string_pretty(state).unwrap_or_default(),
        )
    }

    /// Start the stack (idempotent: a healthy running stack is left as it is; when some of its
    /// services died, only those are started again).
    pub async fn up(
        &self,
        reg: &Registry,
        secrets: &StackSecrets,
        progress: Progress<'_>,
    ) -> Result<UpReport, Error> {
        let started = Instant::now();
        if let Some(state) = self.state() {
            let statuses = self.probe(&state).await;
            let down: Vec<Service> = statuses
                .iter()
                .filter(|s| !(s.state == ServiceState::Running && s.healthy))
                .map(|s| s.name)
                .collect();
            if down.is_empty() {
                progress(StackEvent::Step {
                    service: None,
                    message: "already running".into(),
                });
                return Ok(UpReport {
                    already_running: true,
                    kept: state.services.iter().map(|r| r.name).collect(),
                    started: Vec::new(),
                    services: statuses,
                    skipped: state.skipped,
                    total_ms: started.elapsed().as_millis() as u64,
                    litellm_start_ms: 0,
                });
            }
            if down.len() < state.services.len()
                && state.secrets_fingerprint.as_deref() == Some(&secrets.fingerprint())
            {
                return self
                    .restart(state, &down, reg, secrets, progress, started)
                    .await;
            }
            progress(StackEvent::Warning {
                message: format!("a previous stack left a state file but {} is not running; stopping what remains and starting fresh", Service::join(&down)),
            });
            self.down(progress).await?;
        }
        self.fresh_up(reg, secrets, progress, started).await
    }

    /// Start every service.
    async fn fresh_up(
        &self,
        reg: &Registry,
        secrets: &StackSecrets,
        progress: Progress<'_>,
        started: Instant,
    ) -> Result<UpReport, Error> {
        let ports = self.opts.ports;
        let plan = self.plan(reg, secrets, ports.sim);
        report_not_served(&plan.skipped, progress);
        let prometheus_bin = prometheus::find_binary();
        let mut wanted = vec![Service::Edge, Service::Litellm];
        if plan.uses_simulator {
            wanted.push(Service::Sim);
        }
        if prometheus_bin.is_some() {
            wanted.push(Service::Prometheus);
        }
        for &service in &wanted {
            check_port_free(service, ports.of(service).unwrap_or(0))?;
        }
        let needs = Needs {
            litellm_version: Some(self.venv().ensure(progress).await?),
            prometheus_bin,
        };
        self.write_litellm_files(&plan)?;
        let mut state = StackState {
            runtime: Runtime::Native,
            started_at_ms: Timestamp::now(),
            ports,
            services: Vec::new(),
            skipped: plan.skipped.clone(),
            secrets_fingerprint: Some(secrets.fingerprint()),
        };
        if needs.prometheus_bin.is_none() {
            progress(StackEvent::Warning {
                message: format!("Prometheus is not installed: {}", prometheus::INSTALL_HINT),
            });
        }
        // The edge starts after LiteLLM and stops before it: harnesses never reach a LiteLLM that
        // is going away. Prometheus starts once the services it scrapes answer: its first scrape of
        // LiteLLM (then one every 15 s) would otherwise find it still starting and call the target
        // down until the next.
        let (scraped, scraper): (Vec<Service>, Vec<Service>) = START_ORDER
            .into_iter()
            .filter(|s| wanted.contains(s))
            .partition(|s| *s != Service::Prometheus);
        for service in scraped {
            self.start_one(service, &mut state, secrets, &needs, progress)
                .await?;
        }
        let litellm_start_ms = self.wait_all(&state.services, progress).await?;
        for service in scraper {
            self.start_one(service, &mut state, secrets, &needs, progress)
                .await?;
            let last = state.services.len() - 1;
            self.wait_all(&state.services[last..], progress).await?;
        }
        if let Some(alias) = plan.warmup_model.as_deref() {
            self.warm_up(ports.litellm, secrets, alias, progress).await;
        }
        Ok(UpReport {
            already_running: false,
            started: state.services.iter().map(|r| r.name).collect(),
            kept: Vec::new(),
            services: self.probe(&state).await,
            skipped: plan.skipped,
            total_ms: started.elapsed().as_millis() as u64,
            litellm_start_ms,
        })
    }

    /// Start again only the services in `down` (stopping any that still run but do not answer),
    /// on the ports and with the internal secrets the running ones were started with.
    async fn restart(
        &self,
        mut state: StackState,
        down: &[Service],
        reg: &Registry,
        secrets: &StackSecrets,
        progress: Progress<'_>,
        started: Instant,
    ) -> Result<UpReport, Error> {
        let kept: Vec<Service> = state
            .services
            .iter()
            .map(|r| r.name)
            .filter(|n| !down.contains(n))
            .collect();
        progress(StackEvent::Step {
            service: None,
            message: format!(
                "restarting {} ({} keep running)",
                Service::join(down),
                Service::join(&kept)
            ),
        });
        for rec in state.services.iter().filter(|r| down.contains(&r.name)) {
            journal::append(&self.dir(), &[journal::now(rec.name, FoundDown)]);
            self.stop_service(rec, progress).await;
            check_port_free(rec.name, rec.port)?;
        }
        let mut needs = Needs {
            litellm_version: None,
            prometheus_bin: prometheus::find_binary(),
        };
        let mut plan = None;
        if down.contains(&Service::Litellm) {
            let p = self.plan(reg, secrets, state.ports.sim);
            report_not_served(&p.skipped, progress);
            needs.litellm_version = Some(self.venv().ensure(progress).await?);
            self.write_litellm_files(&p)?;
            state.skipped = p.skipped.clone();
            plan = Some(p);
        }
        let mut restarted = Vec::new();
        for i in 0..state.services.len() {
            let name = state.services[i].name;
            if !down.contains(&name) {
                continue;
            }
            let rec = self
                .launch(name, state.ports, secrets, &needs, progress)
                .await?;
            journal::append(&self.dir(), &[journal::now(name, Started)]);
            state.services[i] = rec.clone();
            self.save_state(&state)?;
            restarted.push(rec);
        }
        let litellm_start_ms = self.wait_all(&restarted, progress).await?;
        if let Some(alias) = plan.as_ref().and_then(|p| p.warmup_model.as_deref()) {
            self.warm_up(state.ports.litellm, secrets, alias, progress)
                .await;
        }
        Ok(UpReport {
            already_running: false,
            started: restarted.iter().map(|r| r.name).collect(),
            kept,
            services: self.probe(&state).await,
            skipped: state.skipped.clone(),
            total_ms: started.elapsed().as_millis() as u64,
            litellm_start_ms,
        })
    }

    /// Wait for each of `services` to become healthy (on failure the whole stack is stopped);
    /// returns how long LiteLLM took, when it is among them.
    /// Launch `service` and record it in the state file.
    async fn start_one(
        &self,
        service: Service,
        state: &mut StackState,
        secrets: &StackSecrets,
        needs: &Needs,
        progress: Progress<'_>,
    ) -> Result<(), Error> {
        let rec = self
            .launch(service, state.ports, secrets, needs, progress)
            .await?;
        journal::append(&self.dir(), &[journal::now(service, Started)]);
        state.services.push(rec);
        self.save_state(state)
    }

    async fn wait_all(
        &self,
        services: &[ServiceRecord],
        progress: Progress<'_>,
    ) -> Result<u64, Error> {
        let since = Instant::now();
        let mut litellm_ms = 0;
        for rec in services {
            if let Err(e) = self.wait_healthy(rec, progress).await {
                let _ = self.down(&|_| {}).await;
                return Err(e);
            }
            if rec.name == Service::Litellm {
                litellm_ms = since.elapsed().as_millis() as u64;
            }
        }
        Ok(litellm_ms)
    }

    async fn warm_up(
        &self,
        port: u16,
        secrets: &StackSecrets,
        alias: &str,
        progress: Progress<'_>,
    ) {
        progress(StackEvent::Step {
            service: Some(Service::Litellm),
            message: format!(
                "warming up the proxy's request paths (one request per surface to {alias})"
            ),
        });
        let proxy = format!("http://127.0.0.1:{port}");
        warm_up(&proxy, secrets.master_key.expose(), alias).await;
    }

    /// Stop one service if its process still runs (TERM, then KILL after a grace period).
    async fn stop_service(&self, rec: &ServiceRecord, progress: Progress<'_>) -> bool {
        if !(alive(rec.pid) && runs(rec.pid, &rec.marker)) {
            return false;
        }
        progress(StackEvent::Step {
            service: Some(rec.name),
            message: format!("stopping {} (pid {})", rec.name, rec.pid),
        });
        let pid = rec.pid;
        tokio::task::spawn_blocking(move || terminate_group(pid, Duration::from_secs(10)))
            .await
            .unwrap_or(false)
    }

    /// Stop everything the state file records (TERM, then KILL after a grace period).
    pub async fn down(&self, progress: Progress<'_>) -> Result<DownReport, Error> {
        let mut report = DownReport::default();
        let Some(state) = self.state() else {
            return Ok(report);
        };
        for rec in state.services.iter().rev() {
            if self.stop_service(rec, progress).await {
                journal::append(&self.dir(), &[journal::now(rec.name, Stopped)]);
                report.stopped.push(rec.name);
            } else if !(alive(rec.pid) && runs(rec.pid, &rec.marker)) {
                report.already_gone.push(rec.name);
            }
        }
        report.ports_still_in_use = state
            .services
            .iter()
            .map(|r| r.port)
            .filter(|p| !port_free(*p))
            .collect();
        std::fs::remove_file(self.state_path()).map_err(io_err("remove the stack state file"))?;
        Ok(report)
    }

    /// The state of every service, probed now.
    pub async fn status(&self) -> Vec<ServiceStatus> {
        let state = self.state();
        let mut out = match &state {
            Some(s) => self.probe(s).await,
            None => Vec::new(),
        };
        for name in START_ORDER {
            if out.iter().any(|s| s.name == name) {
                continue;
            }
            let absent = name == Service::Prometheus && prometheus::find_binary().is_none();
            out.push(ServiceStatus {
                name,
                state: if absent {
                    ServiceState::Absent
                } else {
                    ServiceState::Stopped
                },
                url: None,
                healthy: false,
                version: None,
                pid: None,
                container: None,
                log: None,
                detail: Some(if absent {
                    prometheus::INSTALL_HINT.to_string()
                } else {
                    "run `stackperf stack up`".to_string()
                }),
            });
        }
        out
    }

    async fn probe(&self, state: &StackState) -> Vec<ServiceStatus> {
        let client = http();
        let mut out = Vec::new();
        for rec in &state.services {
            let running = alive(rec.pid) && runs(rec.pid, &rec.marker);
            let ok = running && healthy(&client, rec).await;
            let (st, detail) = match (running, ok) {
                (true, true) => (ServiceState::Running, None),
                (true, false) => (
                    ServiceState::Unhealthy,
                    Some(format!("see {}", rec.log.display())),
                ),
                (false, _) => (
                    ServiceState::Stale,
                    Some(
                        "recorded as started but not running; `stackperf stack up` restarts it"
                            .to_string(),
                    ),
                ),
            };
            out.push(ServiceStatus {
                name: rec.name,
                state: st,
                url: Some(rec.url.clone()),
                healthy: ok,
                version: rec.version.clone(),
                pid: Some(rec.pid),
                container: None,
                log: Some(rec.log.clone()),
                detail,
            });
        }
        out
    }
}

/// Write a file readable only by the owner (generated configs may name secrets; be strict).
pub(super) fn write_private(path: &Path, text: &str) -> Result<(), Error> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io_err(format!("create {}", dir.display())))?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(io_err(format!("write {}", tmp.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
            .map_err(io_err(format!("chmod {}", tmp.display())))?;
    }
    std::fs::rename(&tmp, path).map_err(io_err(format!("write {}", path.display())))
}
