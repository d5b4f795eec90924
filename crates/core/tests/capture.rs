//! Ingesting the capture spool: idempotent, incremental, and a line still being written is
//! retried on the next pass rather than dropped.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::io::Write;

use sqlx::Row;
use stackperf_core::capture::collect;
use stackperf_core::normalize::ModelIndex;
use stackperf_core::store::Store;

fn line(i: usize) -> String {
    format!(
        r#"{{"v":1,"litellm_call_id":"call-{i}","status":"success","route":"/v1/chat/completions","stream":true,"start":{s},"end":{e},"first_delta":{f},"model_group":"sim-fast","prompt_tokens":10,"completion_tokens":20}}"#,
        s = 1000.0 + i as f64,
        e = 1000.5 + i as f64,
        f = 1000.1 + i as f64
    )
}

async fn count(store: &Store) -> i64 {
    sqlx::query("SELECT COUNT(*), COUNT(DISTINCT litellm_call_id) FROM requests")
        .fetch_one(store.pool())
        .await
        .map(|r| {
            assert_eq!(r.get::<i64, _>(0), r.get::<i64, _>(1), "duplicate rows");
            r.get(0)
        })
        .unwrap()
}

#[tokio::test]
async fn ingesting_the_same_spool_twice_adds_nothing_and_partial_lines_wait() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
    let spool = dir.path().join("spool.jsonl");
    let models = ModelIndex::new();
    let mut f = std::fs::File::create(&spool).unwrap();
    for i in 0..5 {
        writeln!(f, "{}", line(i)).unwrap();
    }
    // The proxy is half-way through writing line 5.
    let l5 = line(5);
    write!(f, "{}", &l5[..40]).unwrap();
    f.flush().unwrap();

    let r = collect(&store, &spool, &models).await.unwrap();
    assert_eq!((r.lines, r.inserted, r.pending_bytes), (5, 5, 40));
    assert_eq!(count(&store).await, 5);
    let again = collect(&store, &spool, &models).await.unwrap();
    assert_eq!(
        (again.lines, again.inserted),
        (0, 0),
        "the cursor makes a second pass a no-op"
    );

    write!(f, "{}\n{}\n", &l5[40..], line(6)).unwrap();
    f.flush().unwrap();
    let r = collect(&store, &spool, &models).await.unwrap();
    assert_eq!(
        (r.lines, r.inserted, r.malformed),
        (2, 2, 0),
        "the completed line is picked up, not lost"
    );
    assert_eq!(count(&store).await, 7);
    let ttft: f64 = sqlx::query("SELECT ttft_ms FROM requests WHERE litellm_call_id = 'call-5'")
        .fetch_one(store.pool())
        .await
        .unwrap()
        .get(0);
    assert!((ttft - 100.0).abs() < 1e-6);

    // A lost cursor (e.g. a restored database) re-reads everything and still adds nothing.
    sqlx::query("DELETE FROM ingest_cursors")
        .execute(store.pool())
        .await
        .unwrap();
    let r = collect(&store, &spool, &models).await.unwrap();
    assert_eq!((r.lines, r.inserted, r.duplicates), (7, 0, 7));
    assert_eq!(count(&store).await, 7);

    // A rotated spool (new file) starts from its beginning.
    std::fs::remove_file(&spool).unwrap();
    std::fs::write(&spool, format!("{}\nnot json\n", line(7))).unwrap();
    let r = collect(&store, &spool, &models).await.unwrap();
    assert_eq!((r.lines, r.inserted, r.malformed), (2, 1, 1));
    assert_eq!(count(&store).await, 8);
}

#[tokio::test]
async fn a_missing_spool_is_an_empty_pass() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
    let r = collect(&store, &dir.path().join("nope.jsonl"), &ModelIndex::new())
        .await
        .unwrap();
    assert_eq!(r.lines, 0);
}

#[tokio::test]
async fn following_the_spool_delivers_new_requests_as_they_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
    let spool = dir.path().join("capture/spool.jsonl");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(std::time::Instant, Vec<String>)>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let follower = {
        let store = store.clone();
        let spool = spool.clone();
        tokio::spawn(async move {
            stackperf_core::capture::follow(
                &store,
                &spool,
                &ModelIndex::new(),
                std::time::Duration::from_secs(5),
                |_, rows| {
                    let _ = tx.send((
                        std::time::Instant::now(),
                        rows.iter().map(|r| r.request_id.clone()).collect(),
                    ));
                },
                async {
                    let _ = stop_rx.await;
                },
            )
            .await
        })
    };
    let mut seen = Vec::new();
    let mut delays = Vec::new();
    for i in 0..3 {
        // The spool (and its directory) may not exist before the first request.
        std::fs::create_dir_all(spool.parent().unwrap()).unwrap();
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&spool)
            .unwrap();
        let written = std::time::Instant::now();
        writeln!(f, "{}", line(100 + i)).unwrap();
        f.flush().unwrap();
        // Wait for delivery (bounded), not for a fixed time.
        let (at, ids) = tokio::time::timeout(std::time::Duration::from_secs(4), rx.recv())
            .await
            .expect("delivered before the 5 s poll")
            .unwrap();
        delays.push(at.duration_since(written).as_secs_f64() * 1000.0);
        seen.extend(ids);
    }
    assert_eq!(seen, vec!["call-100", "call-101", "call-102"]);
    assert_eq!(count(&store).await, 3);
    let _ = stop_tx.send(());
    follower.await.unwrap().unwrap();
    eprintln!("spool line written → row stored and delivered: {delays:?} ms");
}

#[tokio::test]
async fn stackperf_s_own_traffic_is_counted_apart_and_left_out_of_exports() {
    use stackperf_core::export::{load, Dataset};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
    let spool = dir.path().join("spool.jsonl");
    let with = |i: usize, extra: &str| line(i).replacen('{', &format!("{{{extra}"), 1);
    let lines = [
        // The proxy warm-up: the master key's alias.
        with(0, r#""key_alias":"stackperf-admin","#),
        with(1, r#""key_alias":"stackperf-admin","#),
        // A key the proxy accepted that belongs to no session.
        with(2, r#""key_alias":"someone-elses-key","#),
        // Refused for its key, no session to count it into.
        with(
            3,
            r#""key_alias":"stackperf-sess_gone","error_code":"401","#,
        )
        .replace(r#""status":"success""#, r#""status":"failure""#),
    ];
    std::fs::write(&spool, lines.join("\n") + "\n").unwrap();
    let r = collect(&store, &spool, &ModelIndex::new()).await.unwrap();
    assert_eq!(
        (r.inserted, r.internal, r.unattributed, r.rejected),
        (4, 2, 1, 1),
        "{r:?}"
    );

    let traffic = |t: &stackperf_core::export::Table| -> Vec<String> {
        let i = t.columns.iter().position(|(n, _)| n == "traffic").unwrap();
        t.rows.iter().map(|row| format!("{:?}", row[i])).collect()
    };
    let user = load(&store, Dataset::Requests, None, None, false)
        .await
        .unwrap();
    assert_eq!(user.rows.len(), 2, "{:?}", traffic(&user));
    assert!(traffic(&user).iter().all(|t| !t.contains("internal")));
    let all = load(&store, Dataset::Requests, None, None, true)
        .await
        .unwrap();
    assert_eq!(all.rows.len(), 4);
    assert_eq!(
        traffic(&all)
            .iter()
            .filter(|t| t.contains("internal"))
            .count(),
        2
    );
}
