//! The SQLite store: migrations on open, WAL, foreign keys, config sync with fingerprint history.

use sqlx::Row;
use stackperf_core::config::Registry;
use stackperf_core::store::Store;

#[tokio::test]
async fn opening_creates_the_schema_in_wal_mode_with_foreign_keys() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_creating_dir(&dir.path().join("nested/db.sqlite"))
        .await
        .unwrap();
    let tables = store.tables().await.unwrap();
    for t in [
        "artifacts",
        "experiments",
        "harness_profiles",
        "metric_rollups",
        "providers",
        "requests",
        "sessions",
        "task_cards",
        "variants",
    ] {
        assert!(tables.contains(&t.to_string()), "missing {t}: {tables:?}");
    }
    let mode: String = sqlx::query("PRAGMA journal_mode")
        .fetch_one(store.sqlite_pool().unwrap())
        .await
        .unwrap()
        .get(0);
    assert_eq!(mode, "wal");
    let fk: i64 = sqlx::query("PRAGMA foreign_keys")
        .fetch_one(store.sqlite_pool().unwrap())
        .await
        .unwrap()
        .get(0);
    assert_eq!(fk, 1);
    let err = sqlx::query("INSERT INTO sessions (session_id, experiment, variant_id, task_card, harness_profile, created_at, app_version) VALUES ('s', 'nope', 99, 't', 'h', 0, 'x')")
        .execute(store.sqlite_pool().unwrap())
        .await;
    assert!(
        err.is_err(),
        "a session referencing nothing must be refused"
    );
    // Reopening applies nothing new and keeps the data.
    drop(store);
    let again = Store::open_creating_dir(&dir.path().join("nested/db.sqlite"))
        .await
        .unwrap();
    assert_eq!(
        again.applied_migrations().await.unwrap().len(),
        migrations("")
    );
}

/// The migration files of a backend's folder.
fn migrations(sub: &str) -> usize {
    std::fs::read_dir(format!("{}/migrations/{sub}", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "sql")
        })
        .count()
}

#[tokio::test]
async fn postgresql_gets_the_same_tables_and_refuses_dangling_references() {
    let dir = tempfile::tempdir().unwrap();
    let dbs = crate::common::backends(dir.path(), "schema");
    let sqlite = Store::open(&dbs[0]).await.unwrap();
    let pg = Store::open(&dbs[1]).await.unwrap();
    assert!(pg.is_postgres() && !sqlite.is_postgres());
    assert_eq!(pg.tables().await.unwrap(), sqlite.tables().await.unwrap());
    let last = |m: Vec<stackperf_core::store::AppliedMigration>| m.last().map(|m| m.version);
    assert_eq!(
        last(pg.applied_migrations().await.unwrap()),
        last(sqlite.applied_migrations().await.unwrap()),
        "both backends at the same schema version"
    );
    assert_eq!(
        pg.applied_migrations().await.unwrap().len(),
        migrations("postgres")
    );
    let err = sqlx::query("INSERT INTO sessions (session_id, experiment, variant_id, task_card, harness_profile, created_at, app_version) VALUES ('s', 'nope', 99, 't', 'h', 0, 'x')")
        .execute(match pg.pool() {
            stackperf_core::store::Pool::Postgres(p) => p,
            _ => unreachable!(),
        })
        .await;
    assert!(
        err.is_err(),
        "a session referencing nothing must be refused"
    );
    // Reopening applies nothing new.
    drop(pg);
    let again = Store::open(&dbs[1]).await.unwrap();
    assert_eq!(
        again.applied_migrations().await.unwrap().len(),
        migrations("postgres")
    );
}

#[tokio::test]
async fn the_indexes_serve_session_and_variant_lookups() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
    for (sql, index) in [
        ("EXPLAIN QUERY PLAN SELECT * FROM requests WHERE session_id = 'x' ORDER BY request_started_at", "requests_by_session"),
        ("EXPLAIN QUERY PLAN SELECT * FROM sessions WHERE variant_id = 1", "sessions_by_variant"),
        ("EXPLAIN QUERY PLAN SELECT * FROM requests WHERE variant_id = 1", "requests_by_variant"),
    ] {
        let rows = sqlx::query(sql).fetch_all(store.sqlite_pool().unwrap()).await.unwrap();
        let plan: Vec<String> = rows.iter().map(|r| r.get::<String, _>("detail")).collect();
        assert!(plan.iter().any(|d| d.contains(index)), "{sql}: {plan:?}");
    }
}

#[tokio::test]
async fn sync_is_idempotent_and_keeps_old_fingerprints() {
    let cfg = tempfile::tempdir().unwrap();
    crate::common::write_set(cfg.path(), &[]);
    let dbdir = tempfile::tempdir().unwrap();
    for db in crate::common::backends(dbdir.path(), "sync") {
        let store = Store::open(&db).await.unwrap();
        let load = || {
            let (reg, problems) = Registry::load(cfg.path());
            assert!(problems.is_empty(), "{problems:?}");
            reg
        };
        let first = store.sync_config(&load()).await.unwrap();
        assert_eq!(
            (
                first.providers,
                first.variants,
                first.new_fingerprints.len()
            ),
            (1, 1, 1)
        );
        let second = store.sync_config(&load()).await.unwrap();
        assert!(second.new_fingerprints.is_empty());
        let old = store.variant_fingerprints("v").await.unwrap();
        assert_eq!(old.len(), 1);

        crate::common::write_set(
            cfg.path(),
            &[(
                "variants/v.yaml",
                &crate::common::VARIANT.replace("harness: h", "harness: h\n  config: x"),
            )],
        );
        let third = store.sync_config(&load()).await.unwrap();
        assert_eq!(third.new_fingerprints, vec!["v".to_string()]);
        let history = store.variant_fingerprints("v").await.unwrap();
        assert_eq!(history.len(), 2);
        assert!(
            history[0].1 && !history[1].1,
            "newest is current, the old one is kept: {history:?}"
        );
        assert_eq!(history[1].0, old[0].0);

        // Reverting makes the old definition current again instead of adding a third row.
        crate::common::write_set(cfg.path(), &[]);
        store.sync_config(&load()).await.unwrap();
        let history = store.variant_fingerprints("v").await.unwrap();
        assert_eq!(history.len(), 2);
        assert!(history
            .iter()
            .any(|(fp, current)| *fp == old[0].0 && *current));
    }
}

#[tokio::test]
async fn an_unusable_path_is_a_clear_database_error() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "x").unwrap();
    let err = Store::open_creating_dir(&blocker.join("db.sqlite"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), stackperf_core::ErrorCode::DatabaseUnavailable);
    assert!(err.to_string().contains("--db PATH"), "{err}");
    // Without creating folders, a missing one is named.
    let err = Store::open(&dir.path().join("missing/db.sqlite"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), stackperf_core::ErrorCode::Invalid);
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[tokio::test]
async fn a_server_password_comes_from_the_keychain_and_is_never_shown() {
    let pg = stackperf_testpg::server().unwrap();
    let url = pg.fresh_database("password").unwrap();
    let bare = url.replace(&format!(":{}@", stackperf_testpg::PASSWORD), "@");
    assert_ne!(url, bare);
    // The URL's own password works, and the store is shown without it.
    let store = Store::open(std::path::Path::new(&url)).await.unwrap();
    let shown = store.path().display().to_string();
    assert!(!shown.contains(stackperf_testpg::PASSWORD), "{shown}");
    assert!(
        shown.starts_with("postgres://stackperf@127.0.0.1:"),
        "{shown}"
    );
    // None at all: refused by the server, with an error that names the server and no secret.
    let err = Store::open(std::path::Path::new(&bare)).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("cannot connect") && text.contains("127.0.0.1"),
        "{text}"
    );
    // The app asks the keychain for STACKPERF_DB_PASSWORD.
    let dir = tempfile::tempdir().unwrap();
    let bare = std::path::Path::new(&bare);
    let without = crate::common::app_with_secrets(dir.path(), bare, &[]).await;
    assert!(without.is_err(), "no password anywhere");
    let secret = [(
        stackperf_core::secrets::DB_PASSWORD,
        stackperf_testpg::PASSWORD,
    )];
    let app = crate::common::app_with_secrets(dir.path(), bare, &secret)
        .await
        .unwrap();
    let db = app.open_database().await.unwrap();
    assert_eq!(db, bare);
    assert!(app.sessions_list(None).await.unwrap().is_empty());
}

/// `sslmode` is honoured: `require` encrypts, `disable` does not, `verify-full` refuses a server
/// whose certificate no trusted root signed and accepts it given that root (`sslrootcert`).
#[tokio::test]
async fn sslmode_is_honoured() {
    let pg = stackperf_testpg::server().unwrap();
    let url = pg.fresh_database("tls").unwrap();
    let encrypted = |store: Store| async move {
        let sql = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
        match store.pool() {
            stackperf_core::store::Pool::Postgres(p) => sqlx::query_scalar::<_, bool>(sql)
                .fetch_one(p)
                .await
                .unwrap(),
            _ => unreachable!(),
        }
    };
    let open = |q: String| async move { Store::open(std::path::Path::new(&q)).await };
    assert!(encrypted(open(format!("{url}?sslmode=require")).await.unwrap()).await);
    assert!(!encrypted(open(format!("{url}?sslmode=disable")).await.unwrap()).await);
    let by_name = url.replace("127.0.0.1", "localhost");
    let err = open(format!("{by_name}?sslmode=verify-full"))
        .await
        .expect_err("an unknown certificate is refused");
    let shown = err.to_string();
    assert!(
        shown.contains("cannot connect")
            && shown.contains("add `sslrootcert=")
            && !shown.contains(stackperf_testpg::PASSWORD),
        "{shown}"
    );
    let root = pg.certificate();
    let verified = open(format!(
        "{by_name}?sslmode=verify-full&sslrootcert={}",
        root.display()
    ))
    .await
    .unwrap();
    assert!(encrypted(verified).await);
}

/// Processes opening a new store at the same moment (the desktop app and a terminal at first use,
/// or both after an upgrade that adds a migration) all get it: one applies the migrations while
/// the others wait, and none fails on a table another just created (6 of 8 did on SQLite).
#[tokio::test]
async fn opening_one_new_store_from_many_places_at_once_migrates_it_once() {
    let dir = tempfile::tempdir().unwrap();
    for db in crate::common::backends(dir.path(), "open_at_once") {
        let opens: Vec<_> = (0..8)
            .map(|_| {
                let db = db.clone();
                tokio::spawn(async move { Store::open_creating_dir(&db).await })
            })
            .collect();
        for open in opens {
            let store = open
                .await
                .unwrap()
                .unwrap_or_else(|e| panic!("{}: {e}", db.display()));
            let sub = if crate::common::is_file(&db) {
                ""
            } else {
                "postgres"
            };
            assert_eq!(
                store.applied_migrations().await.unwrap().len(),
                migrations(sub)
            );
        }
    }
}
