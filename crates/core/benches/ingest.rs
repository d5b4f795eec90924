//! Benchmark (prints figures; not a test): capture ingest throughput and `report compare` time.
//!
//!   cargo bench -p stackperf-core --bench ingest            (1,000,000 lines, 1,000 sessions)
//!   STACKPERF_BENCH_LINES=200000 cargo bench -p stackperf-core --bench ingest
//!
//! 1. Ingest: N synthetic spool lines (attributed to 1,000 sessions) through `capture::collect`,
//!    against a raw batched SQLite insert of the same rows (same statement, same batch size)
//!    — the ratio is what parsing, normalization and attribution cost.
//! 2. `report compare` over those N requests in 1,000 finalized sessions of two variants.
//! 3. The reads of a small experiment beside them (one session, 200 requests): what the API,
//!    Compare's charts and the exports ask of a shared store — each filter's index at work.
//!
//! `STACKPERF_BENCH_DB=postgres`: the same on PostgreSQL (a server of the bench's own, as the
//! tests start it), with PostgreSQL's own `COPY … FROM STDIN` of the ingested rows as the raw
//! baseline instead.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark aborts on setup failure

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use stackperf_core::capture;
use stackperf_core::config::Registry;
use stackperf_core::normalize::{self, model_index};
use stackperf_core::report;
use stackperf_core::store::{Dataset, Pool, Store};

const SESSIONS: usize = 1000;

fn line(i: usize, session: usize) -> String {
    line_as(i, session, &format!("bench_{session:04}"), "bench")
}

/// A spool line of request `i`, timed as session number `session`'s, attributed to the session
/// `alias` names, with the request id `<id>-<i>`.
fn line_as(i: usize, session: usize, alias: &str, id: &str) -> String {
    let start = 1.7e9 + i as f64 * 0.01;
    let slow = session % 2 == 1;
    let ttft = if slow { 0.6 } else { 0.06 } + (i % 17) as f64 * 0.001;
    format!(
        r#"{{"v":1,"litellm_call_id":"{id}-{i}","status":"{st}","call_type":"acompletion","route":"/v1/chat/completions","stream":true,"start":{start},"end":{end},"first_delta":{fd},"model_group":"{m}","custom_llm_provider":"openai","prompt_tokens":1200,"completion_tokens":64,"cached_tokens":300,"key_alias":"stackperf-{alias}","error_code":{ec},"error_class":{ecl},"overhead_ms":21.5}}"#,
        st = if i.is_multiple_of(50) {
            "failure"
        } else {
            "success"
        },
        end = start + ttft + 0.3,
        fd = start + ttft,
        m = if slow { "sim-slow" } else { "sim-fast" },
        ec = if i.is_multiple_of(50) {
            "\"500\""
        } else {
            "null"
        },
        ecl = if i.is_multiple_of(50) {
            "\"InternalServerError\""
        } else {
            "null"
        },
    )
}

macro_rules! on_store {
    ($store:expr, |$p:ident| $body:expr) => {
        match $store.pool() {
            stackperf_core::store::Pool::Sqlite($p) => $body,
            stackperf_core::store::Pool::Postgres($p) => $body,
        }
    };
}

async fn sessions(store: &Store) {
    let id = |name: &'static str| async move {
        let sql = "SELECT variant_id FROM variants WHERE name = $1 AND is_current = 1";
        let v: i64 = on_store!(store, |p| sqlx::query_scalar(sql)
            .bind(name)
            .fetch_one(p)
            .await
            .unwrap());
        v
    };
    let (fast, slow) = (id("sim-fast-oai").await, id("sim-slow-oai").await);
    for s in 0..SESSIONS {
        let sql = "INSERT INTO sessions (session_id, experiment, variant_id, task_card, harness_profile, status, mode, created_at, started_at, ended_at, proxy_key_alias, app_version)
             VALUES ($1, 'sim-profiles', $2, 'sample-traffic', 'openai-compatible', 'completed', 'bounded', $3, $4, $5, $6, 'bench')";
        on_store!(store, |p| sqlx::query(sql)
            .bind(format!("bench_{s:04}"))
            .bind(if s % 2 == 1 { slow } else { fast })
            .bind(s as f64)
            .bind(s as f64)
            .bind(s as f64 + 60_000.0)
            .bind(format!("stackperf-bench_{s:04}"))
            .execute(p)
            .await
            .map(drop)
            .unwrap());
    }
}

/// A fresh store: an SQLite file in `dir`, or a fresh database on the bench's PostgreSQL.
async fn fresh_store(dir: &Path, name: &str, reg: &Registry) -> Store {
    let at = if postgres() {
        let pg = stackperf_testpg::server().unwrap();
        std::path::PathBuf::from(pg.fresh_database(name).unwrap())
    } else {
        dir.join(format!("{name}.sqlite"))
    };
    let store = Store::open(&at).await.unwrap();
    store.sync_config(reg).await.unwrap();
    sessions(&store).await;
    store
}

fn postgres() -> bool {
    std::env::var("STACKPERF_BENCH_DB").is_ok_and(|v| v == "postgres")
}

/// PostgreSQL's own `COPY` of `from`'s requests into a fresh store: seconds, rows.
async fn pg_copy_baseline(from: &Store, dir: &Path, reg: &Registry) -> (f64, u64) {
    use futures::TryStreamExt;
    use sqlx::postgres::PgPoolCopyExt;
    let (Pool::Postgres(src), to) = (from.pool(), fresh_store(dir, "copy", reg).await) else {
        unreachable!()
    };
    let Pool::Postgres(dst) = to.pool() else {
        unreachable!()
    };
    to.machine_key().await.unwrap(); // the rows name this machine
    let data: Vec<_> = src
        .copy_out_raw("COPY requests TO STDOUT")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let t = Instant::now();
    let mut copy = dst.copy_in_raw("COPY requests FROM STDIN").await.unwrap();
    for chunk in data {
        copy.send(chunk).await.unwrap();
    }
    let rows = copy.finish().await.unwrap();
    (t.elapsed().as_secs_f64(), rows)
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("STACKPERF_BENCH_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let (reg, problems) =
        Registry::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs"));
    assert!(problems.is_empty(), "{problems:?}");
    let models = model_index(&reg);

    let spool = dir.path().join("spool.jsonl");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&spool).unwrap());
    for i in 0..n {
        writeln!(f, "{}", line(i, i % SESSIONS)).unwrap();
    }
    f.flush().unwrap();
    drop(f);
    let size = std::fs::metadata(&spool).unwrap().len();
    println!("spool: {n} lines, {:.0} MB", size as f64 / 1e6);

    let (raw_s, raw_what) = if postgres() {
        (0.0, "")
    } else {
        (
            raw_sqlite(&spool, dir.path(), &reg, &models, n).await,
            "raw batched insert",
        )
    };

    let store = fresh_store(dir.path(), "ingest", &reg).await;
    let t = Instant::now();
    let report = capture::collect(&store, &spool, &models).await.unwrap();
    let ingest_s = t.elapsed().as_secs_f64();
    assert_eq!(report.inserted as usize, n);
    assert_eq!(report.unattributed, 0);

    let (raw_s, raw_what) = if postgres() {
        let (s, rows) = pg_copy_baseline(&store, dir.path(), &reg).await;
        assert_eq!(rows as usize, n);
        (s, "PostgreSQL's COPY")
    } else {
        (raw_s, raw_what)
    };
    println!(
        "{raw_what:<23} {:>10.0} rows/s  ({raw_s:.2} s)",
        n as f64 / raw_s
    );
    println!("capture::collect:       {:>10.0} lines/s ({ingest_s:.2} s; parse + normalize + attribute + insert)", n as f64 / ingest_s);
    println!(
        "ratio ingest / raw:     {:>10.2}   (target ≥ 0.5; ≥ 100,000 lines/s)",
        raw_s / ingest_s
    );

    let compare_ms = median_ms(|| async {
        let c = report::compare(&store, &reg, "sim-profiles").await.unwrap();
        assert_eq!(
            c.variants.iter().map(|v| v.sessions).sum::<usize>(),
            SESSIONS
        );
    })
    .await;
    let stats_ms = median_ms(|| async {
        report::session_stats(&store, "sim-profiles").await.unwrap();
    })
    .await;
    println!("  of which session rollups (cached): {stats_ms:.1} ms; the rest is the statistics");
    let target = if postgres() { 500 } else { 200 };
    println!("report compare:         {:>10.1} ms median of 5 ({n} requests, {SESSIONS} sessions; target ≤ {target} ms)", compare_ms);
    small_experiment(&store, &reg, &models, dir.path()).await;
    index_on_upgrade(&store, n).await;
}

/// What the experiment index's migration costs a store that already holds `n` requests (it runs
/// once, at the first open after the upgrade): the index dropped, then built by the migration's
/// own statement on the same connection (another connection's cached schema would still list the
/// index: SQLite checks a `CREATE INDEX` against it before it reads the file's).
async fn index_on_upgrade(store: &Store, n: usize) {
    let create = include_str!("../migrations/20261208000100_requests_by_experiment.sql")
        .lines()
        .filter(|l| !l.starts_with("--"))
        .collect::<String>();
    let secs = on_store!(store, |p| {
        let mut c = p.acquire().await.unwrap();
        sqlx::query("DROP INDEX requests_by_experiment")
            .execute(&mut *c)
            .await
            .unwrap();
        let t = Instant::now();
        sqlx::query(&create).execute(&mut *c).await.unwrap();
        t.elapsed().as_secs_f64()
    });
    println!(
        "the experiment index built on a store of {n} requests (its migration, once): {secs:.2} s"
    );
}

/// Median of 5 runs of `f`, in ms.
async fn median_ms<F: std::future::Future<Output = ()>>(mut f: impl FnMut() -> F) -> f64 {
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        f().await;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(|a, b| a.total_cmp(b));
    times[2]
}

/// One session of another experiment with `SMALL` requests, ingested beside the big one; the
/// reads that filter requests by experiment, session or variant, timed.
async fn small_experiment(
    store: &Store,
    reg: &Registry,
    models: &normalize::ModelIndex,
    dir: &Path,
) {
    const SMALL: usize = 200;
    const EXP: &str = "harness-shootout";
    let sql = "SELECT variant_id FROM variants WHERE name = 'opencode-sim-fast' AND is_current = 1";
    let variant: i64 = on_store!(store, |p| sqlx::query_scalar(sql)
        .fetch_one(p)
        .await
        .unwrap());
    let sql = "INSERT INTO sessions (session_id, experiment, variant_id, task_card, harness_profile, status, mode, created_at, started_at, ended_at, proxy_key_alias, app_version)
         VALUES ('small', $1, $2, 'sample-traffic', 'openai-compatible', 'completed', 'bounded', 0, 0, 60000, 'stackperf-small', 'bench')";
    on_store!(store, |p| sqlx::query(sql)
        .bind(EXP)
        .bind(variant)
        .execute(p)
        .await
        .map(drop)
        .unwrap());
    let spool = dir.join("small.jsonl");
    let lines: Vec<String> = (0..SMALL)
        .map(|i| line_as(i, 0, "small", "small"))
        .collect();
    std::fs::write(&spool, lines.join("\n") + "\n").unwrap();
    let report = capture::collect(store, &spool, models).await.unwrap();
    assert_eq!(report.inserted as usize, SMALL);
    println!("a small experiment beside them ({SMALL} requests, one session), median of 5:");
    let filters = [
        ("export requests --experiment:", Some(EXP), None),
        ("export requests --session:   ", None, Some("small")),
    ];
    for (label, experiment, session) in filters {
        let ms = median_ms(|| async {
            let (_, rows) = store
                .dataset(Dataset::Requests, experiment, session, false)
                .await
                .unwrap();
            assert_eq!(rows.len(), SMALL);
        })
        .await;
        println!("  {label}   {ms:>8.1} ms");
    }
    let live = median_ms(|| async {
        let (rows, _) = store.requests_since("small", None).await.unwrap();
        assert_eq!(rows.len(), SMALL);
    })
    .await;
    println!("  a session's requests (live):    {live:>8.1} ms");
    let chart = median_ms(|| async {
        let (series, _) = report::distribution(store, reg, EXP, "ttft").await.unwrap();
        assert_eq!(series.iter().map(|s| s.values.len()).sum::<usize>(), SMALL);
    })
    .await;
    println!("  a distribution chart (ttft):    {chart:>8.1} ms");
    let compare = median_ms(|| async {
        let c = report::compare(store, reg, EXP).await.unwrap();
        assert_eq!(c.variants.iter().map(|v| v.sessions).sum::<usize>(), 1);
    })
    .await;
    println!("  report compare:                 {compare:>8.1} ms");
}

/// The SQLite baseline: the same rows, already normalized, inserted with the same statement and
/// batches as the ingest; seconds.
async fn raw_sqlite(
    spool: &Path,
    dir: &Path,
    reg: &Registry,
    models: &normalize::ModelIndex,
    n: usize,
) -> f64 {
    let raw_store = fresh_store(dir, "raw", reg).await;
    let attribution = |alias: &str| {
        let s: usize = alias
            .trim_start_matches("stackperf-bench_")
            .parse()
            .unwrap();
        normalize::Attribution {
            session_id: format!("bench_{s:04}"),
            variant_id: 0,
            experiment: "sim-profiles".into(),
            harness_profile: "openai-compatible".into(),
        }
    };
    let mut rows = Vec::with_capacity(n);
    for text in std::fs::read_to_string(spool).unwrap().lines() {
        let rec = normalize::parse_line(text).unwrap();
        let a = attribution(rec.key_alias.as_deref().unwrap());
        rows.push(normalize::normalize(&rec, Some(&a), models).unwrap());
    }
    // Variant ids as the ingest would resolve them.
    let ids: Vec<i64> = sqlx::query_scalar("SELECT variant_id FROM sessions ORDER BY session_id")
        .fetch_all(raw_store.sqlite_pool().unwrap())
        .await
        .unwrap();
    for r in rows.iter_mut() {
        let s: usize = r
            .session_id
            .as_deref()
            .unwrap()
            .trim_start_matches("bench_")
            .parse()
            .unwrap();
        r.variant_id = Some(ids[s]);
    }
    // Batches as the ingest forms them, split before the clock starts.
    let batches: Vec<Vec<normalize::RequestRow>> =
        rows.chunks(10_000).map(|c| c.to_vec()).collect();
    drop(rows);
    let t = Instant::now();
    for batch in batches {
        capture::insert_rows(&raw_store, "raw", "raw", 0, batch)
            .await
            .unwrap();
    }
    t.elapsed().as_secs_f64()
}
