//! `stackperf`: benchmark LLM providers, models and coding-agent harnesses through one local proxy.

mod catalog;
mod collect_cmd;
mod doctor;
mod edge_cmd;
mod output;
mod prune_cmd;
mod report_cmd;
mod run_cmd;
mod secrets_cmd;
mod serve_cmd;
mod session_cmd;
mod sim_cmd;
mod stack_cmd;
mod suite_out;
mod usage_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use stackperf_core::app::{App, AppPaths, StackSettings};
use stackperf_core::config::Registry;
use stackperf_core::secrets::{KeyringStore, Secrets};
use stackperf_core::ErrorCode;

/// Benchmark LLM providers, models and coding-agent harnesses through one local LiteLLM proxy.
///
/// Configuration lives in versioned YAML under a config directory (providers/, harnesses/,
/// variants/, experiments/, task-cards/); results live in StackPerf's own SQLite database.
#[derive(Parser, Debug)]
#[command(
    name = "stackperf",
    version,
    propagate_version = true,
    max_term_width = 100
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug, Clone)]
pub(crate) struct Global {
    /// Configuration directory
    /// [default: ./configs, else the user's config dir, which the first start of an installed
    /// StackPerf fills with the shipped examples]
    #[arg(
        long = "config-dir",
        global = true,
        env = "STACKPERF_CONFIG_DIR",
        value_name = "DIR"
    )]
    config_dir_arg: Option<PathBuf>,
    /// The configuration directory in use (`--config-dir`, else the default above).
    #[arg(skip)]
    pub(crate) config_dir: PathBuf,
    /// Database file [default: <data dir>/stackperf.sqlite]
    #[arg(long, global = true, env = "STACKPERF_DB", value_name = "PATH")]
    pub(crate) db: Option<PathBuf>,
    /// Print machine-readable JSON on stdout
    #[arg(long, global = true)]
    pub(crate) json: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Validate configuration or copy it into the database
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Experiments: named sets of variants to compare
    #[command(subcommand)]
    Experiment(CatalogCmd),
    /// Variants: provider × model × harness × harness config
    #[command(subcommand)]
    Variant(CatalogCmd),
    /// Task cards: the work and when to stop
    #[command(subcommand, name = "task-card")]
    TaskCard(CatalogCmd),
    /// The StackPerf database
    #[command(subcommand)]
    Db(DbCmd),
    /// The simulated upstream provider (try StackPerf without API keys)
    #[command(subcommand)]
    Sim(SimCmd),
    /// StackPerf's edge in front of LiteLLM (the stack starts it; times, authorizes, forwards)
    #[command(subcommand)]
    Edge(EdgeCmd),
    /// The proxy stack: LiteLLM, the simulator, Prometheus (native) or Compose
    #[command(subcommand)]
    Stack(stack_cmd::StackCmd),
    /// Provider keys and the master key in the OS keychain
    #[command(subcommand)]
    Secrets(secrets_cmd::SecretsCmd),
    /// Check prerequisites and the running stack; each failure comes with its fix
    Doctor,
    /// Benchmark sessions: create (issues a proxy key + harness env), env, finalize, list, show
    #[command(subcommand)]
    Session(session_cmd::SessionCmd),
    /// Ingest what the proxy captured since the last pass (--follow: keep ingesting, one line per request)
    Collect {
        /// Keep tailing the capture spool and print each request as it arrives (Ctrl-C stops)
        #[arg(long, short)]
        follow: bool,
    },
    /// Ingest, then recompute the session rollups that reports read
    Rollup {
        /// Only this experiment
        #[arg(long)]
        experiment: Option<String>,
    },
    /// Reports over the stored sessions
    #[command(subcommand)]
    Report(report_cmd::ReportCmd),
    /// Export sessions, requests or a comparison (CSV, JSON, Parquet), a chart (PNG, SVG) or the HTML report
    Export(report_cmd::ExportArgs),
    /// Automated runs: every variant of an experiment, repeated, launched headless, verified
    Run(run_cmd::RunArgs),
    /// How long a run would take and the smallest difference it could detect, before running it
    Plan(run_cmd::PlanArgs),
    /// Delete what the retention policy (configs/retention.yaml) no longer keeps; says what first
    Prune(prune_cmd::PruneArgs),
    /// The local query API: read-only HTTP JSON on loopback (docs/api.md)
    Serve(serve_cmd::ServeArgs),
    /// The local query API's bearer token
    #[command(subcommand)]
    Api(serve_cmd::ApiCmd),
    /// Usage keys: long-lived proxy keys for everyday use, attributed to an owner and team
    #[command(subcommand)]
    Key(usage_cmd::KeyCmd),
    /// Usage reports over usage keys' traffic (never sessions')
    #[command(subcommand)]
    Usage(usage_cmd::UsageCmd),
}

#[derive(Subcommand, Debug)]
enum ConfigCmd {
    /// Check every config file; list all problems with file, line and field
    Validate,
    /// Validate, then upsert the configuration into the database
    Sync,
}

#[derive(Subcommand, Debug)]
enum CatalogCmd {
    /// List all
    List,
    /// Show one in full
    Show {
        /// Name
        name: String,
    },
}

#[derive(Subcommand, Debug)]
enum DbCmd {
    /// Print the database path
    Path,
    /// Create the database if needed and apply pending migrations
    Migrate,
    /// The machines that wrote to this database (several machines, one PostgreSQL store)
    Machines,
    /// Copy this SQLite database into a PostgreSQL one (again: adds only what is new)
    Copy {
        /// The PostgreSQL store (password: STACKPERF_DB_PASSWORD, PGPASSWORD or ~/.pgpass)
        #[arg(long, value_name = "postgres://USER@HOST:PORT/DB")]
        to: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum SimCmd {
    /// Serve the simulated provider until interrupted
    Serve {
        /// Address to listen on (port 0 picks a free port)
        #[arg(long, default_value = "127.0.0.1:8765", value_name = "HOST:PORT")]
        listen: String,
        /// Seed for every random choice (same seed, same behaviour)
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// YAML file with extra profiles (`profiles: [{name, ttft_ms, ...}]`)
        #[arg(long, value_name = "FILE")]
        profiles: Option<PathBuf>,
        /// Append one JSON line of ground truth per request to this file
        #[arg(long, value_name = "FILE")]
        log: Option<PathBuf>,
        /// Require the key held in this environment variable (default: accept any key)
        #[arg(long, value_name = "NAME")]
        api_key_env: Option<String>,
    },
    /// List the simulator's profiles
    Profiles {
        /// YAML file with extra profiles
        #[arg(long, value_name = "FILE")]
        profiles: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum EdgeCmd {
    /// Serve the edge until interrupted
    Serve(edge_cmd::EdgeServeArgs),
}

/// Errors of the CLI.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Core(#[from] stackperf_core::Error),
    #[error(transparent)]
    Sim(#[from] stackperf_sim::SimError),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Edge(String),
    /// The details are already on stdout as JSON; only the summary goes to stderr.
    #[error("{0}")]
    Reported(String),
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
}

impl CliError {
    /// The code `--json` reports: core's, or the nearest one for the CLI's own errors.
    fn code(&self) -> ErrorCode {
        match self {
            CliError::Core(e) => e.code(),
            CliError::Usage(_) | CliError::Reported(_) => ErrorCode::Invalid,
            CliError::Sim(_) | CliError::Edge(_) => ErrorCode::ServiceFailed,
            CliError::Output(_) => ErrorCode::Io,
        }
    }

    fn exit_code(&self) -> u8 {
        match self {
            CliError::Core(e) if e.is_user_error() => 1,
            CliError::Sim(
                stackperf_sim::SimError::Profiles(_) | stackperf_sim::SimError::Bind { .. },
            ) => 1,
            CliError::Usage(_) | CliError::Reported(_) => 1,
            _ => 2,
        }
    }
}

/// Load and validate the configuration; any problem is an error.
pub(crate) fn load_config(g: &Global) -> Result<Registry, CliError> {
    Ok(app(g)?.registry()?)
}

/// The use-case layer, built from the global options (the database opens on first use).
pub(crate) fn app(g: &Global) -> Result<App, CliError> {
    app_with(g, StackSettings::from_env())
}

/// As [`app`], with the stack settings a command chose.
pub(crate) fn app_with(g: &Global, settings: StackSettings) -> Result<App, CliError> {
    let paths = AppPaths {
        config_dir: g.config_dir.clone(),
        data_dir: stackperf_core::paths::data_dir()?,
        cache_dir: stackperf_core::paths::cache_dir()?,
        db_path: stackperf_core::paths::db_path(g.db.clone())?,
        stackperf_bin: std::env::current_exe()?,
    };
    let secrets = Secrets::new(Box::new(KeyringStore::new()));
    Ok(App::new(paths, std::sync::Arc::new(secrets), settings))
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::Output)
}

fn run(cli: Cli) -> Result<(), CliError> {
    let g = &cli.global;
    match cli.command {
        Command::Config(ConfigCmd::Validate) => catalog::validate(g),
        Command::Config(ConfigCmd::Sync) => runtime()?.block_on(catalog::sync(g)),
        Command::Experiment(c) => catalog::experiment(g, c),
        Command::Variant(c) => catalog::variant(g, c),
        Command::TaskCard(c) => catalog::task_card(g, c),
        Command::Db(DbCmd::Path) => catalog::db_path(g),
        Command::Db(DbCmd::Migrate) => runtime()?.block_on(catalog::db_migrate(g)),
        Command::Db(DbCmd::Machines) => runtime()?.block_on(catalog::db_machines(g)),
        Command::Db(DbCmd::Copy { to }) => runtime()?.block_on(catalog::db_copy(g, &to)),
        Command::Sim(SimCmd::Serve {
            listen,
            seed,
            profiles,
            log,
            api_key_env,
        }) => runtime()?.block_on(sim_cmd::serve(g, listen, seed, profiles, log, api_key_env)),
        Command::Sim(SimCmd::Profiles { profiles }) => sim_cmd::profiles(g, profiles),
        Command::Edge(EdgeCmd::Serve(a)) => edge_cmd::runtime()?.block_on(edge_cmd::serve(g, a)),
        Command::Stack(c) => stack_cmd::run(g, c),
        Command::Secrets(c) => secrets_cmd::run(g, c),
        Command::Doctor => doctor::run(g),
        Command::Session(c) => session_cmd::run(g, c),
        Command::Collect { follow } => collect_cmd::collect(g, follow),
        Command::Rollup { experiment } => collect_cmd::rollup(g, experiment),
        Command::Report(c) => report_cmd::report(g, c),
        Command::Export(a) => report_cmd::export(g, a),
        Command::Run(a) => run_cmd::run(g, a),
        Command::Plan(a) => run_cmd::plan(g, a),
        Command::Prune(a) => prune_cmd::run(g, a),
        Command::Serve(a) => serve_cmd::serve(g, a),
        Command::Api(c) => serve_cmd::api(g, c),
        Command::Key(c) => usage_cmd::key(g, c),
        Command::Usage(c) => usage_cmd::usage(g, c),
    }
}

/// `stackperf … | head` closes the pipe early; Rust's `println!` then panics. Leave quietly, as
/// other command-line tools do (status 141 = killed by SIGPIPE), instead of printing a panic.
fn quiet_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

/// Before exiting: the spans this command queued for the OTLP endpoint sent (up to 5 s), and a
/// line when some did not reach it.
fn otlp_delivered() {
    for otlp in stackperf_core::output::otlp::Otlp::all_started() {
        delivered(&otlp);
    }
}

fn delivered(otlp: &stackperf_core::output::otlp::Otlp) {
    otlp.flush(std::time::Duration::from_secs(5));
    let s = otlp.status();
    let lost = s.dropped + s.failed + s.queued;
    if lost > 0 {
        eprintln!(
            "OTLP: {lost} spans did not reach their endpoint ({}); `stackperf export otlp --experiment E` sends them again",
            s.line()
        );
    }
}

fn main() -> ExitCode {
    stackperf_core::paths::private_files();
    quiet_broken_pipe();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("STACKPERF_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version are successes; every other parse failure is a user error (1).
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    cli.global.config_dir = match cli.global.config_dir_arg.take() {
        Some(dir) => dir,
        None => stackperf_core::paths::default_config_dir().unwrap_or_else(|e| {
            eprintln!("warning: {e}; looking for the configuration in ./configs");
            PathBuf::from("configs")
        }),
    };
    let json = cli.global.json;
    let ran = run(cli);
    otlp_delivered();
    match ran {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`| head`): nothing to tell it.
        Err(CliError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::from(141)
        }
        Err(e) => {
            let code = e.exit_code();
            if json && !matches!(e, CliError::Reported(_)) {
                let problems = match &e {
                    CliError::Core(stackperf_core::Error::Config(p)) => {
                        serde_json::to_value(p).unwrap_or_default()
                    }
                    _ => serde_json::Value::Null,
                };
                let kind = e.code();
                let v = serde_json::json!({"error": {"code": kind, "message": e.to_string(), "problems": problems}});
                println!("{v}");
            }
            eprintln!("error: {e}");
            ExitCode::from(code)
        }
    }
}
