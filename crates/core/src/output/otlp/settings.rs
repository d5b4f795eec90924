//! OTLP export set up in StackPerf itself (the desktop's Stack screen), for those who do not
//! start it from a shell with the standard variables: the endpoint in `<data dir>/otlp.json`
//! (no credentials: a URL with a user or password is refused), the backend's headers in the OS
//! keychain under [`HEADERS_SECRET`] (the variable's own name). The standard variables win when
//! set.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{OtlpConfig, OtlpStatus};
use crate::Error;

/// The keychain entry (and variable) holding a backend's headers (`key=value,key2=value2`).
pub const HEADERS_SECRET: &str = "OTEL_EXPORTER_OTLP_HEADERS";
/// The standard variables that configure export; any of them set means the environment decides.
pub const ENDPOINT_VARS: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
];

/// Where the export's configuration came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum OtlpSource {
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` (or the traces one) in StackPerf's environment.
    Environment,
    /// The endpoint saved in StackPerf's settings.
    Settings,
}

/// The export as the desktop shows and edits it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct OtlpSettings {
    /// Where spans go now (scheme, host, port, path), or `None`: export is off.
    pub endpoint: Option<String>,
    pub source: Option<OtlpSource>,
    /// The endpoint saved in the settings, whether or not the environment overrides it.
    pub saved_endpoint: Option<String>,
    /// Whether headers are saved in the keychain (their values are never shown).
    pub headers_saved: bool,
    /// What the export has done in this process.
    pub status: Option<OtlpStatus>,
    /// Why the configured export could not start.
    pub error: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Stored {
    endpoint: Option<String>,
}

fn file(data_dir: &Path) -> PathBuf {
    data_dir.join("otlp.json")
}

/// Whether the standard variables configure export (they then win over the settings).
pub fn from_environment() -> bool {
    ENDPOINT_VARS
        .iter()
        .any(|k| std::env::var(k).is_ok_and(|v| !v.trim().is_empty()))
}

/// What is wrong with `endpoint` as an OTLP/HTTP base URL, if anything.
pub fn endpoint_problem(endpoint: &str) -> Option<String> {
    let u = match url::Url::parse(endpoint.trim()) {
        Ok(u) => u,
        Err(e) => {
            return Some(format!(
            "not a URL ({e}): give the collector's OTLP/HTTP address, e.g. http://localhost:4318"
        ))
        }
    };
    if !matches!(u.scheme(), "http" | "https") {
        return Some(format!(
            "{}: OTLP/HTTP needs an http:// or https:// URL",
            u.scheme()
        ));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Some("the URL names no host".into());
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Some(
            "the URL carries credentials: put them in the headers (kept in the OS keychain), e.g. Authorization=Basic …".into(),
        );
    }
    if u.query().is_some() || u.fragment().is_some() {
        return Some("the URL has a query or fragment: give the collector's base address".into());
    }
    None
}

/// The backend's headers from `key=value,key2=value2` (values percent-decoded, as the OTLP
/// exporter's variable is read).
pub fn parse_headers(text: &str) -> Result<HashMap<String, String>, Error> {
    let mut out = HashMap::new();
    for (i, pair) in text.split(',').enumerate() {
        if pair.trim().is_empty() {
            continue;
        }
        let Some((k, v)) = pair.split_once('=') else {
            return Err(Error::Invalid(format!(
                "OTLP headers: entry {} has no `=`: write key=value,key2=value2",
                i + 1
            )));
        };
        let key = k.trim();
        let valid = !key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !valid {
            return Err(Error::Invalid(format!(
                "OTLP headers: entry {} has no valid header name (letters, digits, - _ .)",
                i + 1
            )));
        }
        let value = percent_encoding::percent_decode_str(v.trim())
            .decode_utf8_lossy()
            .into_owned();
        out.insert(key.to_string(), value);
    }
    Ok(out)
}

/// The endpoint saved in `data_dir`, if any.
pub fn saved_endpoint(data_dir: &Path) -> Result<Option<String>, Error> {
    let path = file(data_dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(&path, e)),
    };
    let stored: Stored = serde_json::from_str(&text).map_err(|e| {
        Error::Invalid(format!("{}: {e} (remove it to start over)", path.display()))
    })?;
    Ok(stored.endpoint.filter(|e| endpoint_problem(e).is_none()))
}

/// Save (or, with `None`, forget) the endpoint in `data_dir`.
pub fn save_endpoint(data_dir: &Path, endpoint: Option<&str>) -> Result<(), Error> {
    if let Some(problem) = endpoint.and_then(endpoint_problem) {
        return Err(Error::Invalid(format!("OTLP endpoint: {problem}")));
    }
    let path = file(data_dir);
    let Some(endpoint) = endpoint else {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&path, e)),
            _ => Ok(()),
        };
    };
    std::fs::create_dir_all(data_dir).map_err(|e| io(data_dir, e))?;
    let text = serde_json::to_string_pretty(&Stored {
        endpoint: Some(endpoint.trim().trim_end_matches('/').to_string()),
    })
    .map_err(|e| Error::Internal(format!("otlp.json: {e}")))?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| io(&path, e))
}

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        context: path.display().to_string(),
        source,
    }
}

/// The export's configuration for a saved base endpoint (`…:4318` → `…/v1/traces`, `…/v1/metrics`).
pub fn config(endpoint: &str, headers: HashMap<String, String>) -> OtlpConfig {
    let base = endpoint.trim().trim_end_matches('/');
    OtlpConfig {
        endpoint: format!("{base}/v1/traces"),
        metrics_endpoint: format!("{base}/v1/metrics"),
        headers,
        timeout: Duration::from_secs(10),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_with_credentials_or_no_host_are_refused_with_the_reason() {
        assert_eq!(endpoint_problem("http://localhost:4318"), None);
        assert_eq!(endpoint_problem("https://otel.example.com/otlp"), None);
        for (bad, says) in [
            ("http://user:pw@localhost:4318", "credentials"),
            ("http://user@localhost:4318", "credentials"),
            ("ftp://localhost:4318", "http"),
            ("localhost:4318", "http"),
            ("not a url", "not a URL"),
            ("http://localhost:4318/?token=x", "query"),
        ] {
            let p = endpoint_problem(bad).unwrap_or_else(|| panic!("{bad} accepted"));
            assert!(p.contains(says), "{bad}: {p}");
        }
    }

    #[test]
    fn headers_parse_as_the_variable_does_and_bad_entries_say_which() {
        let h = parse_headers("Authorization=Basic%20abc, x-scope = team-1,").unwrap();
        assert_eq!(h["Authorization"], "Basic abc");
        assert_eq!(h["x-scope"], "team-1");
        assert_eq!(h.len(), 2);
        let e = parse_headers("a=1,broken").unwrap_err().to_string();
        assert!(e.contains("entry 2"), "{e}");
        let e = parse_headers("bad name=1").unwrap_err().to_string();
        assert!(e.contains("entry 1"), "{e}");
        // The value is never quoted back (it may be a credential).
        assert!(!e.contains("bad name=1"), "{e}");
    }

    #[test]
    fn the_endpoint_is_saved_forgotten_and_never_with_credentials() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(saved_endpoint(dir.path()).unwrap(), None);
        save_endpoint(dir.path(), Some("http://127.0.0.1:4318/")).unwrap();
        assert_eq!(
            saved_endpoint(dir.path()).unwrap().as_deref(),
            Some("http://127.0.0.1:4318")
        );
        let e = save_endpoint(dir.path(), Some("http://u:secret@127.0.0.1:4318"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("credentials") && !e.contains("secret"), "{e}");
        assert_eq!(
            saved_endpoint(dir.path()).unwrap().as_deref(),
            Some("http://127.0.0.1:4318"),
            "a refused endpoint leaves the saved one"
        );
        let c = config("http://127.0.0.1:4318", HashMap::new());
        assert_eq!(c.endpoint, "http://127.0.0.1:4318/v1/traces");
        assert_eq!(c.metrics_endpoint, "http://127.0.0.1:4318/v1/metrics");
        save_endpoint(dir.path(), None).unwrap();
        assert_eq!(saved_endpoint(dir.path()).unwrap(), None);
        save_endpoint(dir.path(), None).unwrap();
    }
}
