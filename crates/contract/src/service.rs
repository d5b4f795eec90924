//! The programs of StackPerf's stack.

use serde::{Deserialize, Serialize};
use strum::VariantArray;

/// One program of the stack (native: processes StackPerf starts; Compose: containers).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::VariantArray,
)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Service {
    /// StackPerf's edge: the URL harnesses are given.
    Edge,
    Litellm,
    /// The simulated upstream.
    Sim,
    Prometheus,
    /// Compose only (it cannot run natively here).
    Grafana,
    /// Compose only: LiteLLM's database there.
    Postgres,
}

impl Service {
    /// The services the native stack runs, in the order it starts them (each after what it
    /// talks to; Prometheus once the others answer, so its first scrape finds them up).
    pub const NATIVE_START_ORDER: [Service; 4] = [
        Service::Sim,
        Service::Litellm,
        Service::Edge,
        Service::Prometheus,
    ];

    /// The name logs, Compose, flags (`--<name>-port`) and the journal use (the serde name).
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The service by its name.
    pub fn parse(name: &str) -> Option<Service> {
        Service::VARIANTS
            .iter()
            .copied()
            .find(|s| s.as_str() == name)
    }

    /// Services as a person reads them: `litellm, sim`.
    pub fn join(services: &[Service]) -> String {
        services
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The loopback port it listens on unless told otherwise.
    pub fn default_port(self) -> u16 {
        match self {
            Service::Edge => 4100,
            Service::Litellm => 4000,
            Service::Sim => 8765,
            Service::Prometheus => 9090,
            Service::Grafana => 3000,
            Service::Postgres => 5432,
        }
    }
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Service {
    type Err = String;

    fn from_str(name: &str) -> Result<Service, String> {
        Service::parse(name).ok_or_else(|| {
            format!(
                "unknown service `{name}`; the services are {}",
                Service::join(Service::VARIANTS)
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_default_ports_differ() {
        let all = [
            Service::Edge,
            Service::Litellm,
            Service::Sim,
            Service::Prometheus,
            Service::Grafana,
        ];
        for s in all {
            assert_eq!(Service::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
        let mut ports: Vec<u16> = all.iter().map(|s| s.default_port()).collect();
        ports.sort();
        ports.dedup();
        assert_eq!(ports.len(), all.len());
        assert_eq!(Service::parse("redis"), None);
        let e = "redis".parse::<Service>().unwrap_err();
        assert!(
            e.contains("edge, litellm, sim, prometheus, grafana, postgres"),
            "{e}"
        );
        assert_eq!(
            Service::join(&[Service::Litellm, Service::Sim]),
            "litellm, sim"
        );
    }
}
