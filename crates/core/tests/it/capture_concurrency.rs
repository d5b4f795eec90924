//! Ingest with others at work on the same store: another connection writing meanwhile, two
//! collectors over one spool at once (two desktop windows, or the desktop and `session collect`).

use crate::capture::{append_lines, each_request_once, edge_line, edge_rows, litellm_line};
use stackperf_core::capture::collect;
use stackperf_core::normalize::ModelIndex;
use stackperf_core::store::Store;

/// Ingest passes while another connection keeps writing (the app's own writes: sessions, keys,
/// rollups) never fail with "database is locked": a pass that reads before it writes must not
/// meet a writer that committed in between (it did, once a pass began with a read of the edge's
/// pending starts: the window's tailer showed "Database Unavailable").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_passes_never_fail_while_another_connection_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
    let spool = dir.path().join("spool.jsonl");
    let edge_spool = stackperf_core::capture::edge_spool_beside(&spool);
    let models = ModelIndex::new();
    sqlx::query("CREATE TABLE scratch (x INTEGER)")
        .execute(store.sqlite_pool().unwrap())
        .await
        .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (pool, stop) = (store.sqlite_pool().unwrap().clone(), stop.clone());
        tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                sqlx::query("INSERT INTO scratch (x) VALUES (?1)")
                    .bind(n as i64)
                    .execute(&pool)
                    .await
                    .unwrap();
                n += 1;
            }
            n
        })
    };
    for i in 0..300u32 {
        // Mostly passes that find nothing new; now and then a start and its record.
        if i % 10 == 0 {
            append_lines(&edge_spool, &[edge_line("start", "a", i)]);
        } else if i % 10 == 5 {
            append_lines(&edge_spool, &[edge_line("end", "a", i - 5)]);
        }
        collect(&store, &spool, &models)
            .await
            .unwrap_or_else(|e| panic!("pass {i}: {e}"));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let writes = writer.await.unwrap();
    assert!(writes > 0, "the other connection wrote meanwhile");
    assert_eq!(edge_rows(&store).await.len(), 30);
}

/// Two ingest processes on one spool at once (the desktop's tailer and a terminal's `collect`,
/// each with its own connections), while the proxy appends LiteLLM lines and the edge appends
/// starts and records: no pass fails (no deadlock, no lock error), every request is one row
/// with the edge's timing, no start is left pending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_collectors_on_one_spool_at_once_fail_nothing_and_double_nothing() {
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    use std::sync::Arc;
    let top = tempfile::tempdir().unwrap();
    for db in crate::common::backends(top.path(), "two_collectors") {
        let dir = tempfile::tempdir().unwrap();
        let db = if crate::common::is_file(&db) {
            dir.path().join("db.sqlite")
        } else {
            db
        };
        Store::open(&db).await.unwrap();
        let spool = Arc::new(dir.path().join("spool.jsonl"));
        let edge_spool = stackperf_core::capture::edge_spool_beside(&spool);
        let done = Arc::new(AtomicBool::new(false));
        let total = Arc::new(AtomicU32::new(0));
        let collectors: Vec<_> = (0..2)
            .map(|_| {
                let (db, spool, done, total) =
                    (db.clone(), spool.clone(), done.clone(), total.clone());
                tokio::spawn(async move {
                    // Each its own store: its own pool and writer connection.
                    let store = Store::open(&db).await.unwrap();
                    let mut passes = 0u32;
                    loop {
                        let last = done.load(Ordering::SeqCst);
                        collect(&store, &spool, &ModelIndex::new())
                            .await
                            .unwrap_or_else(|e| panic!("{db:?} pass {passes}: {e}"));
                        passes += 1;
                        total.fetch_add(1, Ordering::SeqCst);
                        if last {
                            return passes;
                        }
                    }
                })
            })
            .collect();
        let n = 400u32;
        for i in 0..n {
            append_lines(&edge_spool, &[edge_line("start", "a", i)]);
            append_lines(&spool, &[litellm_line("a", i)]);
            append_lines(&edge_spool, &[edge_line("end", "a", i)]);
            if i % 20 == 19 {
                // Let the collectors make passes between the proxy's bursts.
                let seen = total.load(Ordering::SeqCst);
                while total.load(Ordering::SeqCst) < seen + 2 {
                    tokio::task::yield_now().await;
                }
            }
        }
        done.store(true, Ordering::SeqCst);
        for c in collectors {
            assert!(c.await.unwrap() > 1, "{db:?}: each collector made passes");
        }
        let store = Store::open(&db).await.unwrap();
        each_request_once(&store, n, &format!("{db:?}")).await;
    }
}
