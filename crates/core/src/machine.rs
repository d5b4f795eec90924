//! The environment a session ran in, recorded as data (docs/runs.md, "Environment"): which
//! machine (a stable id, the host name, OS, CPU model and count, memory), how loaded it was when
//! the session began and ended, how many other sessions ran beside it, and its time limit.
//! Compare warns when compared variants ran under different environments.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A session's environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Environment {
    /// A stable id of the machine: a hash of `/etc/machine-id` (never the id itself), else of
    /// the host name.
    pub machine_id: String,
    pub hostname: String,
    /// OS, architecture and distribution, e.g. "linux x86_64 (Debian GNU/Linux 12 (bookworm))".
    pub os: String,
    pub cpu_model: String,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub cpus: u32,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub memory_mib: u64,
    /// The 1-minute load average when the session began and when it ended.
    pub load_start: Option<f64>,
    pub load_end: Option<f64>,
    /// Other sessions active on this store when it began.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub concurrent_sessions: u32,
    /// Its time limit (a run's `--timeout`, else the task card's timebox).
    pub time_limit_s: Option<f64>,
}

impl Environment {
    /// This machine now, with `concurrent` other active sessions and a time limit.
    pub fn now(concurrent: u32, time_limit_s: Option<f64>) -> Environment {
        let Identity {
            machine_id,
            hostname,
        } = Identity::this();
        Environment {
            machine_id,
            hostname,
            os: os_name(),
            cpu_model: cpu_model().unwrap_or_else(|| "unknown".into()),
            cpus: std::thread::available_parallelism()
                .map(|n| n.get() as u32)
                .unwrap_or(1),
            memory_mib: memory_mib().unwrap_or(0),
            load_start: load_average(),
            load_end: None,
            concurrent_sessions: concurrent,
            time_limit_s,
        }
    }

    /// The load at the start per CPU (1.0: every core busy on average).
    pub fn load_per_cpu(&self) -> Option<f64> {
        self.load_start.map(|l| l / f64::from(self.cpus.max(1)))
    }
}

/// Which machine this is: its stable id and host name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// A hash of `/etc/machine-id` (never the id itself), else of the host name: 16 hex digits.
    pub machine_id: String,
    pub hostname: String,
}

impl Identity {
    /// This machine (read once per process: neither changes while it runs). Where several
    /// machines share one `/etc/machine-id` (cloned VMs, containers from one image),
    /// `STACKPERF_MACHINE_ID` names each apart.
    pub fn this() -> Identity {
        static THIS: std::sync::OnceLock<Identity> = std::sync::OnceLock::new();
        THIS.get_or_init(|| {
            let hostname = read("/etc/hostname")
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "unknown-host".into());
            let id_source = std::env::var("STACKPERF_MACHINE_ID")
                .ok()
                .or_else(|| read("/etc/machine-id"))
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| hostname.clone());
            Identity::named(&id_source, &hostname)
        })
        .clone()
    }

    /// The identity of the machine whose id source (its machine-id) is `source`.
    pub fn named(source: &str, hostname: &str) -> Identity {
        let digest = Sha256::digest(format!("stackperf-machine:{source}").as_bytes());
        Identity {
            machine_id: digest.iter().take(8).map(|b| format!("{b:02x}")).collect(),
            hostname: hostname.to_string(),
        }
    }
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// The 1-minute load average (Linux `/proc/loadavg`).
pub fn load_average() -> Option<f64> {
    read("/proc/loadavg")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn cpu_model() -> Option<String> {
    let info = read("/proc/cpuinfo")?;
    info.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}

fn memory_mib() -> Option<u64> {
    let info = read("/proc/meminfo")?;
    let kib: u64 = info
        .lines()
        .find(|l| l.starts_with("MemTotal:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kib / 1024)
}

fn os_name() -> String {
    let base = format!("{} {}", std::env::consts::OS, std::env::consts::ARCH);
    let pretty = read("/etc/os-release").and_then(|t| {
        t.lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map(|v| v.trim_matches('"').to_string())
    });
    match pretty {
        Some(p) => format!("{base} ({p})"),
        None => base,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_machine_is_described_and_its_id_is_stable_and_not_the_raw_id() {
        let a = Environment::now(2, Some(60.0));
        let b = Environment::now(0, None);
        assert_eq!(a.machine_id, b.machine_id);
        assert_eq!(a.machine_id.len(), 16);
        if let Some(raw) = read("/etc/machine-id") {
            assert!(!raw.contains(&a.machine_id), "a hash, not the id");
        }
        assert!(a.cpus >= 1);
        assert_eq!(a.concurrent_sessions, 2);
        if cfg!(target_os = "linux") {
            assert!(a.memory_mib > 0 && a.load_start.is_some() && a.cpu_model != "unknown");
        }
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<Environment>(&json).unwrap(), a);
    }
}
