//! The local query API (`stackperf serve`) over a real server on a free port: every endpoint, every
//! filter, paging, bad filters (400 naming the field), no or wrong token (401), the loopback rule,
//! and the served OpenAPI document equal to the committed one. No stack needed: sessions are
//! created and finalized through the CLI, requests come from spool lines through the real ingest.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Stdio};

use serde_json::Value;
use stackperf_e2e::{raw_request, workspace, StackEnv};

pub(crate) struct Server {
    child: Child,
    url: String,
    token: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub(crate) fn start(s: &StackEnv) -> Server {
        let mut child = s
            .cmd(&["--json", "serve", "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("serve");
        // `--json` prints the address as one (pretty) JSON object, then serves.
        let mut text = String::new();
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let v: Value = loop {
            text.push_str(
                &lines
                    .next()
                    .expect("serve printed its address")
                    .expect("line"),
            );
            if let Ok(v) = serde_json::from_str(&text) {
                break v;
            }
        };
        let token = s.json(&["api", "token"])["token"]
            .as_str()
            .expect("token")
            .to_string();
        Server {
            child,
            url: v["listening"].as_str().expect("url").to_string(),
            token,
        }
    }

    fn get_with(&self, path: &str, auth: Option<&str>) -> (u16, Value, String) {
        let header = auth.map(|a| ("Authorization", a));
        let r = raw_request("GET", &self.url, path, header.as_slice(), b"");
        let v = serde_json::from_str(&r.body).unwrap_or(Value::Null);
        (r.status, v, r.body)
    }

    pub(crate) fn get(&self, path: &str) -> (u16, Value) {
        let (s, v, _) = self.get_with(path, Some(&format!("Bearer {}", self.token)));
        (s, v)
    }

    /// The ids of the sessions a filter returns (checking the page is complete).
    pub(crate) fn ids(&self, query: &str) -> BTreeSet<String> {
        let (status, v) = self.get(&format!("/api/v1/sessions?{query}"));
        assert_eq!(status, 200, "{query}: {v}");
        assert_eq!(
            v["total"].as_u64(),
            v["items"].as_array().map(|a| a.len() as u64)
        );
        v["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|s| s["session_id"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

pub(crate) fn spool_line(call: &str, alias: &str) -> String {
    format!(
        r#"{{"v":1,"litellm_call_id":"{call}","status":"success","call_type":"acompletion","route":"/v1/chat/completions","stream":false,"start":1700000000.0,"end":1700000000.5,"model_group":"sim-fast","prompt_tokens":3,"completion_tokens":4,"key_alias":"{alias}"}}"#
    ) + "\n"
}

pub(crate) fn set(ids: &[&String]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

#[test]
fn the_api_serves_every_endpoint_and_filter_and_refuses_what_it_should() {
    let s = StackEnv::new("api");
    let create = |exp: &str, variant: &str, label: &str| {
        s.create_session(exp, variant, &["--label", label]).id
    };
    let fast = create("sim-profiles", "sim-fast-oai", "alpha one");
    let slow = create("sim-profiles", "sim-slow-oai", "beta");
    let codex = create("harness-shootout", "codex-sim-fast", "alpha two");
    let claude = create("real-providers", "claude-code-anthropic-sonnet", "gamma");
    let flaky = create("sim-profiles", "sim-flaky-oai", "delta");
    let alias = s.json(&["session", "show", &fast])["proxy_key_alias"]
        .as_str()
        .expect("alias")
        .to_string();
    let spool = s.data.path().join("capture/spool.jsonl");
    std::fs::create_dir_all(spool.parent().expect("dir")).expect("capture dir");
    let mut f = std::fs::File::create(&spool).expect("spool");
    for i in 0..3 {
        f.write_all(spool_line(&format!("api-{i}"), &alias).as_bytes())
            .expect("write");
    }
    // Usage keys' traffic (usage mode): 2 requests of ana (team ml), 1 of bo (no team).
    let usage_key = |args: &[&str]| {
        let mut full = vec!["key", "create"];
        full.extend_from_slice(args);
        let v = s.json(&full);
        (
            v["key"]["alias"].as_str().expect("alias").to_string(),
            v["value"].as_str().expect("value").to_string(),
        )
    };
    let (ana, ana_value) = usage_key(&["--owner", "ana", "--team", "ml"]);
    let (bo, _) = usage_key(&["--owner", "bo"]);
    for (i, a) in [&ana, &ana, &bo].iter().enumerate() {
        f.write_all(spool_line(&format!("usage-{i}"), a).as_bytes())
            .expect("write");
    }
    for (id, status) in [
        (&fast, "completed"),
        (&slow, "aborted"),
        (&codex, "completed"),
        (&flaky, "invalid"),
    ] {
        s.json(&["session", "finalize", id, "--status", status]);
    }
    let created = |id: &str| {
        s.json(&["session", "show", id])["created_at"]
            .as_f64()
            .expect("created_at")
    };

    let api = Server::start(&s);
    // No token, a wrong one, the wrong scheme: 401 everywhere, with what to do.
    for auth in [
        None,
        Some("Bearer nope"),
        Some(&*format!("Basic {}", api.token)),
    ] {
        for path in [
            "/api/v1/health",
            "/api/v1/sessions",
            "/api/v1/openapi.json",
            "/api/v1/nope",
        ] {
            let (status, v, _) = api.get_with(path, auth);
            assert_eq!(status, 401, "{path} with {auth:?}: {v}");
            assert_eq!(v["code"], "unauthorized");
        }
    }

    let (status, health) = api.get("/api/v1/health");
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));
    assert_eq!(health["sessions"], 5);
    let (_, exps) = api.get("/api/v1/experiments");
    assert!(exps
        .as_array()
        .expect("experiments")
        .iter()
        .any(|e| e["name"] == "sim-profiles"
            && e["variants"].as_array().is_some_and(|v| v.len() == 3)));
    let (_, vars) = api.get("/api/v1/variants?experiment=harness-shootout");
    let names: Vec<&str> = vars
        .as_array()
        .expect("variants")
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(names.len(), 5, "{vars}");
    assert!(vars
        .as_array()
        .expect("variants")
        .iter()
        .any(|v| v["name"] == "codex-sim-fast"
            && v["harness"] == "codex"
            && v["model"] == "sim-fast"));
    let (_, cards) = api.get("/api/v1/task-cards");
    assert!(cards
        .as_array()
        .expect("cards")
        .iter()
        .any(|c| c["name"] == "write-marker" && c["verify"].is_string()));

    // Every filter, against what this test created.
    let all = set(&[&fast, &slow, &codex, &claude, &flaky]);
    assert_eq!(api.ids(""), all);
    assert_eq!(
        api.ids("experiment=sim-profiles"),
        set(&[&fast, &slow, &flaky])
    );
    assert_eq!(api.ids("variant=sim-slow-oai"), set(&[&slow]));
    assert_eq!(api.ids("provider=anthropic"), set(&[&claude]));
    assert_eq!(api.ids("model=sim-fast"), set(&[&fast, &codex]));
    assert_eq!(api.ids("harness=codex"), set(&[&codex]));
    assert_eq!(api.ids("task_card=sample-traffic"), all);
    assert!(api.ids("task_card=write-marker").is_empty());
    assert_eq!(api.ids("status=completed"), set(&[&fast, &codex]));
    assert_eq!(api.ids("status=aborted"), set(&[&slow]));
    assert_eq!(api.ids("status=invalid"), set(&[&flaky]));
    assert_eq!(api.ids("status=active"), set(&[&claude]));
    assert_eq!(api.ids("label=alpha"), set(&[&fast, &codex]));
    // `since`/`until` filter on `created_at`, so the expected sets come from the sessions' own
    // times, not from the order they were created in (a machine's wall clock may step back
    // between two CLI processes). `t` goes through JSON and back: it must stay exact.
    let times: Vec<(String, f64)> = [&fast, &slow, &codex, &claude, &flaky]
        .iter()
        .map(|id| (id.to_string(), created(id)))
        .collect();
    let t = created(&codex);
    let at_or_after: BTreeSet<String> = times
        .iter()
        .filter(|(_, c)| *c >= t)
        .map(|(id, _)| id.clone())
        .collect();
    assert!(at_or_after.contains(&codex), "{times:?}");
    assert_eq!(api.ids(&format!("since={t}")), at_or_after, "{times:?}");
    assert_eq!(
        api.ids(&format!("until={t}")),
        all.difference(&at_or_after)
            .cloned()
            .collect::<BTreeSet<_>>(),
        "{times:?}"
    );
    assert_eq!(api.ids("since=2000-01-01T00:00:00Z"), all);
    assert!(api.ids("until=2000-01-01").is_empty());
    assert_eq!(
        api.ids("experiment=sim-profiles&status=completed&label=alpha"),
        set(&[&fast])
    );

    // Paging: newest first, every session once.
    let (_, p1) = api.get("/api/v1/sessions?limit=2");
    assert_eq!(
        (p1["total"].as_u64(), p1["next_offset"].as_u64()),
        (Some(5), Some(2))
    );
    let mut seen = Vec::new();
    let mut offset = Some(0);
    while let Some(o) = offset {
        let (_, p) = api.get(&format!("/api/v1/sessions?limit=2&offset={o}"));
        for it in p["items"].as_array().expect("items") {
            seen.push((
                it["created_at"].as_f64().unwrap_or(0.0),
                it["session_id"].as_str().unwrap_or("").to_string(),
            ));
        }
        offset = p["next_offset"].as_u64();
    }
    assert_eq!(seen.len(), 5);
    assert!(
        seen.windows(2).all(|w| w[0].0 >= w[1].0),
        "newest first: {seen:?}"
    );
    assert_eq!(
        seen.iter().map(|x| x.1.clone()).collect::<BTreeSet<_>>(),
        all
    );

    // Bad filters: 400 naming the field.
    for (q, field) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("offset=-1", "offset"),
        ("status=finished", "status"),
        ("since=yesterday", "since"),
        ("until=2026-13-01", "until"),
        ("colour=red", "colour"),
        ("experiment=a&experiment=b", "experiment"),
        ("label=", "label"),
        ("since=2026-11-28&until=2026-11-27", "until"),
    ] {
        let (status, v) = api.get(&format!("/api/v1/sessions?{q}"));
        assert_eq!(
            (status, v["field"].as_str()),
            (400, Some(field)),
            "{q}: {v}"
        );
        assert_eq!(v["code"], "bad_field");
    }

    // One session with its requests; an unknown one is 404.
    let (status, detail) = api.get(&format!("/api/v1/sessions/{fast}"));
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["session"]["status"], "completed");
    assert_eq!(
        detail["requests"].as_array().map(Vec::len),
        Some(3),
        "{detail}"
    );
    // No stack ran: nothing lost to the edge, nothing to say.
    assert_eq!(detail["edge"]["lost_requests"], 0, "{detail}");
    assert!(detail["edge"]["summary"].is_null(), "{detail}");
    let (status, v) = api.get("/api/v1/sessions/sess_nope");
    assert_eq!((status, v["code"].as_str()), (404, Some("not_found")));

    // Comparisons: by variant of one experiment, and pooled by harness / provider / model.
    let (status, cmp) = api.get("/api/v1/comparisons/sim-profiles");
    assert_eq!(status, 200, "{cmp}");
    let variants: Vec<&str> = cmp["variants"]
        .as_array()
        .expect("variants")
        .iter()
        .filter_map(|v| v["variant"].as_str())
        .collect();
    assert_eq!(variants, ["sim-fast-oai", "sim-slow-oai", "sim-flaky-oai"]);
    assert_eq!(cmp["variants"][0]["sessions"], 1);
    let (status, v) = api.get("/api/v1/comparisons/no-such-experiment");
    assert_eq!(
        (status, v["code"].as_str()),
        (404, Some("not_found")),
        "{v}"
    );
    let (status, by) = api.get("/api/v1/comparisons?by=harness");
    assert_eq!(
        (status, by["group_by"].as_str()),
        (200, Some("harness")),
        "{by}"
    );
    let groups: BTreeSet<&str> = by["variants"]
        .as_array()
        .expect("groups")
        .iter()
        .filter_map(|v| v["variant"].as_str())
        .collect();
    assert_eq!(
        groups,
        BTreeSet::from(["claude-code", "codex", "openai-compatible"])
    );
    let (_, by) =
        api.get("/api/v1/comparisons?by=model&experiment=sim-profiles&experiment=harness-shootout");
    let fast_group = by["variants"]
        .as_array()
        .expect("groups")
        .iter()
        .find(|g| g["variant"] == "sim-fast")
        .cloned()
        .unwrap_or_default();
    // The codex session has no requests: left out (and said why); the other sim-fast one counts.
    assert_eq!(fast_group["sessions"], 1, "{}", fast_group["sessions"]);
    assert!(by["excluded"]
        .as_array()
        .expect("excluded")
        .iter()
        .any(|x| x["session_id"] == codex.as_str()
            && x["excluded"]
                .as_str()
                .is_some_and(|w| w.contains("no requests"))));
    assert_eq!(by["experiment"], "sim-profiles, harness-shootout");
    for (q, field) in [
        ("", "by"),
        ("by=colour", "by"),
        ("by=harness&experiment=nope", "experiment"),
    ] {
        let (status, v) = api.get(&format!("/api/v1/comparisons?{q}"));
        let want = if field == "experiment" { 404 } else { 400 };
        assert_eq!(status, want, "{q}: {v}");
        if want == 400 {
            assert_eq!(v["field"], field, "{q}: {v}");
        }
    }

    // Exports as downloads.
    let auth = format!("Bearer {}", api.token);
    let h = [("Authorization", auth.as_str())];
    let r = raw_request(
        "GET",
        &api.url,
        "/api/v1/exports/sessions?format=csv",
        &h,
        b"",
    );
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/csv")));
    assert!(r
        .header("content-disposition")
        .is_some_and(|c| c.contains("stackperf-sessions.csv")));
    assert_eq!(
        r.body.lines().count(),
        6,
        "header + 5 sessions:\n{}",
        r.body
    );
    let r = raw_request(
        "GET",
        &api.url,
        &format!("/api/v1/exports/requests?format=json&session={fast}"),
        &h,
        b"",
    );
    let rows: Value = serde_json::from_str(&r.body).expect("json export");
    assert_eq!(rows.as_array().map(Vec::len), Some(3), "{rows}");
    let r = raw_request(
        "GET",
        &api.url,
        "/api/v1/exports/requests?format=parquet",
        &h,
        b"",
    );
    assert_eq!(r.status, 200);
    assert!(
        r.body.starts_with("PAR1") && r.body.ends_with("PAR1"),
        "a Parquet file"
    );
    let r = raw_request(
        "GET",
        &api.url,
        "/api/v1/exports/comparison?format=csv&experiment=sim-profiles",
        &h,
        b"",
    );
    assert!(
        r.status == 200 && r.body.contains("sim-fast-oai"),
        "{}",
        r.body
    );
    for (q, field) in [
        ("sessions?format=pdf", "format"),
        ("nope", "what"),
        ("sessions?path=/etc/passwd", "path"),
    ] {
        let (status, v) = api.get(&format!("/api/v1/exports/{q}"));
        assert_eq!(
            (status, v["field"].as_str()),
            (400, Some(field)),
            "{q}: {v}"
        );
    }

    // Usage: its own report (never the sessions' requests) and the keys without their values.
    let day = "since=2023-11-14&until=2023-11-14";
    let (status, u) = api.get(&format!("/api/v1/usage?by=team&{day}"));
    assert_eq!(status, 200, "{u}");
    let groups: Vec<(String, u64)> = u["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["group"].as_str().unwrap_or("").to_string(),
                r["requests"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        groups,
        [("ml".to_string(), 2), ("(no team)".to_string(), 1)],
        "{u}"
    );
    assert_eq!(u["total"]["output_tokens"], 12);
    let (_, u) = api.get(&format!("/api/v1/usage?by=key&owner=ana&{day}"));
    assert_eq!(u["rows"][0]["group"], ana.as_str());
    assert_eq!(u["total"]["requests"], 2);
    let (status, keys) = api.get("/api/v1/usage/keys");
    assert_eq!(status, 200);
    assert_eq!(keys.as_array().map(Vec::len), Some(2));
    assert!(
        !keys.to_string().contains(&ana_value),
        "a key value in /usage/keys"
    );
    for (q, field) in [
        ("by=week", "by"),
        ("since=yesterday", "since"),
        ("colour=red", "colour"),
        ("owner=a&owner=b", "owner"),
    ] {
        let (status, v) = api.get(&format!("/api/v1/usage?{q}"));
        assert_eq!(
            (status, v["field"].as_str()),
            (400, Some(field)),
            "{q}: {v}"
        );
    }

    // The served document is the committed one (the drift test checks it against the types).
    let (_, doc) = api.get("/api/v1/openapi.json");
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(workspace().join("docs/openapi.json")).expect("docs/openapi.json"),
    )
    .expect("openapi json");
    assert_eq!(doc, committed);
    drop(api);

    // A rotated token: the old one stops working once the server restarts with the new one.
    let old = s.json(&["api", "token"])["token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let rotated = s.json(&["api", "token", "--rotate"])["token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_ne!(old, rotated);
    let api = Server::start(&s);
    assert_eq!(api.token, rotated);
    assert_eq!(
        api.get_with("/api/v1/health", Some(&format!("Bearer {old}")))
            .0,
        401
    );
    assert_eq!(api.get("/api/v1/health").0, 200);
}

#[test]
fn a_non_loopback_bind_is_refused_unless_opted_in() {
    let s = StackEnv::new("api-bind");
    let o = s.run(&["serve", "--bind", "0.0.0.0", "--port", "0"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("not a loopback address") && err.contains("--allow-remote"),
        "{err}"
    );
    let mut child = s
        .cmd(&[
            "--json",
            "serve",
            "--bind",
            "0.0.0.0",
            "--port",
            "0",
            "--allow-remote",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("serve");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("line");
    let _ = child.kill();
    let _ = child.wait();
    assert!(first.starts_with('{'), "it started: {first}");
}
