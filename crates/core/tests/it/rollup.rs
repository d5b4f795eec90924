//! Every metric of the registry, rolled up per session and compared across sessions, against a
//! reference computed here from the values the test itself put into the store. A metric added to
//! `metrics::METRICS` is covered by this test without touching it.

use crate::common::on_store;
use std::path::Path;

use stackperf_core::capture;
use stackperf_core::config::Registry;
use stackperf_core::metrics::{self, Rollup, Verdict, METRICS};
use stackperf_core::normalize::{self, model_index};
use stackperf_core::report;
use stackperf_core::rng::Rng;
use stackperf_core::store::Store;

const PER_SESSION: usize = 9;

/// numpy's default percentile (linear between closest ranks), written out independently.
fn reference_percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut s = values.to_vec();
    s.sort_by(f64::total_cmp);
    let h = (s.len() - 1) as f64 * p / 100.0;
    let i = h.floor() as usize;
    let j = (i + 1).min(s.len() - 1);
    Some(s[i] + (h - i as f64) * (s[j] - s[i]))
}

fn line(i: usize, session: &str, failed: bool) -> String {
    let start = 1.7e9 + i as f64;
    format!(
        r#"{{"v":1,"litellm_call_id":"r-{i}","status":"{}","call_type":"acompletion","route":"/v1/chat/completions","stream":true,"start":{start},"end":{},"model_group":"sim-fast","custom_llm_provider":"openai","prompt_tokens":{},"completion_tokens":20,"cached_tokens":{},"key_alias":"stackperf-{session}"}}"#,
        if failed { "failure" } else { "success" },
        start + 0.5,
        1000 + i,
        100 * (i % 3),
    )
}

pub(crate) async fn store_with_sessions(db: &Path, variants: &[(&str, &str)]) -> (Store, Registry) {
    let (reg, problems) =
        Registry::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs"));
    assert!(problems.is_empty(), "{problems:?}");
    let store = Store::open(db).await.unwrap();
    store.sync_config(&reg).await.unwrap();
    for (k, (session, variant)) in variants.iter().enumerate() {
        let alias = format!("stackperf-{session}");
        on_store!(store, |p| sqlx::query(
            "INSERT INTO sessions (session_id, experiment, variant_id, task_card, harness_profile, status, mode, created_at, started_at, ended_at, proxy_key_alias, app_version)
             VALUES ($1, 'sim-profiles', (SELECT variant_id FROM variants WHERE name = $2 AND is_current = 1), 'sample-traffic', 'openai-compatible', 'completed', 'bounded', $3, $4, $5, $6, 'test')",
        )
        .bind(session)
        .bind(variant)
        .bind(k as f64)
        .bind(1000.0 * k as f64)
        .bind(1000.0 * k as f64 + 30_000.0 + 1000.0 * k as f64)
        .bind(&alias)
        .execute(p)
        .await
        .map(drop))
        .unwrap();
    }
    (store, reg)
}

/// `per_session` requests for each of `sessions` through the real ingest path (parse, normalize,
/// insert); request `r` of a session fails when `failed(r)`. Request ids are `r-<i>`, i =
/// session's place × per_session + r.
pub(crate) async fn insert_requests(
    store: &Store,
    reg: &Registry,
    sessions: &[&str],
    per_session: usize,
    failed: impl Fn(usize) -> bool,
) {
    insert_requests_from(store, reg, sessions, per_session, 0, failed).await;
}

/// [`insert_requests`] with request ids counted from `first_id`, in one ingest batch.
async fn insert_requests_from(
    store: &Store,
    reg: &Registry,
    sessions: &[&str],
    per_session: usize,
    first_id: usize,
    failed: impl Fn(usize) -> bool,
) {
    let models = model_index(reg);
    let mut rows = Vec::new();
    for (k, s) in sessions.iter().enumerate() {
        for r in 0..per_session {
            let i = first_id + k * per_session + r;
            let rec = normalize::parse_line(&line(i, s, failed(r))).unwrap();
            let a = normalize::Attribution {
                session_id: s.to_string(),
                variant_id: 0,
                experiment: "sim-profiles".into(),
                harness_profile: "openai-compatible".into(),
            };
            let mut row = normalize::normalize(&rec, Some(&a), &models).unwrap();
            let sql = "SELECT variant_id FROM sessions WHERE session_id = $1";
            row.variant_id = on_store!(store, |p| sqlx::query_scalar(sql)
                .bind(s)
                .fetch_one(p)
                .await)
            .unwrap();
            rows.push(row);
        }
    }
    capture::insert_rows(store, "test", "test", 0, rows)
        .await
        .unwrap();
}

#[tokio::test]
async fn every_registry_metric_is_rolled_up_and_compared_as_the_reference_says() {
    let dir = tempfile::tempdir().unwrap();
    let sessions: Vec<(String, &str)> = (0..8)
        .map(|k| {
            (
                format!("s{k}"),
                if k % 2 == 0 {
                    "sim-fast-oai"
                } else {
                    "sim-slow-oai"
                },
            )
        })
        .collect();
    let pairs: Vec<(&str, &str)> = sessions.iter().map(|(s, v)| (s.as_str(), *v)).collect();
    for db in crate::common::backends(dir.path(), "rollup") {
        let (store, reg) = store_with_sessions(&db, &pairs).await;

        // Requests through the real ingest path, then every registry column set to known values.
        let ids: Vec<&str> = sessions.iter().map(|(s, _)| s.as_str()).collect();
        insert_requests(&store, &reg, &ids, PER_SESSION, |r| r == 4).await;
        let mut rng = Rng::for_request(42, 0);
        let sql = "SELECT request_id, session_id FROM requests ORDER BY request_id";
        let ids: Vec<(String, String)> =
            on_store!(store, |p| sqlx::query_as(sql).fetch_all(p).await).unwrap();
        // (session, column) → the values this test wrote (one request per session left NULL).
        let mut written: std::collections::BTreeMap<(String, &str), Vec<f64>> = Default::default();
        for measure in metrics::request_columns() {
            let col = measure.column();
            for (n, (id, session)) in ids.iter().enumerate() {
                let slow = sessions
                    .iter()
                    .any(|(s, v)| s == session && *v == "sim-slow-oai");
                // latency_ms is never NULL (every request has a total time); cost_usd is unknown for
                // one request of the slow variant's sessions only (their cost is then unknown).
                let value =
                    (n % PER_SESSION != 7 || col == "latency_ms" || (col == "cost_usd" && !slow))
                        .then(|| {
                            let x = (rng.unit() * 100.0).round() + if slow { 500.0 } else { 0.0 };
                            if col == "http_status" {
                                // Some rate-limited requests, more in the slow variant's sessions.
                                if n % 3 == 0 || (slow && n % 3 == 1) {
                                    429.0
                                } else {
                                    200.0
                                }
                            } else if col == "stall_count" || col == "output_tokens_per_s" {
                                x.round()
                            } else {
                                x
                            }
                        });
                let sql = format!("UPDATE requests SET {col} = $1 WHERE request_id = $2");
                on_store!(store, |p| sqlx::query(&sql)
                    .bind(value)
                    .bind(id)
                    .execute(p)
                    .await
                    .map(drop))
                .unwrap();
                if let Some(v) = value {
                    written.entry((session.clone(), col)).or_default().push(v);
                }
            }
        }
        let sql = "UPDATE sessions SET rollup_stale = 1";
        on_store!(store, |p| sqlx::query(sql).execute(p).await.map(drop)).unwrap();

        // Tool round trips, worked out here from the stored rows: after a request whose response
        // called a tool, the gap to the session's next request.
        let sql = "SELECT session_id, request_started_at, request_finished_at, CAST(tool_call_count AS DOUBLE PRECISION),
         status FROM requests ORDER BY session_id, request_started_at";
        let timeline: Vec<(String, f64, f64, Option<f64>, String)> =
            on_store!(store, |p| sqlx::query_as(sql).fetch_all(p).await).unwrap();
        let mut trips: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
        // Retries: requests that follow a failed request of the same session.
        let mut retries: std::collections::BTreeMap<String, f64> = Default::default();
        for w in timeline.windows(2) {
            let (prev, next) = (&w[0], &w[1]);
            if prev.0 == next.0 && prev.4 != "success" {
                *retries.entry(prev.0.clone()).or_default() += 1.0;
            }
            if prev.0 == next.0 && prev.3.unwrap_or(0.0) > 0.0 && next.1 >= prev.2 {
                trips
                    .entry(prev.0.clone())
                    .or_default()
                    .push(next.1 - prev.2);
            }
        }
        assert!(
            trips.values().any(|t| t.len() > 1),
            "the fixture has tool round trips"
        );
        assert!(
            retries.values().all(|n| *n == 1.0) && retries.len() == sessions.len(),
            "the fixture has one failed request (not the last) per session: {retries:?}"
        );
        let mut counted: std::collections::BTreeMap<(String, &str), f64> = Default::default();
        for m in METRICS.iter().filter(|m| m.rollup == Rollup::Counted) {
            let expr = match m.name {
                "requests" => "CAST(COUNT(*) AS DOUBLE PRECISION)".to_string(),
                col => format!("CAST(COALESCE(SUM({col}), 0) AS DOUBLE PRECISION)"),
            };
            let sql = format!("SELECT session_id, {expr} FROM requests GROUP BY session_id");
            let per: Vec<(String, f64)> =
                on_store!(store, |p| sqlx::query_as(&sql).fetch_all(p).await).unwrap();
            for (s, x) in per {
                counted.insert((s, m.name), x);
            }
        }
        assert!(
            counted
                .iter()
                .any(|((_, m), x)| *m == "cached_input_tokens" && *x > 0.0),
            "the fixture has cached tokens"
        );
        let stats = report::session_stats(&store, "sim-profiles").await.unwrap();
        assert_eq!(stats.len(), sessions.len());
        for st in &stats {
            assert_eq!((st.requests, st.errors), (PER_SESSION, 1));
            for m in METRICS {
                let col =
                    |c: metrics::Measure| written[&(st.session_id.clone(), c.column())].clone();
                let want = match m.rollup {
                    Rollup::Median(c) => reference_percentile(&col(c), 50.0),
                    Rollup::P95(c) => reference_percentile(&col(c), 95.0),
                    Rollup::Sum(c) => Some(col(c).iter().sum()),
                    Rollup::Max(c) => col(c).iter().copied().reduce(f64::max),
                    Rollup::Retries => Some(retries.get(&st.session_id).copied().unwrap_or(0.0)),
                    Rollup::ToolRoundTrip => trips
                        .get(&st.session_id)
                        .and_then(|t| reference_percentile(t, 50.0)),
                    Rollup::CountEq(c, v) => {
                        Some(col(c).iter().filter(|x| **x == v as f64).count() as f64)
                    }
                    Rollup::Total(c) => (col(c).len() == PER_SESSION).then(|| col(c).iter().sum()),
                    // Counted straight from the stored rows.
                    Rollup::Counted => Some(counted[&(st.session_id.clone(), m.name)]),
                    Rollup::ErrorRate => Some(1.0 / PER_SESSION as f64),
                    Rollup::CacheHitRatio => {
                        Some(st.cached_input_tokens as f64 / st.input_tokens as f64)
                    }
                    Rollup::Duration => st
                        .started_at
                        .zip(st.ended_at)
                        .map(|(a, b)| b.ms_since(a) / 1000.0),
                    // Manual sessions: no automated run, so neither outcome nor wall time exists.
                    Rollup::TaskSuccess | Rollup::WallTime => None,
                };
                let got = st.metric(m.name);
                assert!(
                    match (got, want) {
                        (Some(g), Some(w)) => (g - w).abs() < 1e-9,
                        (None, None) => true,
                        _ => false,
                    },
                    "{} of {}: got {got:?}, want {want:?}",
                    m.name,
                    st.session_id
                );
            }
        }

        // The comparison: one summary per metric and variant, medians across sessions, and a verdict
        // per pair and metric whose direction follows the metric's.
        let cmp = report::compare(&store, &reg, "sim-profiles").await.unwrap();
        assert_eq!(cmp.metrics.len(), METRICS.len());
        // A session cost with an unpriced request is unknown: "n/a" in the comparison export, never 0.
        let table = stackperf_core::export::comparison_table(&cmp);
        let col = |name: &str| table.columns.iter().position(|(n, _)| n == name).unwrap();
        let cost_row = |variant: &str| {
            table
            .rows
            .iter()
            .find(|r| {
                matches!(&r[col("variant")], stackperf_core::export::Cell::Text(v) if v == variant)
                    && matches!(&r[col("metric")], stackperf_core::export::Cell::Text(m) if m == "cost_usd")
            })
            .unwrap()
            .clone()
        };
        let slow = cost_row("sim-slow-oai");
        assert!(matches!(
            &slow[col("median")],
            stackperf_core::export::Cell::Null
        ));
        assert!(
            matches!(&slow[col("note")], stackperf_core::export::Cell::Text(t) if t.starts_with("n/a")),
            "{slow:?}"
        );
        let fast_cost = cost_row("sim-fast-oai");
        assert!(
            matches!(&fast_cost[col("median")], stackperf_core::export::Cell::Float(x) if *x > 0.0)
        );
        assert!(matches!(
            &fast_cost[col("note")],
            stackperf_core::export::Cell::Null
        ));
        let fast = cmp
            .variants
            .iter()
            .find(|v| v.variant == "sim-fast-oai")
            .unwrap();
        for m in METRICS {
            let values: Vec<f64> = stats
                .iter()
                .filter(|s| s.variant == "sim-fast-oai")
                .filter_map(|s| s.metric(m.name))
                .collect();
            assert_eq!(
                fast.metrics[m.name].median,
                reference_percentile(&values, 50.0),
                "{}",
                m.name
            );
        }
        let pair = |name: &str| {
            cmp.pairs
                .iter()
                .find(|p| p.metric == name && p.a == "sim-fast-oai" && p.b == "sim-slow-oai")
                .unwrap()
        };
        // Slow sessions got values 500 higher in every per-request column (4 sessions against 4).
        for m in metrics::chartable() {
            let p = pair(m.name);
            let winner = if m.lower_is_better {
                "sim-fast-oai"
            } else {
                "sim-slow-oai"
            };
            assert!(
                matches!(&p.verdict, Verdict::Better { winner: w, indicative_below, .. }
                if w == winner && *indicative_below == (m.claim_sessions > 4).then_some(m.claim_sessions)),
                "{}: {:?}",
                m.name,
                p.verdict
            );
            assert_eq!(p.verdict_text, p.verdict.text(m));
        }

        // The distribution chart's per-variant bar is the comparison's own estimate: the sessions'
        // median with its 95 % CI, for every chartable metric.
        for m in metrics::chartable() {
            let (series, _) = report::distribution(&store, &reg, "sim-profiles", m.name)
                .await
                .unwrap();
            for s in series.iter().filter(|s| !s.values.is_empty()) {
                let want = &cmp
                    .variants
                    .iter()
                    .find(|v| v.variant == s.name)
                    .unwrap()
                    .metrics[m.name];
                let got = s.estimate.as_ref().expect("an estimate");
                assert_eq!(
                    (got.sessions, Some(got.median), got.ci95),
                    (want.sessions, want.median, want.ci95),
                    "{} {}",
                    m.name,
                    s.name
                );
            }
        }

        // Across experiments, by model: the same sessions under the models' names (each variant
        // here has its own model), so the same medians; by harness: one group of all 8 sessions.
        use stackperf_core::analysis::group::{compare_by, GroupBy};
        let by_model = compare_by(&store, GroupBy::Model, &[]).await.unwrap();
        assert_eq!(by_model.group_by, GroupBy::Model);
        let names: Vec<&str> = by_model
            .variants
            .iter()
            .map(|v| v.variant.as_str())
            .collect();
        assert_eq!(names, ["sim-fast", "sim-slow"]);
        for m in METRICS {
            assert_eq!(
                by_model.variants[0].metrics[m.name].median, fast.metrics[m.name].median,
                "{}",
                m.name
            );
        }
        let by_harness = compare_by(&store, GroupBy::Harness, &["sim-profiles".into()])
            .await
            .unwrap();
        assert_eq!(by_harness.variants.len(), 1);
        let all = &by_harness.variants[0];
        assert_eq!(
            (all.variant.as_str(), all.sessions),
            ("openai-compatible", 8)
        );
        let lat: Vec<f64> = stats
            .iter()
            .filter_map(|s| s.metric("latency_p50_ms"))
            .collect();
        assert_eq!(
            all.metrics["latency_p50_ms"].median,
            reference_percentile(&lat, 50.0)
        );
        assert!(by_harness.pairs.is_empty(), "one group: nothing to compare");
    }
}

#[tokio::test]
async fn rollups_made_under_another_registry_are_recomputed() {
    let dir = tempfile::tempdir().unwrap();
    for db in crate::common::backends(dir.path(), "registry") {
        let (store, _) = store_with_sessions(&db, &[("s0", "sim-fast-oai")]).await;
        let first = report::rollup(&store, "sim-profiles").await.unwrap();
        assert_eq!(first, 1);
        assert_eq!(
            report::rollup(&store, "sim-profiles").await.unwrap(),
            0,
            "fresh"
        );
        // As if an older build (another metric set) had written the cache.
        let sql = "UPDATE metric_rollups SET value = value + 1 WHERE metric = 'registry'";
        on_store!(store, |p| sqlx::query(sql).execute(p).await.map(drop)).unwrap();
        assert_eq!(report::rollup(&store, "sim-profiles").await.unwrap(), 1);
    }
}

/// One ingest batch that touches more sessions than one statement marks stale (100): every one of
/// them is marked, the padded last statement's too, and recomputed by the next rollup.
#[tokio::test]
async fn a_batch_touching_250_sessions_marks_every_one_stale() {
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<String> = (0..250).map(|k| format!("s{k:03}")).collect();
    let variants: Vec<(&str, &str)> = ids.iter().map(|s| (s.as_str(), "sim-fast-oai")).collect();
    let sessions: Vec<&str> = ids.iter().map(String::as_str).collect();
    for db in crate::common::backends(dir.path(), "marks") {
        let (store, reg) = store_with_sessions(&db, &variants).await;
        insert_requests(&store, &reg, &sessions, 1, |_| false).await;
        assert_eq!(report::rollup(&store, "sim-profiles").await.unwrap(), 250);
        assert_eq!(report::rollup(&store, "sim-profiles").await.unwrap(), 0);
        // A second batch, new requests for every session: all 250 stale again.
        insert_requests_from(&store, &reg, &sessions, 1, 1_000, |_| false).await;
        let sql = "SELECT COUNT(*) FROM sessions WHERE rollup_stale = 1";
        let stale: i64 = on_store!(store, |p| sqlx::query_scalar(sql).fetch_one(p).await).unwrap();
        assert_eq!(stale, 250, "{db:?}");
        assert_eq!(report::rollup(&store, "sim-profiles").await.unwrap(), 250);
        let sql = "SELECT COUNT(*) FROM requests";
        let rows: i64 = on_store!(store, |p| sqlx::query_scalar(sql).fetch_one(p).await).unwrap();
        assert_eq!(rows, 500);
    }
}
