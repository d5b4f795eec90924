//! `stackperf sim`: the simulated upstream provider.

use std::path::PathBuf;

use serde_json::json;
use stackperf_sim::profile::Profiles;
use stackperf_sim::truth::TruthLog;
use stackperf_sim::SimConfig;

use crate::output::{json as print_json, table};
use crate::{CliError, Global};

fn load_profiles(file: Option<PathBuf>) -> Result<Profiles, CliError> {
    Ok(match file {
        Some(p) => Profiles::with_file(&p)?,
        None => Profiles::builtin(),
    })
}

/// Resolves when the process gets Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            let _ = ctrl_c.await;
            return;
        };
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

pub async fn serve(
    g: &Global,
    listen: String,
    seed: u64,
    profiles: Option<PathBuf>,
    log: Option<PathBuf>,
    api_key_env: Option<String>,
) -> Result<(), CliError> {
    let profiles = load_profiles(profiles)?;
    let truth = match &log {
        Some(p) => TruthLog::with_file(p)?,
        None => TruthLog::default(),
    };
    let api_key = match api_key_env {
        Some(name) => Some(std::env::var(&name).map_err(|_| {
            CliError::Usage(format!("--api-key-env {name}: the variable is not set; export it or drop the flag to accept any key"))
        })?),
        None => None,
    };
    let json_out = g.json;
    let config = SimConfig {
        seed,
        profiles,
        api_key,
        truth,
    };
    stackperf_sim::serve(
        &listen,
        config,
        move |addr| {
            if json_out {
                println!("{}", json!({"listening": format!("http://{addr}")}));
            } else {
                println!("stackperf sim listening on http://{addr} (seed {seed}); ground truth at http://{addr}/_sim/requests");
            }
        },
        shutdown_signal(),
    )
    .await?;
    Ok(())
}

pub fn profiles(g: &Global, file: Option<PathBuf>) -> Result<(), CliError> {
    let profiles = load_profiles(file)?;
    let all: Vec<_> = profiles.all().collect();
    if g.json {
        return Ok(print_json(&all)?);
    }
    let rows = all
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                format!("{} ± {} ms", p.ttft_ms, p.ttft_jitter_ms),
                format!("{}", p.tokens_per_second),
                format!("{}–{}", p.output_tokens_min, p.output_tokens_max),
                p.description.clone(),
            ]
        })
        .collect::<Vec<_>>();
    Ok(table(
        &["PROFILE", "TTFT", "TOK/S", "OUTPUT TOKENS", "DESCRIPTION"],
        &rows,
    )?)
}
