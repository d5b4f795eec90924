//! `stackperf key …` (usage keys) and `stackperf usage …` (usage reports and exports).

use clap::{Args, Subcommand};
use stackperf_core::app::usage_table;
use stackperf_core::timestamp::Timestamp;
use stackperf_core::usage::{day_label, parse_day, NewUsageKey, UsageBy, UsageFilter, UsageReport};

use crate::output::{json as print_json, table};
use crate::{app, runtime, CliError, Global};

#[derive(Subcommand, Debug)]
pub enum KeyCmd {
    /// Create a long-lived usage key (printed once; kept in the OS keychain)
    Create {
        /// Who uses the key (required; reports group by it)
        #[arg(long)]
        owner: String,
        #[arg(long)]
        team: Option<String>,
        /// What it is for
        #[arg(long)]
        purpose: Option<String>,
        /// Model aliases it may call, comma-separated [default: every model]
        #[arg(long, value_delimiter = ',')]
        models: Vec<String>,
        /// Days until it stops working [default: never]
        #[arg(long, value_name = "DAYS")]
        expires: Option<f64>,
    },
    /// List usage keys (never their values)
    List,
    /// Revoke a key now (refused with 401 from the next request)
    Revoke {
        /// The key's alias (`stackperf key list`)
        alias: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum UsageCmd {
    /// Requests, tokens, cost, latency percentiles and error rate of usage keys
    Report(UsageArgs),
    /// The same report as CSV, JSON or Parquet
    Export {
        #[command(flatten)]
        args: UsageArgs,
        /// csv, json or parquet
        #[arg(long, default_value = "csv")]
        format: String,
        /// Write to this file (required for parquet) instead of stdout
        #[arg(long, value_name = "PATH")]
        out: Option<std::path::PathBuf>,
    },
}

#[derive(Args, Debug)]
pub struct UsageArgs {
    /// Group by key, owner, team, model or day
    #[arg(long, default_value = "owner")]
    by: String,
    /// First UTC day (YYYY-MM-DD) [default: 29 days before --until]
    #[arg(long, value_name = "DAY")]
    since: Option<String>,
    /// Last UTC day (YYYY-MM-DD) [default: today]
    #[arg(long, value_name = "DAY")]
    until: Option<String>,
    #[arg(long)]
    key: Option<String>,
    #[arg(long)]
    owner: Option<String>,
    #[arg(long)]
    team: Option<String>,
    #[arg(long)]
    model: Option<String>,
}

fn day(flag: &str, v: Option<&String>) -> Result<Option<i64>, CliError> {
    v.map(|s| {
        parse_day(s).ok_or_else(|| {
            CliError::Usage(format!(
                "--{flag} {s}: give a date as YYYY-MM-DD (UTC), e.g. {}",
                day_label(20_785)
            ))
        })
    })
    .transpose()
}

impl UsageArgs {
    fn parse(&self) -> Result<(UsageBy, UsageFilter), CliError> {
        let by = UsageBy::parse(&self.by).ok_or_else(|| {
            CliError::Usage(format!(
                "--by {}: use key, owner, team, model or day",
                self.by
            ))
        })?;
        Ok((
            by,
            UsageFilter {
                since_day: day("since", self.since.as_ref())?,
                until_day: day("until", self.until.as_ref())?,
                key: self.key.clone(),
                owner: self.owner.clone(),
                team: self.team.clone(),
                model: self.model.clone(),
            },
        ))
    }
}

fn when(t: Option<Timestamp>) -> String {
    t.map_or_else(|| "never".into(), |t| t.rfc3339()[..16].replace('T', " "))
}

pub fn key(g: &Global, c: KeyCmd) -> Result<(), CliError> {
    let app = app(g)?;
    runtime()?.block_on(async {
        match c {
            KeyCmd::Create { owner, team, purpose, models, expires } => {
                let req = NewUsageKey {
                    owner,
                    team,
                    purpose,
                    models: (!models.is_empty()).then_some(models),
                    expires_days: expires,
                };
                let (created, secret) = app.usage_key_create(&req).await?;
                if g.json {
                    let mut v = serde_json::to_value(&created).map_err(std::io::Error::other)?;
                    v["value"] = secret.expose().into();
                    return Ok(print_json(&v)?);
                }
                let k = &created.key;
                println!("Created usage key {} for {}{}.", k.alias, k.owner, k.team.as_deref().map(|t| format!(" (team {t})")).unwrap_or_default());
                println!("Models: {}. Expires: {}.", k.models.as_ref().map_or("every model".into(), |m| m.join(", ")), when(k.expires_at));
                println!("\nThe key is shown this once (it is also in the OS keychain as {}):\n", created.keychain_entry);
                println!("  OPENAI_BASE_URL={}", created.base_url);
                println!("  OPENAI_API_KEY={}", secret.expose());
                println!("\nIts traffic appears in `stackperf usage report`, never in a session. Revoke: stackperf key revoke {}", k.alias);
                Ok(())
            }
            KeyCmd::List => {
                let keys = app.usage_keys().await?;
                if g.json {
                    return Ok(print_json(&keys)?);
                }
                let rows: Vec<Vec<String>> = keys
                    .iter()
                    .map(|k| {
                        vec![
                            k.alias.clone(),
                            k.owner.clone(),
                            k.team.clone().unwrap_or_default(),
                            k.state.as_str().to_string(),
                            k.models.as_ref().map_or("all".into(), |m| m.join(",")),
                            when(Some(k.created_at)),
                            when(k.expires_at),
                            k.purpose.clone().unwrap_or_default(),
                        ]
                    })
                    .collect();
                Ok(table(&["ALIAS", "OWNER", "TEAM", "STATE", "MODELS", "CREATED (UTC)", "EXPIRES", "PURPOSE"], &rows)?)
            }
            KeyCmd::Revoke { alias } => {
                let revoked = app.usage_key_revoke(&alias).await?;
                if g.json {
                    return Ok(print_json(&serde_json::json!({"alias": alias, "revoked": revoked}))?);
                }
                if revoked {
                    println!("Revoked {alias}: the proxy refuses it from the next request.");
                } else {
                    println!("{alias} was already revoked.");
                }
                Ok(())
            }
        }
    })
}

fn num(v: u64) -> String {
    v.to_string()
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.digits$}"))
}

fn print_report(r: &UsageReport) -> std::io::Result<()> {
    println!(
        "Usage {} … {} (UTC), by {}:\n",
        r.since,
        r.until,
        r.by.as_str()
    );
    let rows: Vec<Vec<String>> = r
        .rows
        .iter()
        .chain(std::iter::once(&r.total))
        .map(|x| {
            vec![
                x.group.clone(),
                num(x.requests),
                format!("{:.1} %", x.error_rate * 100.0),
                num(x.input_tokens),
                num(x.output_tokens),
                num(x.cached_input_tokens),
                num(x.reasoning_tokens),
                x.cost_usd
                    .map_or_else(|| "n/a".into(), |c| format!("${c:.4}")),
                opt(x.latency_p50_ms, 0),
                opt(x.latency_p95_ms, 0),
                opt(x.latency_p99_ms, 0),
                opt(x.ttft_p50_ms, 0),
            ]
        })
        .collect();
    table(
        &[
            r.by.as_str().to_uppercase().as_str(),
            "REQUESTS",
            "ERRORS",
            "INPUT",
            "OUTPUT",
            "CACHED",
            "REASONING",
            "COST",
            "P50 MS",
            "P95 MS",
            "P99 MS",
            "TTFT P50",
        ],
        &rows,
    )?;
    println!("\n{}.", r.note);
    Ok(())
}

pub fn usage(g: &Global, c: UsageCmd) -> Result<(), CliError> {
    let app = app(g)?;
    runtime()?.block_on(async {
        match c {
            UsageCmd::Report(a) => {
                let (by, f) = a.parse()?;
                let r = app.usage_report(by, &f).await?;
                if g.json {
                    return Ok(print_json(&r)?);
                }
                Ok(print_report(&r)?)
            }
            UsageCmd::Export { args, format, out } => {
                let (by, f) = args.parse()?;
                let r = app.usage_report(by, &f).await?;
                let t = usage_table(&r);
                let text = match format.as_str() {
                    "csv" => t.to_csv(),
                    "json" => t.to_json(),
                    "parquet" => {
                        let Some(path) = &out else {
                            return Err(CliError::Usage(
                                "parquet is binary: give --out PATH".into(),
                            ));
                        };
                        t.write_parquet(path, "usage")?;
                        app.register_file("usage", "parquet", path).await;
                        eprintln!("wrote {} rows to {}", t.rows.len(), path.display());
                        return Ok(());
                    }
                    other => {
                        return Err(CliError::Usage(format!(
                            "--format {other}: use csv, json or parquet"
                        )))
                    }
                };
                match &out {
                    Some(path) => {
                        std::fs::write(path, text)?;
                        app.register_file("usage", &format, path).await;
                        eprintln!("wrote {} rows to {}", t.rows.len(), path.display());
                    }
                    None => print!("{text}"),
                }
                Ok(())
            }
        }
    })
}
