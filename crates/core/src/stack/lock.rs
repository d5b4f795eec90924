//! One stack operation (up, down) at a time per data dir, across processes: the desktop app and a
//! terminal both starting the stack would otherwise race for the same ports and files, and the
//! loser's services would be orphaned. An advisory lock (`flock`) on `<data>/stack/lock`, released
//! when the holder drops it or its process dies; children do not inherit it (close-on-exec).

use std::path::Path;

use super::StackEvent;
use crate::lockfile::FileLock;
use crate::Error;

/// Held while a stack operation runs.
#[derive(Debug)]
pub struct StackLock {
    _lock: FileLock,
}

impl StackLock {
    /// Take the lock, waiting (and saying so once) while another process holds it.
    pub async fn acquire(
        data_dir: &Path,
        progress: &(dyn Fn(StackEvent) + Send + Sync),
    ) -> Result<StackLock, Error> {
        let lock = FileLock::acquire(&data_dir.join("stack").join("lock"), || {
            progress(StackEvent::Step {
                service: None,
                message: "waiting for another StackPerf process (the desktop app or a terminal) \
                          that is starting or stopping this stack"
                    .into(),
            })
        })
        .await?;
        Ok(StackLock { _lock: lock })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[tokio::test]
    async fn a_second_holder_waits_says_so_and_gets_the_lock_when_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let said = Arc::new(Mutex::new(Vec::<String>::new()));
        let log = said.clone();
        let progress = move |e: StackEvent| {
            if let StackEvent::Step { message, .. } = e {
                log.lock().unwrap_or_else(|e| e.into_inner()).push(message);
            }
        };
        let first = StackLock::acquire(dir.path(), &progress)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(said.lock().unwrap_or_else(|e| e.into_inner()).is_empty());

        // A separate open file description, as another process would have.
        let path = dir.path().to_path_buf();
        let p2 = progress.clone();
        let second = tokio::spawn(async move { StackLock::acquire(&path, &p2).await });
        // The waiting message comes before the lock is granted; the lock is not granted while
        // the first holds it.
        while said.lock().unwrap_or_else(|e| e.into_inner()).is_empty() && !second.is_finished() {
            tokio::task::yield_now().await;
        }
        assert!(
            !second.is_finished(),
            "a second holder got the lock while the first held it"
        );
        drop(first);
        let got = second.await.unwrap_or_else(|e| panic!("{e}"));
        assert!(got.is_ok(), "{got:?}");
        assert!(said.lock().unwrap_or_else(|e| e.into_inner())[0].contains("another StackPerf"));
    }
}
