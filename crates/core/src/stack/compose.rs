//! The Docker Compose runtime: LiteLLM (with PostgreSQL), Prometheus and Grafana from
//! `docker-compose.yml`. The files are embedded and written under `<data>/stack/compose`, so an
//! installed binary needs no source tree. Secrets reach Compose only through the environment of
//! the `docker compose` child process.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use stackperf_contract::Service;

use super::litellm_config::SIM_KEY_ENV;
use super::{Ports, ServiceState, ServiceStatus};
use crate::secrets::MASTER_KEY;
use crate::{io_err, Error};

/// The Compose project name.
pub const PROJECT: &str = "stackperf";
/// The compose profile that adds the simulator service (docker-compose.yml: `profiles: ["sim"]`).
const SIM_PROFILE: &str = "sim";
/// Keychain names of the secrets only the Compose runtime needs (generated on first use).
pub const POSTGRES_PASSWORD: &str = "POSTGRES_PASSWORD";
pub const GRAFANA_ADMIN_PASSWORD: &str = "GRAFANA_ADMIN_PASSWORD";

/// The files of the Compose runtime, relative to the compose directory.
pub const FILES: &[(&str, &str)] = &[
    (
        "docker-compose.yml",
        include_str!("../../../../docker-compose.yml"),
    ),
    (
        "configs/prometheus/prometheus.yml",
        include_str!("../../../../configs/prometheus/prometheus.yml"),
    ),
    (
        "configs/grafana/provisioning/datasources/prometheus.yml",
        include_str!("../../../../configs/grafana/provisioning/datasources/prometheus.yml"),
    ),
    (
        "configs/grafana/provisioning/dashboards/stackperf.yml",
        include_str!("../../../../configs/grafana/provisioning/dashboards/stackperf.yml"),
    ),
    (
        "configs/grafana/dashboards/live-latency.json",
        include_str!("../../../../configs/grafana/dashboards/live-latency.json"),
    ),
    (
        "configs/grafana/dashboards/live-ttft.json",
        include_str!("../../../../configs/grafana/dashboards/live-ttft.json"),
    ),
    (
        "configs/grafana/dashboards/live-errors.json",
        include_str!("../../../../configs/grafana/dashboards/live-errors.json"),
    ),
    (
        "configs/grafana/dashboards/experiment-summary.json",
        include_str!("../../../../configs/grafana/dashboards/experiment-summary.json"),
    ),
];

/// The Compose runtime rooted at a directory.
pub struct ComposeStack {
    pub dir: PathBuf,
    /// `docker` (or `STACKPERF_DOCKER`).
    pub docker: PathBuf,
}

/// Everything `docker compose up` needs from StackPerf.
pub struct ComposeEnv {
    pub vars: Vec<(String, String)>,
}

impl ComposeEnv {
    /// The variables for the compose file: secrets, the generated LiteLLM config dir, ports.
    pub fn new(
        secrets: &[(String, String)],
        data_dir: &Path,
        litellm_config_dir: &Path,
        stackperf_bin: &Path,
        ports: Ports,
        grafana_port: u16,
    ) -> Self {
        let mut vars: Vec<(String, String)> = secrets.to_vec();
        vars.push((
            "STACKPERF_LITELLM_CONFIG_DIR".into(),
            litellm_config_dir.display().to_string(),
        ));
        vars.push(("STACKPERF_BIN".into(), stackperf_bin.display().to_string()));
        let (spool, registry) = (
            crate::paths::spool(data_dir),
            crate::paths::key_registry(data_dir),
        );
        for (name, file) in [
            ("STACKPERF_CAPTURE_DIR", spool),
            ("STACKPERF_KEYS_DIR", registry),
        ] {
            if let Some(dir) = file.parent() {
                vars.push((name.into(), dir.display().to_string()));
            }
        }
        vars.push(("STACKPERF_LITELLM_PORT".into(), ports.litellm.to_string()));
        vars.push(("STACKPERF_SIM_PORT".into(), ports.sim.to_string()));
        vars.push((
            "STACKPERF_PROMETHEUS_PORT".into(),
            ports.prometheus.to_string(),
        ));
        vars.push(("STACKPERF_GRAFANA_PORT".into(), grafana_port.to_string()));
        ComposeEnv { vars }
    }

    /// Names of the variables that carry secrets (for redaction in logs and tests).
    pub fn secret_names() -> [&'static str; 4] {
        [
            MASTER_KEY,
            POSTGRES_PASSWORD,
            GRAFANA_ADMIN_PASSWORD,
            SIM_KEY_ENV,
        ]
    }
}

impl ComposeStack {
    pub fn new(data_dir: &Path) -> Self {
        let docker = std::env::var_os("STACKPERF_DOCKER")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("docker"));
        ComposeStack {
            dir: data_dir.join("stack").join("compose"),
            docker,
        }
    }

    fn file(&self) -> PathBuf {
        self.dir.join("docker-compose.yml")
    }

    /// Write the compose tree and the generated LiteLLM config (`<dir>/litellm/config.yaml`).
    pub fn write_files(&self, litellm_config: &str) -> Result<PathBuf, Error> {
        for (rel, text) in FILES {
            let path = self.dir.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(io_err(format!("create {}", parent.display())))?;
            }
            std::fs::write(&path, text).map_err(io_err(format!("write {}", path.display())))?;
        }
        let litellm_dir = self.dir.join("litellm");
        std::fs::create_dir_all(&litellm_dir)
            .map_err(io_err(format!("create {}", litellm_dir.display())))?;
        std::fs::write(litellm_dir.join("config.yaml"), litellm_config)
            .map_err(io_err("write the LiteLLM config"))?;
        Ok(litellm_dir)
    }

    /// Overwrite the shipped scrape config with one naming this stack's ports (Prometheus runs on
    /// the host's network: LiteLLM's published port, the natively run edge's metrics).
    /// The edge's metrics token goes beside it, mounted into the container: readable by the
    /// container's user, inside the data directory only this user can enter (0700).
    pub fn write_prometheus_config(
        &self,
        litellm_port: u16,
        edge_port: u16,
        metrics_token: &crate::secrets::Secret,
    ) -> Result<(), Error> {
        use super::prometheus::{scrape_config, TOKEN_FILE};
        let dir = self.dir.join("configs/prometheus");
        let token = dir.join(TOKEN_FILE);
        std::fs::write(&token, metrics_token.expose())
            .map_err(io_err(format!("write {}", token.display())))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644))
                .map_err(io_err(format!("chmod {}", token.display())))?;
        }
        let path = dir.join("prometheus.yml");
        let text = scrape_config(
            litellm_port,
            edge_port,
            5,
            &format!("/etc/prometheus/{TOKEN_FILE}"),
        );
        std::fs::write(&path, text).map_err(io_err(format!("write {}", path.display())))
    }

    fn base(&self) -> Command {
        let mut c = super::process::command(&self.docker);
        c.arg("compose")
            .arg("-f")
            .arg(self.file())
            .args(["-p", PROJECT]);
        c
    }

    /// `docker compose … [--profile sim] up -d --wait`, with the environment set.
    pub fn up_command(&self, env: &ComposeEnv, with_sim: bool) -> Command {
        let mut c = self.base();
        if with_sim {
            c.args(["--profile", SIM_PROFILE]);
        }
        c.args(["up", "-d", "--wait"])
            .envs(env.vars.iter().map(|(k, v)| (k, v)));
        c
    }

    /// `docker compose … --profile sim down` (stops the simulator too if it runs).
    pub fn down_command(&self) -> Command {
        let mut c = self.base();
        c.args(["--profile", SIM_PROFILE, "down"]);
        c
    }

    /// `docker compose … ps --all --format json`.
    pub fn ps_command(&self) -> Command {
        let mut c = self.base();
        c.args(["--profile", SIM_PROFILE, "ps", "--all", "--format", "json"]);
        c
    }

    /// `docker compose … logs --tail 200 [--follow] SERVICE`.
    pub fn logs_command(&self, service: Service, follow: bool) -> Command {
        let mut c = self.base();
        c.args(["--profile", SIM_PROFILE, "logs", "--tail", "200"]);
        if follow {
            c.arg("--follow");
        }
        c.arg(service.as_str());
        c
    }

    /// Run a compose command to completion; its output on failure.
    pub fn run(&self, mut cmd: Command) -> Result<String, Error> {
        let out = cmd.output().map_err(|e| Error::Compose(format!("cannot run {}: {e}. Install Docker with the compose plugin, or use the native runtime.", self.docker.display())))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).to_string())
        } else {
            Err(Error::Compose(
                String::from_utf8_lossy(&out.stderr).trim().to_string(),
            ))
        }
    }
}

/// Parse `docker compose ps --format json` (a JSON array, or one object per line).
pub fn parse_ps(text: &str) -> Vec<ServiceStatus> {
    let items: Vec<Value> = match serde_json::from_str::<Value>(text.trim()) {
        Ok(Value::Array(a)) => a,
        Ok(v @ Value::Object(_)) => vec![v],
        _ => text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect(),
    };
    items
        .iter()
        // Only the services of StackPerf's compose file (it is ours; nothing else is listed).
        .filter_map(|c| {
            let name = Service::parse(c.get("Service").and_then(Value::as_str)?)?;
            let s = |k: &str| {
                c.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            let state = s("State");
            let health = s("Health");
            let port = c.get("Publishers").and_then(Value::as_array).and_then(|p| {
                p.iter().find_map(|x| {
                    x.get("PublishedPort")
                        .and_then(Value::as_u64)
                        .filter(|p| *p > 0)
                })
            });
            Some(ServiceStatus {
                name,
                // docker's created, restarting, paused, exited, dead… are not running.
                state: match state.as_str() {
                    "running" if health == "unhealthy" => ServiceState::Unhealthy,
                    "running" => ServiceState::Running,
                    _ => ServiceState::Stopped,
                },
                url: port.map(|p| format!("http://127.0.0.1:{p}")),
                healthy: state == "running" && (health.is_empty() || health == "healthy"),
                version: c
                    .get("Image")
                    .and_then(Value::as_str)
                    .and_then(|i| i.rsplit_once(':'))
                    .map(|(_, t)| t.to_string()),
                pid: None,
                container: Some(s("Name")),
                log: None,
                detail: (!health.is_empty() && health != "healthy")
                    .then(|| format!("health: {health}")),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(c: &Command) -> Vec<String> {
        c.get_args()
            .map(|a| a.to_string_lossy().to_string())
            .collect()
    }

    #[test]
    fn command_lines_are_exact_and_secrets_travel_only_in_the_environment() {
        let stack = ComposeStack {
            dir: PathBuf::from("/data/stack/compose"),
            docker: PathBuf::from("docker"),
        };
        let env = ComposeEnv::new(
            &[
                ("LITELLM_MASTER_KEY".into(), "sk-master".into()),
                ("POSTGRES_PASSWORD".into(), "pg".into()),
            ],
            Path::new("/data"),
            Path::new("/data/stack/compose/litellm"),
            Path::new("/usr/bin/stackperf"),
            Ports::default(),
            3000,
        );
        let up = stack.up_command(&env, true);
        assert_eq!(up.get_program(), "docker");
        assert_eq!(
            args(&up),
            [
                "compose",
                "-f",
                "/data/stack/compose/docker-compose.yml",
                "-p",
                "stackperf",
                "--profile",
                "sim",
                "up",
                "-d",
                "--wait"
            ]
        );
        assert!(
            !args(&up).iter().any(|a| a.contains("sk-master")),
            "no secret on the command line"
        );
        let envs: Vec<(String, String)> = up
            .get_envs()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().to_string(),
                    v.map(|v| v.to_string_lossy().to_string())
                        .unwrap_or_default(),
                )
            })
            .collect();
        assert!(envs.contains(&("LITELLM_MASTER_KEY".into(), "sk-master".into())));
        assert!(envs.contains(&(
            "STACKPERF_LITELLM_CONFIG_DIR".into(),
            "/data/stack/compose/litellm".into()
        )));
        assert!(envs.contains(&("STACKPERF_LITELLM_PORT".into(), "4000".into())));
        assert!(envs.contains(&("STACKPERF_CAPTURE_DIR".into(), "/data/capture".into())));
        assert!(envs.contains(&("STACKPERF_KEYS_DIR".into(), "/data/keys".into())));
        assert_eq!(
            args(&stack.up_command(&env, false))[5..],
            ["up", "-d", "--wait"]
        );
        assert_eq!(
            args(&stack.down_command())[5..],
            ["--profile", "sim", "down"]
        );
        assert_eq!(
            args(&stack.ps_command())[5..],
            ["--profile", "sim", "ps", "--all", "--format", "json"]
        );
        assert_eq!(
            args(&stack.logs_command(Service::Litellm, true))[5..],
            [
                "--profile",
                "sim",
                "logs",
                "--tail",
                "200",
                "--follow",
                "litellm"
            ]
        );
    }

    #[test]
    fn ps_output_is_parsed_in_both_formats() {
        let line = r#"{"Name":"stackperf-litellm-1","Service":"litellm","State":"running","Health":"healthy","Image":"ghcr.io/berriai/litellm:main-v1.108.7","Publishers":[{"URL":"127.0.0.1","TargetPort":4000,"PublishedPort":4000,"Protocol":"tcp"}]}"#;
        let starting = r#"{"Name":"stackperf-grafana-1","Service":"grafana","State":"running","Health":"starting","Image":"grafana/grafana:11.3.1","Publishers":[]}"#;
        for text in [
            format!("{line}\n{starting}\n"),
            format!("[{line},{starting}]"),
        ] {
            let s = parse_ps(&text);
            assert_eq!(s.len(), 2);
            assert!(
                s[0].healthy
                    && s[0].url.as_deref() == Some("http://127.0.0.1:4000")
                    && s[0].version.as_deref() == Some("main-v1.108.7")
            );
            assert!(!s[1].healthy && s[1].detail.as_deref() == Some("health: starting"));
        }
    }

    #[test]
    fn the_written_tree_mirrors_the_repository_layout() {
        let dir = tempfile::tempdir().unwrap();
        let stack = ComposeStack::new(dir.path());
        let litellm = stack.write_files("{}").unwrap();
        assert!(litellm.join("config.yaml").exists());
        for (rel, _) in FILES {
            assert!(stack.dir.join(rel).exists(), "{rel}");
        }
        let compose = std::fs::read_to_string(stack.file()).unwrap();
        for (rel, _) in FILES.iter().skip(1) {
            let dir = Path::new(rel)
                .parent()
                .unwrap()
                .to_string_lossy()
                .to_string();
            assert!(
                compose.contains(&format!(
                    "./{}",
                    if dir.contains("provisioning") {
                        "configs/grafana/provisioning".to_string()
                    } else {
                        dir.clone()
                    }
                )),
                "compose does not mount {dir}"
            );
        }
    }

    #[test]
    fn the_scrape_config_names_the_stacks_ports() {
        let dir = tempfile::tempdir().unwrap();
        let stack = ComposeStack::new(dir.path());
        stack.write_files("{}").unwrap();
        let shipped =
            std::fs::read_to_string(stack.dir.join("configs/prometheus/prometheus.yml")).unwrap();
        // The shipped file names the default ports; the stack's own replace them.
        assert!(shipped.contains("127.0.0.1:4000") && shipped.contains("127.0.0.1:4100"));
        let token = crate::secrets::Secret::new("t0k3n".to_string());
        stack.write_prometheus_config(14000, 14100, &token).unwrap();
        let on_disk = std::fs::read_to_string(stack.dir.join("configs/prometheus/metrics.token"));
        assert_eq!(on_disk.unwrap(), "t0k3n");
        let text =
            std::fs::read_to_string(stack.dir.join("configs/prometheus/prometheus.yml")).unwrap();
        assert!(text.contains("\"127.0.0.1:14000\""), "{text}");
        assert!(text.contains("\"127.0.0.1:14100\""), "{text}");
        assert!(
            text.contains(stackperf_contract::wire::METRICS_PATH),
            "{text}"
        );
        assert!(
            !text.contains(":4000\"") && !text.contains(":4100\""),
            "{text}"
        );
    }
}
