//! The proxy stack: LiteLLM, the simulated provider and Prometheus. Two runtimes behind one set
//! of types: native processes (the default, no Docker) and Docker Compose.

pub mod compose;
pub mod compose_run;
pub mod edge;
pub mod journal;
mod launch;
pub mod litellm_config;
mod lock;
mod native;
mod probe;
pub mod process;
pub mod prometheus;
pub mod venv;

pub use lock::StackLock;

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use litellm_config::SkippedProvider;
pub use native::{DownReport, NativeStack, StackState, UpReport};

use crate::config::Registry;
use crate::secrets::{Secret, Secrets};
use crate::Error;
use litellm_config::{EDGE_TOKEN_ENV, METRICS_TOKEN_ENV, SIM_KEY_ENV};
pub use stackperf_contract::Service;

/// Which runtime runs the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Runtime {
    Native,
    Compose,
}

/// Loopback ports of the stack's services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Ports {
    /// StackPerf's edge: the URL harnesses are given.
    #[serde(default = "default_edge_port")]
    pub edge: u16,
    pub litellm: u16,
    pub sim: u16,
    pub prometheus: u16,
}

fn default_edge_port() -> u16 {
    Service::Edge.default_port()
}

impl Default for Ports {
    fn default() -> Self {
        Ports {
            edge: default_edge_port(),
            litellm: Service::Litellm.default_port(),
            sim: Service::Sim.default_port(),
            prometheus: Service::Prometheus.default_port(),
        }
    }
}

impl Ports {
    /// The port of a service the native stack runs (`None` for the Compose-only ones).
    pub fn of(&self, service: Service) -> Option<u16> {
        match service {
            Service::Edge => Some(self.edge),
            Service::Litellm => Some(self.litellm),
            Service::Sim => Some(self.sim),
            Service::Prometheus => Some(self.prometheus),
            Service::Grafana | Service::Postgres => None,
        }
    }
}

/// Where and how the stack runs.
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// State, logs and generated configs go under `<data_dir>/stack`.
    pub data_dir: PathBuf,
    /// The LiteLLM virtualenv lives under here.
    pub cache_dir: PathBuf,
    pub ports: Ports,
    /// How long a service may take to become healthy.
    pub health_timeout: Duration,
    /// The `stackperf` binary (it serves the simulator).
    pub stackperf_bin: PathBuf,
    pub scrape_interval_s: u32,
}

/// Progress of long stack operations, for the CLI's lines and the desktop's events.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StackEvent {
    /// `service` is `None` for a step of the stack as a whole.
    Step {
        service: Option<Service>,
        message: String,
    },
    /// A line of an installer's output.
    Output {
        service: Service,
        line: String,
    },
    Healthy {
        service: Service,
        url: String,
        #[cfg_attr(feature = "specta", specta(type = f64))]
        elapsed_ms: u64,
    },
    Warning {
        message: String,
    },
    /// A configured provider the stack does not serve (no key, …), with the fix.
    NotServed {
        provider: String,
        message: String,
    },
}

/// A progress sink.
pub type Progress<'a> = &'a (dyn Fn(StackEvent) + Send + Sync);

/// One service as `stack status` shows it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ServiceStatus {
    pub name: Service,
    pub state: ServiceState,
    pub url: Option<String>,
    pub healthy: bool,
    pub version: Option<String>,
    pub pid: Option<u32>,
    pub container: Option<String>,
    pub log: Option<PathBuf>,
    /// What to do, when something is wrong.
    pub detail: Option<String>,
}

/// A service's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum ServiceState {
    /// Its process (or container) runs; `healthy` says whether it answers.
    Running,
    /// It runs but does not answer its health check.
    Unhealthy,
    Stopped,
    /// Recorded as started, but its process is gone.
    Stale,
    /// Not installed here (e.g. Prometheus): the stack runs without it.
    Absent,
}

impl ServiceState {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl std::fmt::Display for ServiceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The secrets the stack hands to LiteLLM, resolved up front (keychain calls block).
pub struct StackSecrets {
    pub master_key: Secret,
    /// The key LiteLLM presents to the simulator (kept in the keychain, so a restarted LiteLLM
    /// or simulator matches the one that kept running).
    pub sim_key: Secret,
    /// The token the edge presents to LiteLLM (kept likewise).
    pub edge_token: Secret,
    /// The token Prometheus presents to read the edge's metrics (kept likewise).
    pub metrics_token: Secret,
    /// `(secret name, value)` for every provider key that is set.
    pub provider_keys: Vec<(String, Secret)>,
    /// Set when the keychain could not be read for provider keys (those providers go unserved).
    pub keychain_warning: Option<String>,
}

impl StackSecrets {
    /// The master key (generated on first use) and every provider key that is available.
    pub fn resolve(reg: &Registry, secrets: &Secrets) -> Result<StackSecrets, Error> {
        let master_key = secrets.master_key()?;
        let sim_key = secrets.get_or_generate(SIM_KEY_ENV, "sk-stackperf-sim-")?;
        let edge_token = secrets.get_or_generate(EDGE_TOKEN_ENV, "stackperf-edge-")?;
        let metrics_token = secrets.get_or_generate(METRICS_TOKEN_ENV, "stackperf-metrics-")?;
        let mut provider_keys = Vec::new();
        let mut keychain_warning = None;
        for p in reg
            .providers
            .iter()
            .map(|l| &l.value)
            .filter(|p| !p.simulator)
        {
            let Some(name) = &p.api_key_env else { continue };
            if provider_keys.iter().any(|(n, _)| n == name) {
                continue;
            }
            match secrets.resolve(name) {
                Ok(Some((value, _))) => provider_keys.push((name.clone(), value)),
                Ok(None) => {}
                // Without a keychain only keys in the environment can be used; say so once.
                Err(e @ Error::KeychainUnavailable(_)) => keychain_warning = Some(e.to_string()),
                Err(e) => return Err(e),
            }
        }
        Ok(StackSecrets {
            master_key,
            sim_key,
            edge_token,
            metrics_token,
            provider_keys,
            keychain_warning,
        })
    }

    pub fn has(&self, name: &str) -> bool {
        self.provider_keys.iter().any(|(n, _)| n == name)
    }

    /// A hash of the internal secrets the services share (never the values).
    pub fn fingerprint(&self) -> String {
        let joined = [
            &self.master_key,
            &self.sim_key,
            &self.edge_token,
            &self.metrics_token,
        ]
        .map(|s| s.expose())
        .join("\n");
        crate::credentials::key_hash(&Secret::new(joined))[..16].to_string()
    }
}

/// The URL harnesses are given: StackPerf's edge of the running native stack (a stack started
/// before the edge existed: its LiteLLM), or of the Compose runtime, else the default edge port.
pub fn harness_url(data_dir: &std::path::Path, state: Option<&StackState>) -> String {
    let port = match state {
        Some(s) if s.services.iter().any(|r| r.name == Service::Edge) => s.ports.edge,
        Some(s) => s.ports.litellm,
        None => edge::compose_record(data_dir)
            .map(|r| r.port)
            .unwrap_or(Ports::default().edge),
    };
    format!("http://127.0.0.1:{port}")
}
