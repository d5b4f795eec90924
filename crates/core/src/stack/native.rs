//! The native runtime: LiteLLM from the managed venv, the simulator (`stackperf sim serve`) and
//! Prometheus as loopback processes in their own process groups, tracked in a state file.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::litellm_config::{
    self, SkippedProvider, EDGE_TOKEN_ENV, KEY_REGISTRY_ENV, MODULES, SIM_KEY_ENV, SPOOL_ENV,
};
use super::probe::{healthy, http, prometheus_version, warm_up};
use super::process::{self, alive, port_free, runs, terminate_group};
use super::venv::Venv;
use super::{
    prometheus, Ports, Progress, Runtime, ServiceState, ServiceStatus, StackEvent, StackOptions,
    StackSecrets,
};
use crate::config::Registry;
use crate::secrets::{Secret, MASTER_KEY};
use crate::store::now_ms;
use crate::{io_err, Error, APP_VERSION};

/// One started service.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceRecord {
    pub name: String,
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
    pub started_at_ms: f64,
    pub ports: Ports,
    pub services: Vec<ServiceRecord>,
    pub skipped: Vec<SkippedProvider>,
}

/// What `up` did.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct UpReport {
    pub already_running: bool,
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
pub struct DownReport {
    pub stopped: Vec<String>,
    pub already_gone: Vec<String>,
    pub ports_still_in_use: Vec<u16>,
}

/// The native stack.
pub struct NativeStack {
    opts: StackOptions,
}

const SERVICES: [&str; 4] = ["edge", "litellm", "sim", "prometheus"];

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
    pub fn log_path(&self, service: &str) -> PathBuf {
        self.dir().join("logs").join(format!("{service}.log"))
    }

    /// The generated LiteLLM config.
    pub fn litellm_config_path(&self) -> PathBuf {
        self.dir().join("litellm").join("config.yaml")
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

    /// Start the stack (idempotent: a healthy running stack is left as it is).
    pub async fn up(
        &self,
        reg: &Registry,
        secrets: &StackSecrets,
        progress: Progress<'_>,
    ) -> Result<UpReport, Error> {
        let started = Instant::now();
        let step = |service: &str, message: String| {
            progress(StackEvent::Step {
                service: service.into(),
                message,
            })
        };
        if let Some(state) = self.state() {
            let statuses = self.probe(&state).await;
            if statuses
                .iter()
                .all(|s| s.state == ServiceState::Running && s.healthy)
            {
                step("stack", "already running".into());
                return Ok(UpReport {
                    already_running: true,
                    services: statuses,
                    skipped: state.skipped,
                    total_ms: started.elapsed().as_millis() as u64,
                    litellm_start_ms: 0,
                });
            }
            let gone: Vec<String> = statuses
                .iter()
                .filter(|s| s.state != ServiceState::Running)
                .map(|s| s.name.clone())
                .collect();
            progress(StackEvent::Warning {
                message: format!("a previous stack left a state file but {} is not running; stopping what remains and starting fresh", gone.join(", ")),
            });
            self.down(progress).await?;
        }

        let plan = litellm_config::generate(
            reg,
            &|n| secrets.has(n),
            &|n| std::env::var_os(n).is_some(),
            &format!("http://127.0.0.1:{}", self.opts.ports.sim),
        );
        for s in &plan.skipped {
            progress(StackEvent::NotServed {
                provider: s.provider.clone(),
                message: format!(
                    "provider `{}` is not served: {}. Fix: {}",
                    s.provider, s.reason, s.fix
                ),
            });
        }
        let prom_bin = prometheus::find_binary();
        let ports = self.opts.ports;
        let mut wanted = vec![
            ("edge", ports.edge, "--edge-port"),
            ("litellm", ports.litellm, "--litellm-port"),
        ];
        if plan.uses_simulator {
            wanted.push(("sim", ports.sim, "--sim-port"));
        }
        if prom_bin.is_some() {
            wanted.push(("prometheus", ports.prometheus, "--prometheus-port"));
        }
        for (service, port, flag) in &wanted {
            if !port_free(*port) {
                return Err(Error::PortInUse {
                    service: service.to_string(),
                    port: *port,
                    hint: format!("Stop the program using it (`ss -ltnp 'sport = :{port}'` shows which), or pick another port with {flag}."),
                });
            }
        }

        let venv = self.venv();
        let litellm_version = venv.ensure(progress).await?;

        let dir = self.dir();
        write_private(&self.litellm_config_path(), &plan.config)?;
        if let Some(config_dir) = self.litellm_config_path().parent() {
            for (name, source) in MODULES {
                write_private(&config_dir.join(name), source)?;
            }
        }
        let spool = crate::paths::spool(&self.opts.data_dir);
        let registry = crate::paths::key_registry(&self.opts.data_dir);
        for d in [spool.parent(), registry.parent()].into_iter().flatten() {
            std::fs::create_dir_all(d).map_err(io_err(format!("create {}", d.display())))?;
        }
        let sim_key = Secret::generate("sk-stackperf-sim-")?;
        let edge_token = Secret::generate("stackperf-edge-")?;
        let mut state = StackState {
            runtime: Runtime::Native,
            started_at_ms: now_ms(),
            ports,
            services: Vec::new(),
            skipped: plan.skipped.clone(),
        };

        if plan.uses_simulator {
            step(
                "sim",
                format!("starting the simulated provider on 127.0.0.1:{}", ports.sim),
            );
            let args = [
                "sim",
                "serve",
                "--listen",
                &format!("127.0.0.1:{}", ports.sim),
                "--api-key-env",
                SIM_KEY_ENV,
                "--log",
            ]
            .map(String::from)
            .into_iter()
            .chain([dir.join("sim-truth.jsonl").display().to_string()])
            .collect::<Vec<_>>();
            let env = vec![(SIM_KEY_ENV.to_string(), sim_key.expose().to_string())];
            let rec = self.start(
                "sim",
                &self.opts.stackperf_bin,
                &args,
                &env,
                ports.sim,
                "/",
                "sim serve",
                Some(APP_VERSION.to_string()),
            )?;
            state.services.push(rec);
            self.save_state(&state)?;
        }

        step(
            "litellm",
            format!(
                "starting LiteLLM {litellm_version} on 127.0.0.1:{} (elapsed time shown every 5 s)",
                ports.litellm
            ),
        );
        let mut env = vec![
            (
                "LITELLM_LOCAL_MODEL_COST_MAP".to_string(),
                "True".to_string(),
            ),
            (
                MASTER_KEY.to_string(),
                secrets.master_key.expose().to_string(),
            ),
            (SIM_KEY_ENV.to_string(), sim_key.expose().to_string()),
            ("PYTHONUNBUFFERED".to_string(), "1".to_string()),
            (SPOOL_ENV.to_string(), spool.display().to_string()),
            (KEY_REGISTRY_ENV.to_string(), registry.display().to_string()),
            (EDGE_TOKEN_ENV.to_string(), edge_token.expose().to_string()),
        ];
        env.extend(
            secrets
                .provider_keys
                .iter()
                .map(|(n, v)| (n.clone(), v.expose().to_string())),
        );
        let args = [
            "--config",
            &self.litellm_config_path().display().to_string(),
            "--host",
            "127.0.0.1",
            "--port",
            &ports.litellm.to_string(),
        ]
        .map(String::from);
        let litellm_spawned = Instant::now();
        let rec = self.start(
            "litellm",
            &venv.litellm(),
            &args,
            &env,
            ports.litellm,
            "/health/liveliness",
            "litellm",
            Some(litellm_version),
        )?;
        state.services.push(rec);
        self.save_state(&state)?;

        match &prom_bin {
            Some(bin) => {
                let pdir = dir.join("prometheus");
                write_private(
                    &pdir.join("prometheus.yml"),
                    &prometheus::scrape_config(ports.litellm, self.opts.scrape_interval_s),
                )?;
                step(
                    "prometheus",
                    format!("starting Prometheus on 127.0.0.1:{}", ports.prometheus),
                );
                let args = [
                    format!("--config.file={}", pdir.join("prometheus.yml").display()),
                    format!("--storage.tsdb.path={}", pdir.join("data").display()),
                    format!("--web.listen-address=127.0.0.1:{}", ports.prometheus),
                    "--storage.tsdb.retention.time=7d".to_string(),
                ];
                let version = prometheus_version(bin).await;
                let rec = self.start(
                    "prometheus",
                    bin,
                    &args,
                    &[],
                    ports.prometheus,
                    "/-/ready",
                    "prometheus",
                    version,
                )?;
                state.services.push(rec);
                self.save_state(&state)?;
            }
            None => progress(StackEvent::Warning {
                message: format!("Prometheus is not installed: {}", prometheus::INSTALL_HINT),
            }),
        }

        // Last to start, first to stop: harnesses never reach a LiteLLM that is going away.
        step(
            "edge",
            format!("starting StackPerf's edge on 127.0.0.1:{}", ports.edge),
        );
        let (args, env) =
            super::edge::command(&self.opts, ports.litellm, &secrets.master_key, &edge_token);
        let rec = self.start(
            "edge",
            &self.opts.stackperf_bin,
            &args,
            &env,
            ports.edge,
            stackperf_edge::HEALTH_PATH,
            "edge serve",
            Some(APP_VERSION.to_string()),
        )?;
        state.services.push(rec);
        self.save_state(&state)?;

        let mut litellm_start_ms = 0;
        for rec in &state.services {
            if let Err(e) = self.wait_healthy(rec, progress).await {
                let _ = self.down(&|_| {}).await;
                return Err(e);
            }
            if rec.name == "litellm" {
                litellm_start_ms = litellm_spawned.elapsed().as_millis() as u64;
            }
        }
        if let Some(alias) = plan.warmup_model.as_deref() {
            step(
                "litellm",
                format!(
                    "warming up the proxy's request paths (one request per surface to {alias})"
                ),
            );
            warm_up(
                &format!("http://127.0.0.1:{}", ports.litellm),
                secrets.master_key.expose(),
                alias,
            )
            .await;
        }
        let services = self.probe(&state).await;
        Ok(UpReport {
            already_running: false,
            services,
            skipped: plan.skipped,
            total_ms: started.elapsed().as_millis() as u64,
            litellm_start_ms,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn start(
        &self,
        name: &str,
        program: &Path,
        args: &[String],
        env: &[(String, String)],
        port: u16,
        health_path: &str,
        marker: &str,
        version: Option<String>,
    ) -> Result<ServiceRecord, Error> {
        let log = self.log_path(name);
        let pid = process::spawn(program, args, env, &self.dir(), &log)?;
        Ok(ServiceRecord {
            name: name.into(),
            pid,
            port,
            url: format!("http://127.0.0.1:{port}"),
            health_path: health_path.into(),
            log,
            version,
            marker: marker.into(),
        })
    }

    async fn wait_healthy(&self, rec: &ServiceRecord, progress: Progress<'_>) -> Result<(), Error> {
        let started = Instant::now();
        let mut next_note = Duration::from_secs(5);
        let client = http();
        let fail = |message: String| Error::ServiceFailed {
            service: rec.name.clone(),
            message,
            log: rec.log.clone(),
            tail: process::tail(&rec.log, 20),
        };
        loop {
            if !alive(rec.pid) {
                return Err(fail(format!(
                    "the process exited before becoming healthy (after {:.1} s)",
                    started.elapsed().as_secs_f64()
                )));
            }
            if healthy(&client, rec).await {
                progress(StackEvent::Healthy {
                    service: rec.name.clone(),
                    url: rec.url.clone(),
                    elapsed_ms: started.elapsed().as_millis() as u64,
                });
                return Ok(());
            }
            let waited = started.elapsed();
            if waited > self.opts.health_timeout {
                return Err(fail(format!(
                    "not healthy after {} s (raise --timeout if this machine is slow)",
                    waited.as_secs()
                )));
            }
            if waited > next_note {
                progress(StackEvent::Step {
                    service: rec.name.clone(),
                    message: format!(
                        "waiting for {} to become healthy ({} s)",
                        rec.name,
                        waited.as_secs()
                    ),
                });
                next_note += Duration::from_secs(5);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stop everything the state file records (TERM, then KILL after a grace period).
    pub async fn down(&self, progress: Progress<'_>) -> Result<DownReport, Error> {
        let mut report = DownReport::default();
        let Some(state) = self.state() else {
            return Ok(report);
        };
        for rec in state.services.iter().rev() {
            if alive(rec.pid) && runs(rec.pid, &rec.marker) {
                progress(StackEvent::Step {
                    service: rec.name.clone(),
                    message: format!("stopping {} (pid {})", rec.name, rec.pid),
                });
                let pid = rec.pid;
                let gone = tokio::task::spawn_blocking(move || {
                    terminate_group(pid, Duration::from_secs(10))
                })
                .await
                .unwrap_or(false);
                if gone {
                    report.stopped.push(rec.name.clone());
                }
            } else {
                report.already_gone.push(rec.name.clone());
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
        for name in SERVICES {
            if out.iter().any(|s| s.name == name) {
                continue;
            }
            let absent = name == "prometheus" && prometheus::find_binary().is_none();
            out.push(ServiceStatus {
                name: name.into(),
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
                name: rec.name.clone(),
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
fn write_private(path: &Path, text: &str) -> Result<(), Error> {
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
