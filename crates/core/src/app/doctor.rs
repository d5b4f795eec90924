//! The `doctor` checks: every prerequisite and running part, each with the fix when it fails.
//! Shared by `stackperf doctor` and the desktop's Stack screen.

use std::time::Duration;

use serde::Serialize;

use super::AppPaths;
use crate::config::Registry;
use crate::secrets::{KeyringStore, SecretStore};
use crate::stack::{process, prometheus, NativeStack};
use crate::store::Store;
use stackperf_contract::Service;

/// One check.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
    /// What to do (empty when the check passed).
    pub fix: String,
}

fn check(name: &str, ok: bool, detail: impl Into<String>, fix: impl Into<String>) -> Check {
    Check {
        name: name.into(),
        ok,
        detail: detail.into(),
        fix: if ok { String::new() } else { fix.into() },
    }
}

/// Run every check (blocking probes run on a blocking thread).
pub async fn checks(paths: &AppPaths, stack: &NativeStack) -> Vec<Check> {
    let mut out = Vec::new();
    let config_dir = paths.config_dir.clone();
    let blocking = tokio::task::spawn_blocking(move || local_checks(&config_dir)).await;
    out.extend(blocking.unwrap_or_default());

    let venv = stack.venv();
    out.push(match venv.installed() {
        Some(v) => check(
            "litellm install",
            true,
            format!("LiteLLM {v} in {}", venv.dir.display()),
            "",
        ),
        None => check(
            "litellm install",
            false,
            "not installed yet",
            "starting the stack installs it (about 650 MB, hash-checked)",
        ),
    });
    let state = stack.state();
    let ports = state.as_ref().map(|s| s.ports).unwrap_or_default();
    for name in Service::NATIVE_START_ORDER {
        let port = ports.of(name).unwrap_or(0);
        let ours = state.as_ref().is_some_and(|s| {
            s.services
                .iter()
                .any(|r| r.name == name && process::alive(r.pid))
        });
        let free = process::port_free(port);
        let detail = if ours {
            format!("127.0.0.1:{port} used by the running stack")
        } else if free {
            format!("127.0.0.1:{port} free")
        } else {
            format!("127.0.0.1:{port} taken by another program")
        };
        out.push(check(
            &format!("port {name}"),
            ours || free,
            detail,
            format!("free port {port}, or start the stack on another port (--{name}-port N or STACKPERF_{}_PORT)", name.as_str().to_uppercase()),
        ));
    }
    let services = stack.status().await;
    // Every service the stack recorded as started must be running: a dead one is a failure
    // with what to run, not a free port.
    if state.is_some() {
        for s in services
            .iter()
            .filter(|s| s.state != crate::stack::ServiceState::Absent)
        {
            let alive = s.state == crate::stack::ServiceState::Running;
            out.push(check(
                &format!("service {}", s.name),
                alive && s.healthy,
                match (alive, s.healthy) {
                    (true, true) => {
                        format!("running, healthy at {}", s.url.clone().unwrap_or_default())
                    }
                    (true, false) => {
                        format!("running but not answering its health check ({})", s.state)
                    }
                    (false, _) => format!(
                        "{}: {}",
                        s.state,
                        s.detail.clone().unwrap_or_else(|| "not running".into())
                    ),
                },
                if alive {
                    format!("see its log: `stackperf stack logs {}`", s.name)
                } else {
                    "`stackperf stack up` starts it again".to_string()
                },
            ));
        }
    }
    let litellm = services.iter().find(|s| s.name == Service::Litellm);
    let running = litellm.is_some_and(|s| s.state == crate::stack::ServiceState::Running);
    out.push(check(
        "litellm health",
        litellm.is_some_and(|s| s.healthy),
        litellm
            .map(|s| format!("{} {}", s.state, s.url.clone().unwrap_or_default()))
            .unwrap_or_default(),
        if running {
            "see the LiteLLM log (`stackperf stack logs litellm`)"
        } else {
            "start the stack"
        },
    ));
    match prometheus::find_binary() {
        None => out.push(check(
            "prometheus",
            false,
            "not installed",
            prometheus::INSTALL_HINT,
        )),
        Some(bin) => {
            let targets = prometheus_targets(ports.prometheus).await;
            out.push(check("prometheus", true, format!("{}", bin.display()), ""));
            out.push(check(
                "prometheus target",
                matches!(targets, Some(Targets::Up | Targets::NotYet)),
                match targets {
                    Some(Targets::Up) => "LiteLLM and StackPerf targets up".to_string(),
                    Some(Targets::NotYet) => {
                        "Prometheus is loading its targets (it does a few seconds after it starts)"
                            .into()
                    }
                    Some(Targets::Down) => {
                        "a target is down (LiteLLM's or StackPerf's edge metrics)".into()
                    }
                    None => "Prometheus not running".into(),
                },
                "start the stack; if it runs, see the Prometheus log (`stackperf stack logs prometheus`)",
            ));
            if targets == Some(Targets::Up) {
                out.extend(prometheus_agrees(ports.prometheus, &paths.db_path).await);
            }
        }
    }
    let db = paths.db_path.clone();
    out.push(
        match async { Store::open(&db).await?.applied_migrations().await }.await {
            Ok(m) => check(
                "database",
                true,
                format!(
                    "{} (migration {})",
                    db.display(),
                    m.last().map(|m| m.version).unwrap_or(0)
                ),
                "",
            ),
            Err(e) => check(
                "database",
                false,
                e.to_string(),
                "pass --db PATH (or set STACKPERF_DB) to a writable location",
            ),
        },
    );
    let probe =
        tokio::task::spawn_blocking(|| KeyringStore::new().get("STACKPERF_DOCTOR_PROBE")).await;
    let probe_err = match probe {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(e) => Some(e.to_string()),
    };
    out.push(check(
        "keychain",
        probe_err.is_none(),
        probe_err.unwrap_or_else(|| "reachable".into()),
        "start a Secret Service (gnome-keyring) or set secrets as environment variables",
    ));
    out
}

/// Config, Python and venv checks (they run programs and read files).
fn local_checks(config_dir: &std::path::Path) -> Vec<Check> {
    let mut out = Vec::new();
    let (_, problems) = Registry::load(config_dir);
    out.push(check(
        "config",
        problems.is_empty(),
        format!("{} problem(s) in {}", problems.len(), config_dir.display()),
        "run `stackperf config validate` (or open Experiment setup) and fix what it lists",
    ));
    let python = std::env::var("STACKPERF_PYTHON").unwrap_or_else(|_| "python3".into());
    let py = crate::stack::process::command(&python)
        .arg("--version")
        .output();
    let py_ok = py.as_ref().is_ok_and(|o| o.status.success());
    let py_detail = py
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|e| e.to_string());
    out.push(check(
        "python",
        py_ok,
        py_detail,
        "install Python 3.10+ with venv (Debian/Ubuntu: apt-get install python3 python3-venv)",
    ));
    let venv_ok = py_ok
        && crate::stack::process::command(&python)
            .args(["-c", "import venv, ensurepip"])
            .output()
            .is_ok_and(|o| o.status.success());
    out.push(check(
        "python venv",
        venv_ok,
        if venv_ok { "available" } else { "missing" },
        "apt-get install python3-venv",
    ));
    out
}

/// Whether every request Prometheus counted (StackPerf's own metrics, per session) is in the
/// database: a session with fewer rows than Prometheus saw lost capture, or is not ingested yet.
async fn prometheus_agrees(port: u16, db: &std::path::Path) -> Option<Check> {
    let v = prometheus_api(
        port,
        "query",
        &[("query", "sum by (session) (stackperf_requests_total)")],
    )
    .await?;
    let store = Store::open(db).await.ok()?;
    let mut short = Vec::new();
    let result = v["data"]["result"].as_array()?;
    for r in result {
        let Some(session) = r["metric"]["session"].as_str() else {
            continue;
        };
        let seen = r["value"][1]
            .as_str()
            .and_then(|x| x.parse::<f64>().ok())
            .unwrap_or(0.0) as i64;
        let stored = store
            .session(session)
            .await
            .ok()
            .flatten()
            .map(|s| s.request_count)
            .unwrap_or(0);
        if stored < seen {
            short.push(format!(
                "{session}: Prometheus saw {seen}, the database has {stored}"
            ));
        }
    }
    Some(check(
        "prometheus vs database",
        short.is_empty(),
        if short.is_empty() {
            format!("{} session(s) in Prometheus; every request it counted is stored", result.len())
        } else {
            short.join("; ")
        },
        "run `stackperf collect` (the desktop ingests continuously); if rows are still missing, the capture lost them — see `stackperf stack logs litellm`",
    ))
}

/// One call to the local Prometheus's HTTP API (`None` when it does not answer).
async fn prometheus_api(
    port: u16,
    endpoint: &str,
    query: &[(&str, &str)],
) -> Option<serde_json::Value> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(3))
        .build()
        .ok()?;
    client
        .get(format!("http://127.0.0.1:{port}/api/v1/{endpoint}"))
        .query(query)
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()
}

/// Prometheus's two scrape targets as it sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Targets {
    /// Both scraped, or not scraped yet ("unknown": its first scrape comes within the interval).
    Up,
    /// No target loaded yet: Prometheus's discovery hands them over a few seconds after it starts.
    NotYet,
    /// A target missing, or its last scrape failed.
    Down,
}

async fn prometheus_targets(port: u16) -> Option<Targets> {
    let v = prometheus_api(port, "targets", &[]).await?;
    let targets = v["data"]["activeTargets"].as_array()?;
    if targets.is_empty() {
        return Some(Targets::NotYet);
    }
    // "unknown" is a target not scraped yet (just after start): only "down" is a failure.
    let up = |job: &str| {
        targets
            .iter()
            .any(|t| t["labels"]["job"] == job && t["health"] != "down")
    };
    Some(if up("litellm") && up("stackperf") {
        Targets::Up
    } else {
        Targets::Down
    })
}
