//! StackPerf core: configuration, the store and (in later modules) the benchmark services.
//! No desktop dependency: the CLI and the desktop shell call the same functions.

pub mod app;
pub mod capture;
pub mod charts;
pub mod config;
pub mod credentials;
pub mod diag;
pub mod export;
pub mod git;
mod ingest_write;
pub mod metrics;
pub mod normalize;
pub mod normalize_edge;
pub mod paths;
pub mod render;
pub mod report;
pub mod rng;
pub mod rollup;
pub mod secrets;
pub mod session;
pub mod stack;
pub mod stats;
pub mod store;
pub mod yaml;

use std::path::PathBuf;

pub use diag::Problem;

/// The version of this build, recorded on every session.
pub const APP_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Errors of the core crate. Each says what is wrong and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{} configuration problem(s):\n{}", .0.len(), .0.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Config(Vec<Problem>),
    #[error("{kind} `{name}` is not defined. Known: {known}")]
    NotFound {
        kind: &'static str,
        name: String,
        known: String,
    },
    #[error("database {path} is unavailable: {message}. Check the path is writable, or pass --db PATH / set STACKPERF_DB.")]
    Database { path: PathBuf, message: String },
    #[error("cannot determine a data directory for this user; set STACKPERF_DATA_DIR")]
    NoDataDir,
    #[error("the OS keychain is unavailable: {0}. On Linux start a Secret Service (e.g. gnome-keyring) in your session, or set the secret as an environment variable instead.")]
    KeychainUnavailable(String),
    #[error("`{0}` is not a valid secret name: use letters, digits and `_` (e.g. OPENAI_API_KEY)")]
    BadSecretName(String),
    #[error("the value for {0} is empty; nothing was stored")]
    EmptySecret(String),
    #[error("Python 3 was not found ({0}). Install Python 3.10 or newer with venv support (Debian/Ubuntu: apt-get install python3 python3-venv), or point STACKPERF_PYTHON at one.")]
    PythonMissing(String),
    #[error("installing LiteLLM failed at `{step}`: {message}\n--- last output ---\n{tail}\nCheck that PyPI is reachable, then run `stackperf stack up` again (a partial install is redone).")]
    Install {
        step: String,
        message: String,
        tail: String,
    },
    #[error("{service} cannot start: port {port} on 127.0.0.1 is already in use. {hint}")]
    PortInUse {
        service: String,
        port: u16,
        hint: String,
    },
    #[error("{service} failed: {message}\n--- last lines of {log} ---\n{tail}")]
    ServiceFailed {
        service: String,
        message: String,
        log: PathBuf,
        tail: String,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("docker compose failed: {0}")]
    Compose(String),
    #[error("{0}")]
    Invalid(String),
    #[error("cannot render the harness environment: {0}")]
    Render(String),
}

/// Shorthand for an I/O error with what was being done.
pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

impl Error {
    /// True when the user can fix it (bad input, missing thing) rather than a fault of ours.
    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            Error::Config(_)
                | Error::NotFound { .. }
                | Error::NoDataDir
                | Error::KeychainUnavailable(_)
                | Error::BadSecretName(_)
                | Error::EmptySecret(_)
                | Error::PythonMissing(_)
                | Error::PortInUse { .. }
                | Error::Invalid(_)
        )
    }

    /// A stable code the UI and scripts can branch on.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Config(_) => "config_invalid",
            Error::NotFound { .. } => "not_found",
            Error::Database { .. } => "database_unavailable",
            Error::NoDataDir => "no_data_dir",
            Error::KeychainUnavailable(_) => "keychain_unavailable",
            Error::BadSecretName(_) => "bad_secret_name",
            Error::EmptySecret(_) => "empty_secret",
            Error::PythonMissing(_) => "python_missing",
            Error::Install { .. } => "install_failed",
            Error::PortInUse { .. } => "port_in_use",
            Error::ServiceFailed { .. } => "service_failed",
            Error::Io { .. } => "io",
            Error::Compose(_) => "compose_failed",
            Error::Invalid(_) => "invalid",
            Error::Render(_) => "render_failed",
        }
    }
}
