//! Held around every keychain call: one Secret Service session at a time across every StackPerf
//! process of this user. gnome-keyring (42 here, still in 50) aborts when several clients
//! negotiate sessions at once — short-lived CLI processes, a run's parallel sessions, the desktop
//! app — and the daemon that D-Bus starts in its place has the login keyring locked (upstream
//! gnome-keyring issues 190 and 194).
//!
//! Best effort, and never a way for someone else to stop this user's keychain calls: the lock
//! file lives in a folder only this user can write (the runtime dir when it is this user's and
//! private, else the user's cache dir); a lock file that is a link or is not this user's is not
//! used; and a turn not given within [`WAIT`] is taken anyway, with a warning.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a call waits for its turn before it goes ahead without it (a keychain call takes
/// milliseconds; D-Bus gives up on an unanswered one after 25 s).
pub(super) const WAIT: Duration = Duration::from_secs(30);

pub(super) struct KeychainTurn {
    /// Held for its lock, released when dropped.
    pub(super) _file: Option<File>,
}

impl KeychainTurn {
    /// Wait for the turn (flock: other threads and processes alike).
    pub(super) fn take() -> Self {
        match lock_path() {
            Some(p) => Self::take_at(&p, WAIT),
            None => KeychainTurn { _file: None },
        }
    }

    pub(super) fn take_at(path: &Path, wait: Duration) -> Self {
        let Some(file) = open_own(path) else {
            return KeychainTurn { _file: None };
        };
        let deadline = Instant::now() + wait;
        let mut pause = Duration::from_millis(1);
        loop {
            match file.try_lock() {
                Ok(()) => return KeychainTurn { _file: Some(file) },
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(TryLockError::WouldBlock) => {
                    tracing::warn!(
                        "the keychain lock {} was held for over {} s; going ahead without it",
                        path.display(),
                        wait.as_secs()
                    );
                    return KeychainTurn { _file: None };
                }
                Err(TryLockError::Error(_)) => return KeychainTurn { _file: None },
            }
        }
    }
}

/// The user's lock file, in a folder only this user can write.
pub(super) fn lock_path() -> Option<PathBuf> {
    let name = "stackperf-keychain.lock";
    if let Some(run) = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        if private_dir(&run) {
            return Some(run.join(name));
        }
    }
    let cache = directories::BaseDirs::new()?.cache_dir().join("stackperf");
    std::fs::create_dir_all(&cache).ok()?;
    Some(cache.join(name))
}

#[cfg(unix)]
fn private_dir(dir: &Path) -> bool {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    std::fs::symlink_metadata(dir).is_ok_and(|m| {
        m.is_dir()
            && m.uid() == nix::unistd::geteuid().as_raw()
            && m.permissions().mode() & 0o022 == 0
    })
}

#[cfg(not(unix))]
fn private_dir(dir: &Path) -> bool {
    dir.is_dir()
}

/// The lock file, when it is this user's own regular file (not a link, not someone else's).
#[cfg(unix)]
pub(super) fn open_own(path: &Path) -> Option<File> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| tracing::warn!("keychain lock {}: {e}; not used", path.display()))
        .ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.uid() != nix::unistd::geteuid().as_raw() {
        tracing::warn!(
            "keychain lock {} belongs to another user; not used",
            path.display()
        );
        return None;
    }
    Some(file)
}

#[cfg(not(unix))]
pub(super) fn open_own(path: &Path) -> Option<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn other_handle(p: &Path) -> Result<(), TryLockError> {
        OpenOptions::new().write(true).open(p).unwrap().try_lock()
    }

    #[test]
    fn keychain_calls_take_turns() {
        let p = lock_path().expect("a folder for the lock");
        let held = KeychainTurn::take();
        assert!(held._file.is_some(), "a lock file at {p:?}");
        let q = p.clone();
        assert!(matches!(
            std::thread::spawn(move || other_handle(&q)).join().unwrap(),
            Err(TryLockError::WouldBlock)
        ));
        drop(held);
        assert!(std::thread::spawn(move || other_handle(&p))
            .join()
            .unwrap()
            .is_ok());
    }

    #[test]
    fn a_turn_held_too_long_is_taken_anyway() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.lock");
        let first = KeychainTurn::take_at(&p, WAIT);
        assert!(first._file.is_some());
        let second = KeychainTurn::take_at(&p, Duration::from_millis(50));
        assert!(second._file.is_none(), "went ahead without the turn");
        drop(first);
        assert!(KeychainTurn::take_at(&p, WAIT)._file.is_some());
    }

    #[cfg(unix)]
    #[test]
    fn a_lock_file_that_is_a_link_or_someone_elses_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, "").unwrap();
        let link = dir.path().join("link.lock");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(open_own(&link).is_none(), "a link is not followed");
        assert!(KeychainTurn::take_at(&link, WAIT)._file.is_none());

        let foreign = dir.path().join("foreign.lock");
        std::fs::write(&foreign, "").unwrap();
        let me = nix::unistd::geteuid();
        if me.is_root() {
            std::os::unix::fs::chown(&foreign, Some(65534), None).unwrap();
            // Held by its owner, it would block us forever; it is not used at all.
            let held = File::open(&foreign).unwrap();
            held.lock().unwrap();
            assert!(open_own(&foreign).is_none());
            assert!(KeychainTurn::take_at(&foreign, WAIT)._file.is_none());
        }
        assert!(open_own(&dir.path().join("mine.lock")).is_some());
    }

    #[cfg(unix)]
    #[test]
    fn the_lock_lives_where_only_this_user_writes() {
        let p = lock_path().expect("a folder for the lock");
        let dir = p.parent().unwrap();
        assert!(
            private_dir(dir),
            "{dir:?} is this user's and not writable by others"
        );
        assert!(
            !private_dir(Path::new("/tmp")),
            "a shared temp dir is not used"
        );
    }
}
