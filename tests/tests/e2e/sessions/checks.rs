//! The sessions end-to-end test's whole-stack checks: no secret in anything StackPerf wrote,
//! nothing readable by other users, and Prometheus counting what the database holds.

use std::os::unix::fs::PermissionsExt;

use serde_json::Value;
use stackperf_e2e::{files_under, StackEnv};

/// No key value in anything StackPerf wrote, and nothing of it readable by other users.
pub fn nothing_secret_and_nothing_open_to_others(
    s: &StackEnv,
    csv: &str,
    key_a: &str,
    master: &str,
) {
    for f in files_under(s.data.path()) {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap_or_default()).to_string();
        assert!(
            !text.contains(key_a) && !text.contains(master),
            "a key value leaked into {}",
            f.display()
        );
    }
    assert!(!csv.contains(key_a));

    // Everything StackPerf and the services it started wrote is the user's alone: labels,
    // notes, repository paths, key aliases and hashes are nobody else's business. Inside a
    // session folder (0700, checked here) the harness writes its own state with the operator's
    // umask; StackPerf's rendered files there are checked by render's unit test.
    let mut open_to_others = Vec::new();
    let mut dirs = vec![s.data.path().to_path_buf()];
    while let Some(d) = dirs.pop() {
        let session_folder = d.parent().and_then(|p| p.file_name()) == Some("sessions".as_ref());
        for e in std::fs::read_dir(&d).expect("read dir").flatten() {
            let meta = e.path().symlink_metadata().expect("metadata");
            if session_folder {
                continue;
            }
            if meta.is_dir() {
                dirs.push(e.path());
            }
            if !meta.file_type().is_symlink() && meta.permissions().mode() & 0o077 != 0 {
                open_to_others.push(format!(
                    "{:o} {}",
                    meta.permissions().mode() & 0o777,
                    e.path().display()
                ));
            }
        }
    }
    assert!(
        open_to_others.is_empty(),
        "readable by other users: {open_to_others:#?}"
    );
}

/// StackPerf's own metrics (served by the edge, scraped by the stack's Prometheus) count the same
/// requests per variant as the database: asked of Prometheus's HTTP API, waiting (bounded) for a
/// scrape after the last request.
pub fn prometheus_counts_equal_the_database(s: &StackEnv) {
    let rows = s.merged_requests();
    let mut db: std::collections::BTreeMap<String, u64> = Default::default();
    for r in rows.iter().filter(|r| r["traffic"] == "session") {
        *db.entry(r["variant"].as_str().unwrap_or("").to_string())
            .or_default() += 1;
    }
    assert!(db.len() >= 2, "{db:?}");
    let url = format!("http://127.0.0.1:{}", s.prometheus_port);
    let query = "/api/v1/query?query=sum%20by%20(variant)%20(stackperf_requests_total)";
    let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut seen = Default::default();
    while std::time::Instant::now() < until {
        let v: Value = serde_json::from_str(&stackperf_e2e::http_get(&url, query)).expect("json");
        seen = v["data"]["result"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|r| {
                        let n = r["value"][1].as_str().and_then(|x| x.parse::<f64>().ok());
                        (
                            r["metric"]["variant"].as_str().unwrap_or("").to_string(),
                            n.unwrap_or(0.0) as u64,
                        )
                    })
                    .collect::<std::collections::BTreeMap<String, u64>>()
            })
            .unwrap_or_default();
        if seen == db {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert_eq!(
        seen, db,
        "Prometheus (stackperf_requests_total by variant) vs the database"
    );
    // The experiment label is there too, for Grafana's variables.
    let v: Value = serde_json::from_str(&stackperf_e2e::http_get(
        &url,
        "/api/v1/query?query=count%20by%20(experiment)%20(stackperf_requests_total)",
    ))
    .expect("json");
    let experiments: Vec<&str> = v["data"]["result"]
        .as_array()
        .expect("result")
        .iter()
        .filter_map(|r| r["metric"]["experiment"].as_str())
        .collect();
    assert!(experiments.contains(&"sim-profiles"), "{v}");

    // Every metric and label the Grafana dashboards use exists: LiteLLM's and StackPerf's own.
    let litellm = stackperf_e2e::http_get(&s.litellm_url(), "/metrics/");
    // The edge's own metrics need the scrape token Prometheus has (Prometheus's query above
    // found StackPerf's series: it scraped with it).
    let path = "/_stackperf/metrics";
    let anyone = stackperf_e2e::raw_request("GET", &s.proxy_url(), path, &[], b"");
    assert_eq!(anyone.status, 401, "{}", anyone.body);
    let token = std::fs::read_to_string(s.data.path().join("stack/prometheus/metrics.token"))
        .expect("the scrape token beside Prometheus's config");
    let bearer = format!("Bearer {token}");
    let scraped = stackperf_e2e::raw_request(
        "GET",
        &s.proxy_url(),
        path,
        &[("Authorization", &bearer)],
        b"",
    );
    assert_eq!(scraped.status, 200, "{}", scraped.body);
    let edge = scraped.body;
    assert!(edge.contains("stackperf_ttft_ms_bucket{"), "{edge}");
    stackperf_e2e::check_dashboards_against(&format!("{litellm}\n{edge}"));

    // `doctor` makes the same comparison per session.
    let out = s.run(&["--json", "doctor"]);
    let checks: Value = serde_json::from_slice(&out.stdout).expect("doctor json");
    let agree = checks["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "prometheus vs database")
        .cloned()
        .unwrap_or_default();
    assert_eq!(agree["ok"], true, "{agree}");
    assert!(
        agree["detail"]
            .as_str()
            .is_some_and(|d| d.contains("every request it counted is stored")),
        "{agree}"
    );
}
