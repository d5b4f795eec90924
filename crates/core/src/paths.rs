//! Where StackPerf keeps its files.

use std::path::PathBuf;

use crate::Error;

/// The app data directory: `STACKPERF_DATA_DIR`, else the platform data dir
/// (`~/.local/share/stackperf` on Linux).
pub fn data_dir() -> Result<PathBuf, Error> {
    if let Some(d) = std::env::var_os("STACKPERF_DATA_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    directories::ProjectDirs::from("dev", "StackPerf", "stackperf")
        .map(|p| p.data_dir().to_path_buf())
        .ok_or(Error::NoDataDir)
}

/// The database path: the explicit one, else `STACKPERF_DB`, else `<data dir>/stackperf.sqlite`.
pub fn db_path(explicit: Option<PathBuf>) -> Result<PathBuf, Error> {
    if let Some(p) = explicit {
        return Ok(p);
    }
    if let Some(p) = std::env::var_os("STACKPERF_DB").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    Ok(data_dir()?.join("stackperf.sqlite"))
}

/// The cache directory (the LiteLLM virtualenv lives here, keyed by its lock):
/// `STACKPERF_CACHE_DIR`, else the platform cache dir (`~/.cache/stackperf` on Linux).
pub fn cache_dir() -> Result<PathBuf, Error> {
    if let Some(d) = std::env::var_os("STACKPERF_CACHE_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    directories::ProjectDirs::from("dev", "StackPerf", "stackperf")
        .map(|p| p.cache_dir().to_path_buf())
        .ok_or(Error::NoDataDir)
}

/// The session-key registry the proxy's auth hook reads (hashes, aliases, expiry; no key values).
pub fn key_registry(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("keys").join("registry.json")
}

/// The capture spool the proxy's logger appends to.
pub fn spool(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("capture").join("spool.jsonl")
}

/// The directory of one session's rendered harness files.
pub fn session_dir(data_dir: &std::path::Path, session_id: &str) -> PathBuf {
    data_dir.join("sessions").join(session_id)
}

/// The spool StackPerf's edge appends its own request records to.
pub fn edge_spool(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("capture").join("edge.jsonl")
}

/// Create a directory (and its parents) readable by this user only (0700 on Unix): session
/// labels, notes, repository paths and key aliases are nobody else's business.
pub fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

/// Make everything this process (and the services it starts) creates private to the user:
/// files 0600, directories 0700 (umask 077). Hosts call it first thing in `main`.
pub fn private_files() {
    #[cfg(unix)]
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
}
