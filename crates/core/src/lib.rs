//! StackPerf core: configuration, the store and (in later modules) the benchmark services.
//! No desktop dependency: the CLI and the desktop shell call the same functions.

pub mod config;
pub mod diag;
pub mod paths;
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
}

impl Error {
    /// True when the user can fix it (bad input, missing thing) rather than a fault of ours.
    pub fn is_user_error(&self) -> bool {
        !matches!(self, Error::Database { .. })
    }

    /// A stable code the UI and scripts can branch on.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Config(_) => "config_invalid",
            Error::NotFound { .. } => "not_found",
            Error::Database { .. } => "database_unavailable",
            Error::NoDataDir => "no_data_dir",
        }
    }
}
