//! `stackperf stack …`: bring the proxy stack up and down, inspect it, read its logs.

use std::io::{IsTerminal, Read, Seek, SeekFrom, Write};
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;
use stackperf_core::app::{LogSource, OnStack, ProgressKind, StackLine, StackSettings};
use stackperf_core::stack::compose;
use stackperf_core::stack::{Ports, Runtime, Service, ServiceStatus, SkippedProvider};
use stackperf_core::Error;

use crate::output::{json as print_json, table};
use crate::{app, app_with, runtime, CliError, Global};

#[derive(Subcommand, Debug)]
pub enum StackCmd {
    /// Start LiteLLM (installing it on first use), the simulator and Prometheus
    Up(UpArgs),
    /// Stop everything the stack started
    Down,
    /// Each service's state, health, URL, version and PID
    Status,
    /// Print a service's log (litellm, sim, prometheus; with Compose also postgres, grafana)
    Logs {
        service: Service,
        /// Keep printing new lines
        #[arg(long, short)]
        follow: bool,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
pub enum RuntimeArg {
    Native,
    Compose,
}

#[derive(Args, Debug)]
pub struct UpArgs {
    /// native: local processes, no Docker (default); compose: docker compose with PostgreSQL and Grafana
    #[arg(long, value_enum, default_value = "native")]
    runtime: RuntimeArg,
    #[command(flatten)]
    ports: PortArgs,
    /// Seconds each service may take to become healthy
    #[arg(long, default_value_t = 120)]
    timeout: u64,
}

#[derive(Args, Debug, Clone)]
pub struct PortArgs {
    /// StackPerf's edge (the URL harnesses are given)
    #[arg(long, env = "STACKPERF_EDGE_PORT", default_value_t = 4100)]
    edge_port: u16,
    #[arg(long, env = "STACKPERF_LITELLM_PORT", default_value_t = 4000)]
    litellm_port: u16,
    #[arg(long, env = "STACKPERF_SIM_PORT", default_value_t = 8765)]
    sim_port: u16,
    #[arg(long, env = "STACKPERF_PROMETHEUS_PORT", default_value_t = 9090)]
    prometheus_port: u16,
    /// Grafana's port (Compose runtime only)
    #[arg(long, env = "STACKPERF_GRAFANA_PORT", default_value_t = 3000)]
    grafana_port: u16,
}

/// A stack line on stderr: `[service] message`, a tool's output indented, warnings marked.
fn print_line(l: StackLine) {
    let mut err = std::io::stderr().lock();
    let who = l.service.map_or("stack", Service::as_str);
    let _ = match l.kind {
        ProgressKind::Step | ProgressKind::Healthy => writeln!(err, "[{who}] {}", l.message),
        ProgressKind::Output => writeln!(err, "    | {}", l.message),
        ProgressKind::Warning | ProgressKind::NotServed => {
            writeln!(err, "warning: {}", l.message)
        }
    };
}

fn settings(ports: &PortArgs, timeout: u64) -> StackSettings {
    StackSettings {
        ports: Ports {
            edge: ports.edge_port,
            litellm: ports.litellm_port,
            sim: ports.sim_port,
            prometheus: ports.prometheus_port,
        },
        grafana_port: ports.grafana_port,
        health_timeout: Duration::from_secs(timeout),
        show_docker_output: true,
    }
}

pub fn run(g: &Global, cmd: StackCmd) -> Result<(), CliError> {
    match cmd {
        StackCmd::Up(a) => {
            let app = app_with(g, settings(&a.ports, a.timeout))?;
            let runtime_kind = match a.runtime {
                RuntimeArg::Native => Runtime::Native,
                RuntimeArg::Compose => Runtime::Compose,
            };
            let report = runtime()?.block_on(app.stack_up(runtime_kind, &OnStack(print_line)))?;
            if g.json {
                return Ok(print_json(&report)?);
            }
            print_services(&report.services)?;
            if runtime_kind == Runtime::Compose {
                println!(
                    "\nGrafana: http://127.0.0.1:{} (user admin; password in the keychain as {})",
                    a.ports.grafana_port,
                    compose::GRAFANA_ADMIN_PASSWORD
                );
            } else if report.already_running {
                println!(
                    "\nThe stack was already running; nothing was started ({} ms).",
                    report.total_ms
                );
            } else if !report.kept.is_empty() {
                println!(
                    "\nRestarted {} in {:.1} s; {} kept running.",
                    Service::join(&report.started),
                    report.total_ms as f64 / 1000.0,
                    Service::join(&report.kept)
                );
            } else {
                println!(
                    "\nStack healthy in {:.1} s (LiteLLM start {:.1} s, StackPerf's own work {:.1} s).",
                    report.total_ms as f64 / 1000.0,
                    report.litellm_start_ms as f64 / 1000.0,
                    report.total_ms.saturating_sub(report.litellm_start_ms) as f64 / 1000.0
                );
            }
            // Providers not served were already reported as warnings while starting.
            if report.already_running {
                print_skipped(&report.skipped);
            }
            Ok(())
        }
        StackCmd::Down => {
            let report = runtime()?.block_on(app(g)?.stack_down(&OnStack(print_line)))?;
            if g.json {
                return Ok(print_json(&report)?);
            }
            if report.stopped.is_empty() && report.already_gone.is_empty() {
                println!("Nothing was running.");
            } else {
                println!(
                    "Stopped: {}",
                    if report.stopped.is_empty() {
                        "-".into()
                    } else {
                        Service::join(&report.stopped)
                    }
                );
                if !report.already_gone.is_empty() {
                    println!("Already gone: {}", Service::join(&report.already_gone));
                }
            }
            if !report.ports_still_in_use.is_empty() {
                let ports: Vec<String> = report
                    .ports_still_in_use
                    .iter()
                    .map(u16::to_string)
                    .collect();
                return Err(CliError::Usage(format!(
                    "ports still in use after stopping: {} (another program holds them)",
                    ports.join(", ")
                )));
            }
            Ok(())
        }
        StackCmd::Status => {
            let view = runtime()?.block_on(app(g)?.stack_status());
            if g.json {
                return Ok(print_json(
                    &json!({"services": view.services, "problem": view.problem}),
                )?);
            }
            if let Some(p) = &view.problem {
                eprintln!("The Compose services cannot be listed: {p}");
            }
            print_skipped(&view.skipped);
            print_services(&view.services)
        }
        StackCmd::Logs { service, follow } => match app(g)?.stack_log(service, follow)? {
            LogSource::Compose(mut cmd) => {
                let status = cmd
                    .status()
                    .map_err(|e| CliError::Core(Error::Compose(e.to_string())))?;
                if status.success() {
                    Ok(())
                } else {
                    Err(
                        Error::Compose(format!("`docker compose logs` exited with {status}"))
                            .into(),
                    )
                }
            }
            LogSource::File(path) => {
                println!("{}", stackperf_core::stack::process::tail(&path, 200));
                if follow {
                    follow_file(&path)?;
                }
                Ok(())
            }
        },
    }
}

fn print_skipped(skipped: &[SkippedProvider]) {
    for s in skipped {
        println!(
            "not served: provider `{}` ({}) — {}",
            s.provider, s.reason, s.fix
        );
    }
}

fn follow_file(path: &std::path::Path) -> Result<(), CliError> {
    let mut f = std::fs::File::open(path)?;
    let mut pos = f.seek(SeekFrom::End(0))?;
    let mut out = std::io::stdout();
    loop {
        let len = f.metadata()?.len();
        if len < pos {
            // Rotated or truncated: start from the beginning of the new file.
            f = std::fs::File::open(path)?;
            pos = 0;
        }
        if len > pos {
            f.seek(SeekFrom::Start(pos))?;
            let mut buf = Vec::new();
            f.read_to_end(&mut buf)?;
            pos += buf.len() as u64;
            out.write_all(&buf)?;
            out.flush()?;
        }
        // Polling a log file for a human reader; not synchronisation.
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn print_services(services: &[ServiceStatus]) -> Result<(), CliError> {
    let rows: Vec<Vec<String>> = services
        .iter()
        .map(|s| {
            vec![
                s.name.to_string(),
                s.state.to_string(),
                if s.healthy { "ok".into() } else { "-".into() },
                s.url.clone().unwrap_or_else(|| "-".into()),
                s.version.clone().unwrap_or_else(|| "-".into()),
                s.pid
                    .map(|p| p.to_string())
                    .or_else(|| s.container.clone())
                    .unwrap_or_else(|| "-".into()),
                s.detail.clone().unwrap_or_default(),
            ]
        })
        .collect();
    Ok(table(
        &[
            "SERVICE",
            "STATE",
            "HEALTH",
            "URL",
            "VERSION",
            "PID/CONTAINER",
            "NOTE",
        ],
        &rows,
    )?)
}

/// Read a secret value from stdin (piped) or a hidden prompt (terminal) — never from argv.
pub fn read_secret_value(name: &str) -> Result<String, CliError> {
    if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("Value for {name} (input hidden): "))
            .map_err(CliError::Output)
    } else {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        Ok(s)
    }
}
