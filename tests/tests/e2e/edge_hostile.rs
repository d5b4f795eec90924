//! The real edge (`stackperf edge serve`) in front of a hostile upstream standing in for LiteLLM,
//! which cannot be made to misframe a response, and a raw-socket client in front of the edge.
//! Whatever the upstream sends, the client gets a correct response or a clear 502 — never a
//! smuggled or silently truncated one — and the edge's record says what happened; a connection
//! the upstream closes right after answering is never the cause of a failed request.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use stackperf_e2e::{raw_post, stackperf, RawResponse};

const MASTER: &str = "sk-e2e-hostile-master";
const CHAT: &str = r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;

/// Canned answers, each with whether the connection closes after it.
type Answers = Arc<Mutex<VecDeque<(&'static [u8], bool)>>>;

/// An upstream that answers each request with the next canned answer (closing the connection
/// after it when told to), counting the connections it accepted.
struct Hostile {
    addr: String,
    answers: Answers,
    accepted: Arc<AtomicUsize>,
}

fn hostile() -> Hostile {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let answers: Answers = Arc::default();
    let accepted = Arc::new(AtomicUsize::new(0));
    let (queue, n) = (answers.clone(), accepted.clone());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            n.fetch_add(1, Ordering::SeqCst);
            let queue = queue.clone();
            std::thread::spawn(move || serve(conn, &queue));
        }
    });
    Hostile {
        addr,
        answers,
        accepted,
    }
}

fn serve(mut conn: std::net::TcpStream, queue: &Mutex<VecDeque<(&'static [u8], bool)>>) {
    let mut reader = BufReader::new(conn.try_clone().expect("clone"));
    loop {
        let (mut len, mut line, mut got) = (0usize, String::new(), false);
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            got = true;
            let l = line.trim_end().to_ascii_lowercase();
            if l.is_empty() {
                break;
            }
            if let Some(v) = l.strip_prefix("content-length:") {
                len = v.trim().parse().unwrap_or(0);
            }
            line.clear();
        }
        let mut body = vec![0u8; len];
        if !got || reader.read_exact(&mut body).is_err() {
            return;
        }
        let next = queue.lock().expect("queue").pop_front();
        let Some((answer, close)) = next else { return };
        if conn.write_all(answer).is_err() {
            return;
        }
        if close {
            let _ = conn.shutdown(Shutdown::Both);
            return;
        }
    }
}

/// The edge on a free port in front of `upstream`, recording into `spool`.
struct Edge {
    child: Child,
    url: String,
}

impl Drop for Edge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn edge(dir: &std::path::Path, upstream: &str) -> Edge {
    let mut child = stackperf(dir)
        .args([
            "--json",
            "edge",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            upstream,
        ])
        .arg("--registry")
        .arg(dir.join("registry.json"))
        .arg("--spool")
        .arg(dir.join("edge.jsonl"))
        .args(["--master-key-env", "HOSTILE_MASTER"])
        .env("HOSTILE_MASTER", MASTER)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start stackperf edge serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the listening line");
    let v: Value = serde_json::from_str(&line).unwrap_or_default();
    let url = v["listening"].as_str().unwrap_or_default().to_string();
    assert!(url.starts_with("http://"), "edge serve said {line:?}");
    Edge { child, url }
}

/// The edge's finished records, once `n` of them are written.
fn records(spool: &std::path::Path, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(spool).unwrap_or_default();
        let recs: Vec<Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v.get("outcome").is_some())
            .collect();
        if recs.len() >= n || Instant::now() > deadline {
            return recs;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn chat(edge: &Edge) -> RawResponse {
    let bearer = format!("Bearer {MASTER}");
    raw_post(
        &edge.url,
        "/v1/chat/completions",
        &[("Authorization", &bearer)],
        CHAT.as_bytes(),
    )
}

/// A response the client can trust: one framing, complete, exactly `body`.
fn whole(r: &RawResponse, body: &str, case: &str) {
    assert_eq!(r.status, 200, "{case}: {r:?}");
    assert!(
        r.complete,
        "{case}: the client saw an incomplete body: {r:?}"
    );
    assert_eq!(r.body, body, "{case}");
    let te = r.header("transfer-encoding").is_some();
    match r.header("content-length") {
        Some(l) => {
            assert!(!te, "{case}: both framings sent to the client: {r:?}");
            assert_eq!(l.parse::<usize>().ok(), Some(body.len()), "{case}: {r:?}");
        }
        None => assert!(te, "{case}: no framing: {r:?}"),
    }
}

#[test]
fn a_hostile_upstream_gets_the_client_a_correct_response_or_a_clear_502() {
    let _machine = stackperf_e2e::share();
    let dir = tempfile::tempdir().expect("tempdir");
    let up = hostile();
    let edge = edge(dir.path(), &up.addr);
    let push = |answer: &'static [u8], close: bool| {
        up.answers.lock().expect("queue").push_back((answer, close));
    };

    // Chunked framing beside a Content-Length (RFC 9112 §6.3: chunked wins, the length goes).
    push(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n5\r\nhello\r\n0\r\n\r\n", true);
    whole(&chat(&edge), "hello", "chunked + content-length");

    // Lengths that cannot be trusted: a clear 502 in the surface's format, nothing forwarded.
    for answer in [
        &b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 5\r\n\r\nok"[..],
        b"HTTP/1.1 200 OK\r\ncontent-length: +2\r\n\r\nok",
    ] {
        push(answer, true);
        let r = chat(&edge);
        let case = String::from_utf8_lossy(answer);
        assert_eq!(r.status, 502, "{case}: {r:?}");
        let v: Value = serde_json::from_str(&r.body).unwrap_or_default();
        let m = v["error"]["message"].as_str().unwrap_or_default();
        assert!(m.contains("not a valid HTTP response"), "{case}: {m}");
    }

    // Bare LF in the chunk lines: decoded exactly, or the client can tell the body is broken.
    push(
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\nhello\n0\n\n",
        true,
    );
    let r = chat(&edge);
    if r.complete {
        whole(&r, "hello", "bare LF");
    } else {
        assert!(r.status == 502 || !r.body.ends_with("hello!"), "{r:?}");
    }

    // Cut before the last chunk: the client's body is incomplete, never a whole one.
    push(
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n",
        true,
    );
    let r = chat(&edge);
    assert!(
        !r.complete,
        "a cut body reached the client as complete: {r:?}"
    );

    // Closed by the upstream right after each answer, with the edge keeping it for the next
    // request: every request answered, on a new connection each.
    let before = up.accepted.load(Ordering::SeqCst);
    for _ in 0..5 {
        push(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", true);
        whole(&chat(&edge), "ok", "closed after answering");
    }
    assert_eq!(up.accepted.load(Ordering::SeqCst) - before, 5);

    // What the edge recorded: the two refused lengths and the cut body (and a bare-LF body it
    // could not decode) as LiteLLM's failures, everything else as answered.
    let mut recs = records(&dir.path().join("edge.jsonl"), 10);
    recs.sort_by(|a, b| {
        a["arrived"]
            .as_f64()
            .partial_cmp(&b["arrived"].as_f64())
            .expect("times")
    });
    let outcomes: Vec<&str> = recs
        .iter()
        .map(|r| r["outcome"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(outcomes.len(), 10, "{recs:?}");
    assert_eq!(outcomes[0], "ok", "{recs:?}");
    assert_eq!(
        &outcomes[1..3],
        ["proxy_disconnected", "proxy_disconnected"]
    );
    assert_eq!(outcomes[4], "proxy_disconnected", "{recs:?}");
    assert!(
        outcomes[5..].iter().all(|o| *o != "proxy_disconnected"),
        "a closed pooled connection failed a request: {recs:?}"
    );
    let spool = std::fs::read_to_string(dir.path().join("edge.jsonl")).expect("spool");
    assert!(!spool.contains(MASTER), "no key in the spool");
}
