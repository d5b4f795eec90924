//! The stack's tax in a comparison: per variant as a registry metric, and said next to a TTFT
//! verdict when the two variants' tax differs by most of their gap (and not when it does not).

use crate::common::on_store;
use crate::rollup::{insert_requests, store_with_sessions};

use stackperf_core::report;
use stackperf_core::store::Store;

const SESSIONS: usize = 6;
const PER_SESSION: usize = 5;

/// Sets every request's TTFT (`provider TTFT + tax`) and tax, with a small spread, per variant.
async fn set_times(store: &Store, ttft: [f64; 2], tax: [f64; 2]) {
    let sql = "SELECT request_id, session_id FROM requests ORDER BY request_id";
    let ids: Vec<(String, String)> =
        on_store!(store, |p| sqlx::query_as(sql).fetch_all(p).await).unwrap();
    for (id, session) in &ids {
        let k = usize::from(session.ends_with('b'));
        // The request's place in its session (ids are `r-<i>`, i = session × PER_SESSION + place):
        // spreads of 0, 0.1, 0.2, 0.1, 0 ms, so every session's median is the base + 0.1 ms.
        let i: usize = id.trim_start_matches("r-").parse().unwrap();
        let spread = [0.0, 0.1, 0.2, 0.1, 0.0][i % PER_SESSION];
        let sql = "UPDATE requests SET ttft_ms = $1, proxy_overhead_ms = $2 WHERE request_id = $3";
        on_store!(store, |p| sqlx::query(sql)
            .bind(ttft[k] + tax[k] + spread)
            .bind(tax[k] + spread)
            .bind(id)
            .execute(p)
            .await
            .map(drop))
        .unwrap();
    }
    let sql = "UPDATE sessions SET rollup_stale = 1";
    on_store!(store, |p| sqlx::query(sql).execute(p).await.map(drop)).unwrap();
}

#[tokio::test]
async fn a_ttft_gap_that_is_mostly_the_proxys_tax_is_said_next_to_the_verdict() {
    let dir = tempfile::tempdir().unwrap();
    // Sessions ending in "a" are sim-fast-oai's, in "b" sim-slow-oai's.
    let sessions: Vec<(String, &str)> = (0..2 * SESSIONS)
        .map(|k| {
            if k % 2 == 0 {
                (format!("s{k}a"), "sim-fast-oai")
            } else {
                (format!("s{k}b"), "sim-slow-oai")
            }
        })
        .collect();
    let pairs: Vec<(&str, &str)> = sessions.iter().map(|(s, v)| (s.as_str(), *v)).collect();
    for db in crate::common::backends(dir.path(), "stack-tax") {
        let (store, reg) = store_with_sessions(&db, &pairs).await;
        let ids: Vec<&str> = sessions.iter().map(|(s, _)| s.as_str()).collect();
        insert_requests(&store, &reg, &ids, PER_SESSION, |_| false).await;

        // The provider's TTFT differs by 0.5 ms, the tax by 2.5 ms: a 3.0 ms gap, 83 % of it tax.
        set_times(&store, [200.0, 200.5], [8.0, 10.5]).await;
        let c = report::compare(&store, &reg, "sim-profiles").await.unwrap();
        let tax = |v: &str| {
            c.variants.iter().find(|s| s.variant == v).unwrap().metrics["proxy_overhead_ms"]
                .median
                .unwrap()
        };
        assert!(
            (tax("sim-fast-oai") - 8.1).abs() < 1e-9,
            "{}",
            tax("sim-fast-oai")
        );
        assert!(
            (tax("sim-slow-oai") - 10.6).abs() < 1e-9,
            "{}",
            tax("sim-slow-oai")
        );
        let ttft = c
            .pairs
            .iter()
            .find(|p| p.metric == "ttft_p50_ms")
            .expect("a TTFT pair");
        assert!((ttft.difference.unwrap() - 3.0).abs() < 1e-9, "{ttft:?}");
        let note = ttft.stack_tax_note.as_deref().expect("the tax is said");
        assert!(
            note.starts_with("part of this gap is the proxy")
                && note.contains("2.5 ms of the 3.0 ms"),
            "{note}"
        );
        // Only next to metrics that include the tax.
        assert!(c
            .pairs
            .iter()
            .filter(|p| p.metric != "ttft_p50_ms")
            .all(|p| p.stack_tax_note.is_none()));

        // The same tax gap under a 40 ms TTFT gap is a small share: nothing said.
        set_times(&store, [200.0, 237.5], [8.0, 10.5]).await;
        let c = report::compare(&store, &reg, "sim-profiles").await.unwrap();
        let ttft = c.pairs.iter().find(|p| p.metric == "ttft_p50_ms").unwrap();
        assert!((ttft.difference.unwrap() - 40.0).abs() < 1e-9, "{ttft:?}");
        assert_eq!(ttft.stack_tax_note, None);
    }
}
