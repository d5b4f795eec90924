//! Moving in: `stackperf db copy --to postgres://…` copies an SQLite store with sessions,
//! requests and rollups; a second copy adds nothing; the comparison read from PostgreSQL is the
//! one read from SQLite.

use serde_json::Value;
use stackperf_e2e::StackEnv;
use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;

/// `db copy` into `url`, killed (SIGKILL) while a transaction of the test's holds `requests`
/// locked: every table before `requests` has been copied and said so.
fn killed_at_requests(s: &StackEnv, pg: &stackperf_testpg::Server, url: &str) {
    // The target's schema first (any command that opens the store makes it).
    s.json(&["--db", url, "db", "machines"]);
    let mut psql = pg
        .psql(url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("psql");
    let mut sql = psql.stdin.take().expect("stdin");
    sql.write_all(b"BEGIN;\nLOCK TABLE requests IN ACCESS EXCLUSIVE MODE;\nSELECT 'locked';\n")
        .expect("lock");
    let mut out = BufReader::new(psql.stdout.take().expect("stdout"));
    let mut line = String::new();
    while !line.contains("locked") {
        line.clear();
        assert!(out.read_line(&mut line).expect("psql") > 0, "psql ended");
    }
    let mut copy = s
        .cmd(&["db", "copy", "--to", url])
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Should the copy stop anywhere else (at the open, say), the test fails instead of hanging.
    let (finished, watch) = std::sync::mpsc::channel::<()>();
    let pid = copy.id().to_string();
    let watchdog = std::thread::spawn(move || {
        if watch
            .recv_timeout(std::time::Duration::from_secs(120))
            .is_err()
        {
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid])
                .status();
        }
    });
    let progress = BufReader::new(copy.stderr.take().expect("stderr"));
    let mut seen = Vec::new();
    for l in progress.lines() {
        let l = l.expect("line");
        let done = l.trim_start().starts_with("run_items");
        seen.push(l);
        if done {
            break;
        }
    }
    let _ = finished.send(());
    watchdog.join().expect("watchdog");
    assert!(
        seen.iter().any(|l| l.trim_start().starts_with("run_items")),
        "{seen:?}"
    );
    copy.kill().expect("kill");
    assert!(!copy.wait().expect("wait").success());
    // Its statement held at the lock would still run once the lock is gone (the server does not
    // notice a dead client while it waits): end it, as the copy's death would have, then let go.
    sql.write_all(
        b"SELECT count(pg_terminate_backend(pid, 10000)) FROM pg_stat_activity \
          WHERE datname = current_database() AND pid <> pg_backend_pid();\nROLLBACK;\n",
    )
    .expect("rollback");
    drop(sql);
    assert!(psql.wait().expect("psql").success());
}

/// A streamed request of the session with key `alias`, taking `ms` to its first token.
fn spool_line(call: &str, alias: &str, start: f64, ms: f64) -> String {
    format!(
        r#"{{"v":1,"litellm_call_id":"{call}","status":"success","call_type":"acompletion","route":"/v1/chat/completions","stream":true,"start":{start},"first_delta":{d},"end":{e},"model_group":"sim-fast","prompt_tokens":3,"completion_tokens":40,"key_alias":"{alias}"}}"#,
        d = start + ms / 1000.0,
        e = start + ms / 1000.0 + 0.4,
    ) + "\n"
}

/// `report compare` without its time of writing.
fn compare(s: &StackEnv, db: Option<&str>) -> Value {
    let mut args = vec![];
    if let Some(db) = db {
        args.extend(["--db", db]);
    }
    args.extend(["report", "compare", "--experiment", "sim-profiles"]);
    let mut v = s.json(&args);
    v.as_object_mut().expect("object").remove("generated_at");
    v
}

fn tables(v: &Value) -> Vec<(String, u64, u64, u64)> {
    v["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .map(|t| {
            let n = |k: &str| t[k].as_u64().expect("count");
            (
                t["table"].as_str().expect("table").to_string(),
                n("source"),
                n("copied"),
                n("already"),
            )
        })
        .collect()
}

#[test]
fn an_sqlite_store_copied_to_postgresql_compares_the_same_and_copies_once() {
    let s = StackEnv::new("db-copy");
    let spool = s.data.path().join("capture/spool.jsonl");
    std::fs::create_dir_all(spool.parent().expect("dir")).expect("capture dir");
    let mut f = std::fs::File::create(&spool).expect("spool");
    let mut ids = Vec::new();
    for (v, variant) in ["sim-fast-oai", "sim-slow-oai"].iter().enumerate() {
        for k in 0..3 {
            let id = s.create_session("sim-profiles", variant, &[]).id;
            let alias = s.json(&["session", "show", &id])["proxy_key_alias"]
                .as_str()
                .expect("alias")
                .to_string();
            for r in 0..4 {
                let ms = 100.0 * (v as f64 + 1.0) + 7.0 * f64::from(k * 4 + r);
                let start = 1.7e9 + f64::from(k * 10 + r);
                let line = spool_line(&format!("copy-{variant}-{k}-{r}"), &alias, start, ms);
                f.write_all(line.as_bytes()).expect("write");
            }
            ids.push(id);
        }
    }
    for id in &ids {
        s.json(&["session", "finalize", id, "--status", "completed"]);
    }
    s.json(&["rollup"]);
    let from_sqlite = compare(&s, None);
    assert_eq!(
        from_sqlite["variants"].as_array().map(Vec::len),
        Some(3),
        "{from_sqlite}"
    );

    let pg = stackperf_testpg::server().expect("PostgreSQL");
    let url = pg.fresh_database("db_copy").expect("database");
    // A copy killed half-way (held at `requests` by a lock of the test's, after every table
    // before it), then the copy again: it completes what the first left.
    killed_at_requests(&s, pg, &url);
    let first = s.json(&["db", "copy", "--to", &url]);
    assert!(
        !first.to_string().contains(stackperf_testpg::PASSWORD),
        "the password is never shown: {first}"
    );
    let t = tables(&first);
    let row = |name: &str| t.iter().find(|r| r.0 == name).cloned().expect(name);
    assert_eq!(row("sessions"), ("sessions".into(), 6, 0, 6));
    assert_eq!(row("requests"), ("requests".into(), 24, 24, 0));
    assert!(t.iter().all(|r| r.2 + r.3 == r.1), "{t:?}");
    // Again: nothing new, everything already there.
    let again = tables(&s.json(&["db", "copy", "--to", &url]));
    assert!(
        again.iter().all(|r| r.2 == 0 && r.3 == r.1),
        "a second copy adds nothing: {again:?}"
    );
    let from_pg = compare(&s, Some(&url));
    assert_eq!(from_pg, from_sqlite);
    // The copy's machine and sessions arrived with it.
    let machines = s.json(&["--db", &url, "db", "machines"]);
    assert_eq!(machines[0]["sessions"], 6, "{machines}");
    assert_eq!(machines[0]["requests"], 24, "{machines}");
    // Two copies at once into another store: one copies, or each in turn; never twice, never
    // an error but "another copy is running".
    let url2 = pg.fresh_database("db_copy_twice").expect("database");
    let copies: Vec<_> = (0..2)
        .map(|_| {
            s.cmd(&["--json", "db", "copy", "--to", &url2])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    let mut copied = 0;
    for c in copies {
        let o = c.wait_with_output().expect("wait");
        let err = String::from_utf8_lossy(&o.stderr);
        if o.status.success() {
            let t = tables(&serde_json::from_slice(&o.stdout).expect("json"));
            copied += t.iter().map(|r| r.2).sum::<u64>();
        } else {
            assert!(err.contains("another `stackperf db copy`"), "{err}");
        }
    }
    let total: u64 = tables(&first).iter().map(|r| r.1).sum();
    assert_eq!(copied, total, "every row copied exactly once");
    assert_eq!(compare(&s, Some(&url2)), from_sqlite);
    // A wrong password: refused, the password not shown.
    let wrong = url.replace(stackperf_testpg::PASSWORD, "not-the-password-42");
    let o = s
        .cmd(&["db", "copy", "--to", &wrong])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("password"), "{err}");
    assert!(!err.contains("not-the-password-42"), "{err}");
    // Into a file: refused with what to do.
    let o = s
        .cmd(&["db", "copy", "--to", "/tmp/elsewhere.sqlite"])
        .output()
        .expect("run");
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--to postgres://"));
}
