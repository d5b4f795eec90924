use super::*;
use http_body_util::BodyExt;
use hyper::http::Method;
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

/// A plain HTTP/1.1 server on a thread: answers every request with `answer` and counts the
/// connections it accepted. With `close` it holds each connection open after its first answer
/// until told to close it (as uvicorn closes an idle keep-alive connection), then says so.
struct Upstream {
    addr: String,
    accepted: Arc<AtomicUsize>,
    close: Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>,
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

fn upstream(close: bool, answer: &'static [u8]) -> Upstream {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let accepted = Arc::new(AtomicUsize::new(0));
    let (tell_tx, tell_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let n = accepted.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            n.fetch_add(1, Ordering::SeqCst);
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            loop {
                let mut len = 0usize;
                let mut line = String::new();
                let mut got = false;
                while reader.read_line(&mut line).unwrap_or(0) > 0 {
                    got = true;
                    let l = line.trim_end().to_ascii_lowercase();
                    if l.is_empty() {
                        break;
                    }
                    if let Some(v) = l.strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap();
                    }
                    line.clear();
                }
                if !got {
                    break;
                }
                let mut body = vec![0u8; len];
                reader.read_exact(&mut body).unwrap();
                if conn.write_all(answer).is_err() {
                    break;
                }
                if close {
                    let _ = tell_rx.recv();
                    conn.shutdown(std::net::Shutdown::Both).unwrap();
                    done_tx.send(()).unwrap();
                    break;
                }
            }
        }
    });
    Upstream {
        addr,
        accepted,
        close: close.then_some((tell_tx, done_rx)),
    }
}

fn request(addr: &str) -> Request<Bytes> {
    request_with(addr, Bytes::from_static(b"{}"))
}

fn request_with(addr: &str, body: Bytes) -> Request<Bytes> {
    let mut r = Request::new(body);
    *r.method_mut() = Method::POST;
    *r.uri_mut() = "/v1/chat/completions".parse().unwrap();
    r.headers_mut()
        .insert(hyper::http::header::HOST, addr.parse().unwrap());
    r
}

/// `n` requests one after another, bodies read.
async fn run(pool: &Arc<Pool>, n: usize, want: &[u8]) {
    let work = async {
        for _ in 0..n {
            let resp = pool.send(request(pool.addr())).await.unwrap();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(&body[..], want);
        }
    };
    tokio::time::timeout(Duration::from_secs(10), work)
        .await
        .expect("requests through the upstream connection finished");
}

#[tokio::test(flavor = "current_thread")]
async fn one_connection_serves_requests_one_after_another() {
    let up = upstream(false, OK);
    let pool = Pool::new(up.addr.clone());
    run(&pool, 3, b"ok").await;
    assert_eq!(lock(&pool.idle).len(), 1, "the idle connection was pooled");
    run(&pool, 2, b"ok").await;
    assert_eq!(up.accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_pooled_connection_the_upstream_closed_is_replaced_without_an_error() {
    let up = upstream(true, OK);
    let pool = Pool::new(up.addr.clone());
    run(&pool, 1, b"ok").await;
    assert_eq!(lock(&pool.idle).len(), 1);
    let (tell, done) = up.close.unwrap();
    tell.send(()).unwrap();
    // Waited for off the runtime, which meanwhile sees the close (as the edge's runtime, never
    // blocked, sees LiteLLM close an idle connection before its next request).
    tokio::task::spawn_blocking(move || done.recv().unwrap())
        .await
        .unwrap();
    run(&pool, 1, b"ok").await;
    assert_eq!(up.accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "current_thread")]
async fn a_connection_idle_too_long_is_not_reused() {
    let up = upstream(false, OK);
    let mut pool = Pool::new(up.addr.clone());
    Arc::get_mut(&mut pool).unwrap().idle_max = Duration::ZERO;
    run(&pool, 3, b"ok").await;
    assert_eq!(up.accepted.load(Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "current_thread")]
async fn a_chunked_stream_arrives_piece_by_piece_and_its_connection_is_reused() {
    const SSE: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n6\r\ndata: \r\n3\r\nab\n\r\n0\r\n\r\n";
    let up = upstream(false, SSE);
    let pool = Pool::new(up.addr.clone());
    run(&pool, 2, b"data: ab\n").await;
    assert_eq!(up.accepted.load(Ordering::SeqCst), 1);
    assert_eq!(lock(&pool.idle).len(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_stream_cut_short_is_an_error_and_its_connection_is_dropped() {
    const CUT: &[u8] = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n6\r\ndata: \r\n";
    let up = upstream(true, CUT);
    let pool = Pool::new(up.addr.clone());
    let resp = pool.send(request(pool.addr())).await.unwrap();
    let mut body = resp.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(&first[..], b"data: ");
    up.close.as_ref().unwrap().0.send(()).unwrap();
    let e = body.frame().await.unwrap().unwrap_err();
    assert!(
        e.to_string().contains("before the response was complete"),
        "{e}"
    );
    assert_eq!(lock(&pool.idle).len(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn nothing_listening_is_a_connect_error_and_garbage_is_a_broken_one() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap().to_string();
    drop(free);
    let pool = Pool::new(addr);
    assert!(matches!(
        pool.send(request(pool.addr())).await,
        Err(SendError::Connect(_))
    ));
    let up = upstream(false, b"220 smtp.example.com ESMTP\r\n\r\n");
    let pool = Pool::new(up.addr.clone());
    match pool.send(request(pool.addr())).await {
        Err(SendError::Invalid(e)) => assert!(e.contains("invalid HTTP"), "{e}"),
        _ => panic!("an answer that is not HTTP was accepted"),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_large_body_follows_its_head_whole() {
    let up = upstream(false, OK);
    let pool = Pool::new(up.addr.clone());
    let big = Bytes::from(vec![b'x'; 3 << 20]);
    // The upstream reads exactly content-length bytes before it answers: a short body would
    // leave it waiting (the timeout), a long one would break the next request on the connection.
    for _ in 0..2 {
        let work = async {
            let resp = pool
                .send(request_with(pool.addr(), big.clone()))
                .await
                .unwrap();
            resp.into_body().collect().await.unwrap().to_bytes()
        };
        let body = tokio::time::timeout(Duration::from_secs(10), work)
            .await
            .unwrap();
        assert_eq!(&body[..], b"ok");
    }
    assert_eq!(up.accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_connection_with_bytes_after_the_response_is_not_reused() {
    // Whatever follows a response unasked would be read as the next request's answer.
    let up = upstream(
        false,
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n",
    );
    let pool = Pool::new(up.addr.clone());
    run(&pool, 2, b"ok").await;
    assert_eq!(lock(&pool.idle).len(), 0);
    assert_eq!(up.accepted.load(Ordering::SeqCst), 2);
}

/// The whole body of one request, or the error that ended it.
async fn body_of(pool: &Arc<Pool>) -> Result<Bytes, String> {
    let work = async {
        let resp = pool
            .send(request(pool.addr()))
            .await
            .map_err(|e| format!("{e:?}"))?;
        let body = resp.into_body().collect().await;
        body.map(|b| b.to_bytes()).map_err(|e| e.to_string())
    };
    tokio::time::timeout(Duration::from_secs(10), work)
        .await
        .expect("an answer or an error, not a hang")
}

#[tokio::test(flavor = "current_thread")]
async fn hostile_framing_is_decoded_by_the_rfc_or_refused_never_misread() {
    // Chunked framing wins over a Content-Length beside it (RFC 9112 §6.3): the body is the
    // chunks, and the connection is not reused (the length could desynchronise it).
    let up = upstream(
        false,
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    );
    let pool = Pool::new(up.addr.clone());
    assert_eq!(body_of(&pool).await.unwrap(), Bytes::from_static(b"hello"));
    // Two different lengths, a signed length, a length that is not a number: refused before
    // any of the body is read (a clear 502 for the harness).
    for head in [
        &b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 5\r\n\r\nok"[..],
        b"HTTP/1.1 200 OK\r\ncontent-length: +2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\ncontent-length: 2x\r\n\r\nok",
    ] {
        let up = upstream(false, head);
        let pool = Pool::new(up.addr.clone());
        match pool.send(request(pool.addr())).await {
            Err(SendError::Invalid(e)) => assert!(e.contains("content-length"), "{e}"),
            Err(e) => panic!("{}: {e:?}", String::from_utf8_lossy(head)),
            Ok(_) => panic!("accepted: {}", String::from_utf8_lossy(head)),
        }
    }
    // A transfer coding that is not chunked last: read to the close, not as chunks.
    let up = upstream(
        true,
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked, gzip\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    );
    let pool = Pool::new(up.addr.clone());
    let (tell, _) = up.close.as_ref().unwrap();
    tell.send(()).unwrap();
    let body = body_of(&pool).await.unwrap();
    assert_eq!(&body[..], b"5\r\nhello\r\n0\r\n\r\n");
}

#[tokio::test(flavor = "current_thread")]
async fn bare_lf_chunk_lines_and_a_missing_last_chunk_never_pass_as_a_whole_body() {
    // Bare LF after a chunk size: hyper either decodes the chunks exactly or fails the body.
    let up = upstream(
        true,
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\nhello\n0\n\n",
    );
    let pool = Pool::new(up.addr.clone());
    up.close.as_ref().unwrap().0.send(()).unwrap();
    match body_of(&pool).await {
        Ok(b) => assert_eq!(&b[..], b"hello"),
        Err(e) => assert!(!e.is_empty()),
    }
    // A chunked body cut before its last chunk is an error, never a complete body.
    let up = upstream(
        true,
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n",
    );
    let pool = Pool::new(up.addr.clone());
    up.close.as_ref().unwrap().0.send(()).unwrap();
    let e = body_of(&pool).await.unwrap_err();
    assert!(e.contains("before the response was complete"), "{e}");
}

/// An upstream that, on its `c`-th connection (from 0), answers the `r`-th request (from 0)
/// with `answer(c, r)`, or reads it and closes the connection without a byte when that is `None`.
/// Counts every request it read.
fn scripted(answer: fn(usize, usize) -> Option<&'static [u8]>) -> (String, Arc<AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let requests = Arc::new(AtomicUsize::new(0));
    let seen = requests.clone();
    std::thread::spawn(move || {
        for (c, conn) in listener.incoming().enumerate() {
            let Ok(mut conn) = conn else { return };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            for r in 0.. {
                let mut len = 0usize;
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 && line.trim_end() != "" {
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap();
                    }
                    line.clear();
                }
                if line.is_empty() {
                    break;
                }
                let mut body = vec![0u8; len];
                reader.read_exact(&mut body).unwrap();
                seen.fetch_add(1, Ordering::SeqCst);
                match answer(c, r) {
                    Some(a) => conn.write_all(a).unwrap(),
                    None => {
                        let _ = conn.shutdown(std::net::Shutdown::Both);
                        break;
                    }
                }
            }
        }
    });
    (addr, requests)
}

#[tokio::test(flavor = "current_thread")]
async fn a_reused_connection_closed_unanswered_sends_the_request_once_more_a_new_one_never() {
    // The pooled connection reads the second request and closes without a byte (LiteLLM
    // closing an idle connection as the request went): it goes again on a new connection.
    let (addr, requests) = scripted(|c, r| (c == 1 || r == 0).then_some(OK));
    let pool = Pool::new(addr);
    run(&pool, 2, b"ok").await;
    assert_eq!(requests.load(Ordering::SeqCst), 3);
    // A new connection that closes unanswered: an error, the request sent once.
    let (addr, requests) = scripted(|_, _| None);
    let pool = Pool::new(addr);
    match pool.send(request(pool.addr())).await {
        Err(SendError::Broken(e)) => assert!(e.contains("before the response"), "{e}"),
        other => panic!("{:?}", other.map(|r| r.status())),
    }
    assert_eq!(requests.load(Ordering::SeqCst), 1);
}
