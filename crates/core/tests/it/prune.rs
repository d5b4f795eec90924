//! Retention (`stackperf prune`): a dry run changes nothing (the database files' checksums); a
//! real one deletes exactly what the policy says — whole sessions past 90 days with their rows,
//! rollups and folders; request rows past 30 days (their sessions keep their rollups, also across
//! a registry change); old unattributed rows — and nothing of active or recent sessions.

use crate::common::on_store;
use stackperf_core::timestamp::Timestamp;
use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use stackperf_core::app::{App, AppPaths, StackSettings};
use stackperf_core::capture;
use stackperf_core::config::Registry;
use stackperf_core::normalize::{self, model_index};
use stackperf_core::report;
use stackperf_core::secrets::{MemoryStore, Secrets};
use stackperf_core::store::Store;

const DAY: f64 = 86_400_000.0;

fn line(call: &str, alias: &str, start_s: f64) -> String {
    format!(
        r#"{{"v":1,"litellm_call_id":"{call}","status":"success","call_type":"acompletion","route":"/v1/chat/completions","stream":false,"start":{start_s},"end":{},"model_group":"sim-fast","prompt_tokens":3,"completion_tokens":4,"key_alias":"{alias}"}}"#,
        start_s + 0.5
    )
}

/// Checksums of the database and its WAL/SHM files.
fn db_sum(dir: &Path) -> String {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("db.sqlite"))
        .map(|e| e.path())
        .collect();
    names.sort();
    let mut h = Sha256::new();
    for n in names {
        h.update(n.to_string_lossy().as_bytes());
        h.update(std::fs::read(&n).unwrap());
    }
    format!("{:x}", h.finalize())
}

async fn count(store: &Store, sql: &str) -> i64 {
    on_store!(store, |p| sqlx::query_scalar(sql).fetch_one(p).await).unwrap()
}

async fn exec(store: &Store, sql: &str) {
    on_store!(store, |p| sqlx::query(sql).execute(p).await.map(drop)).unwrap()
}

#[tokio::test]
async fn a_dry_run_changes_nothing_and_a_prune_deletes_exactly_what_the_policy_says() {
    let top = tempfile::tempdir().unwrap();
    for db in crate::common::backends(top.path(), "prune") {
        prune_case(db).await;
    }
}

async fn prune_case(db: std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let configs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    let (reg, problems) = Registry::load(&configs);
    assert!(problems.is_empty(), "{problems:?}");
    let on_file = crate::common::is_file(&db);
    let db = if on_file {
        dir.path().join("db.sqlite")
    } else {
        db
    };
    let data = dir.path().join("data");
    let now = Timestamp::now().ms();
    {
        let store = Store::open(&db).await.unwrap();
        store.sync_config(&reg).await.unwrap();
        // (session, status, ended days ago, requests)
        let sessions = [
            ("old", "completed", Some(100.0), 3),
            ("mid", "completed", Some(40.0), 4),
            ("recent", "completed", Some(1.0), 2),
            ("open", "active", None, 1),
        ];
        for (id, status, ended, _) in sessions {
            let created = now - 200.0 * DAY;
            let sql = "INSERT INTO sessions (session_id, experiment, variant_id, task_card, harness_profile, status, mode, created_at, started_at, ended_at, proxy_key_alias, app_version)
                 VALUES ($1, 'sim-profiles', (SELECT variant_id FROM variants WHERE name = 'sim-fast-oai' AND is_current = 1), 'sample-traffic', 'openai-compatible', $2, 'bounded', $3, $4, $5, $6, 'test')";
            let alias = format!("stackperf-{id}");
            on_store!(store, |p| sqlx::query(sql)
                .bind(id)
                .bind(status)
                .bind(created)
                .bind(created)
                .bind(ended.map(|d| now - d * DAY))
                .bind(&alias)
                .execute(p)
                .await
                .map(drop))
            .unwrap();
            let folder = data.join("sessions").join(id);
            std::fs::create_dir_all(folder.join("run")).unwrap();
            std::fs::write(folder.join("run/harness.out"), vec![b'x'; 1000]).unwrap();
        }
        exec(&store, "INSERT INTO runs (run_id, experiment, created_at, status, run_order, seed, repetitions, machine, versions) VALUES ('run_1', 'sim-profiles', 0, 'completed', 'interleaved', 1, 1, '{}', '{}')").await;
        exec(&store, "INSERT INTO run_items (run_id, idx, variant, task_card, repetition, state, session_id, outcome) VALUES ('run_1', 0, 'sim-fast-oai', 'sample-traffic', 0, 'done', 'old', 'success')").await;
        exec(&store, "INSERT INTO artifacts (session_id, experiment, kind, format, path, created_at) VALUES ('old', 'sim-profiles', 'requests', 'csv', '/tmp/x.csv', 0)").await;
        exec(&store, "INSERT INTO artifacts (session_id, experiment, kind, format, path, created_at) VALUES (NULL, 'sim-profiles', 'comparison', 'csv', '/tmp/old-comparison.csv', 1)").await;
        // Requests through the real normalize + write path; then two unattributed old ones and a
        // recent one (no session key).
        let models = model_index(&reg);
        let mut rows = Vec::new();
        let mut k = 0;
        for (id, _, ended, n) in sessions {
            let start_s = (now - ended.unwrap_or(150.0) * DAY - 60_000.0) / 1000.0;
            for _ in 0..n {
                let rec = normalize::parse_line(&line(
                    &format!("c{k}"),
                    &format!("stackperf-{id}"),
                    start_s,
                ))
                .unwrap();
                let a = normalize::Attribution {
                    session_id: id.into(),
                    variant_id: 0,
                    experiment: "sim-profiles".into(),
                    harness_profile: "openai-compatible".into(),
                };
                let mut row = normalize::normalize(&rec, Some(&a), &models).unwrap();
                row.variant_id = Some(
                    count(
                        &store,
                        &format!("SELECT variant_id FROM sessions WHERE session_id = '{id}'"),
                    )
                    .await,
                );
                rows.push(row);
                k += 1;
            }
        }
        for (i, days) in [40.0, 35.0, 2.0].iter().enumerate() {
            let rec = normalize::parse_line(&line(
                &format!("u{i}"),
                "unknown",
                (now - days * DAY) / 1000.0,
            ))
            .unwrap();
            rows.push(normalize::normalize(&rec, None, &models).unwrap());
        }
        capture::insert_rows(&store, "test", "test", 0, rows)
            .await
            .unwrap();
        // Rollups exist before the prune.
        report::session_stats(&store, "sim-profiles").await.unwrap();
    }

    let paths = AppPaths {
        config_dir: configs,
        data_dir: data.clone(),
        cache_dir: dir.path().join("cache"),
        db_path: db.clone(),
        stackperf_bin: std::env::current_exe().unwrap(),
    };
    let app = App::new(
        paths,
        Arc::new(Secrets::new(Box::new(MemoryStore::default()))),
        StackSettings::from_env(),
    );
    let store = &Store::open(&app.paths.db_path).await.unwrap();
    assert_eq!(count(store, "SELECT COUNT(*) FROM requests").await, 13);

    // The dry run: the plan, and not one byte changed.
    let before = (
        db_sum(dir.path()),
        count(store, "SELECT COUNT(*) FROM requests").await,
    );
    let plan = app.prune_plan().await.unwrap();
    assert_eq!(
        (
            db_sum(dir.path()),
            count(store, "SELECT COUNT(*) FROM requests").await
        ),
        before,
        "a dry run wrote to the database"
    );
    assert_eq!(plan.plan.sessions, ["old"]);
    assert_eq!(plan.plan.requests_of, ["mid"]);
    assert_eq!((plan.plan.requests, plan.plan.unattributed), (3 + 4 + 2, 2));
    assert_eq!((plan.folders, plan.folder_bytes), (1, 1000));
    let old: Vec<&str> = plan.old_exports.iter().map(|a| a.path.as_str()).collect();
    assert_eq!(old, ["/tmp/x.csv", "/tmp/old-comparison.csv"]);
    assert!(data.join("sessions/old").is_dir());

    // The prune.
    let done = app.prune_apply(plan).await.unwrap();
    assert!(done.applied && done.db_bytes_after.is_some());
    let sql = "SELECT session_id FROM sessions ORDER BY session_id";
    let ids: Vec<String> =
        on_store!(store, |p| sqlx::query_scalar(sql).fetch_all(p).await).unwrap();
    assert_eq!(ids, ["mid", "open", "recent"]);
    for (sql, want) in [
        ("SELECT COUNT(*) FROM requests", 13 - 9),
        ("SELECT COUNT(*) FROM requests WHERE session_id = 'mid'", 0),
        (
            "SELECT COUNT(*) FROM requests WHERE session_id = 'recent'",
            2,
        ),
        ("SELECT COUNT(*) FROM requests WHERE session_id = 'open'", 1),
        ("SELECT COUNT(*) FROM requests WHERE session_id IS NULL", 1),
        (
            "SELECT COUNT(*) FROM metric_rollups WHERE scope_id = 'old'",
            0,
        ),
        // The old session's export row goes with it; the other is listed, never deleted.
        ("SELECT COUNT(*) FROM artifacts", 1),
        (
            "SELECT COUNT(*) FROM run_items WHERE session_id IS NULL AND outcome = 'success'",
            1,
        ),
    ] {
        assert_eq!(count(store, sql).await, want, "{sql}");
    }
    assert!(!data.join("sessions/old").exists());
    assert!(data.join("sessions/mid").is_dir() && data.join("sessions/recent").is_dir());

    // The session whose requests went keeps its rollups — even when a registry change makes every
    // other session's rollup stale.
    exec(
        store,
        "UPDATE metric_rollups SET value = -1 WHERE metric = 'registry'",
    )
    .await;
    let stats = report::session_stats(store, "sim-profiles").await.unwrap();
    let mid = stats.iter().find(|s| s.session_id == "mid").unwrap();
    assert_eq!((mid.requests, mid.excluded.clone()), (4, None));
    let recent = stats.iter().find(|s| s.session_id == "recent").unwrap();
    assert_eq!(recent.requests, 2);

    // An export is recorded with its checksum.
    let out = dir.path().join("sessions.csv");
    let req = stackperf_core::app::ExportRequest {
        what: stackperf_core::app::ExportWhat::Sessions,
        format: stackperf_core::app::ExportFormat::Csv,
        experiment: None,
        session: None,
        metric: None,
        path: out.display().to_string(),
        include_internal: false,
    };
    app.export(&req).await.unwrap();
    let sql = "SELECT path, sha256 FROM artifacts WHERE kind = 'sessions' AND format = 'csv'";
    let (path, sum): (String, String) =
        on_store!(store, |p| sqlx::query_as(sql).fetch_one(p).await).unwrap();
    assert_eq!(
        path,
        std::fs::canonicalize(&out).unwrap().display().to_string()
    );
    assert_eq!(
        sum,
        format!("{:x}", Sha256::digest(std::fs::read(&out).unwrap()))
    );

    // Pruning again finds nothing.
    let again = app.prune_plan().await.unwrap();
    assert!(again.plan.sessions.is_empty() && again.plan.requests_of.is_empty());
    assert_eq!(again.plan.requests, 0);
}
