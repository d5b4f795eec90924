//! Killing the ingest (SIGKILL) in the middle of a pass loses nothing and duplicates nothing:
//! rows and the spool cursor commit together, so a restart resumes exactly where it stopped.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use stackperf_e2e::{python, stackperf, workspace};

const N: usize = 200_000;

fn counts(db: &std::path::Path) -> (i64, i64) {
    let out = Command::new(python())
        .args(["-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(*c.execute('SELECT COUNT(*), COUNT(DISTINCT litellm_call_id) FROM requests').fetchone())"])
        .arg(db)
        .output()
        .expect("python");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text
        .split_whitespace()
        .map(|x| x.parse::<i64>().unwrap_or(-1));
    (it.next().unwrap_or(-1), it.next().unwrap_or(-1))
}

#[test]
fn ingest_killed_mid_pass_resumes_without_loss_or_duplicates() {
    let _machine = stackperf_e2e::share();
    let data = tempfile::tempdir().expect("tempdir");
    let spool = data.path().join("capture/spool.jsonl");
    std::fs::create_dir_all(spool.parent().expect("dir")).expect("mkdir");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&spool).expect("spool"));
    for i in 0..N {
        writeln!(
            f,
            r#"{{"v":1,"litellm_call_id":"kill-{i}","status":"success","route":"/v1/chat/completions","stream":true,"start":{s},"end":{e},"first_delta":{d},"model_group":"sim-fast","prompt_tokens":10,"completion_tokens":20}}"#,
            s = 1.0e9 + i as f64,
            e = 1.0e9 + i as f64 + 0.4,
            d = 1.0e9 + i as f64 + 0.1
        )
        .expect("write");
    }
    f.flush().expect("flush");
    drop(f);
    let db = data.path().join("stackperf.sqlite");
    let collect = || {
        let mut c = stackperf(data.path());
        c.args(["--json", "collect"])
            .current_dir(workspace())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    };

    // Start a pass and kill it as soon as some rows are committed.
    let mut child = collect().spawn().expect("collect");
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen = 0;
    while Instant::now() < deadline {
        if db.exists() {
            seen = counts(&db).0;
            if seen > 0 {
                break;
            }
        }
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let status = child.wait().expect("wait");
    let (partial, distinct) = counts(&db);
    assert_eq!(partial, distinct);
    eprintln!("killed after {partial} of {N} rows (first poll saw {seen}; exit {status:?})");
    assert!(
        partial < N as i64,
        "the pass finished before it could be killed; make the spool larger"
    );

    // Restart: the rest arrives, nothing twice.
    let out = collect().output().expect("collect again");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let (total, distinct) = counts(&db);
    assert_eq!((total, distinct), (N as i64, N as i64));
    let inserted = report["report"]["inserted"].as_i64().expect("inserted");
    assert_eq!(
        inserted + partial,
        N as i64,
        "the restart inserts exactly what the killed pass had not committed"
    );
    assert_eq!(
        report["report"]["duplicates"].as_i64().expect("duplicates"),
        0,
        "resumed from the committed cursor, re-reading nothing"
    );
}

#[test]
fn collect_follow_prints_each_request_as_it_is_captured() {
    let _machine = stackperf_e2e::share();
    use std::io::{BufRead, BufReader};
    let data = tempfile::tempdir().expect("tempdir");
    let spool = data.path().join("capture/spool.jsonl");
    let mut child = stackperf(data.path())
        .args(["--json", "collect", "--follow"])
        .current_dir(workspace())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("collect --follow");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut got = Vec::new();
    for i in 0..3 {
        std::fs::create_dir_all(spool.parent().expect("dir")).expect("mkdir");
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&spool)
            .expect("spool");
        writeln!(f, r#"{{"v":1,"litellm_call_id":"follow-{i}","status":"success","route":"/v1/messages","stream":true,"start":1.0e9,"end":1.0e9,"first_delta":1.0e9,"model_group":"sim-fast"}}"#).expect("write");
        drop(f);
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the request is printed as soon as it is captured");
        let row: serde_json::Value = serde_json::from_str(&line).expect("one JSON row per line");
        got.push(
            row["litellm_call_id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        assert_eq!(row["protocol_surface"], "anthropic_messages");
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(got, ["follow-0", "follow-1", "follow-2"]);
    assert_eq!(counts(&data.path().join("stackperf.sqlite")), (3, 3));
}
