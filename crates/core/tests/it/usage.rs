//! Usage mode through the service layer: keys (hash-only registry, value in the keychain only),
//! attribution of captured requests to usage keys, rollups kept current across merged lines,
//! and reports whose figures the test computes itself from the lines it wrote.

use stackperf_core::timestamp::Timestamp;
use std::io::Write;

use stackperf_core::usage::{day_of, KeyState, NewUsageKey, UsageBy, UsageFilter};
use stackperf_core::{Error, ErrorCode};

use crate::common::app;

fn key(owner: &str, team: Option<&str>) -> NewUsageKey {
    NewUsageKey {
        owner: owner.into(),
        team: team.map(Into::into),
        ..NewUsageKey::default()
    }
}

/// A LiteLLM capture line (traffic straight to LiteLLM: the whole row).
fn litellm_line(
    id: &str,
    alias: &str,
    start: f64,
    latency_s: f64,
    ok: bool,
    tokens: (u32, u32),
    cost: f64,
) -> String {
    format!(
        r#"{{"v":1,"litellm_call_id":"{id}","status":"{st}","call_type":"acompletion","route":"/v1/chat/completions","stream":false,"start":{start},"end":{end},"model_group":"m","custom_llm_provider":"openai","prompt_tokens":{i},"completion_tokens":{o},"key_alias":"{alias}","error_code":{ec},"cost":{cost}}}"#,
        st = if ok { "success" } else { "failure" },
        end = start + latency_s,
        i = tokens.0,
        o = tokens.1,
        ec = if ok { "null" } else { "\"500\"" },
    )
}

fn append(path: &std::path::Path, lines: &[String]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
}

#[tokio::test]
async fn keys_keep_only_hashes_and_bad_requests_name_their_field() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path()).await;
    for (req, field) in [
        (key("  ", None), "owner"),
        (
            NewUsageKey {
                models: Some(vec!["nope".into()]),
                ..key("ana", None)
            },
            "models",
        ),
        (
            NewUsageKey {
                expires_days: Some(-1.0),
                ..key("ana", None)
            },
            "expires",
        ),
        (
            NewUsageKey {
                expires_days: Some(f64::NAN),
                ..key("ana", None)
            },
            "expires",
        ),
        (key("ana\u{1b}[31m", None), "owner"),
    ] {
        match app.usage_key_create(&req).await {
            Err(Error::BadField { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{req:?}: {other:?}"),
        }
    }
    assert!(
        app.usage_keys().await.unwrap().is_empty(),
        "nothing half-created"
    );

    let (a, secret) = app
        .usage_key_create(&NewUsageKey {
            purpose: Some("notebooks".into()),
            models: Some(vec!["m".into()]),
            expires_days: Some(30.0),
            ..key("Ana Lopez", Some("ml"))
        })
        .await
        .unwrap();
    assert!(
        a.key.alias.starts_with("stackperf-key-ana-lopez-"),
        "{}",
        a.key.alias
    );
    assert!(a.base_url.ends_with("/v1"));
    assert_eq!(a.key.models.as_deref(), Some(&["m".to_string()][..]));
    let value = secret.expose().to_string();
    assert!(value.len() > 40);
    // The value is in the keychain and nowhere on disk.
    assert_eq!(
        app.usage_key_secret(&a.key.alias).await.unwrap().expose(),
        value
    );
    let registry = std::fs::read_to_string(dir.path().join("data/keys/registry.json")).unwrap();
    assert!(registry.contains(&a.key.alias) && !registry.contains(&value));
    assert!(registry.contains("\"kind\": \"usage\""), "{registry}");
    let db = std::fs::read(dir.path().join("data/stackperf.sqlite")).unwrap();
    let wal = std::fs::read(dir.path().join("data/stackperf.sqlite-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        assert!(
            !bytes.windows(value.len()).any(|w| w == value.as_bytes()),
            "the key value reached the database"
        );
    }

    let (b, _) = app.usage_key_create(&key("bo", None)).await.unwrap();
    assert_eq!(b.key.models, None, "no --models: every model");
    let listed = app.usage_keys().await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|k| k.state == KeyState::Active));

    assert!(app.usage_key_revoke(&a.key.alias).await.unwrap());
    assert!(
        !app.usage_key_revoke(&a.key.alias).await.unwrap(),
        "twice: nothing more"
    );
    let listed = app.usage_keys().await.unwrap();
    let revoked = listed.iter().find(|k| k.alias == a.key.alias).unwrap();
    assert_eq!(revoked.state, KeyState::Revoked);
    let registry = std::fs::read_to_string(dir.path().join("data/keys/registry.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&registry).unwrap();
    let entry = v["keys"]
        .as_object()
        .unwrap()
        .values()
        .find(|e| e["alias"] == a.key.alias.as_str())
        .unwrap();
    assert_eq!(entry["revoked"], true);
    assert!(
        app.usage_key_secret(&a.key.alias).await.is_err(),
        "a revoked key's value is gone"
    );
    let missing = app
        .usage_key_revoke("stackperf-key-nobody-00000000")
        .await
        .unwrap_err();
    assert_eq!(missing.code(), ErrorCode::NotFound);
}

#[tokio::test]
async fn usage_traffic_is_reported_by_owner_team_model_and_day_and_never_mixes_with_sessions() {
    let top = tempfile::tempdir().unwrap();
    for db in crate::common::backends(top.path(), "usage") {
        let dir = tempfile::tempdir().unwrap();
        let db = if crate::common::is_file(&db) {
            dir.path().join("data/stackperf.sqlite")
        } else {
            db
        };
        let app = crate::common::app_on(dir.path(), &db).await;
        let (a, _) = app.usage_key_create(&key("ana", Some("ml"))).await.unwrap();
        let (b, _) = app.usage_key_create(&key("bo", Some("ml"))).await.unwrap();
        let (c, _) = app.usage_key_create(&key("cy", None)).await.unwrap();
        let spool = dir.path().join("data/capture/spool.jsonl");
        let now_s = Timestamp::now().secs();
        let today = (now_s / 86_400.0).floor() * 86_400.0;
        // (alias, seconds into the day, day offset, latency s, ok, tokens, cost)
        let mut lines = Vec::new();
        let mut want: std::collections::HashMap<&str, (u64, u64, u64, f64, Vec<f64>)> =
            Default::default();
        for i in 0..300u32 {
            let (alias, owner) = match i % 3 {
                0 => (&a.key.alias, "ana"),
                1 => (&b.key.alias, "bo"),
                _ => (&c.key.alias, "cy"),
            };
            let day = -f64::from(i % 4); // today and the three days before
            let start = today + day * 86_400.0 + 60.0 + f64::from(i);
            let latency = 0.05 + f64::from(i * 37 % 101) / 100.0;
            let ok = i % 10 != 0;
            let tokens = (100 + i, 10 + i % 7);
            lines.push(litellm_line(
                &format!("u{i}"),
                alias,
                start,
                latency,
                ok,
                tokens,
                0.001,
            ));
            let w = want.entry(owner).or_default();
            w.0 += 1;
            w.1 += u64::from(!ok);
            w.2 += u64::from(tokens.0);
            w.3 += 0.001;
            w.4.push(latency * 1000.0);
        }
        // A session's and an unknown key's traffic: never in a usage report.
        lines.push(litellm_line(
            "s1",
            "stackperf-some-session",
            today + 10.0,
            0.2,
            true,
            (5, 5),
            0.5,
        ));
        lines.push(litellm_line(
            "x1",
            "someone-else",
            today + 11.0,
            0.2,
            true,
            (5, 5),
            0.5,
        ));
        append(&spool, &lines);

        let f = UsageFilter::default();
        let r = app.usage_report(UsageBy::Owner, &f).await.unwrap();
        assert_eq!(r.total.requests, 300, "only usage traffic");
        for row in &r.rows {
            let w = &want[row.group.as_str()];
            assert_eq!(
                (row.requests, row.errors, row.input_tokens),
                (w.0, w.1, w.2),
                "{}",
                row.group
            );
            assert!((row.cost_usd.unwrap() - w.3).abs() < 1e-9);
            let mut v = w.4.clone();
            v.sort_by(f64::total_cmp);
            for (p, got) in [
                (0.5, row.latency_p50_ms),
                (0.95, row.latency_p95_ms),
                (0.99, row.latency_p99_ms),
            ] {
                let exact = v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
                assert!(
                    (got.unwrap() / exact - 1.0).abs() <= 0.0101,
                    "{} p{p}: {got:?} vs {exact}",
                    row.group
                );
            }
        }
        let team = app.usage_report(UsageBy::Team, &f).await.unwrap();
        let groups: Vec<(&str, u64)> = team
            .rows
            .iter()
            .map(|r| (r.group.as_str(), r.requests))
            .collect();
        assert_eq!(groups, [("ml", 200), ("(no team)", 100)]);
        let days = app.usage_report(UsageBy::Day, &f).await.unwrap();
        assert_eq!(days.rows.len(), 4);
        assert!(days.rows.iter().all(|r| r.requests == 75));
        let only_today = UsageFilter {
            since_day: Some(day_of(Timestamp::from_secs(today))),
            owner: Some("ana".into()),
            ..UsageFilter::default()
        };
        let r = app.usage_report(UsageBy::Model, &only_today).await.unwrap();
        assert_eq!(
            (r.rows.len(), r.rows[0].group.as_str(), r.total.requests),
            (1, "m", 25)
        );
        let bad = UsageFilter {
            since_day: Some(10),
            until_day: Some(5),
            ..UsageFilter::default()
        };
        assert_eq!(
            app.usage_report(UsageBy::Key, &bad)
                .await
                .unwrap_err()
                .code(),
            ErrorCode::BadField
        );

        // A later line of today for ana: the day's rollup follows, the other days stay.
        append(
            &spool,
            &[litellm_line(
                "late",
                &a.key.alias,
                today + 5.0,
                0.1,
                true,
                (1000, 1),
                0.0,
            )],
        );
        let r = app.usage_report(UsageBy::Owner, &f).await.unwrap();
        assert_eq!(r.total.requests, 301);
        assert_eq!(
            r.rows
                .iter()
                .find(|x| x.group == "ana")
                .unwrap()
                .input_tokens,
            want["ana"].2 + 1000
        );
        // Usage rows belong to no session; the other two lines are not usage.
        let store = stackperf_core::store::Store::open(&app.paths.db_path)
            .await
            .unwrap();
        let sql = "SELECT traffic, count(*), count(session_id) FROM requests GROUP BY traffic ORDER BY traffic";
        let counts: Vec<(String, i64, i64)> =
            crate::common::on_store!(store, |p| sqlx::query_as(sql).fetch_all(p).await).unwrap();
        assert_eq!(
            counts,
            [("unattributed".into(), 2, 0), ("usage".into(), 301, 0)]
        );
    }
}
