//! Capture: ingest the spools into the database — LiteLLM's capture spool and, beside it,
//! StackPerf's edge spool (`edge.jsonl`). Both lines of a request share its `request_id` (the
//! edge's correlation id) and are merged into one row in either order.
//!
//! Incremental (a byte cursor per spool, stored in the same transaction as the rows it covers),
//! idempotent (a side of a request already stored is not stored again), and lossless: a partial
//! last line is left for the next pass, and a run after downtime catches up from the cursor.

use crate::timestamp::Timestamp;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::ingest_write::Written;
use crate::normalize::{self, Attribution, ModelIndex, RequestRow, Traffic};
use crate::normalize_edge::{normalize_edge, normalize_start};
use crate::store::edge_events::EdgeEvent;
use crate::store::Store;
use crate::{io_err, Error};
use stackperf_contract::record::SpoolLine;

/// Rows per transaction (the cursor moves with each).
const BATCH: usize = 10_000;

/// What one ingest pass did.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct CollectReport {
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub lines: u64,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub inserted: u64,
    /// Lines that completed a row the other spool had started (edge + LiteLLM of one request).
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub merged: u64,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub duplicates: u64,
    /// Lines skipped: not JSON of a known shape, not UTF-8, or longer than 16 MiB.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub malformed: u64,
    /// Byte offset of the first skipped line in this pass (to find it with `tail -c +N`).
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub first_malformed_at: Option<u64>,
    /// Requests with a key the proxy accepted that belongs to no session.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub unattributed: u64,
    /// StackPerf's own requests (the proxy warm-up, master-key calls).
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub internal: u64,
    /// Requests refused for their key or scope, with no session to count them into.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub rejected: u64,
    /// Requests made with a usage key (usage mode, never a session's).
    #[cfg_attr(feature = "specta", specta(type = f64))]
    #[serde(default)]
    pub usage: u64,
    /// Bytes of an incomplete last line left for the next pass.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub pending_bytes: u64,
    /// Spools renamed aside after this pass read them to the end (see `ingest::rotate`).
    #[cfg_attr(feature = "specta", specta(type = f64))]
    #[serde(default)]
    pub rotated: u64,
    /// Requests the edge accepted whose record never came, because that edge instance stopped
    /// or was killed first: stored as `edge_lost` errors.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    #[serde(default)]
    pub edge_lost: u64,
}

pub(crate) fn file_id(meta: &std::fs::Metadata) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        format!("{}:{}", meta.dev(), meta.ino())
    }
    #[cfg(not(unix))]
    {
        meta.created()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos().to_string())
            .unwrap_or_default()
    }
}

/// Resolves requests to sessions, caching lookups for one pass.
struct Sessions<'a> {
    store: &'a Store,
    /// By key alias (LiteLLM's lines name only the key).
    cache: HashMap<String, Option<Attribution>>,
    /// By session id (the edge records the session it admitted the key for).
    by_id: HashMap<String, Option<Attribution>>,
}

impl Sessions<'_> {
    async fn get(&mut self, alias: &str) -> Result<Option<Attribution>, Error> {
        if let Some(a) = self.cache.get(alias) {
            return Ok(a.clone());
        }
        let a = self.store.key_owner(alias).await?;
        self.cache.insert(alias.to_string(), a.clone());
        Ok(a)
    }

    /// The session of an edge record: the one the edge recorded, else (a usage key, the master
    /// key) whatever the alias belongs to.
    async fn of_edge(
        &mut self,
        session_id: Option<&str>,
        alias: &str,
    ) -> Result<Option<Attribution>, Error> {
        let Some(id) = session_id else {
            return self.get(alias).await;
        };
        if let Some(a) = self.by_id.get(id) {
            return Ok(a.clone());
        }
        let a = self.store.session_attribution(id).await?;
        self.by_id.insert(id.to_string(), a.clone());
        Ok(a)
    }
}

/// One ingest pass over `spool`.
pub async fn collect(
    store: &Store,
    spool: &Path,
    models: &ModelIndex,
) -> Result<CollectReport, Error> {
    collect_into(store, spool, models, None, super::rotate::rotate_bytes()).await
}

/// One ingest pass over `spool` that rotates a drained spool from `rotate_at` bytes (instead of
/// `STACKPERF_SPOOL_ROTATE_BYTES`).
pub async fn collect_rotating_at(
    store: &Store,
    spool: &Path,
    models: &ModelIndex,
    rotate_at: u64,
) -> Result<CollectReport, Error> {
    collect_into(store, spool, models, None, rotate_at).await
}

/// The edge's spool, kept beside LiteLLM's capture spool.
pub fn edge_spool_beside(spool: &Path) -> std::path::PathBuf {
    spool.with_file_name("edge.jsonl")
}

/// Which writer a spool line comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Litellm,
    Edge,
}

/// One ingest pass over LiteLLM's spool and the edge spool beside it; the rows read in this pass
/// are also appended to `sink` (for live views).
pub async fn collect_into(
    store: &Store,
    spool: &Path,
    models: &ModelIndex,
    mut sink: Option<&mut Vec<RequestRow>>,
    rotate_at: u64,
) -> Result<CollectReport, Error> {
    let mut report = CollectReport::default();
    // One pass at a time over these spools, across processes (the desktop's live ingest and a
    // terminal's `collect`): two passes would read the same lines (stored once, but counted and
    // shown twice) and race each other's rotation.
    let _pass =
        crate::lockfile::FileLock::acquire(&spool.with_file_name("collect.lock"), || {}).await?;
    let edge = edge_spool_beside(spool);
    for (path, source) in [(spool, Source::Litellm), (edge.as_path(), Source::Edge)] {
        // Rotated files first (oldest first): lines a writer added before it reopened.
        for file in super::rotate::rotated(path)
            .iter()
            .map(PathBuf::as_path)
            .chain([path])
        {
            collect_file(
                store,
                file,
                source,
                models,
                sink.as_deref_mut(),
                &mut report,
            )
            .await?;
        }
        if super::rotate::maybe_rotate(store, path, rotate_at)
            .await?
            .is_some()
        {
            report.rotated += 1;
        }
    }
    Ok(report)
}

async fn collect_file(
    store: &Store,
    spool: &Path,
    source: Source,
    models: &ModelIndex,
    mut sink: Option<&mut Vec<RequestRow>>,
    report: &mut CollectReport,
) -> Result<(), Error> {
    let Ok(meta) = std::fs::metadata(spool) else {
        return Ok(());
    };
    let key = spool.display().to_string();
    let id = file_id(&meta);
    let machine = store.machine_key().await?;
    let mut offset: u64 = match store.ingest_cursor(&key).await? {
        // Same file, not truncated: continue where the last pass stopped.
        Some((file_id, at)) if file_id == id && at <= meta.len() => at,
        _ => 0,
    };
    let mut file =
        std::fs::File::open(spool).map_err(io_err(format!("open {}", spool.display())))?;
    file.seek(SeekFrom::Start(offset))
        .map_err(io_err("seek in the spool"))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut sessions = Sessions {
        store,
        cache: HashMap::new(),
        by_id: HashMap::new(),
    };
    let mut batch: Vec<RequestRow> = Vec::with_capacity(BATCH);
    let mut events: Vec<EdgeEvent> = Vec::new();
    let mut pending: Option<Pending> = None;
    let mut raw: Vec<u8> = Vec::new();
    loop {
        let (n, complete, too_long) =
            read_line_bounded(&mut reader, &mut raw, MAX_LINE).map_err(io_err("read the spool"))?;
        if n == 0 {
            break;
        }
        if !complete {
            // The proxy is still writing this line: leave it for the next pass.
            report.pending_bytes += n;
            break;
        }
        report.lines += 1;
        // A line that is not UTF-8 or too long is skipped and counted, never a stop.
        let line = match std::str::from_utf8(&raw) {
            Ok(l) if !too_long => l,
            _ => "",
        };
        let row = match source {
            Source::Litellm => match normalize::parse_line(line.trim_end()) {
                Ok(rec) => {
                    let attribution = match rec.key_alias.as_deref() {
                        Some(alias) => sessions.get(alias).await?,
                        None => None,
                    };
                    normalize::normalize(&rec, attribution.as_ref(), models).ok()
                }
                Err(_) => None,
            },
            Source::Edge => match stackperf_contract::record::parse_line(line.trim_end()) {
                Ok(SpoolLine::Record(rec)) => {
                    let attribution = sessions
                        .of_edge(rec.session_id.as_deref(), &rec.key_alias)
                        .await?;
                    Some(normalize_edge(&rec, attribution.as_ref(), models))
                }
                Ok(SpoolLine::Event(ev)) => {
                    match edge_event(ev, &mut sessions, models).await? {
                        Some(ev) => events.push(ev),
                        None => {
                            report.malformed += 1;
                            report.first_malformed_at.get_or_insert(offset);
                        }
                    }
                    offset += n;
                    continue;
                }
                Err(_) => None,
            },
        };
        match row {
            Some(r) => {
                match r.traffic {
                    Traffic::Session => {}
                    Traffic::Unattributed => report.unattributed += 1,
                    Traffic::Internal => report.internal += 1,
                    Traffic::Rejected => report.rejected += 1,
                    Traffic::Usage => report.usage += 1,
                }
                batch.push(r);
            }
            None => {
                report.malformed += 1;
                report.first_malformed_at.get_or_insert(offset);
            }
        }
        offset += n;
        if batch.len() + events.len() >= BATCH {
            // Parse the next batch while this one is written: wait only for the previous write
            // (cursor commits stay in order).
            if let Some(h) = pending.take() {
                absorb(h.await, report, sink.as_deref_mut())?;
            }
            pending = Some(spawn_insert(
                store,
                (&key, &id, offset, machine),
                std::mem::take(&mut batch),
                std::mem::take(&mut events),
            ));
        }
    }
    if let Some(h) = pending.take() {
        absorb(h.await, report, sink.as_deref_mut())?;
    }
    absorb(
        spawn_insert(store, (&key, &id, offset, machine), batch, events).await,
        report,
        sink,
    )
}

/// An edge event line for the writer; `None` for one that cannot be used (a start line with no
/// instance in its correlation id).
async fn edge_event(
    ev: stackperf_contract::record::Event,
    sessions: &mut Sessions<'_>,
    models: &ModelIndex,
) -> Result<Option<EdgeEvent>, Error> {
    use stackperf_contract::record::Event;
    Ok(match ev {
        Event::Start(st) => {
            let Some(instance) = stackperf_contract::record::instance_of(&st.edge_id) else {
                return Ok(None);
            };
            let attribution = sessions
                .of_edge(st.session_id.as_deref(), &st.key_alias)
                .await?;
            Some(EdgeEvent::Start {
                instance: instance.to_string(),
                lost: Box::new(normalize_start(&st, attribution.as_ref(), models)),
            })
        }
        Event::Up(m) => Some(EdgeEvent::Up {
            instance: m.instance,
            at: Timestamp::from_secs(m.at),
        }),
        Event::Down(m) => Some(EdgeEvent::Down {
            instance: m.instance,
            at: Timestamp::from_secs(m.at),
        }),
    })
}

/// The longest spool line read (a record is a few KB; a longer line is skipped and counted).
const MAX_LINE: usize = 16 << 20;

/// Read one line (through `\n`) into `buf`, keeping at most `max` bytes of it: returns the bytes
/// consumed, whether the line was complete (ended in a newline) and whether it was cut.
fn read_line_bounded(
    r: &mut impl BufRead,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<(u64, bool, bool)> {
    buf.clear();
    let mut consumed = 0u64;
    let mut too_long = false;
    loop {
        let chunk = r.fill_buf()?;
        if chunk.is_empty() {
            return Ok((consumed, false, too_long));
        }
        let (take, done) = match chunk.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        if buf.len() + take <= max {
            buf.extend_from_slice(&chunk[..take]);
        } else {
            too_long = true;
        }
        r.consume(take);
        consumed += take as u64;
        if done {
            return Ok((consumed, true, too_long));
        }
    }
}

/// Tail the spool: ingest on every file notification (and at least every `poll` in case one is
/// missed) until `stop` resolves; each pass that read something is handed to `on_pass` with its
/// rows. Nothing is lost across restarts: the cursor lives in the database.
pub async fn follow<F, S>(
    store: &Store,
    spool: &Path,
    models: &ModelIndex,
    poll: std::time::Duration,
    mut on_pass: F,
    stop: S,
) -> Result<(), Error>
where
    F: FnMut(&CollectReport, &[RequestRow]),
    S: std::future::Future<Output = ()>,
{
    use notify::{RecursiveMode, Watcher};
    let dir = spool.parent().unwrap_or(Path::new(".")).to_path_buf();
    std::fs::create_dir_all(&dir).map_err(io_err(format!("create {}", dir.display())))?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let names = [
        spool.file_name().map(|n| n.to_os_string()),
        edge_spool_beside(spool)
            .file_name()
            .map(|n| n.to_os_string()),
    ];
    let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        if let Ok(ev) = ev {
            if ev
                .paths
                .iter()
                .any(|p| names.contains(&p.file_name().map(|n| n.to_os_string())))
            {
                let _ = tx.send(());
            }
        }
    })
    .map_err(|e| Error::Io {
        context: "watch the capture spool".into(),
        source: std::io::Error::other(e),
    })?;
    watcher
        .watch(&dir, RecursiveMode::NonRecursive)
        .map_err(|e| Error::Io {
            context: format!("watch {}", dir.display()),
            source: std::io::Error::other(e),
        })?;
    let mut tick = tokio::time::interval(poll);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return Ok(()),
            _ = tick.tick() => {}
            Some(()) = rx.recv() => {
                // Coalesce a burst of notifications into one pass.
                while rx.try_recv().is_ok() {}
            }
        }
        let mut rows = Vec::new();
        let report = collect_into(
            store,
            spool,
            models,
            Some(&mut rows),
            super::rotate::rotate_bytes(),
        )
        .await?;
        if report.lines > 0 {
            on_pass(&report, &rows);
        }
    }
}

type Pending = tokio::task::JoinHandle<Result<(Written, Vec<RequestRow>), Error>>;

/// Write `rows` and `events` with the cursor `(spool, file_id, offset)` as machine `machine`;
/// the rows handed back include those that start lines became.
fn spawn_insert(
    store: &Store,
    (spool, file_id, offset, machine): (&str, &str, u64, i64),
    mut rows: Vec<RequestRow>,
    events: Vec<EdgeEvent>,
) -> Pending {
    let store = store.clone();
    let (spool, file_id) = (store.spool_key(spool).into_owned(), file_id.to_string());
    use crate::ingest_write::Cursor;
    if let crate::store::Pool::Postgres(pool) = store.pool().clone() {
        return tokio::spawn(async move {
            let cursor = Cursor {
                spool: &spool,
                file_id: &file_id,
                offset,
                machine,
            };
            let (n, lost) = store.write_pg(&pool, &cursor, &rows, &events).await?;
            rows.extend(lost);
            Ok((n, rows))
        });
    }
    tokio::task::spawn_blocking(move || {
        let cursor = Cursor {
            spool: &spool,
            file_id: &file_id,
            offset,
            machine,
        };
        let (n, lost) = store
            .writer()
            .write(store.path(), &cursor, &rows, &events)?;
        rows.extend(lost);
        Ok((n, rows))
    })
}

/// Count a finished write into the report and hand its rows to the sink.
fn absorb(
    done: Result<Result<(Written, Vec<RequestRow>), Error>, tokio::task::JoinError>,
    report: &mut CollectReport,
    sink: Option<&mut Vec<RequestRow>>,
) -> Result<(), Error> {
    let (w, rows) = done.map_err(|e| Error::Internal(format!("the ingest task failed: {e}")))??;
    report.inserted += w.inserted;
    report.merged += w.merged;
    report.edge_lost += w.lost;
    report.duplicates += (rows.len() as u64).saturating_sub(w.inserted + w.merged + w.lost);
    if let Some(out) = sink {
        out.extend(rows);
    }
    Ok(())
}

/// Insert rows and move the cursor in one transaction (see [`crate::ingest_write`]); returns
/// how many rows were new. (Public for the ingest benchmark's raw baseline.)
pub async fn insert_rows(
    store: &Store,
    spool: &str,
    file_id: &str,
    offset: u64,
    rows: Vec<RequestRow>,
) -> Result<(u64, Vec<RequestRow>), Error> {
    let machine = store.machine_key().await?;
    let (w, rows) = spawn_insert(store, (spool, file_id, offset, machine), rows, Vec::new())
        .await
        .map_err(|e| Error::Internal(format!("the ingest task failed: {e}")))??;
    Ok((w.inserted, rows))
}
