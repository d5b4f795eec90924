//! Benchmark (prints figures; not a test): the local query API against the same calls made
//! in-process, over 1,000,000 requests in 1,000 sessions.
//!
//!   cargo bench -p stackperf-api --bench api
//!   STACKPERF_BENCH_LINES=200000 cargo bench -p stackperf-api --bench api
//!
//! Both sides run in this process on the same database: the API side adds routing, the bearer
//! check, JSON serialization and a loopback HTTP round trip (keep-alive client).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark aborts on setup failure

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use stackperf_core::app::{App, AppPaths, StackSettings};
use stackperf_core::capture;
use stackperf_core::config::Registry;
use stackperf_core::normalize::model_index;
use stackperf_core::secrets::{MemoryStore, Secret, Secrets};
use stackperf_core::store::{SessionFilter, Store};

const SESSIONS: usize = 1000;

fn line(i: usize, session: usize) -> String {
    let start = 1.7e9 + i as f64 * 0.01;
    let slow = session % 2 == 1;
    let ttft = if slow { 0.6 } else { 0.06 } + (i % 17) as f64 * 0.001;
    format!(
        r#"{{"v":1,"litellm_call_id":"bench-{i}","status":"success","call_type":"acompletion","route":"/v1/chat/completions","stream":true,"start":{start},"end":{end},"first_delta":{fd},"model_group":"{m}","custom_llm_provider":"openai","prompt_tokens":1200,"completion_tokens":64,"cached_tokens":300,"key_alias":"stackperf-bench_{session:04}"}}"#,
        end = start + ttft + 0.3,
        fd = start + ttft,
        m = if slow { "sim-slow" } else { "sim-fast" },
    )
}

async fn seed(store: &Store, reg: &Registry, spool: &Path, n: usize) {
    store.sync_config(reg).await.unwrap();
    let mut tx = store.sqlite_pool().unwrap().begin().await.unwrap();
    for s in 0..SESSIONS {
        let variant = if s % 2 == 1 {
            "sim-slow-oai"
        } else {
            "sim-fast-oai"
        };
        sqlx::query(
            "INSERT INTO sessions (session_id, experiment, variant_id, task_card, harness_profile, status, mode, created_at, started_at, ended_at, proxy_key_alias, app_version)
             VALUES (?, 'sim-profiles', (SELECT variant_id FROM variants WHERE name = ? AND is_current = 1), 'sample-traffic', 'openai-compatible', 'completed', 'bounded', ?, ?, ?, ?, 'bench')",
        )
        .bind(format!("bench_{s:04}"))
        .bind(variant)
        .bind(s as f64)
        .bind(s as f64)
        .bind(s as f64 + 60_000.0)
        .bind(format!("stackperf-bench_{s:04}"))
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let mut f = std::io::BufWriter::new(std::fs::File::create(spool).unwrap());
    for i in 0..n {
        writeln!(f, "{}", line(i, i % SESSIONS)).unwrap();
    }
    f.flush().unwrap();
    drop(f);
    let r = capture::collect(store, spool, &model_index(reg))
        .await
        .unwrap();
    assert_eq!(r.inserted as usize, n);
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("STACKPERF_BENCH_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let configs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    let (reg, problems) = Registry::load(&configs);
    assert!(problems.is_empty(), "{problems:?}");
    let db = dir.path().join("db.sqlite");
    {
        let store = Store::open(&db).await.unwrap();
        seed(&store, &reg, &dir.path().join("spool.jsonl"), n).await;
    }
    let paths = AppPaths {
        config_dir: configs,
        data_dir: dir.path().join("data"),
        cache_dir: dir.path().join("cache"),
        db_path: db,
        stackperf_bin: std::env::current_exe().unwrap(),
    };
    let secrets = Arc::new(Secrets::new(Box::new(MemoryStore::default())));
    let app = Arc::new(App::new(paths, secrets, StackSettings::from_env()));
    let token = Secret::new("bench-token");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let served = app.clone();
    let t2 = token.clone();
    tokio::spawn(async move {
        stackperf_api::serve(listener, served, &t2, std::future::pending()).await
    });
    let client = reqwest::Client::new();
    let get = |path: &str| {
        client
            .get(format!("{url}{path}"))
            .bearer_auth(token.expose())
            .send()
    };
    // Warm both sides (rollups, page cache) before timing.
    app.compare("sim-profiles").await.unwrap();
    get("/api/v1/comparisons/sim-profiles")
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();

    let filter = SessionFilter {
        experiment: Some("sim-profiles".into()),
        ..Default::default()
    };
    let rounds = 9;
    let (mut list_in, mut list_api, mut cmp_in, mut cmp_api) = (vec![], vec![], vec![], vec![]);
    for _ in 0..rounds {
        let t = Instant::now();
        let page = app.sessions_page(&filter, 100, 0).await.unwrap();
        // In-process callers serialize too when they hand the page on (CLI --json, desktop IPC).
        let body = serde_json::to_vec(&page).unwrap();
        list_in.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(page.total as usize, SESSIONS);
        let t = Instant::now();
        let r = get("/api/v1/sessions?experiment=sim-profiles&limit=100")
            .await
            .unwrap();
        let got = r.bytes().await.unwrap();
        list_api.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(got.len(), body.len());

        let t = Instant::now();
        let c = app.compare("sim-profiles").await.unwrap();
        let body = serde_json::to_vec(&c).unwrap();
        cmp_in.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        let got = get("/api/v1/comparisons/sim-profiles")
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        cmp_api.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(got.len() > body.len() / 2);
    }
    let (li, la, ci, ca) = (
        median(list_in),
        median(list_api),
        median(cmp_in),
        median(cmp_api),
    );
    println!("{n} requests in {SESSIONS} sessions; medians of {rounds}:");
    println!("session list (100 per page): in-process {li:8.2} ms   API {la:8.2} ms   API / in-process {:.2} (goal ≤ 1.20)", la / li);
    println!("comparison:                  in-process {ci:8.2} ms   API {ca:8.2} ms   API / in-process {:.2} (goal ≤ 1.20)", ca / ci);
}
