//! Advisory whole-file locks (`flock`) between StackPerf processes sharing a data dir (the
//! desktop app, a terminal, the HTTP API): released when the holder drops the lock or its process
//! dies; children do not inherit it (close-on-exec).

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

use crate::{io_err, Error};

/// An exclusive lock on a file, held until dropped.
#[derive(Debug)]
pub struct FileLock {
    _file: File,
}

impl FileLock {
    /// Lock `path` (created if missing, with its directory), waiting while another process holds
    /// it; `on_wait` runs once, before waiting, only if it has to wait.
    pub async fn acquire(path: &Path, on_wait: impl FnOnce()) -> Result<FileLock, Error> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io_err(format!("create {}", dir.display())))?;
        }
        let context = format!("lock {}", path.display());
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(io_err(context.clone()))?;
        match file.try_lock() {
            Ok(()) => return Ok(FileLock { _file: file }),
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(e)) => return Err(io_err(context)(e)),
        }
        on_wait();
        let file = tokio::task::spawn_blocking(move || file.lock().map(|()| file))
            .await
            .map_err(|e| Error::Internal(format!("{context}: {e}")))?
            .map_err(io_err(context))?;
        Ok(FileLock { _file: file })
    }
}
