//! Usage mode end to end on the real stack: usage keys created with the CLI, used through the
//! edge and LiteLLM by the real openai SDK, scoped to their models (403), refused when revoked
//! and when sent around the edge (401), and reported by owner, team, model and key — with token
//! totals equal to the simulator's ground truth and a session's traffic never mixed in.

use std::collections::HashMap;
use std::process::Command;

use serde_json::Value;
use stackperf_e2e::{python, workspace, StackEnv};

fn traffic(base_url: &str, key: &str, model: &str, args: &[&str]) -> Value {
    let mut c = Command::new(python());
    c.arg(workspace().join("tests/python/session_traffic.py"))
        .args(args)
        .env("OPENAI_BASE_URL", base_url)
        .env("OPENAI_API_KEY", key)
        .env("OPENAI_MODEL", model);
    let out = c.output().expect("run session_traffic.py");
    assert!(
        out.status.success(),
        "traffic {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("traffic JSON")
}

struct Key {
    alias: String,
    value: String,
    base_url: String,
}

fn create_key(s: &StackEnv, args: &[&str]) -> Key {
    let mut full = vec!["key", "create"];
    full.extend_from_slice(args);
    let v = s.json(&full);
    Key {
        alias: v["key"]["alias"].as_str().expect("alias").into(),
        value: v["value"].as_str().expect("value").into(),
        base_url: v["base_url"].as_str().expect("base url").into(),
    }
}

/// `usage report --by BY --json`: group → row.
fn report(s: &StackEnv, by: &str) -> (HashMap<String, Value>, Value) {
    let v = s.json(&["usage", "report", "--by", by]);
    let rows = v["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["group"].as_str().unwrap_or_default().to_string(),
                r.clone(),
            )
        })
        .collect();
    (rows, v["total"].clone())
}

fn requests_of(rows: &HashMap<String, Value>, group: &str) -> u64 {
    rows.get(group)
        .and_then(|r| r["requests"].as_u64())
        .unwrap_or(0)
}

#[test]
fn usage_keys_work_through_the_proxy_and_are_reported_by_owner_team_and_model() {
    let s = StackEnv::new("usage");
    s.up();
    // A benchmark session's traffic first: it must never show up in usage.
    let session = s.create_session("sim-profiles", "sim-fast-oai", &[]);
    let env: HashMap<&str, &str> = session
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let sent = traffic(
        env["OPENAI_BASE_URL"],
        session.key(),
        env["OPENAI_MODEL"],
        &["openai", "4"],
    );
    assert_eq!(sent["ok"], 4, "{sent}");
    let before = s.truth_last_seq();

    let bad = s.run(&[
        "--json",
        "key",
        "create",
        "--owner",
        "ana",
        "--models",
        "no-such-model",
    ]);
    assert_eq!(bad.status.code(), Some(1));
    let err: Value = serde_json::from_slice(&bad.stdout).expect("error JSON");
    assert_eq!(err["error"]["code"], "bad_field", "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("sim-fast"),
        "{err}"
    );

    let ana = create_key(
        &s,
        &[
            "--owner",
            "ana",
            "--team",
            "ml",
            "--models",
            "sim-fast",
            "--purpose",
            "notebooks",
        ],
    );
    let bo = create_key(&s, &["--owner", "bo", "--team", "ml", "--expires", "30"]);
    let cy = create_key(&s, &["--owner", "cy"]);
    assert!(
        ana.base_url.starts_with(&s.proxy_url()),
        "{} vs {}",
        ana.base_url,
        s.proxy_url()
    );
    // The value is only in the keychain: never in the data dir.
    for f in stackperf_e2e::files_under(s.data.path()) {
        let bytes = std::fs::read(&f).unwrap_or_default();
        assert!(
            !bytes
                .windows(ana.value.len())
                .any(|w| w == ana.value.as_bytes()),
            "{} holds a usage key",
            f.display()
        );
    }

    for (k, model, n) in [
        (&ana, "sim-fast", "8"),
        (&bo, "sim-slow", "4"),
        (&cy, "sim-fast", "4"),
    ] {
        let sent = traffic(&k.base_url, &k.value, model, &["openai", n]);
        assert_eq!(sent["ok"].to_string(), n, "{} {model}: {sent}", k.alias);
    }
    // Scope: ana's key may call only sim-fast.
    let scoped = traffic(&ana.base_url, &ana.value, "sim-slow", &["rejected"]);
    assert_eq!(scoped["status"], 403, "{scoped}");
    assert!(
        scoped["message"]
            .as_str()
            .unwrap_or("")
            .contains("sim-fast"),
        "{scoped}"
    );
    // Around the edge, straight to LiteLLM: refused (it would be timed wrongly).
    let direct = traffic(
        &format!("{}/v1", s.litellm_url()),
        &cy.value,
        "sim-fast",
        &["rejected"],
    );
    assert_eq!(direct["status"], 401, "{direct}");
    // Revoked: refused from the next request, with a reason.
    let revoked = s.json(&["key", "revoke", &ana.alias]);
    assert_eq!(revoked["revoked"], true);
    let refused = traffic(&ana.base_url, &ana.value, "sim-fast", &["rejected"]);
    assert_eq!(refused["status"], 401, "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap_or("")
            .contains("revoked"),
        "{refused}"
    );

    let rows = s.merged_requests();
    let usage_rows: Vec<&Value> = rows.iter().filter(|r| r["traffic"] == "usage").collect();
    assert_eq!(usage_rows.len(), 16, "only the accepted requests are rows");
    assert!(usage_rows.iter().all(|r| r["session_id"].is_null()));
    let session_rows = rows
        .iter()
        .filter(|r| r["session_id"] == session.id.as_str())
        .count();
    assert_eq!(
        session_rows, 4,
        "the session keeps exactly its own requests"
    );

    let (by_owner, total) = report(&s, "owner");
    assert_eq!(
        [("ana", 8), ("bo", 4), ("cy", 4)].map(|(g, _)| requests_of(&by_owner, g)),
        [8, 4, 4],
        "{by_owner:?}"
    );
    assert_eq!(
        total["requests"], 16,
        "the session's 4 requests are not usage"
    );
    assert_eq!(total["errors"], 0);
    // Tokens: what the simulator itself says it served to these 16 requests.
    let truth = s.truth_after(before);
    assert_eq!(
        truth.len(),
        16,
        "the refused requests never reached the upstream"
    );
    let sum = |f: &str| truth.iter().filter_map(|t| t[f].as_u64()).sum::<u64>();
    assert_eq!(
        total["output_tokens"].as_u64(),
        Some(sum("output_tokens")),
        "{total}"
    );
    assert_eq!(
        total["input_tokens"].as_u64(),
        Some(sum("input_tokens")),
        "{total}"
    );
    assert!(
        total["cost_usd"].as_f64().unwrap_or(0.0) > 0.0,
        "sim models have prices: {total}"
    );
    let p50 = total["latency_p50_ms"].as_f64().expect("latency p50");
    assert!(
        p50 > 0.0 && total["latency_p99_ms"].as_f64() >= Some(p50),
        "{total}"
    );

    let (by_team, _) = report(&s, "team");
    assert_eq!(
        (
            requests_of(&by_team, "ml"),
            requests_of(&by_team, "(no team)")
        ),
        (12, 4)
    );
    let (by_model, _) = report(&s, "model");
    assert_eq!(
        (
            requests_of(&by_model, "sim-fast"),
            requests_of(&by_model, "sim-slow")
        ),
        (12, 4)
    );
    let (by_key, _) = report(&s, "key");
    assert_eq!(requests_of(&by_key, &cy.alias), 4);

    let listed = s.json(&["key", "list"]);
    let state = |alias: &str| {
        listed
            .as_array()
            .expect("keys")
            .iter()
            .find(|k| k["alias"] == alias)
            .map(|k| k["state"].clone())
    };
    assert_eq!(state(&ana.alias), Some("revoked".into()));
    assert_eq!(state(&bo.alias), Some("active".into()));

    let out = s.run(&["usage", "export", "--by", "team", "--format", "csv"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = String::from_utf8_lossy(&out.stdout).to_string();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("team,requests,errors,"), "{csv}");
    assert_eq!(lines.len(), 4, "header, two teams, total: {csv}");
    assert!(lines[3].starts_with("total,16,0,"), "{csv}");
}
