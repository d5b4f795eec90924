//! Several machines, one store: each machine's rows carry its key, each machine's spool keeps its
//! own cursor on a server store (two machines' spools may have one path), and the store lists
//! the machines with what each wrote.

use std::io::Write;

use crate::common::on_store;
use stackperf_core::capture::collect;
use stackperf_core::machine::Identity;
use stackperf_core::normalize::ModelIndex;
use stackperf_core::store::Store;

fn line(machine: &str, i: usize) -> String {
    format!(
        r#"{{"v":1,"litellm_call_id":"{machine}-{i}","status":"success","route":"/v1/chat/completions","stream":false,"start":{s},"end":{e},"model_group":"sim-fast","prompt_tokens":3,"completion_tokens":4}}"#,
        s = 1000.0 + i as f64,
        e = 1000.5 + i as f64,
    ) + "\n"
}

fn append(path: &std::path::Path, machine: &str, lines: std::ops::Range<usize>) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for i in lines {
        f.write_all(line(machine, i).as_bytes()).unwrap();
    }
}

/// `(litellm_call_id, machine_id)` of every row.
async fn rows(store: &Store) -> Vec<(String, String)> {
    let sql = "SELECT r.litellm_call_id, m.machine_id FROM requests r
               JOIN machines m ON m.machine_key = r.machine_key ORDER BY r.litellm_call_id";
    on_store!(store, |p| sqlx::query_as(sql).fetch_all(p).await).unwrap()
}

#[tokio::test]
async fn each_machine_s_rows_carry_it_and_its_spool_keeps_its_own_cursor() {
    let top = tempfile::tempdir().unwrap();
    for db in crate::common::backends(top.path(), "machines") {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&db).await.unwrap();
        let (a_id, b_id) = (
            Identity::named("a", "host-a"),
            Identity::named("b", "host-b"),
        );
        let (a, b) = (
            store.as_machine(a_id.clone()),
            store.as_machine(b_id.clone()),
        );
        let models = ModelIndex::new();
        // One spool path, two machines' files at it (each machine has its own disk).
        let spool = dir.path().join("spool.jsonl");
        let (a_file, b_file) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
        append(&spool, "a", 0..5);
        assert_eq!(collect(&a, &spool, &models).await.unwrap().inserted, 5);
        std::fs::rename(&spool, &a_file).unwrap();
        append(&spool, "b", 0..3);
        let r = collect(&b, &spool, &models).await.unwrap();
        assert_eq!((r.lines, r.inserted), (3, 3), "{db:?}");
        std::fs::rename(&spool, &b_file).unwrap();
        std::fs::rename(&a_file, &spool).unwrap();
        append(&spool, "a", 5..7);
        let r = collect(&a, &spool, &models).await.unwrap();
        if crate::common::is_file(&db) {
            // A file store is one machine's: the cursor is the path's, so `a`'s file, no longer
            // the one the cursor names, is read again (idempotent: nothing doubles).
            assert_eq!((r.lines, r.inserted, r.duplicates), (7, 2, 5), "{db:?}");
        } else {
            assert_eq!(
                (r.lines, r.inserted, r.duplicates),
                (2, 2, 0),
                "{db:?}: a's cursor is its own"
            );
        }
        let got = rows(&store).await;
        let want: Vec<(String, String)> = (0..7)
            .map(|i| (format!("a-{i}"), a_id.machine_id.clone()))
            .chain((0..3).map(|i| (format!("b-{i}"), b_id.machine_id.clone())))
            .collect();
        assert_eq!(got, want, "{db:?}");
        let listed: Vec<(String, String, i64)> = store
            .machines()
            .await
            .unwrap()
            .into_iter()
            .map(|m| (m.machine_id, m.hostname, m.requests))
            .collect();
        let mut listed = listed;
        listed.sort();
        let mut expected = vec![
            (a_id.machine_id.clone(), "host-a".to_string(), 7),
            (b_id.machine_id.clone(), "host-b".to_string(), 3),
        ];
        expected.sort();
        assert_eq!(listed, expected, "{db:?}");
    }
}
