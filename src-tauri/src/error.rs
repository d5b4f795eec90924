//! Errors as the UI sees them: `{code, message}`, where `code` is stable and branchable.

use serde::Serialize;
use stackperf_core::ErrorCode;

/// The one error type of the shell.
#[derive(Debug, Clone, Serialize, specta::Type, thiserror::Error)]
#[error("{code}: {message}")]
pub struct UiError {
    pub code: ErrorCode,
    pub message: String,
}

impl UiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        UiError {
            code,
            message: message.into(),
        }
    }
}

impl From<stackperf_core::Error> for UiError {
    fn from(e: stackperf_core::Error) -> Self {
        UiError::new(e.code(), e.to_string())
    }
}

pub type UiResult<T> = Result<T, UiError>;

#[cfg(test)]
mod tests {
    use super::*;
    use stackperf_core::Error;

    fn every_error() -> Vec<Error> {
        vec![
            Error::Config(vec![]),
            Error::NotFound {
                kind: "variant",
                name: "x".into(),
                known: "a, b".into(),
            },
            Error::Database {
                path: "db".into(),
                message: "locked".into(),
            },
            Error::DatabaseCorrupt { path: "db".into() },
            Error::DatabaseNewer {
                path: "db".into(),
                version: 1,
            },
            Error::NoDataDir,
            Error::KeychainUnavailable("no bus".into()),
            Error::BadSecretName("1x".into()),
            Error::EmptySecret("K".into()),
            Error::PythonMissing("python3".into()),
            Error::Install {
                step: "uv".into(),
                message: "m".into(),
                tail: "t".into(),
            },
            Error::PortInUse {
                service: stackperf_core::stack::Service::Litellm,
                port: 4000,
                hint: "h".into(),
            },
            Error::ServiceFailed {
                service: stackperf_core::stack::Service::Litellm,
                message: "m".into(),
                log: "l".into(),
                tail: "t".into(),
            },
            Error::Io {
                context: "c".into(),
                source: std::io::Error::other("e"),
            },
            Error::Compose("c".into()),
            Error::Invalid("i".into()),
            Error::Render("r".into()),
            Error::SessionNotActive {
                id: "s".into(),
                status: "completed".into(),
            },
            Error::SessionFinalized {
                id: "s".into(),
                status: "aborted".into(),
            },
            Error::SessionKeyLost("s".into()),
            Error::StackConflict("c".into()),
            Error::NoLog {
                service: stackperf_core::stack::Service::Sim,
                path: "l".into(),
            },
            Error::Internal("i".into()),
        ]
    }

    #[test]
    fn every_core_error_reaches_the_ui_as_code_and_message() {
        let mut codes = std::collections::BTreeSet::new();
        for e in every_error() {
            let (code, text) = (e.code(), e.to_string());
            let json = serde_json::to_value(UiError::from(e)).unwrap();
            let obj = json.as_object().unwrap();
            assert_eq!(obj.len(), 2, "{json}");
            assert_eq!(obj["code"], code.as_str(), "the wire name is as_str()");
            assert_eq!(obj["message"], text.as_str());
            assert!(
                code.as_str()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_'),
                "{code}"
            );
            assert!(codes.insert(code), "code {code} is used twice");
        }
    }
}
