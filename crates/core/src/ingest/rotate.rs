//! Spool rotation: a spool that grew past a size and is fully ingested is renamed aside
//! (`<name>.<unix ms>`) with its cursor moved to the new name in the database first; the writers
//! (LiteLLM's capture logger, the edge) notice the rename and reopen a new file. Lines a writer
//! appended to the old file before it noticed are read from the renamed file by its cursor, so no
//! line is lost or read twice (passes are serialized across processes by `collect.lock`, see
//! `capture::collect_into`). `prune` deletes rotated files that are fully read and older than
//! the raw-data retention.

use crate::timestamp::Timestamp;
use std::path::{Path, PathBuf};

use crate::store::Store;
use crate::{io_err, Error};

/// The size from which a fully ingested spool is rotated (`STACKPERF_SPOOL_ROTATE_BYTES`, default
/// 64 MiB).
pub fn rotate_bytes() -> u64 {
    std::env::var("STACKPERF_SPOOL_ROTATE_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64 << 20)
}

/// The rotated files of `spool`, oldest first.
pub fn rotated(spool: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (spool.parent(), spool.file_name()) else {
        return Vec::new();
    };
    let prefix = format!("{}.", name.to_string_lossy());
    let mut out: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    let stamp = n.strip_prefix(&prefix)?.parse::<u64>().ok()?;
                    Some((stamp, e.path()))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out.into_iter().map(|(_, p)| p).collect()
}

/// Rotate `spool` if it is at least `min_bytes` long and every byte of it is ingested; returns the
/// new name of the rotated file.
pub async fn maybe_rotate(
    store: &Store,
    spool: &Path,
    min_bytes: u64,
) -> Result<Option<PathBuf>, Error> {
    let Ok(meta) = std::fs::metadata(spool) else {
        return Ok(None);
    };
    if meta.len() < min_bytes {
        return Ok(None);
    }
    let key = spool.display().to_string();
    let id = super::capture::file_id(&meta);
    match store.ingest_cursor(&key).await? {
        Some((at_id, at)) if at_id == id && at == meta.len() => {}
        _ => return Ok(None),
    }
    let mut stamp = Timestamp::now().ms() as u64;
    let mut to = spool.with_file_name(format!("{}.{stamp}", file_name(spool)));
    while to.exists() {
        stamp += 1;
        to = spool.with_file_name(format!("{}.{stamp}", file_name(spool)));
    }
    let to_key = to.display().to_string();
    // The cursor moves first, and only if no other process moved or advanced it meanwhile.
    if !store
        .move_ingest_cursor(&key, &to_key, &id, meta.len())
        .await?
    {
        return Ok(None);
    }
    // Still the same file (a writer may have appended since: those lines are past the cursor
    // and are read from the new name).
    let same = std::fs::metadata(spool).is_ok_and(|m| super::capture::file_id(&m) == id);
    let renamed = if same {
        std::fs::rename(spool, &to)
    } else {
        Err(std::io::Error::other("the spool was replaced meanwhile"))
    };
    if let Err(e) = renamed {
        store
            .move_ingest_cursor(&to_key, &key, &id, meta.len())
            .await?;
        if !same {
            return Ok(None);
        }
        return Err(io_err(format!("rotate {}", spool.display()))(e));
    }
    Ok(Some(to))
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Rotated files of `spools` that are fully read and last written before `before` (Unix epoch
/// ms): `(path, bytes)`.
pub async fn drained_before(
    store: &Store,
    spools: &[PathBuf],
    before: Timestamp,
) -> Result<Vec<(PathBuf, u64)>, Error> {
    let mut out = Vec::new();
    for spool in spools {
        for f in rotated(spool) {
            let Ok(meta) = std::fs::metadata(&f) else {
                continue;
            };
            let modified = meta
                .modified()
                .ok()
                .and_then(Timestamp::of)
                .unwrap_or(Timestamp::FAR_FUTURE);
            let read = matches!(store.ingest_cursor(&f.display().to_string()).await?,
                Some((id, at)) if id == super::capture::file_id(&meta) && at == meta.len());
            if read && modified < before {
                out.push((f, meta.len()));
            }
        }
    }
    Ok(out)
}
