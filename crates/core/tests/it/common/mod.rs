//! A minimal valid config set that tests modify one file at a time, and an `App` over it.

use std::path::Path;
use std::sync::Arc;

use stackperf_core::app::{App, AppPaths};
use stackperf_core::secrets::{MemoryStore, Secrets};

pub const PROVIDER: &str = "name: p\nroute_name: p\nprotocol_surface: openai_responses\nupstream_base_url: http://127.0.0.1:1/v1\napi_key_env: P_KEY\nmodels:\n  - alias: m\n    upstream_model: up-m\n";
pub const HARNESS: &str = "name: h\nprotocol_surface: openai_chat\nbase_url_env: BASE\nbase_url_path: /v1\napi_key_env: KEY\nmodel_env: MODEL\nextra_env:\n  TAGS: \"{{ tags_csv }}\"\n";
pub const VARIANT: &str = "name: v\nprovider: p\nprovider_route: p\nmodel_alias: m\nharness_profile: h\nbenchmark_tags:\n  provider: p\n  model: m\n  harness: h\n";
pub const EXPERIMENT: &str = "name: e\nvariants: [v]\n";
pub const TASK: &str = "name: t\nrepo_path: .\ngoal: g\nstarting_prompt: s\nstop_condition: done\nsession_timebox_minutes: 5\n";

/// Write the baseline into `dir`, with `overrides` replacing files (`("variants/v.yaml", text)`).
pub fn write_set(dir: &Path, overrides: &[(&str, &str)]) {
    for (rel, text) in [
        ("providers/p.yaml", PROVIDER),
        ("harnesses/h.yaml", HARNESS),
        ("variants/v.yaml", VARIANT),
        ("experiments/e.yaml", EXPERIMENT),
        ("task-cards/t.yaml", TASK),
    ] {
        let text = overrides
            .iter()
            .find(|(r, _)| *r == rel)
            .map(|(_, t)| *t)
            .unwrap_or(text);
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    for (rel, text) in overrides {
        let path = dir.join(rel);
        if !path.exists() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
    }
}

/// An `App` over `dir`: the baseline set in `dir/configs`, data and cache beside it, secrets in
/// memory only (no environment fallback).
#[allow(dead_code)] // not every test file opens an App
pub async fn app(dir: &Path) -> App {
    app_on(dir, &dir.join("data/stackperf.sqlite")).await
}

/// As [`app`], with its store at `db` (a file, or a PostgreSQL URL from [`backends`]).
#[allow(dead_code)]
pub async fn app_on(dir: &Path, db: &Path) -> App {
    app_with_secrets(dir, db, &[]).await.unwrap()
}

/// As [`app_on`], with `secrets` in its (in-memory) keychain before it opens the store.
#[allow(dead_code)]
pub async fn app_with_secrets(
    dir: &Path,
    db: &Path,
    secrets: &[(&str, &str)],
) -> Result<App, stackperf_core::Error> {
    write_set(&dir.join("configs"), &[]);
    let paths = AppPaths {
        config_dir: dir.join("configs"),
        data_dir: dir.join("data"),
        cache_dir: dir.join("cache"),
        db_path: db.to_path_buf(),
        stackperf_bin: "stackperf".into(),
    };
    let keychain = Secrets::with_env(Box::new(MemoryStore::default()), |_| None);
    for (name, value) in secrets {
        keychain
            .set(name, stackperf_core::secrets::Secret::new(*value))
            .unwrap();
    }
    App::open_with(paths, Arc::new(keychain)).await
}

/// The databases a store test runs on, one test body for both: an SQLite file in `dir`, and a
/// fresh database on the test process's PostgreSQL server (`stackperf-testpg`).
#[allow(dead_code)] // not every test file runs on both backends
pub fn backends(dir: &Path, name: &str) -> Vec<std::path::PathBuf> {
    let pg = stackperf_testpg::server()
        .unwrap_or_else(|e| panic!("the store tests need PostgreSQL's server: {e}"));
    let url = pg.fresh_database(name).unwrap();
    vec![dir.join("db.sqlite"), std::path::PathBuf::from(url)]
}

/// Raw SQL in a test, on whichever backend the store is (the body is compiled for each).
#[allow(unused_macros)]
macro_rules! on_store {
    ($store:expr, |$p:ident| $body:expr) => {
        match $store.pool() {
            stackperf_core::store::Pool::Sqlite($p) => $body,
            stackperf_core::store::Pool::Postgres($p) => $body,
        }
    };
}
#[allow(unused_imports)]
pub(crate) use on_store;

/// Whether a database from [`backends`] is an SQLite file (not a server URL).
#[allow(dead_code)]
pub fn is_file(db: &Path) -> bool {
    !db.to_string_lossy().starts_with("postgres")
}

/// Active sessions `ids` on `sim-fast-oai` (the shipped configs synced first), each with the key
/// alias `stackperf-<id>`: rows that requests and run items can name.
#[allow(dead_code)]
pub async fn active_sessions(store: &stackperf_core::store::Store, ids: &[&str]) {
    let configs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    let (reg, problems) = stackperf_core::config::Registry::load(&configs);
    assert!(problems.is_empty(), "{problems:?}");
    store.sync_config(&reg).await.unwrap();
    for id in ids {
        let sql = "INSERT INTO sessions (session_id, experiment, variant_id, task_card, harness_profile, status, mode, created_at, proxy_key_alias, app_version)
             VALUES ($1, 'sim-profiles', (SELECT variant_id FROM variants WHERE name = 'sim-fast-oai' AND is_current = 1), 'sample-traffic', 'openai-compatible', 'active', 'bounded', 0, $2, 'test')";
        let alias = format!("stackperf-{id}");
        on_store!(store, |p| sqlx::query(sql)
            .bind(id)
            .bind(&alias)
            .execute(p)
            .await
            .map(drop))
        .unwrap();
    }
}
