//! What a hostile tester fed the CLI (issue 11): huge and control-character labels, a spool with
//! bytes that are not UTF-8 and a huge line, formulas in CSV cells. No stack needed: sessions are
//! created (keychain + key registry) and captured lines are written to the spool by hand.

use std::io::{BufRead, Write};

use serde_json::Value;
use stackperf_e2e::StackEnv;

fn code(o: &std::process::Output) -> Option<i32> {
    o.status.code()
}

fn err(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn spool_line(call: &str, alias: &str, model: &str) -> String {
    format!(
        r#"{{"v":1,"litellm_call_id":"{call}","status":"success","call_type":"acompletion","route":"/v1/chat/completions","stream":false,"start":1700000000.0,"end":1700000000.5,"model_group":"{model}","prompt_tokens":3,"completion_tokens":4,"key_alias":"{alias}"}}"#
    ) + "\n"
}

#[test]
fn free_text_is_bounded_at_input_and_printed_safely() {
    let s = StackEnv::new("hostile-text");
    let huge = "x".repeat(65_536);
    let o = s.run(&[
        "session",
        "create",
        "--experiment",
        "sim-profiles",
        "--variant",
        "sim-fast-oai",
        "--task-card",
        "sample-traffic",
        "--label",
        &huge,
    ]);
    assert_eq!(code(&o), Some(1), "{}", err(&o));
    assert!(
        err(&o).contains("the label is 65536 characters long; at most 200"),
        "{}",
        err(&o)
    );

    // Escapes and newlines are accepted, kept exactly in JSON, and never reach a terminal raw.
    let evil = "\u{1b}[2J\u{1b}[31mred\nsecond line\u{7}";
    let sess = s.create_session("sim-profiles", "sim-fast-oai", &["--label", evil]);
    let list = s.run(&["session", "list"]);
    assert_eq!(code(&list), Some(0), "{}", err(&list));
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(text.contains(&sess.id), "{text}");
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}') && text.lines().count() == 2,
        "control characters reached the terminal: {text:?}"
    );
    let json = s.json(&["session", "show", &sess.id]);
    assert_eq!(json["operator_label"], evil);
    let show = s.run(&["session", "show", &sess.id]);
    assert!(!String::from_utf8_lossy(&show.stdout).contains('\u{1b}'));

    let long_notes = "n".repeat(20_001);
    let o = s.run(&[
        "session",
        "finalize",
        &sess.id,
        "--status",
        "completed",
        "--notes",
        &long_notes,
    ]);
    assert_eq!(code(&o), Some(1), "{}", err(&o));
    assert!(
        err(&o).contains("the notes is 20001 characters long"),
        "{}",
        err(&o)
    );
    // Refused before anything changed: the session is still active.
    assert_eq!(s.json(&["session", "show", &sess.id])["status"], "active");
}

#[test]
fn a_spool_with_broken_bytes_is_skipped_with_its_offset_and_finalize_still_revokes() {
    let s = StackEnv::new("hostile-spool");
    let sess = s.create_session("sim-profiles", "sim-fast-oai", &[]);
    let alias = s.json(&["session", "show", &sess.id])["proxy_key_alias"]
        .as_str()
        .expect("alias")
        .to_string();
    let spool = s.data.path().join("capture/spool.jsonl");
    std::fs::create_dir_all(spool.parent().expect("dir")).expect("capture dir");
    let mut f = std::fs::File::create(&spool).expect("spool");
    let first = spool_line("ok-1", &alias, "sim-fast");
    f.write_all(first.as_bytes()).expect("write");
    // One byte of invalid UTF-8, then a 17 MiB line, then a good line.
    f.write_all(b"{\"v\":1,\"bad\":\"\xff\"}\n").expect("write");
    f.write_all(&vec![b'a'; 17 << 20]).expect("write");
    f.write_all(b"\n").expect("write");
    f.write_all(spool_line("ok-2", &alias, "=HYPERLINK(1)").as_bytes())
        .expect("write");
    drop(f);

    let done = s.json(&["session", "finalize", &sess.id, "--status", "completed"]);
    assert_eq!(done["session"]["status"], "completed", "{done}");
    assert_eq!(done["collected"]["malformed"], 2, "{done}");
    assert_eq!(
        done["collected"]["first_malformed_at"],
        first.len() as u64,
        "{done}"
    );
    assert_eq!(done["session"]["request_count"], 2, "{done}");
    // One session in full, with its requests (no export needed).
    let show = s.json(&["session", "show", &sess.id]);
    let reqs = show["requests"].as_array().expect("requests");
    assert_eq!(reqs.len(), 2, "{show}");
    assert_eq!(reqs[0]["protocol_surface"], "openai_chat", "{show}");
    assert_eq!(
        (
            reqs[0]["input_tokens"].as_i64(),
            reqs[0]["output_tokens"].as_i64()
        ),
        (Some(3), Some(4))
    );
    let human = s.run(&["session", "show", &sess.id]);
    assert!(String::from_utf8_lossy(&human.stdout).contains("IN/OUT TOKENS"));
    // The key is revoked in the registry the proxy reads.
    let registry: Value = serde_json::from_str(
        &std::fs::read_to_string(s.data.path().join("keys/registry.json")).expect("registry"),
    )
    .expect("registry json");
    let revoked = registry.to_string();
    assert!(
        revoked.contains(&alias) && revoked.contains("\"revoked\":true"),
        "{revoked}"
    );

    // The model name a harness chose cannot become a spreadsheet formula.
    let csv = s.run(&["export", "requests", "--format", "csv"]);
    assert_eq!(code(&csv), Some(0), "{}", err(&csv));
    let text = String::from_utf8_lossy(&csv.stdout);
    assert!(
        text.contains("'=HYPERLINK") && !text.contains(",=HYPERLINK"),
        "{text}"
    );
    // The human count is rows, not lines.
    let out = s.data.path().join("sessions.json");
    let o = s.run(&[
        "export",
        "sessions",
        "--format",
        "json",
        "--out",
        out.to_str().expect("utf8"),
    ]);
    assert!(err(&o).contains("(1 rows)"), "{}", err(&o));
}

#[test]
fn a_bad_database_path_says_what_is_wrong_with_it() {
    let s = StackEnv::new("hostile-db");
    let dir = s.data.path();
    // A typo in --db is an error, not a fresh empty database somewhere new.
    let typo = dir.join("no/such/dir/x.sqlite");
    let o = s.run(&["--db", typo.to_str().expect("utf8"), "session", "list"]);
    assert_eq!(code(&o), Some(1), "{}", err(&o));
    assert!(err(&o).contains("does not exist"), "{}", err(&o));
    assert!(!dir.join("no").exists(), "nothing was created");

    // A file that is not a database.
    let junk = dir.join("junk.sqlite");
    std::fs::write(&junk, vec![0x5a_u8; 8192]).expect("junk");
    let o = s.run(&[
        "--json",
        "--db",
        junk.to_str().expect("utf8"),
        "session",
        "list",
    ]);
    assert_eq!(code(&o), Some(1), "{}", err(&o));
    let v: Value = serde_json::from_slice(&o.stdout).expect("json error");
    assert_eq!(v["error"]["code"], "database_corrupt", "{v}");
    assert!(err(&o).contains("not a StackPerf database"), "{}", err(&o));

    // A database a newer StackPerf migrated.
    let newer = dir.join("newer.sqlite");
    let o = s.run(&["--db", newer.to_str().expect("utf8"), "db", "migrate"]);
    assert_eq!(code(&o), Some(0), "{}", err(&o));
    let status = std::process::Command::new("python3")
        .arg("-c")
        .arg("import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (99990101000000, 'from the future', 1, x'00', 0)\"); c.commit()")
        .arg(&newer)
        .status()
        .expect("python3");
    assert!(status.success());
    let o = s.run(&[
        "--json",
        "--db",
        newer.to_str().expect("utf8"),
        "session",
        "list",
    ]);
    assert_eq!(code(&o), Some(1), "{}", err(&o));
    let v: Value = serde_json::from_slice(&o.stdout).expect("json error");
    assert_eq!(v["error"]["code"], "database_newer", "{v}");
    assert!(
        err(&o).contains("newer StackPerf (it has migration 99990101000000"),
        "{}",
        err(&o)
    );
}

#[test]
fn an_expired_session_says_so_and_prints_no_dead_key() {
    let s = StackEnv::new("hostile-expired");
    let sess = s.create_session("sim-profiles", "sim-fast-oai", &[]);
    let db = s.data.path().join("stackperf.sqlite");
    let status = std::process::Command::new("python3")
        .arg("-c")
        .arg("import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('UPDATE sessions SET key_expires_at = 1000 WHERE session_id = ?', (sys.argv[2],)); c.commit()")
        .arg(&db)
        .arg(&sess.id)
        .status()
        .expect("python3");
    assert!(status.success());
    assert_eq!(s.json(&["session", "show", &sess.id])["status"], "expired");
    let o = s.run(&["--json", "session", "env", &sess.id]);
    assert_eq!(code(&o), Some(1), "{}", err(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(!out.contains(sess.key()), "the dead key was printed: {out}");
    let v: Value = serde_json::from_str(&out).expect("json error");
    assert_eq!(v["error"]["code"], "session_not_active", "{v}");
    // It can still be finalized, to record what happened.
    let done = s.json(&[
        "session",
        "finalize",
        &sess.id,
        "--status",
        "aborted",
        "--outcome",
        "timebox ran out",
    ]);
    assert_eq!(done["session"]["status"], "aborted", "{done}");
}

#[test]
fn a_comparison_racing_a_rollup_in_another_process_reads_whole_rollups() {
    let s = StackEnv::new("rollup-race");
    let mut aliases = Vec::new();
    for _ in 0..3 {
        let sess = s.create_session("sim-profiles", "sim-fast-oai", &[]);
        let alias = s.json(&["session", "show", &sess.id])["proxy_key_alias"]
            .as_str()
            .expect("alias")
            .to_string();
        s.json(&["session", "finalize", &sess.id, "--status", "completed"]);
        aliases.push(alias);
    }
    let spool = s.data.path().join("capture/spool.jsonl");
    std::fs::create_dir_all(spool.parent().expect("dir")).expect("capture dir");
    let mut written = 0;
    for round in 0..3 {
        let mut text = String::new();
        for i in 0..3000 {
            text.push_str(&spool_line(
                &format!("race-{round}-{i}"),
                &aliases[i % aliases.len()],
                "sim-fast",
            ));
        }
        written += 3000;
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&spool)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .expect("append");
        // Stored and marked stale; then a rollup and a comparison at the same moment.
        s.json(&["collect"]);
        // The rollup stops between reading and writing (and says so); the comparison starts
        // exactly then, in another process.
        let mut rollup = s
            .cmd(&["rollup", "--experiment", "sim-profiles"])
            .env("STACKPERF_ROLLUP_HOLD_MS", "700")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("rollup");
        let mut lines = std::io::BufReader::new(rollup.stderr.take().expect("stderr")).lines();
        assert!(
            lines.any(|l| l.is_ok_and(|l| l.contains("holding"))),
            "the rollup never reached its write"
        );
        let compare = s.run(&[
            "--json",
            "report",
            "compare",
            "--experiment",
            "sim-profiles",
        ]);
        assert!(rollup.wait().expect("rollup").success());
        assert_eq!(code(&compare), Some(0), "{}", err(&compare));
        let v: Value = serde_json::from_slice(&compare.stdout).expect("json");
        let fast = v["variants"]
            .as_array()
            .expect("variants")
            .iter()
            .find(|x| x["variant"] == "sim-fast-oai")
            .expect("variant")
            .clone();
        assert_eq!(
            fast["requests"], written,
            "round {round}: the comparison read rollups another process had not finished"
        );
    }
}

#[test]
fn a_run_that_cannot_be_carried_out_is_refused_up_front_with_the_reason() {
    let s = StackEnv::new("hostile-run");
    for (args, needle) in [
        (vec!["run", "--resume", "run_bogus"], "run `run_bogus`"),
        (
            vec!["run", "--experiment", "nope", "--task-card", "write-marker"],
            "agent-shootout",
        ),
        (
            // The plain OpenAI-compatible client has no headless launch.
            vec![
                "run",
                "--experiment",
                "sim-profiles",
                "--task-card",
                "write-marker",
            ],
            "no `headless` launch",
        ),
        (
            vec![
                "run",
                "--experiment",
                "agent-shootout",
                "--task-card",
                "write-marker",
                "--repeat",
                "0",
            ],
            "one repetition",
        ),
    ] {
        let o = s.run(&args);
        assert_eq!(code(&o), Some(1), "{args:?}: {}", err(&o));
        assert!(err(&o).contains(needle), "{args:?}: {}", err(&o));
    }
    // Nothing was started: no session exists.
    let list = s.json(&["session", "list"]);
    assert_eq!(list.as_array().map(Vec::len), Some(0), "{list}");
}

/// A data dir this user may not write (another user's, or read-only): the error names the path
/// and says what to do, and the command fails cleanly instead of half-starting a stack.
#[test]
fn a_data_dir_this_user_cannot_write_says_what_to_do() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let s = StackEnv::new("hostile-perm");
    let data = s.data.path().join("not-mine");
    std::fs::create_dir(&data).expect("mkdir");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o500)).expect("chmod");
    let mut c = s.cmd(&["stack", "up"]);
    c.env("STACKPERF_DATA_DIR", &data);
    let root = std::fs::metadata("/proc/self").expect("/proc/self").uid() == 0;
    let o = if root {
        // Modes do not stop root: run as `nobody`, to whom the test's data dir belongs no more.
        let mut w = std::process::Command::new("setpriv");
        w.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(c.get_program())
            .args(c.get_args())
            .current_dir(stackperf_e2e::workspace());
        for (k, v) in c.get_envs() {
            match v {
                Some(v) => w.env(k, v),
                None => w.env_remove(k),
            };
        }
        w.output().expect("setpriv")
    } else {
        c.output().expect("run stackperf")
    };
    let e = err(&o);
    assert_eq!(code(&o), Some(1), "a user's error, not StackPerf's: {e}");
    assert!(e.contains("Permission denied"), "{e}");
    assert!(e.contains(&data.display().to_string()), "{e}");
    assert!(
        e.contains("use a location this user owns (StackPerf's own files go where STACKPERF_DATA_DIR points)"),
        "{e}"
    );
    assert!(!data.join("stack").exists(), "nothing was created");
}

/// Two `collect` processes (the desktop's and a terminal's) rotating the same spool while a
/// writer appends and reopens it after each rotation, as LiteLLM's logger does: every line
/// becomes exactly one row, none is lost or read twice, and neither process fails.
#[test]
fn two_processes_rotating_one_spool_lose_and_double_nothing() {
    use std::os::unix::fs::MetadataExt;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let s = StackEnv::new("rotate-race");
    let spool = s.data.path().join("capture/spool.jsonl");
    std::fs::create_dir_all(spool.parent().expect("dir")).expect("capture dir");
    s.json(&["collect"]); // the database exists before the race starts
    let done = AtomicBool::new(false);
    let rotations = AtomicU64::new(0);
    let (written, dups, failures) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let open = || {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&spool)
                    .expect("open spool")
            };
            let mut f = open();
            let mut written = 0;
            let mut append = |f: &mut std::fs::File, n: usize| {
                let text: String = (written..written + n)
                    .map(|i| spool_line(&format!("rot-race-{i}"), "nobody", "sim-fast"))
                    .collect();
                f.write_all(text.as_bytes()).expect("append");
                written += n;
            };
            for _ in 0..12 {
                append(&mut f, 60);
                // Wait for a collector to rotate the file we hold (the logger's check: the
                // path no longer names it) ...
                let held = f.metadata().expect("fstat").ino();
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
                while std::fs::metadata(&spool).map(|m| m.ino()).ok() == Some(held) {
                    assert!(std::time::Instant::now() < deadline, "never rotated");
                    std::thread::yield_now();
                }
                // ... then a few lines more into the renamed file before reopening, as a
                // writer that has not noticed yet does.
                append(&mut f, 10);
                f = open();
            }
            done.store(true, Ordering::SeqCst);
            written
        });
        let collectors: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let (mut dups, mut failed) = (0u64, Vec::new());
                    while !done.load(Ordering::SeqCst) {
                        let o = s
                            .cmd(&["--json", "collect"])
                            .env("STACKPERF_SPOOL_ROTATE_BYTES", "8192")
                            .output()
                            .expect("collect");
                        if o.status.success() {
                            let v: Value = serde_json::from_slice(&o.stdout).expect("json");
                            let r = &v["report"];
                            rotations.fetch_add(
                                r["rotated"].as_u64().expect("rotated"),
                                Ordering::SeqCst,
                            );
                            dups += r["duplicates"].as_u64().expect("duplicates");
                        } else {
                            failed.push(err(&o));
                        }
                    }
                    (dups, failed)
                })
            })
            .collect();
        let written = writer.join().expect("writer");
        let (mut dups, mut failures) = (0, Vec::new());
        for c in collectors {
            let (d, f) = c.join().expect("collector");
            dups += d;
            failures.extend(f);
        }
        (written, dups, failures)
    });
    assert!(failures.is_empty(), "a collect failed: {failures:?}");
    let rotated = rotations.load(Ordering::SeqCst);
    assert!(rotated >= 12, "the race rotated the spool {rotated} times");
    let last = s.json(&["collect"]);
    let dups = dups + last["report"]["duplicates"].as_u64().expect("duplicates");
    assert_eq!(dups, 0, "lines read twice");
    let out = s.run(&[
        "export",
        "requests",
        "--format",
        "json",
        "--include-internal",
    ]);
    assert_eq!(code(&out), Some(0), "{}", err(&out));
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).expect("rows");
    let mut ids: Vec<&str> = rows
        .iter()
        .filter_map(|r| r["litellm_call_id"].as_str())
        .filter(|id| id.starts_with("rot-race-"))
        .collect();
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        (n, ids.len()),
        (written, written),
        "rows, distinct rows; {rotated} rotations"
    );
}
