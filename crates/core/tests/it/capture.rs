//! Ingesting the capture spool: idempotent, incremental, and a line still being written is
//! retried on the next pass rather than dropped.

use std::io::Write;

use crate::common::on_store;
use stackperf_core::capture::collect;
use stackperf_core::normalize::ModelIndex;
use stackperf_core::store::Store;
use stackperf_core::timestamp::Timestamp;

fn line(i: usize) -> String {
    format!(
        r#"{{"v":1,"litellm_call_id":"call-{i}","status":"success","route":"/v1/chat/completions","stream":true,"start":{s},"end":{e},"first_delta":{f},"model_group":"sim-fast","prompt_tokens":10,"completion_tokens":20}}"#,
        s = 1000.0 + i as f64,
        e = 1000.5 + i as f64,
        f = 1000.1 + i as f64
    )
}

async fn count(store: &Store) -> i64 {
    let sql = "SELECT COUNT(*), COUNT(DISTINCT litellm_call_id) FROM requests";
    let (n, distinct): (i64, i64) =
        on_store!(store, |p| sqlx::query_as(sql).fetch_one(p).await).unwrap();
    assert_eq!(n, distinct, "duplicate rows");
    n
}

#[tokio::test]
async fn ingesting_the_same_spool_twice_adds_nothing_and_partial_lines_wait() {
    let dir = tempfile::tempdir().unwrap();
    for db in crate::common::backends(dir.path(), "cursor") {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&db).await.unwrap();
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
        let sql = "SELECT ttft_ms FROM requests WHERE litellm_call_id = 'call-5'";
        let ttft: f64 = on_store!(store, |p| sqlx::query_scalar(sql).fetch_one(p).await).unwrap();
        assert!((ttft - 100.0).abs() < 1e-6);

        // A lost cursor (e.g. a restored database) re-reads everything and still adds nothing.
        on_store!(store, |p| sqlx::query("DELETE FROM ingest_cursors")
            .execute(p)
            .await
            .map(drop))
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

// ---- The edge's start lines and instances (nothing unrecorded, the edge's crash included) ----

/// An edge spool line of instance `inst`: a start, a record (`ok`), or the instance's up/down.
pub(crate) fn edge_line(kind: &str, inst: &str, n: u32) -> String {
    let id = format!("edge-{inst}-{n}");
    let t = 2000.0 + f64::from(n);
    match kind {
        "start" => format!(
            r#"{{"start":{{"edge_id":"{id}","key_alias":"k","session_id":null,"method":"POST","route":"/v1/chat/completions","surface":"openai_chat","model":"sim-fast","stream":true,"arrived":{t}}}}}"#
        ),
        "end" => format!(
            r#"{{"v":1,"edge_id":"{id}","key_alias":"k","method":"POST","route":"/v1/chat/completions","surface":"openai_chat","model":"sim-fast","stream":true,"arrived":{t},"first_content":{f},"finished":{e},"http_status":200,"outcome":"ok","deltas":3,"stalls":0,"stall_threshold_ms":1000.0,"output_tokens":7,"terminal":true,"bytes_out":10}}"#,
            f = t + 0.1,
            e = t + 0.5
        ),
        "up" | "down" => format!(r#"{{"{kind}":{{"instance":"{inst}","at":{t}}}}}"#),
        _ => unreachable!(),
    }
}

/// LiteLLM's line for the edge's request `n` of `inst` (it carries the correlation id).
pub(crate) fn litellm_line(inst: &str, n: u32) -> String {
    let t = 2000.0 + f64::from(n);
    format!(
        r#"{{"v":1,"litellm_call_id":"lit-{inst}-{n}","edge_id":"edge-{inst}-{n}","status":"success","route":"/v1/chat/completions","stream":true,"start":{s},"end":{e},"first_delta":{f},"upstream_start":{s},"model_group":"sim-fast","prompt_tokens":5,"completion_tokens":11}}"#,
        s = t + 0.01,
        e = t + 0.4,
        f = t + 0.09
    )
}

/// `(request_id, status, outcome, output_tokens, ttft_ms)` of every row, by id.
pub(crate) async fn edge_rows(
    store: &Store,
) -> Vec<(String, String, Option<String>, Option<i64>, Option<f64>)> {
    let sql = "SELECT request_id, status, outcome, output_tokens, ttft_ms FROM requests ORDER BY request_id";
    on_store!(store, |p| sqlx::query_as(sql).fetch_all(p).await).unwrap()
}

/// The end of a concurrent or interrupted ingest of `n` edge requests (`edge_line` +
/// `litellm_line`): one row per request with the edge's outcome, tokens and timing, and every
/// LiteLLM line merged exactly once. `what` names the case in failures.
pub(crate) async fn each_request_once(store: &Store, n: u32, what: &str) {
    let rows = edge_rows(store).await;
    assert_eq!(
        rows.len(),
        n as usize,
        "{what}: one row per request, none lost"
    );
    for (id, status, outcome, tokens, ttft) in &rows {
        assert_eq!(
            (status.as_str(), outcome.as_deref(), *tokens),
            ("success", Some("ok"), Some(7)),
            "{what}: {id}"
        );
        assert!(ttft.is_some(), "{what}: {id} has the edge's timing");
    }
    let lits: i64 = on_store!(store, |p| sqlx::query_scalar(
        "SELECT COUNT(*) FROM requests WHERE litellm_call_id IS NOT NULL"
    )
    .fetch_one(p)
    .await)
    .unwrap();
    assert_eq!(
        lits,
        i64::from(n),
        "{what}: every LiteLLM line merged, none twice"
    );
}

pub(crate) fn append_lines(path: &std::path::Path, lines: &[String]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
}

/// Instance `a` starts requests 1 and 2, records only 2 (killed with 1 open); `b` comes up and
/// serves request 3. LiteLLM logged 1, 2 and 3. In whatever passes the lines arrive, with the edge
/// spool rotated between passes (and the old writer still appending to the renamed file), the end
/// is the same: 1 is `edge_lost` (an error with LiteLLM's tokens and no timing), 2 and 3 are what
/// the edge recorded, nothing pending, no duplicates, and `a`'s crash is an outage until `b` was up.
#[tokio::test]
async fn start_lines_become_edge_lost_rows_once_their_edge_is_gone_in_any_order() {
    let edge = [
        edge_line("up", "a", 0),
        edge_line("start", "a", 1),
        edge_line("start", "a", 2),
        edge_line("end", "a", 2),
        edge_line("up", "b", 3),
        edge_line("start", "b", 3),
        edge_line("end", "b", 3),
    ];
    let lit = [
        litellm_line("a", 1),
        litellm_line("a", 2),
        litellm_line("b", 3),
    ];
    let mut cases = 0;
    for k_edge in 0..=edge.len() {
        for k_lit in 0..=lit.len() {
            for rotate in [false, true] {
                for db in crate::common::backends(&std::env::temp_dir(), "lost") {
                    let dir = tempfile::tempdir().unwrap();
                    let db = if db.extension().is_some_and(|x| x == "sqlite") {
                        dir.path().join("db.sqlite")
                    } else {
                        db
                    };
                    let store = Store::open(&db).await.unwrap();
                    let spool = dir.path().join("spool.jsonl");
                    let edge_spool = stackperf_core::capture::edge_spool_beside(&spool);
                    let models = ModelIndex::new();
                    append_lines(&spool, &lit[..k_lit]);
                    append_lines(&edge_spool, &edge[..k_edge]);
                    collect(&store, &spool, &models).await.unwrap();
                    let rest = &edge[k_edge..];
                    if rotate && k_edge > 0 {
                        let moved =
                            stackperf_core::ingest::rotate::maybe_rotate(&store, &edge_spool, 1)
                                .await
                                .unwrap()
                                .expect("rotated");
                        // The old writer has not noticed: one more line goes to the renamed file.
                        let (old, new) = rest.split_at(rest.len().min(1));
                        append_lines(&moved, old);
                        append_lines(&edge_spool, new);
                    } else {
                        append_lines(&edge_spool, rest);
                    }
                    append_lines(&spool, &lit[k_lit..]);
                    collect(&store, &spool, &models).await.unwrap();
                    // A third pass (and the same lines again) changes nothing.
                    let again = collect(&store, &spool, &models).await.unwrap();
                    assert_eq!(again.inserted + again.edge_lost, 0);
                    let rows = edge_rows(&store).await;
                    let case = format!("edge {k_edge}, litellm {k_lit}, rotate {rotate}: {rows:?}");
                    assert_eq!(rows.len(), 3, "{case}");
                    let (id, status, outcome, tokens, ttft) = &rows[0];
                    assert_eq!(
                        (
                            id.as_str(),
                            status.as_str(),
                            outcome.as_deref(),
                            *tokens,
                            *ttft
                        ),
                        ("edge-a-1", "error", Some("edge_lost"), Some(11), None),
                        "{case}"
                    );
                    for (r, id) in rows[1..].iter().zip(["edge-a-2", "edge-b-3"]) {
                        assert_eq!(
                            (r.0.as_str(), r.1.as_str(), r.2.as_deref(), r.3),
                            (id, "success", Some("ok"), Some(7)),
                            "{case}"
                        );
                        assert!(r.4.is_some_and(|t| (t - 100.0).abs() < 1e-6), "{case}");
                    }
                    let sql = "SELECT COUNT(*) FROM edge_pending";
                    let pending: i64 =
                        on_store!(store, |p| sqlx::query_scalar(sql).fetch_one(p).await).unwrap();
                    assert_eq!(pending, 0, "{case}");
                    let outages = store.edge_outages(Timestamp::EPOCH, None).await.unwrap();
                    assert_eq!(outages.len(), 1, "{case}");
                    let o = &outages[0];
                    // `a` was last seen at request 2's end (2002.5 s); `b` came up at 2003 s.
                    assert_eq!(
                        (
                            o.instance.as_str(),
                            o.from_ms.ms(),
                            o.until_ms.map(Timestamp::ms),
                            o.crashed
                        ),
                        ("a", 2_002_500.0, Some(2_003_000.0), true),
                        "{case}"
                    );
                    cases += 1;
                }
            }
        }
    }
    assert_eq!(cases, 128, "64 orders, on both backends");
}

/// Only LiteLLM's line of a request that came through the edge: not a success, not timed, its own
/// outcome; the edge's record, arriving later, makes it a normal row. A clean `down` makes a start
/// without a record `edge_lost` too, and a record that arrives after that (the instance drained
/// after its successor was up) replaces the presumption.
#[tokio::test]
async fn litellm_alone_is_not_a_success_and_a_late_record_beats_edge_lost() {
    let dir = tempfile::tempdir().unwrap();
    for db in crate::common::backends(dir.path(), "late") {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&db).await.unwrap();
        let spool = dir.path().join("spool.jsonl");
        let edge_spool = stackperf_core::capture::edge_spool_beside(&spool);
        let models = ModelIndex::new();
        append_lines(&spool, &[litellm_line("a", 1)]);
        collect(&store, &spool, &models).await.unwrap();
        let rows = edge_rows(&store).await;
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].1.as_str(), rows[0].2.as_deref(), rows[0].4),
            ("error", Some("not_timed_at_edge"), None)
        );
        append_lines(
            &edge_spool,
            &[
                edge_line("up", "a", 0),
                edge_line("start", "a", 1),
                edge_line("end", "a", 1),
                edge_line("start", "a", 2),
                edge_line("down", "a", 3),
            ],
        );
        let r = collect(&store, &spool, &models).await.unwrap();
        assert_eq!(r.edge_lost, 1);
        let rows = edge_rows(&store).await;
        assert_eq!(
            (rows[0].1.as_str(), rows[0].2.as_deref(), rows[0].3),
            ("success", Some("ok"), Some(7))
        );
        assert_eq!(
            (rows[1].0.as_str(), rows[1].1.as_str(), rows[1].2.as_deref()),
            ("edge-a-2", "error", Some("edge_lost"))
        );
        let latency = |id: &'static str| {
            let store = store.clone();
            async move {
                let sql = "SELECT latency_ms FROM requests WHERE request_id = $1";
                on_store!(store, |p| sqlx::query_scalar::<_, Option<f64>>(sql)
                    .bind(id)
                    .fetch_one(p)
                    .await)
            }
        };
        assert_eq!(
            latency("edge-a-2").await.unwrap(),
            None,
            "no known end, no latency"
        );
        // A clean stop is an outage that is not a crash, open until an instance comes up.
        let o = store.edge_outages(Timestamp::EPOCH, None).await.unwrap();
        assert_eq!((o.len(), o[0].crashed, o[0].until_ms), (1, false, None));
        // The late record of 2, then a record whose start line never made it (an older edge, or one
        // killed between the two writes): a normal row.
        append_lines(
            &edge_spool,
            &[
                edge_line("end", "a", 2),
                edge_line("up", "b", 9),
                edge_line("end", "b", 10),
            ],
        );
        collect(&store, &spool, &models).await.unwrap();
        let rows = edge_rows(&store).await;
        assert_eq!(rows.len(), 3);
        assert_eq!(
            (rows[1].0.as_str(), rows[1].1.as_str(), rows[1].2.as_deref()),
            ("edge-a-2", "success", Some("ok"))
        );
        assert_eq!(latency("edge-a-2").await.unwrap(), Some(500.0));
        assert_eq!(
            (rows[2].0.as_str(), rows[2].1.as_str(), rows[2].2.as_deref()),
            ("edge-b-10", "success", Some("ok"))
        );
        let o = store.edge_outages(Timestamp::EPOCH, None).await.unwrap();
        assert_eq!(o[0].until_ms, Some(Timestamp::from_ms(2_009_000.0)));
    }
}

/// The edge records the session it admitted a key for; ingest attributes its rows by that id
/// (the alias is only the fallback, for keys that are no session's).
#[tokio::test]
async fn edge_rows_are_attributed_by_the_session_the_edge_recorded() {
    let dir = tempfile::tempdir().unwrap();
    for db in crate::common::backends(dir.path(), "attributed") {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&db).await.unwrap();
        crate::common::active_sessions(&store, &["s1", "s2"]).await;
        let spool = dir.path().join("spool.jsonl");
        std::fs::write(&spool, "").unwrap();
        let record = |n: u32, alias: &str, session: &str| {
            edge_line("end", "a", n).replace(
                r#""key_alias":"k","#,
                &format!(r#""key_alias":"{alias}","session_id":{session},"#),
            )
        };
        append_lines(
            &stackperf_core::capture::edge_spool_beside(&spool),
            &[
                // The edge's session wins over whatever the alias would say.
                record(1, "stackperf-s2", r#""s1""#),
                // No session recorded (a usage key, an older edge): the alias decides.
                record(2, "stackperf-s2", "null"),
                // A session the store does not know: unattributed, never guessed from the alias.
                record(3, "stackperf-s1", r#""s9""#),
            ],
        );
        collect(&store, &spool, &ModelIndex::new()).await.unwrap();
        let sql = "SELECT request_id, session_id FROM requests ORDER BY request_id";
        let rows: Vec<(String, Option<String>)> =
            on_store!(store, |p| sqlx::query_as(sql).fetch_all(p).await).unwrap();
        assert_eq!(
            rows,
            vec![
                ("edge-a-1".into(), Some("s1".into())),
                ("edge-a-2".into(), Some("s2".into())),
                ("edge-a-3".into(), None),
            ]
        );
    }
}

/// A batch that fails part-way (here a row naming a variant the store does not have) leaves
/// nothing behind — no row, no cursor — and the next batch writes normally.
#[tokio::test]
async fn a_failed_batch_writes_nothing_and_the_next_one_goes_in() {
    let dir = tempfile::tempdir().unwrap();
    for db in crate::common::backends(dir.path(), "failed_batch") {
        let store = Store::open(&db).await.unwrap();
        let models = ModelIndex::new();
        let row = |i: usize| {
            let rec = stackperf_core::normalize::parse_line(&line(i)).unwrap();
            stackperf_core::normalize::normalize(&rec, None, &models).unwrap()
        };
        let mut bad = row(1);
        bad.variant_id = Some(999_999);
        let err =
            stackperf_core::capture::insert_rows(&store, "s", "f", 10, vec![row(0), bad]).await;
        assert!(
            err.is_err(),
            "{db:?}: the foreign key refuses the second row"
        );
        assert_eq!(count(&store).await, 0, "{db:?}: the first row went with it");
        assert_eq!(store.ingest_cursor("s").await.unwrap(), None, "{db:?}");
        let (n, _) =
            stackperf_core::capture::insert_rows(&store, "s", "f", 20, vec![row(0), row(1)])
                .await
                .unwrap();
        assert_eq!((n, count(&store).await), (2, 2), "{db:?}");
        assert_eq!(
            store.ingest_cursor("s").await.unwrap(),
            Some(("f".to_string(), 20)),
            "{db:?}"
        );
    }
}
