//! Benchmark (prints figures; not a test): a usage report over a seeded usage history.
//!
//!   cargo bench -p stackperf-core --bench usage            (1,000,000 requests, 20 keys, 90 days)
//!   STACKPERF_BENCH_LINES=200000 cargo bench -p stackperf-core --bench usage
//!
//! The history goes through the real ingest (`capture::collect`, which keeps the per key × model
//! × day rollups current), so the ingest figure includes the rollup upkeep; then
//! `App::usage_report` (as every host calls it: an ingest pass over the now-empty spool, the
//! rollups, the grouping and percentiles) is timed by each grouping. Target: ≤ 500 ms.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark aborts on setup failure

use stackperf_core::timestamp::Timestamp;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use strum::VariantArray;

use stackperf_core::app::{App, AppPaths};
use stackperf_core::secrets::{MemoryStore, Secrets};
use stackperf_core::usage::{NewUsageKey, UsageBy, UsageFilter};

const KEYS: usize = 20;
const DAYS: f64 = 90.0;
const MODELS: [&str; 4] = ["sim-fast", "sim-slow", "sim-flaky", "sim-steady"];

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("STACKPERF_BENCH_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let paths = AppPaths {
        config_dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs"),
        data_dir: dir.path().join("data"),
        cache_dir: dir.path().join("cache"),
        db_path: dir.path().join("data/stackperf.sqlite"),
        stackperf_bin: "stackperf".into(),
    };
    let secrets = Arc::new(Secrets::with_env(Box::new(MemoryStore::default()), |_| {
        None
    }));
    let app = App::open_with(paths, secrets).await.unwrap();
    let mut aliases = Vec::new();
    for k in 0..KEYS {
        let (c, _) = app
            .usage_key_create(&NewUsageKey {
                owner: format!("owner{}", k % 8),
                team: Some(format!("team{}", k % 3)),
                ..NewUsageKey::default()
            })
            .await
            .unwrap();
        aliases.push(c.key.alias);
    }
    let spool = dir.path().join("data/capture/spool.jsonl");
    std::fs::create_dir_all(spool.parent().unwrap()).unwrap();
    let mut f = std::io::BufWriter::new(std::fs::File::create(&spool).unwrap());
    let now = Timestamp::now().secs();
    let t0 = now - DAYS * 86_400.0;
    let step = DAYS * 86_400.0 / n as f64;
    for i in 0..n {
        let start = t0 + i as f64 * step;
        let latency = 0.2 + (i * 7919 % 1000) as f64 / 1000.0;
        writeln!(
            f,
            r#"{{"v":1,"litellm_call_id":"u{i}","status":"{st}","call_type":"acompletion","route":"/v1/chat/completions","stream":true,"start":{start},"end":{end},"first_delta":{fd},"model_group":"{m}","custom_llm_provider":"openai","prompt_tokens":1200,"completion_tokens":64,"cached_tokens":300,"key_alias":"{alias}"}}"#,
            st = if i % 50 == 0 { "failure" } else { "success" },
            end = start + latency,
            fd = start + latency / 4.0,
            m = MODELS[i % MODELS.len()],
            alias = aliases[i % KEYS],
        )
        .unwrap();
    }
    f.flush().unwrap();
    drop(f);

    let t = Instant::now();
    let ingested = app.ingest_now().await.unwrap();
    let ingest_s = t.elapsed().as_secs_f64();
    assert_eq!(ingested.usage as usize, n);
    println!(
        "ingest (with usage rollups): {:>10.0} lines/s ({ingest_s:.2} s for {n} lines)",
        n as f64 / ingest_s
    );

    let all = UsageFilter {
        since_day: Some(stackperf_core::usage::day_of(Timestamp::from_secs(
            t0 - 86_400.0,
        ))),
        ..UsageFilter::default()
    };
    for &by in UsageBy::VARIANTS {
        let mut times = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            let r = app.usage_report(by, &all).await.unwrap();
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(r.total.requests as usize, n);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "usage report --by {:<6} {:>8.1} ms median of 5 ({n} requests, {KEYS} keys, {DAYS} days; target ≤ 500 ms)",
            by.as_str(),
            times[2]
        );
    }
}
