//! How long StackPerf keeps what it records (`<config>/retention.yaml`; the seed's defaults when
//! the file is absent): `stackperf prune` deletes what is older, after saying what.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::Error;

/// Days each kind of data is kept, counted from a session's end (a request's start when it
/// belongs to no session).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// Raw captured data: rotated capture spools, once read to the end.
    #[serde(default = "raw")]
    pub raw_days: u32,
    /// Request rows (a session keeps its rollups, so comparisons still include it).
    #[serde(default = "requests")]
    pub requests_days: u32,
    /// Whole sessions: the row, its rollups, its folder (harness state, run logs, working copy).
    #[serde(default = "sessions")]
    pub sessions_days: u32,
}

fn raw() -> u32 {
    7
}
fn requests() -> u32 {
    30
}
fn sessions() -> u32 {
    90
}

impl Default for Retention {
    fn default() -> Retention {
        Retention {
            raw_days: raw(),
            requests_days: requests(),
            sessions_days: sessions(),
        }
    }
}

impl Retention {
    /// The policy in `<config_dir>/retention.yaml`, or the defaults without one.
    pub fn load(config_dir: &Path) -> Result<Retention, Error> {
        let file = config_dir.join("retention.yaml");
        let Ok(text) = std::fs::read_to_string(&file) else {
            return Ok(Retention::default());
        };
        let r: Retention = crate::yaml::decode_document(&file, &text).map_err(Error::Config)?;
        if r.requests_days > r.sessions_days {
            return Err(Error::Invalid(format!(
                "{}: requests_days ({}) is longer than sessions_days ({}): a session's requests cannot outlive it",
                file.display(),
                r.requests_days,
                r.sessions_days
            )));
        }
        if r.requests_days == 0 || r.raw_days == 0 {
            return Err(Error::Invalid(format!(
                "{}: a retention of 0 days would delete data still being collected; use 1 or more",
                file.display()
            )));
        }
        Ok(r)
    }
}
