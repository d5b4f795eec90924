//! Starting one native service: its command line, environment and record, and waiting for it to
//! become healthy. A fresh `up` launches every service; a partial restart only the dead ones.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::litellm_config::{
    self, LitellmPlan, EDGE_TOKEN_ENV, KEY_REGISTRY_ENV, MODULES, SIM_KEY_ENV, SPOOL_ENV,
};
use super::native::{write_private, NativeStack, ServiceRecord};
use super::probe::{healthy, http, prometheus_version};
use super::process::{self, alive};
use super::{prometheus, Ports, Progress, StackEvent, StackSecrets};
use crate::config::Registry;
use crate::secrets::{Secret, MASTER_KEY};
use crate::{io_err, Error, APP_VERSION};
use stackperf_contract::Service;

/// What launching LiteLLM or Prometheus needs beyond the ports and secrets.
pub(super) struct Needs {
    pub litellm_version: Option<String>,
    pub prometheus_bin: Option<PathBuf>,
}

impl NativeStack {
    /// The LiteLLM config for the registry, with the simulator on `sim_port`.
    pub(super) fn plan(
        &self,
        reg: &Registry,
        secrets: &StackSecrets,
        sim_port: u16,
    ) -> LitellmPlan {
        litellm_config::generate(
            reg,
            &|n| secrets.has(n),
            &|n| std::env::var_os(n).is_some(),
            &format!("http://127.0.0.1:{sim_port}"),
        )
    }

    /// Write LiteLLM's config and capture modules, and make the folders capture writes into.
    pub(super) fn write_litellm_files(&self, plan: &LitellmPlan) -> Result<(), Error> {
        write_private(&self.litellm_config_path(), &plan.config)?;
        if let Some(config_dir) = self.litellm_config_path().parent() {
            for (name, source) in MODULES {
                write_private(&config_dir.join(name), source)?;
            }
        }
        let data = &self.opts.data_dir;
        let spool = crate::paths::spool(data);
        let registry = crate::paths::key_registry(data);
        for d in [spool.parent(), registry.parent()].into_iter().flatten() {
            std::fs::create_dir_all(d).map_err(io_err(format!("create {}", d.display())))?;
        }
        Ok(())
    }

    /// Start `service` on `ports` (it is not waited for: see [`NativeStack::wait_healthy`]).
    pub(super) async fn launch(
        &self,
        service: Service,
        ports: Ports,
        secrets: &StackSecrets,
        needs: &Needs,
        progress: Progress<'_>,
    ) -> Result<ServiceRecord, Error> {
        let step = |message: String| {
            progress(StackEvent::Step {
                service: Some(service),
                message,
            })
        };
        match service {
            Service::Sim => {
                step(format!(
                    "starting the simulated provider on 127.0.0.1:{}",
                    ports.sim
                ));
                self.launch_sim(ports.sim, secrets)
            }
            Service::Litellm => {
                let version = needs.litellm_version.clone().unwrap_or_default();
                step(format!(
                    "starting LiteLLM {version} on 127.0.0.1:{} (elapsed time shown every 5 s)",
                    ports.litellm
                ));
                self.launch_litellm(ports.litellm, secrets, version)
            }
            Service::Prometheus => {
                let Some(bin) = &needs.prometheus_bin else {
                    return Err(Error::Invalid(format!(
                        "Prometheus is not installed: {}",
                        prometheus::INSTALL_HINT
                    )));
                };
                step(format!(
                    "starting Prometheus on 127.0.0.1:{}",
                    ports.prometheus
                ));
                self.launch_prometheus(ports, bin, &secrets.metrics_token)
                    .await
            }
            Service::Grafana | Service::Postgres => Err(Error::Invalid(format!(
                "{service} runs only in the Compose stack (`stackperf stack up --compose`)"
            ))),
            Service::Edge => {
                step(format!(
                    "starting StackPerf's edge on 127.0.0.1:{}",
                    ports.edge
                ));
                let (args, env) =
                    super::edge::command(&self.opts.data_dir, ports.edge, ports.litellm, secrets);
                let bin = &self.opts.stackperf_bin;
                let version = Some(APP_VERSION.to_string());
                let health = stackperf_contract::wire::HEALTH_PATH;
                self.start(
                    Service::Edge,
                    bin,
                    &args,
                    &env,
                    ports.edge,
                    health,
                    "edge serve",
                    version,
                )
            }
        }
    }

    fn launch_sim(&self, port: u16, secrets: &StackSecrets) -> Result<ServiceRecord, Error> {
        let truth = self.dir().join("sim-truth.jsonl").display().to_string();
        let listen = format!("127.0.0.1:{port}");
        let args = [
            "sim",
            "serve",
            "--listen",
            &listen,
            "--api-key-env",
            SIM_KEY_ENV,
            "--log",
            &truth,
        ]
        .map(String::from);
        let env = [(
            SIM_KEY_ENV.to_string(),
            secrets.sim_key.expose().to_string(),
        )];
        let bin = &self.opts.stackperf_bin;
        let version = Some(APP_VERSION.to_string());
        self.start(
            Service::Sim,
            bin,
            &args,
            &env,
            port,
            "/",
            "sim serve",
            version,
        )
    }

    fn launch_litellm(
        &self,
        port: u16,
        secrets: &StackSecrets,
        version: String,
    ) -> Result<ServiceRecord, Error> {
        let data = &self.opts.data_dir;
        let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
        let mut env = vec![
            pair("LITELLM_LOCAL_MODEL_COST_MAP", "True"),
            pair(MASTER_KEY, secrets.master_key.expose()),
            pair(SIM_KEY_ENV, secrets.sim_key.expose()),
            pair("PYTHONUNBUFFERED", "1"),
            pair(SPOOL_ENV, &crate::paths::spool(data).display().to_string()),
            pair(
                KEY_REGISTRY_ENV,
                &crate::paths::key_registry(data).display().to_string(),
            ),
            pair(EDGE_TOKEN_ENV, secrets.edge_token.expose()),
        ];
        env.extend(
            secrets
                .provider_keys
                .iter()
                .map(|(n, v)| pair(n, v.expose())),
        );
        let config = self.litellm_config_path().display().to_string();
        let port_s = port.to_string();
        let args = [
            "--config",
            &config,
            "--host",
            "127.0.0.1",
            "--port",
            &port_s,
        ]
        .map(String::from);
        let bin = self.venv().litellm();
        let health = "/health/liveliness";
        self.start(
            Service::Litellm,
            &bin,
            &args,
            &env,
            port,
            health,
            "litellm",
            Some(version),
        )
    }

    async fn launch_prometheus(
        &self,
        ports: Ports,
        bin: &Path,
        metrics_token: &Secret,
    ) -> Result<ServiceRecord, Error> {
        let pdir = self.dir().join("prometheus");
        // The scrape token in a file of its own, readable by this user only: Prometheus reads
        // credentials from a file (never from its environment), and the config stays token-free.
        let token_file = pdir.join(prometheus::TOKEN_FILE);
        write_private(&token_file, metrics_token.expose())?;
        write_private(
            &pdir.join("prometheus.yml"),
            &prometheus::scrape_config(
                ports.litellm,
                ports.edge,
                self.opts.scrape_interval_s,
                &token_file.display().to_string(),
            ),
        )?;
        let args = [
            format!("--config.file={}", pdir.join("prometheus.yml").display()),
            format!("--storage.tsdb.path={}", pdir.join("data").display()),
            format!("--web.listen-address=127.0.0.1:{}", ports.prometheus),
            "--storage.tsdb.retention.time=7d".to_string(),
        ];
        let version = prometheus_version(bin).await;
        let port = ports.prometheus;
        self.start(
            Service::Prometheus,
            bin,
            &args,
            &[],
            port,
            "/-/ready",
            "prometheus",
            version,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn start(
        &self,
        name: Service,
        program: &Path,
        args: &[String],
        env: &[(String, String)],
        port: u16,
        health_path: &str,
        marker: &str,
        version: Option<String>,
    ) -> Result<ServiceRecord, Error> {
        let log = self.log_path(name);
        let cwd = self.working_dir(name)?;
        let pid = process::spawn(program, args, env, &cwd, &log)?;
        Ok(ServiceRecord {
            name,
            pid,
            port,
            url: format!("http://127.0.0.1:{port}"),
            health_path: health_path.into(),
            log,
            version,
            marker: marker.into(),
        })
    }

    /// Where a service runs. LiteLLM puts `../..` of its working directory first on its import
    /// path (`proxy_server.py`, "for litellm local dev"): run from the stack directory, that is
    /// the data directory's parent (`/tmp` for a temporary one), where any folder named like a
    /// module it imports — an `httptools` folder was seen to crash every connection — would
    /// replace the installed one. Two levels under StackPerf's own `litellm/` folder, `../..` is
    /// that folder, which holds only the config and StackPerf's hook modules.
    fn working_dir(&self, name: Service) -> Result<PathBuf, Error> {
        if name != Service::Litellm {
            return Ok(self.dir());
        }
        let dir = self.dir().join(name.as_str()).join("run").join("run");
        std::fs::create_dir_all(&dir).map_err(io_err(format!("create {}", dir.display())))?;
        Ok(dir)
    }

    /// Wait until `rec` answers its health check (elapsed time reported every 5 s).
    pub(super) async fn wait_healthy(
        &self,
        rec: &ServiceRecord,
        progress: Progress<'_>,
    ) -> Result<(), Error> {
        let started = Instant::now();
        let mut next_note = Duration::from_secs(5);
        let client = http();
        let fail = |message: String| Error::ServiceFailed {
            service: rec.name,
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
                    service: rec.name,
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
                    service: Some(rec.name),
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
}
