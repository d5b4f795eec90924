//! Bringing the Compose runtime up and down (blocking: it runs `docker compose`). Shared by
//! `stackperf stack up --runtime compose` and the desktop's runtime choice.

use std::path::{Path, PathBuf};

use super::compose::{self, ComposeEnv, ComposeStack};
use super::edge;
use super::litellm_config::{self, SkippedProvider, EDGE_TOKEN_ENV, SIM_KEY_ENV};
use super::{Progress, ServiceStatus, StackEvent, StackOptions, StackSecrets};
use crate::config::Registry;
use crate::secrets::{self, Secrets};
use crate::{io_err, Error};
use stackperf_contract::Service;

/// Present while the Compose runtime is the active one.
pub fn marker(data_dir: &Path) -> PathBuf {
    data_dir.join("stack").join("compose").join("ACTIVE")
}

/// Whether the Compose runtime was started (and not stopped) from this data dir.
pub fn is_active(data_dir: &Path) -> bool {
    marker(data_dir).exists()
}

/// What `up` started.
pub struct ComposeUp {
    pub services: Vec<ServiceStatus>,
    pub skipped: Vec<SkippedProvider>,
}

/// `docker compose up -d --wait` with the generated LiteLLM config; secrets only in the child's
/// environment. With `show_docker_output` docker's own progress (image pulls) goes to this
/// process's terminal; otherwise it is captured and returned in the error when `up` fails.
pub fn up(
    reg: &Registry,
    keys: &Secrets,
    opts: &StackOptions,
    grafana_port: u16,
    show_docker_output: bool,
    progress: Progress<'_>,
) -> Result<ComposeUp, Error> {
    let stack_secrets = StackSecrets::resolve(reg, keys)?;
    let postgres = keys.get_or_generate(compose::POSTGRES_PASSWORD, "pg-")?;
    let grafana = keys.get_or_generate(compose::GRAFANA_ADMIN_PASSWORD, "gf-")?;
    let (sim_key, edge_token) = (&stack_secrets.sim_key, &stack_secrets.edge_token);
    let plan = litellm_config::generate(
        reg,
        &|n| stack_secrets.has(n),
        &|n| std::env::var_os(n).is_some(),
        "http://sim:8765",
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
    let stack = ComposeStack::new(&opts.data_dir);
    let litellm_dir = stack.write_files(&plan.config)?;
    stack.write_prometheus_config(
        opts.ports.litellm,
        opts.ports.edge,
        &stack_secrets.metrics_token,
    )?;
    let mut pairs = vec![
        (
            secrets::MASTER_KEY.to_string(),
            stack_secrets.master_key.expose().to_string(),
        ),
        (
            compose::POSTGRES_PASSWORD.to_string(),
            postgres.expose().to_string(),
        ),
        (
            compose::GRAFANA_ADMIN_PASSWORD.to_string(),
            grafana.expose().to_string(),
        ),
        (SIM_KEY_ENV.to_string(), sim_key.expose().to_string()),
        (EDGE_TOKEN_ENV.to_string(), edge_token.expose().to_string()),
    ];
    pairs.extend(
        stack_secrets
            .provider_keys
            .iter()
            .map(|(n, v)| (n.clone(), v.expose().to_string())),
    );
    let env = ComposeEnv::new(
        &pairs,
        &opts.data_dir,
        &litellm_dir,
        &opts.stackperf_bin,
        opts.ports,
        grafana_port,
    );
    progress(StackEvent::Step {
        service: None,
        message: "docker compose up -d --wait (the first run pulls images)".into(),
    });
    let cmd = stack.up_command(&env, plan.uses_simulator);
    if show_docker_output {
        let mut cmd = cmd;
        let status = cmd.status().map_err(|e| {
            Error::Compose(format!(
                "cannot run docker: {e}. Install Docker with the compose plugin, or use the native runtime"
            ))
        })?;
        if !status.success() {
            return Err(Error::Compose(format!(
                "`docker compose up` exited with {status}; see `stackperf stack logs litellm`"
            )));
        }
    } else {
        stack.run(cmd)?;
    }
    std::fs::write(marker(&opts.data_dir), "compose\n")
        .map_err(io_err("write the Compose marker"))?;
    // Harnesses talk to StackPerf's edge here too: natively, in front of Compose's LiteLLM.
    progress(StackEvent::Step {
        service: Some(Service::Edge),
        message: format!("starting StackPerf's edge on 127.0.0.1:{}", opts.ports.edge),
    });
    edge::stop_for_compose(&opts.data_dir);
    edge::start_for_compose(opts, &stack_secrets)?;
    let services = status(&opts.data_dir)?;
    Ok(ComposeUp {
        services,
        skipped: plan.skipped,
    })
}

/// `docker compose down`; clears the marker.
pub fn down(data_dir: &Path) -> Result<(), Error> {
    edge::stop_for_compose(data_dir);
    let stack = ComposeStack::new(data_dir);
    stack.run(stack.down_command())?;
    let _ = std::fs::remove_file(marker(data_dir));
    Ok(())
}

/// The Compose services as `docker compose ps` reports them.
pub fn status(data_dir: &Path) -> Result<Vec<ServiceStatus>, Error> {
    let stack = ComposeStack::new(data_dir);
    let mut services = compose::parse_ps(&stack.run(stack.ps_command())?);
    services.extend(edge::compose_status(data_dir));
    Ok(services)
}
