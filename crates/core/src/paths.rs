//! Where StackPerf keeps its files.

use std::path::{Path, PathBuf};

use crate::Error;

/// The platform's per-user directories for StackPerf (`~/.local/share`, `~/.cache`, `~/.config`).
fn project_dirs() -> Result<directories::ProjectDirs, Error> {
    directories::ProjectDirs::from("dev", "StackPerf", "stackperf").ok_or(Error::NoDataDir)
}

/// The app data directory: `STACKPERF_DATA_DIR`, else the platform data dir
/// (`~/.local/share/stackperf` on Linux).
pub fn data_dir() -> Result<PathBuf, Error> {
    if let Some(d) = std::env::var_os("STACKPERF_DATA_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    project_dirs().map(|p| p.data_dir().to_path_buf())
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
    project_dirs().map(|p| p.cache_dir().to_path_buf())
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

/// Where the configuration is when neither `--config-dir` nor `STACKPERF_CONFIG_DIR` says:
/// `./configs`, else the nearest `configs/` above the executable (a source checkout's
/// `target/debug/…` finds the repository's), else the user's config dir (`~/.config/stackperf`
/// on Linux), which the first start of an installed StackPerf fills with a copy of the shipped
/// examples (`<exe dir>/../share/stackperf/configs`). The user's copy is theirs to edit: it is
/// never overwritten.
pub fn default_config_dir() -> Result<PathBuf, Error> {
    let exe = std::env::current_exe().map_err(crate::io_err("find the running executable"))?;
    let user = project_dirs()?.config_dir().to_path_buf();
    locate_config_dir(Path::new("configs"), &exe, &user)
}

/// [`default_config_dir`] with its three places given (for tests).
pub fn locate_config_dir(cwd_configs: &Path, exe: &Path, user: &Path) -> Result<PathBuf, Error> {
    let is_config = |d: &Path| d.join("providers").is_dir();
    if is_config(cwd_configs) {
        return Ok(cwd_configs.to_path_buf());
    }
    let exe_dir = exe.parent().unwrap_or(Path::new("."));
    if let Some(found) = exe_dir
        .ancestors()
        .map(|d| d.join("configs"))
        .find(|d| is_config(d))
    {
        return Ok(found);
    }
    if is_config(user) {
        return Ok(user.to_path_buf());
    }
    let shipped = exe_dir.join("../share/stackperf/configs");
    if is_config(&shipped) {
        seed_user_configs(&shipped, user)?;
        return Ok(user.to_path_buf());
    }
    Ok(cwd_configs.to_path_buf())
}

/// Copy the shipped configuration to the user's config dir: into a private temporary sibling
/// first, then renamed into place, so a second process starting at the same moment sees either
/// nothing or the whole copy. Entries the user already has are kept.
fn seed_user_configs(shipped: &Path, user: &Path) -> Result<(), Error> {
    let parent = user.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(crate::io_err(format!(
        "create the config directory {}",
        parent.display()
    )))?;
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = parent.join(format!(".stackperf-configs-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    copy_tree(shipped, &tmp).map_err(crate::io_err(format!(
        "copy the shipped configuration {} to {}",
        shipped.display(),
        tmp.display()
    )))?;
    let placed = if user.exists() {
        merge_missing(&tmp, user)
    } else {
        match std::fs::rename(&tmp, user) {
            // Another process placed its copy first: theirs is as good as ours.
            Err(_) if user.join("providers").is_dir() => Ok(()),
            r => r,
        }
    };
    let _ = std::fs::remove_dir_all(&tmp);
    placed.map_err(crate::io_err(format!(
        "place the example configuration in {}",
        user.display()
    )))?;
    tracing::info!(dir = %user.display(), "first start: copied the example configuration");
    Ok(())
}

/// Move each top-level entry of `from` that `to` does not have into `to`.
fn merge_missing(from: &Path, to: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if !target.exists() {
            std::fs::rename(entry.path(), target)?;
        }
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    create_private_dir(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An installed layout under `root`: `usr/bin/stackperf-desktop` and the shipped examples.
    fn installed(root: &Path) -> (PathBuf, PathBuf) {
        let shipped = root.join("usr/share/stackperf/configs");
        for (file, text) in [
            ("providers/sim.yaml", "name: sim\n"),
            ("experiments/sim-profiles.yaml", "name: sim-profiles\n"),
            ("litellm/stackperf_auth.py", "# hook\n"),
        ] {
            let f = shipped.join(file);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, text).unwrap();
        }
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        (root.join("usr/bin/stackperf-desktop"), shipped)
    }

    #[test]
    fn first_start_copies_the_shipped_examples_and_later_starts_keep_the_users_edits() {
        let t = tempfile::tempdir().unwrap();
        let (exe, shipped) = installed(t.path());
        let user = t.path().join("home/.config/stackperf");
        let cwd = t.path().join("elsewhere/configs");
        assert_eq!(locate_config_dir(&cwd, &exe, &user).unwrap(), user);
        let copied = std::fs::read_to_string(user.join("experiments/sim-profiles.yaml")).unwrap();
        assert_eq!(copied, "name: sim-profiles\n");
        assert!(user.join("litellm/stackperf_auth.py").is_file());
        // No temporary copy is left beside it.
        let leftovers: Vec<_> = std::fs::read_dir(user.parent().unwrap())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".stackperf"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");

        std::fs::write(user.join("providers/sim.yaml"), "name: mine\n").unwrap();
        std::fs::write(shipped.join("providers/sim.yaml"), "name: newer\n").unwrap();
        assert_eq!(locate_config_dir(&cwd, &exe, &user).unwrap(), user);
        let kept = std::fs::read_to_string(user.join("providers/sim.yaml")).unwrap();
        assert_eq!(kept, "name: mine\n");
    }

    #[test]
    fn a_config_dir_without_providers_gets_the_missing_parts_and_keeps_its_files() {
        let t = tempfile::tempdir().unwrap();
        let (exe, _) = installed(t.path());
        let user = t.path().join("cfg/stackperf");
        std::fs::create_dir_all(user.join("experiments")).unwrap();
        std::fs::write(user.join("experiments/mine.yaml"), "name: mine\n").unwrap();
        let got = locate_config_dir(&t.path().join("none"), &exe, &user).unwrap();
        assert_eq!(got, user);
        assert!(user.join("providers/sim.yaml").is_file());
        assert!(user.join("experiments/mine.yaml").is_file());
        // Its own experiments/ is kept as it was, not merged with the shipped one.
        assert!(!user.join("experiments/sim-profiles.yaml").exists());
    }

    #[test]
    fn a_source_checkout_and_the_working_directory_come_before_the_users_dir() {
        let t = tempfile::tempdir().unwrap();
        let repo = t.path().join("repo");
        std::fs::create_dir_all(repo.join("configs/providers")).unwrap();
        std::fs::create_dir_all(repo.join("target/debug")).unwrap();
        let exe = repo.join("target/debug/stackperf");
        let user = t.path().join("user");
        let cwd = t.path().join("cwd/configs");
        assert_eq!(
            locate_config_dir(&cwd, &exe, &user).unwrap(),
            repo.join("configs")
        );
        std::fs::create_dir_all(cwd.join("providers")).unwrap();
        assert_eq!(locate_config_dir(&cwd, &exe, &user).unwrap(), cwd);
        assert!(
            !user.exists(),
            "nothing is copied when a configuration was found"
        );
    }

    #[test]
    fn with_nothing_shipped_it_names_the_working_directory() {
        let t = tempfile::tempdir().unwrap();
        let exe = t.path().join("bin/stackperf");
        let cwd = t.path().join("configs");
        let user = t.path().join("user");
        assert_eq!(locate_config_dir(&cwd, &exe, &user).unwrap(), cwd);
        assert!(!user.exists());
    }

    #[test]
    fn two_first_starts_at_once_both_end_with_one_whole_copy() {
        let t = tempfile::tempdir().unwrap();
        let (exe, _) = installed(t.path());
        let user = t.path().join("home/.config/stackperf");
        let cwd = t.path().join("none");
        let results: Vec<_> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|_| s.spawn(|| locate_config_dir(&cwd, &exe, &user)))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for r in results {
            assert_eq!(r.unwrap(), user);
        }
        assert!(user.join("providers/sim.yaml").is_file());
        assert!(user.join("experiments/sim-profiles.yaml").is_file());
        let entries = std::fs::read_dir(user.parent().unwrap()).unwrap().count();
        assert_eq!(entries, 1, "only the config dir, no temporary copies");
    }
}
