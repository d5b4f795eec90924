//! StackPerf core: configuration, the store and (in later modules) the benchmark services.
//! No desktop dependency: the CLI and the desktop shell call the same functions.

pub mod analysis;
pub mod app;
pub mod config;
pub mod credentials;
pub mod git;
pub mod ingest;
pub mod lockfile;
pub mod machine;
pub mod output;
pub mod paths;
pub mod render;
pub mod run;
pub mod secrets;
pub mod session;
pub mod stack;
pub mod store;
pub mod timestamp;
pub mod usage;

/// What separate processes agree on (re-exported: core's callers reach it through core).
pub use stackperf_contract as contract;
pub use stackperf_contract::{diag, rng, yaml};

// The data path, grouped: ingest → analysis → output. The flat paths stay valid.
pub use analysis::{metrics, report, rollup, stats, tests_of};
pub use ingest::{capture, normalize, normalize_edge};
pub use output::{charts, export};
use store::write as ingest_write;

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
    #[error("{path} is not a StackPerf database, or it is damaged. Move it aside (StackPerf then creates a new one there), or pass another --db PATH.")]
    DatabaseCorrupt { path: PathBuf },
    #[error("{path} was written by a newer StackPerf (it has migration {version}, which this build does not know). Use that version, or pass another --db PATH.")]
    DatabaseNewer { path: PathBuf, version: i64 },
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
        service: stack::Service,
        port: u16,
        hint: String,
    },
    #[error("{service} failed: {message}\n--- last lines of {log} ---\n{tail}")]
    ServiceFailed {
        service: stack::Service,
        message: String,
        log: PathBuf,
        tail: String,
    },
    #[error("{context}: {source}{}", io_hint(.source))]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("docker compose failed: {0}")]
    Compose(String),
    /// Input that does not fit (a field, a choice, a path); the message says which and why.
    #[error("{0}")]
    Invalid(String),
    /// One named input field (a query parameter, a form field) that does not fit.
    #[error("{field}: {message}")]
    BadField { field: String, message: String },
    #[error("cannot render the harness environment: {0}")]
    Render(String),
    #[error("session {id} is {status}, not active: its key is revoked and its environment is gone. Create a new session to continue.")]
    SessionNotActive { id: String, status: String },
    #[error("session {id} is already {status}; a session is finalized once")]
    SessionFinalized { id: String, status: String },
    #[error(
        "the key of session {0} is no longer in the keychain; finalize it and create a new one"
    )]
    SessionKeyLost(String),
    #[error("{0}")]
    StackConflict(String),
    #[error("no log yet for {service} ({path}); start the stack with `stackperf stack up`")]
    NoLog {
        service: stack::Service,
        path: PathBuf,
    },
    /// A fault of StackPerf's own (a task that panicked, a client that cannot be built).
    #[error("internal error: {0}")]
    Internal(String),
}

/// What kind of error it is: a stable, closed set the UI, the CLI's `--json` and scripts branch
/// on (exported to TypeScript).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum ErrorCode {
    ConfigInvalid,
    NotFound,
    DatabaseUnavailable,
    DatabaseCorrupt,
    DatabaseNewer,
    NoDataDir,
    KeychainUnavailable,
    BadSecretName,
    EmptySecret,
    PythonMissing,
    InstallFailed,
    PortInUse,
    ServiceFailed,
    Io,
    ComposeFailed,
    Invalid,
    BadField,
    RenderFailed,
    SessionNotActive,
    SessionFinalized,
    SessionKeyLost,
    StackConflict,
    NoLog,
    Internal,
    /// The desktop shell could not use the system clipboard.
    Clipboard,
}

impl ErrorCode {
    /// The code as text (`config_invalid`), as it appears in JSON.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to do about an I/O error a person can fix, as a sentence appended to its message.
fn io_hint(e: &std::io::Error) -> &'static str {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::PermissionDenied => {
            ". This user is not allowed to use it: check its owner and mode (`ls -ld` on it), \
             or use a location this user owns (StackPerf's own files go where \
             STACKPERF_DATA_DIR points)"
        }
        K::ReadOnlyFilesystem => {
            ". The file system is read-only: use a writable location (StackPerf's own files go \
             where STACKPERF_DATA_DIR points)"
        }
        K::StorageFull | K::QuotaExceeded => ". The disk is full: free some space and retry",
        _ => "",
    }
}

/// Shorthand for an I/O error with what was being done.
pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

impl Error {
    /// True when the user can fix it (bad input, missing thing) rather than a fault of ours.
    pub fn is_user_error(&self) -> bool {
        if let Error::Io { source, .. } = self {
            // Permissions, a read-only file system, a full disk: the user's to fix.
            return !io_hint(source).is_empty();
        }
        matches!(
            self,
            Error::Config(_)
                | Error::DatabaseCorrupt { .. }
                | Error::DatabaseNewer { .. }
                | Error::NotFound { .. }
                | Error::NoDataDir
                | Error::KeychainUnavailable(_)
                | Error::BadSecretName(_)
                | Error::EmptySecret(_)
                | Error::PythonMissing(_)
                | Error::PortInUse { .. }
                | Error::Invalid(_)
                | Error::BadField { .. }
                | Error::SessionNotActive { .. }
                | Error::SessionFinalized { .. }
                | Error::SessionKeyLost(_)
                | Error::StackConflict(_)
                | Error::NoLog { .. }
        )
    }

    /// A stable code the UI and scripts can branch on.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Config(_) => ErrorCode::ConfigInvalid,
            Error::NotFound { .. } => ErrorCode::NotFound,
            Error::Database { .. } => ErrorCode::DatabaseUnavailable,
            Error::DatabaseCorrupt { .. } => ErrorCode::DatabaseCorrupt,
            Error::DatabaseNewer { .. } => ErrorCode::DatabaseNewer,
            Error::NoDataDir => ErrorCode::NoDataDir,
            Error::KeychainUnavailable(_) => ErrorCode::KeychainUnavailable,
            Error::BadSecretName(_) => ErrorCode::BadSecretName,
            Error::EmptySecret(_) => ErrorCode::EmptySecret,
            Error::PythonMissing(_) => ErrorCode::PythonMissing,
            Error::Install { .. } => ErrorCode::InstallFailed,
            Error::PortInUse { .. } => ErrorCode::PortInUse,
            Error::ServiceFailed { .. } => ErrorCode::ServiceFailed,
            Error::Io { .. } => ErrorCode::Io,
            Error::Compose(_) => ErrorCode::ComposeFailed,
            Error::Invalid(_) => ErrorCode::Invalid,
            Error::BadField { .. } => ErrorCode::BadField,
            Error::Render(_) => ErrorCode::RenderFailed,
            Error::SessionNotActive { .. } => ErrorCode::SessionNotActive,
            Error::SessionFinalized { .. } => ErrorCode::SessionFinalized,
            Error::SessionKeyLost(_) => ErrorCode::SessionKeyLost,
            Error::StackConflict(_) => ErrorCode::StackConflict,
            Error::NoLog { .. } => ErrorCode::NoLog,
            Error::Internal(_) => ErrorCode::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_io_error_a_person_can_fix_says_what_to_do() {
        let denied = io_err("create /srv/x/stack")(std::io::Error::from(
            std::io::ErrorKind::PermissionDenied,
        ));
        let text = denied.to_string();
        assert!(
            text.starts_with("create /srv/x/stack: permission denied"),
            "{text}"
        );
        assert!(text.contains("STACKPERF_DATA_DIR"), "{text}");
        assert_eq!(denied.code(), ErrorCode::Io);
        assert!(denied.is_user_error());
        let other = io_err("read x")(std::io::Error::other("boom"));
        assert_eq!(other.to_string(), "read x: boom");
        assert!(!other.is_user_error());
    }

    /// Every closed set's text (strum, for the store, flags and logs) is its serde name (JSON,
    /// the bindings, the API) and parses back.
    fn names_agree<T>()
    where
        T: strum::VariantArray + serde::Serialize + Copy + PartialEq + std::fmt::Debug,
        T: Into<&'static str> + std::str::FromStr,
    {
        for &v in T::VARIANTS {
            let text: &'static str = v.into();
            assert_eq!(serde_json::to_value(v).ok(), Some(text.into()), "{v:?}");
            assert_eq!(text.parse::<T>().ok(), Some(v), "{text}");
        }
    }

    #[test]
    fn closed_sets_have_one_name_each() {
        use crate::store::model::*;
        names_agree::<ErrorCode>();
        names_agree::<crate::usage::UsageBy>();
        names_agree::<crate::stack::ServiceState>();
        names_agree::<crate::analysis::group::GroupBy>();
        names_agree::<KeyState>();
        names_agree::<RunOrder>();
        names_agree::<RunStatus>();
        names_agree::<ItemState>();
        names_agree::<SessionStatus>();
        names_agree::<SessionMode>();
        names_agree::<Traffic>();
        names_agree::<RequestStatus>();
        names_agree::<stackperf_contract::Surface>();
        names_agree::<stackperf_contract::Service>();
        names_agree::<stackperf_contract::record::Outcome>();
    }
}
