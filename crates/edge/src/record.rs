//! The edge's own record of every request it accepted: one JSON line in its spool, written off
//! the request path by one writer task.
//!
//! Durability: each batch of records is appended with one `write(2)` as soon as it is queued, so a
//! crash of LiteLLM, of the app or of the edge after the write loses nothing; the file is
//! `fdatasync`ed on the writer's thread (never on a request's path) at most [`SYNC_EVERY`] after
//! the oldest unsynced write, and on shutdown and rotation: an operating-system crash or power
//! loss loses at most that last second. (It used to sync after every request: `perf` put 8 % of the
//! edge's samples in that block I/O, though no latency difference was measurable.) A killed
//! edge loses the records of requests still in flight, whose clients lose their connection in the
//! same instant.
//!
//! So that a killed edge cannot leave a request unrecorded, every model call also gets a **start
//! line** (`{"start":{…}}`) once it has been written to LiteLLM, and each edge instance writes
//! `{"up":{…}}` when it starts serving and `{"down":{…}}` after a clean stop. Ingest turns a start
//! line without its record into an `edge_lost` row once the instance that wrote it is known to be
//! gone (a `down` line, or an `up` line of a newer instance). See [`SpoolLine`]. The start line is
//! handed to the writer just after the request was written to LiteLLM (off the way there): an edge
//! killed in that instant (the writer's next wake-up; a few ms on a loaded machine) leaves LiteLLM's
//! line alone, which ingest stores as a `not_timed_at_edge` error that the session counts with
//! its losses.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use std::sync::mpsc;

pub use stackperf_contract::record::*;

/// What the writer is handed.
#[derive(Debug)]
enum Line {
    Record(Box<EdgeRecord>),
    Event(Event),
}

/// Where finished records go.
#[derive(Debug, Clone)]
pub struct Sink(
    mpsc::Sender<Line>,
    Option<std::sync::Arc<crate::metrics::Metrics>>,
);

impl Sink {
    /// Count every record sent in `m` too (the edge's Prometheus metrics).
    pub fn with_metrics(self, m: std::sync::Arc<crate::metrics::Metrics>) -> Sink {
        Sink(self.0, Some(m))
    }

    pub fn send(&self, rec: EdgeRecord) {
        if let Some(m) = &self.1 {
            m.observe(&rec);
        }
        // Only fails once the writer has stopped (shutdown); nothing can be done then.
        let _ = self.0.send(Line::Record(Box::new(rec)));
    }

    /// Write an event line (a request's start, the instance's up or down).
    pub fn event(&self, e: Event) {
        let _ = self.0.send(Line::Event(e));
    }

    /// Write a request's start line once the current task yields: after the request has been
    /// written to LiteLLM, so the writer thread's wake-up is not on the way there.
    pub fn start_soon(&self, start: EdgeStart) {
        let sink = self.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(h) => {
                h.spawn(async move { sink.event(Event::Start(start)) });
            }
            Err(_) => sink.event(Event::Start(start)),
        }
    }

    /// Send `rec` once the current task yields — after the response's last bytes are flushed to
    /// the client (the handoff to the writer thread costs a wake-up that would otherwise sit
    /// between the stream's end marker and its final chunk). Sent right away outside a runtime;
    /// a runtime shutting down drops the task, and the record is sent by that drop.
    pub fn send_soon(&self, rec: EdgeRecord) {
        let later = Later(Some((self.clone(), rec)));
        match tokio::runtime::Handle::try_current() {
            Ok(h) => {
                h.spawn(async move { drop(later) });
            }
            Err(_) => drop(later),
        }
    }
}

/// A record sent when dropped.
struct Later(Option<(Sink, EdgeRecord)>);

impl Drop for Later {
    fn drop(&mut self) {
        if let Some((sink, rec)) = self.0.take() {
            sink.send(rec);
        }
    }
}

/// The longest a written record stays unsynced.
pub const SYNC_EVERY: Duration = Duration::from_secs(1);

/// Open (create, 0600) the spool for appending.
pub fn open(path: &Path) -> std::io::Result<std::fs::File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut o = std::fs::OpenOptions::new();
    o.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)
}

/// The open spool file is no longer the one at `path` (renamed away or deleted).
fn rotated(path: &Path, file: &std::fs::File) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(path), file.metadata()) {
            (Ok(a), Ok(b)) => a.ino() != b.ino() || a.dev() != b.dev(),
            _ => true,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (path, file);
        false
    }
}

/// Start the writer; it ends (after a final sync) when every [`Sink`] is dropped.
pub fn writer(path: PathBuf) -> std::io::Result<(Sink, tokio::task::JoinHandle<()>)> {
    let file = open(&path)?;
    let (tx, rx) = mpsc::channel::<Line>();
    let handle = tokio::task::spawn_blocking(move || write_loop(&path, file, &rx));
    Ok((Sink(tx, None), handle))
}

/// Append batches as they come; sync [`SYNC_EVERY`] after the oldest unsynced write; end (after a
/// final sync) when every sender is gone.
fn write_loop(path: &Path, mut file: std::fs::File, rx: &mpsc::Receiver<Line>) {
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut unsynced: Option<Instant> = None;
    loop {
        let first = match unsynced {
            None => rx.recv().ok(),
            Some(since) => match rx.recv_timeout(SYNC_EVERY.saturating_sub(since.elapsed())) {
                Ok(r) => Some(r),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = file.sync_data();
                    unsynced = None;
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => None,
            },
        };
        let Some(first) = first else { break };
        buf.clear();
        for line in std::iter::once(first).chain(rx.try_iter()) {
            let written = match &line {
                Line::Record(r) => serde_json::to_writer(&mut buf, r),
                Line::Event(e) => serde_json::to_writer(&mut buf, e),
            };
            if written.is_ok() {
                buf.push(b'\n');
            }
            if buf.len() > 1 << 20 {
                break;
            }
        }
        if rotated(path, &file) {
            // StackPerf renamed the spool (rotation): the rest goes into a new file; the old
            // one is drained by its cursor.
            let _ = file.sync_data();
            match open(path) {
                Ok(f) => file = f,
                Err(e) => tracing::error!("edge spool {}: reopen: {e}", path.display()),
            }
        }
        if let Err(e) = file.write_all(&buf) {
            tracing::error!("edge spool {}: {e}", path.display());
        }
        let since = *unsynced.get_or_insert_with(Instant::now);
        if since.elapsed() >= SYNC_EVERY {
            let _ = file.sync_data();
            unsynced = None;
        }
    }
    let _ = file.sync_data();
}

#[cfg(test)]
mod tests {
    use super::*;
    use stackperf_contract::Surface;

    fn rec(id: &str) -> EdgeRecord {
        serde_json::from_value(serde_json::json!({
            "v": 1, "edge_id": id, "key_alias": "a", "method": "POST",
            "route": "/v1/chat/completions", "surface": "openai_chat", "stream": true,
            "arrived": 1.0, "finished": 2.0, "outcome": "ok", "deltas": 3, "stalls": 0,
            "stall_threshold_ms": 1000.0, "terminal": true, "bytes_out": 10
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn record_id(l: Line) -> Option<String> {
        match l {
            Line::Record(r) => Some(r.edge_id),
            Line::Event(_) => None,
        }
    }

    async fn lines_in(p: &Path, n: usize) -> Vec<String> {
        // The writer works on its own thread: wait (bounded) for the lines to land.
        for _ in 0..200 {
            let text = std::fs::read_to_string(p).unwrap_or_default();
            if text.lines().count() >= n {
                return text.lines().map(str::to_string).collect();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{} never got {n} lines", p.display());
    }

    #[test]
    fn a_record_sent_soon_arrives_after_the_task_yields_or_when_the_runtime_goes() {
        let (tx, rx) = mpsc::channel();
        let sink = Sink(tx, None);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        rt.block_on(async {
            sink.send_soon(rec("one"));
            assert!(rx.try_recv().is_err(), "sent before the task yielded");
            tokio::task::yield_now().await;
            assert_eq!(
                rx.try_recv().ok().and_then(record_id).as_deref(),
                Some("one")
            );
            sink.send_soon(rec("two"));
        });
        // The runtime ends with the task unrun: its drop sends the record.
        assert!(rx.try_recv().is_err());
        drop(rt);
        assert_eq!(
            rx.try_recv().ok().and_then(record_id).as_deref(),
            Some("two")
        );
        // Outside a runtime: at once.
        sink.send_soon(rec("three"));
        assert_eq!(
            rx.try_recv().ok().and_then(record_id).as_deref(),
            Some("three")
        );
    }

    #[tokio::test]
    async fn records_are_written_at_once_and_the_file_is_complete_after_shutdown() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("edge.jsonl");
        let (sink, handle) = writer(path.clone()).unwrap_or_else(|e| panic!("{e}"));
        sink.send(rec("a"));
        // Readable while the writer still runs (a line waits for no fsync).
        assert_eq!(lines_in(&path, 1).await.len(), 1);
        for i in 0..100 {
            sink.send(rec(&format!("b{i}")));
        }
        drop(sink);
        let _ = handle.await;
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(text.lines().count(), 101);
        assert!(text
            .lines()
            .all(|l| serde_json::from_str::<EdgeRecord>(l).is_ok()));
    }

    #[tokio::test]
    async fn start_up_and_down_lines_are_written_in_order_and_parse_back() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("edge.jsonl");
        let (sink, handle) = writer(path.clone()).unwrap_or_else(|e| panic!("{e}"));
        let mark = |at| InstanceMark {
            instance: "0a1b2c".into(),
            at,
            pid: Some(7),
        };
        sink.event(Event::Up(mark(1.0)));
        let start = EdgeStart {
            edge_id: "edge-0a1b2c-1".into(),
            key_alias: "a".into(),
            session_id: Some("sess_x".into()),
            method: "POST".into(),
            route: "/v1/chat/completions".into(),
            surface: Surface::OpenaiChat,
            model: Some("m".into()),
            stream: true,
            arrived: 1.5,
        };
        sink.event(Event::Start(start.clone()));
        sink.send(rec("edge-0a1b2c-1"));
        sink.event(Event::Down(mark(3.0)));
        drop(sink);
        let _ = handle.await;
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let lines: Vec<SpoolLine> = text
            .lines()
            .map(|l| parse_line(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert_eq!(lines[0], SpoolLine::Event(Event::Up(mark(1.0))));
        assert_eq!(lines[1], SpoolLine::Event(Event::Start(start)));
        assert!(matches!(&lines[2], SpoolLine::Record(r) if r.edge_id == "edge-0a1b2c-1"));
        assert_eq!(lines[3], SpoolLine::Event(Event::Down(mark(3.0))));
        assert!(parse_line(r#"{"nope":{}}"#).is_err());
        assert_eq!(instance_of("edge-0a1b2c-17"), Some("0a1b2c"));
        for bad in ["edge--1", "edge-0a1b2c-x", "other-0a1b2c-1", "edge-0a1b2c"] {
            assert_eq!(instance_of(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn after_a_rotation_the_writer_starts_a_new_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("edge.jsonl");
        let (sink, handle) = writer(path.clone()).unwrap_or_else(|e| panic!("{e}"));
        sink.send(rec("one"));
        assert_eq!(lines_in(&path, 1).await.len(), 1);
        let rotated = dir.path().join("edge.jsonl.1");
        std::fs::rename(&path, &rotated).unwrap_or_else(|e| panic!("{e}"));
        sink.send(rec("two"));
        let fresh = lines_in(&path, 1).await;
        assert_eq!(fresh.len(), 1);
        assert!(fresh[0].contains("\"two\""));
        let old = std::fs::read_to_string(&rotated).unwrap_or_default();
        assert_eq!(old.lines().count(), 1, "{old}");
        drop(sink);
        let _ = handle.await;
    }
}
