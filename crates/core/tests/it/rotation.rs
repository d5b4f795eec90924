//! Spool rotation across a writer that has not noticed it yet: a spool is rotated once fully
//! read; lines the old writer still appends to the renamed file and lines the reopened writer
//! puts in the new file are each read exactly once; `prune` then deletes the drained file.

use stackperf_core::timestamp::Timestamp;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use stackperf_core::app::{App, AppPaths, StackSettings};
use stackperf_core::capture;
use stackperf_core::config::Registry;
use stackperf_core::ingest::rotate;
use stackperf_core::normalize::model_index;
use stackperf_core::secrets::{MemoryStore, Secrets};
use stackperf_core::store::Store;

fn line(i: usize) -> String {
    // Recent: the retention keeps these rows (they belong to no session).
    let start = Timestamp::now().secs();
    format!(
        r#"{{"v":1,"litellm_call_id":"rot-{i}","status":"success","call_type":"acompletion","route":"/v1/chat/completions","stream":false,"start":{start},"end":{end},"model_group":"sim-fast","prompt_tokens":3,"completion_tokens":4,"key_alias":"nobody"}}"#,
        end = start + 0.5
    ) + "\n"
}

fn append(f: &mut std::fs::File, lines: std::ops::Range<usize>) {
    for i in lines {
        f.write_all(line(i).as_bytes()).unwrap();
    }
    f.flush().unwrap();
}

async fn rows(store: &Store) -> (i64, i64) {
    let sql = "SELECT COUNT(*), COUNT(DISTINCT litellm_call_id) FROM requests";
    crate::common::on_store!(store, |p| sqlx::query_as(sql).fetch_one(p).await).unwrap()
}

/// Rotate anything over 1 KB.
const KB: u64 = 1024;

#[tokio::test]
async fn no_line_is_lost_or_read_twice_across_a_rotation_and_prune_removes_the_drained_file() {
    let top = tempfile::tempdir().unwrap();
    for db in crate::common::backends(top.path(), "rotation") {
        rotation_case(db).await;
    }
}

async fn rotation_case(db: std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = if crate::common::is_file(&db) {
        dir.path().join("db.sqlite")
    } else {
        db
    };
    let configs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    let (reg, problems) = Registry::load(&configs);
    assert!(problems.is_empty(), "{problems:?}");
    let models = model_index(&reg);
    let data = dir.path().join("data");
    let spool = stackperf_core::paths::spool(&data);
    std::fs::create_dir_all(spool.parent().unwrap()).unwrap();
    let paths = AppPaths {
        config_dir: configs,
        data_dir: data.clone(),
        cache_dir: dir.path().join("cache"),
        db_path: db,
        stackperf_bin: std::env::current_exe().unwrap(),
    };
    let app = App::new(
        paths,
        Arc::new(Secrets::new(Box::new(MemoryStore::default()))),
        StackSettings::from_env(),
    );
    let store = &Store::open(&app.paths.db_path).await.unwrap();

    // A writer with the spool open, as LiteLLM's logger holds it.
    let mut old_writer = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&spool)
        .unwrap();
    append(&mut old_writer, 0..100);
    // Half a line being written: the spool is not fully read, so it is not rotated.
    let (l100, l151) = (line(100), line(151));
    old_writer.write_all(&l100.as_bytes()[..40]).unwrap();
    let r = capture::collect_rotating_at(store, &spool, &models, KB)
        .await
        .unwrap();
    assert_eq!((r.lines, r.rotated), (100, 0));
    assert!(rotate::rotated(&spool).is_empty());
    // The rest of the line: now everything is read, and the spool is rotated.
    old_writer.write_all(&l100.as_bytes()[40..]).unwrap();
    let r = capture::collect_rotating_at(store, &spool, &models, KB)
        .await
        .unwrap();
    assert_eq!((r.lines, r.rotated), (1, 1));
    let rotated = rotate::rotated(&spool);
    assert_eq!(rotated.len(), 1);
    assert!(!spool.exists());

    // The old writer has not noticed yet: 10 more lines into the renamed file. The reopened
    // writer starts the new spool with 40 lines and half of one more.
    append(&mut old_writer, 101..111);
    let mut new_writer = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&spool)
        .unwrap();
    append(&mut new_writer, 111..151);
    new_writer.write_all(&l151.as_bytes()[..10]).unwrap();
    let r = capture::collect_rotating_at(store, &spool, &models, KB)
        .await
        .unwrap();
    assert_eq!((r.lines, r.inserted, r.duplicates), (50, 50, 0));
    assert_eq!(rows(store).await, (151, 151));
    // Nothing new: nothing read again.
    let r = capture::collect_rotating_at(store, &spool, &models, KB)
        .await
        .unwrap();
    assert_eq!((r.lines, r.inserted), (0, 0));

    // Prune: the drained rotated file, once older than raw_days (7), goes; its cursor too.
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(10 * 86_400);
    std::fs::File::options()
        .write(true)
        .open(&rotated[0])
        .unwrap()
        .set_modified(old)
        .unwrap();
    let plan = app.prune_plan().await.unwrap();
    assert_eq!(plan.spools, [rotated[0].display().to_string()]);
    assert!(plan.spool_bytes > 1024);
    app.prune_apply(plan).await.unwrap();
    assert!(!rotated[0].exists() && spool.exists());
    assert_eq!(
        store
            .ingest_cursor(&rotated[0].display().to_string())
            .await
            .unwrap(),
        None
    );
    // The live spool is untouched and still read from where it stood.
    new_writer.write_all(&l151.as_bytes()[10..]).unwrap();
    let r = capture::collect_rotating_at(store, &spool, &models, KB)
        .await
        .unwrap();
    assert_eq!((r.lines, r.inserted), (1, 1));
    assert_eq!(rows(store).await, (152, 152));
}
