use super::*;

fn req(method: Method, body: &'static [u8]) -> Request<Bytes> {
    let mut r = Request::new(Bytes::from_static(body));
    *r.method_mut() = method;
    *r.uri_mut() = "/v1/messages?beta=true".parse().unwrap();
    let h = r.headers_mut();
    h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:4000"));
    h.insert("x-api-key", HeaderValue::from_static("sk-1"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("999"));
    h.insert(header::EXPECT, HeaderValue::from_static("100-continue"));
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

#[test]
fn a_request_is_written_with_its_own_length_and_without_connection_headers() {
    let w = String::from_utf8(encode(&req(Method::POST, b"{\"a\":1}"))).unwrap();
    assert!(
        w.starts_with("POST /v1/messages?beta=true HTTP/1.1\r\n"),
        "{w}"
    );
    assert!(w.contains("host: 127.0.0.1:4000\r\n") && w.contains("x-api-key: sk-1\r\n"));
    assert!(w.ends_with("content-length: 7\r\n\r\n{\"a\":1}"), "{w}");
    for gone in ["999", "expect", "connection"] {
        assert!(!w.contains(gone), "{gone} in {w}");
    }
    let mut big = req(Method::POST, b"");
    *big.body_mut() = Bytes::from(vec![b'x'; INLINE_BODY + 1]);
    let w = encode(&big);
    assert!(w.ends_with(format!("content-length: {}\r\n\r\n", INLINE_BODY + 1).as_bytes()));
    let get = String::from_utf8(encode(&req(Method::GET, b""))).unwrap();
    assert!(
        !get.contains("content-length") && get.ends_with("\r\n\r\n"),
        "{get}"
    );
}

const HEAD: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";

#[test]
fn a_response_head_is_taken_whole_however_it_arrives() {
    for cut in 0..HEAD.len() {
        let mut buf = BytesMut::from(&HEAD[..cut]);
        assert!(take_head(&mut buf).unwrap().is_none(), "complete at {cut}");
        buf.extend_from_slice(&HEAD[cut..]);
        buf.extend_from_slice(b"5\r\n");
        let h = take_head(&mut buf).unwrap().unwrap();
        assert_eq!(h.status, StatusCode::OK);
        assert!(h.keep_alive);
        assert_eq!(h.headers[header::CONTENT_TYPE], "text/event-stream");
        assert_eq!(
            &buf[..],
            b"5\r\n",
            "the body's first bytes stay in the buffer"
        );
    }
}

#[test]
fn interim_answers_are_skipped_and_closing_answers_are_not_kept_alive() {
    let mut buf = BytesMut::from(
        &b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Service Unavailable\r\nConnection: Close\r\ncontent-length: 0\r\n\r\n"[..],
    );
    let h = take_head(&mut buf).unwrap().unwrap();
    assert_eq!(h.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(!h.keep_alive);
    let mut old = BytesMut::from(&b"HTTP/1.0 200 OK\r\n\r\n"[..]);
    assert!(!take_head(&mut old).unwrap().unwrap().keep_alive);
}

#[test]
fn what_is_not_http_or_too_long_is_an_error_that_says_so() {
    let e = take_head(&mut BytesMut::from(&b"SSH-2.0-OpenSSH\r\n\r\n"[..])).unwrap_err();
    assert!(e.to_string().contains("not HTTP"), "{e}");
    let mut long = BytesMut::from(&b"HTTP/1.1 200 OK\r\nx: "[..]);
    long.extend_from_slice(&vec![b'a'; MAX_HEAD + 1]);
    let e = take_head(&mut long).unwrap_err();
    assert!(e.to_string().contains("longer than"), "{e}");
}

fn head(status: u16, headers: &[(&'static str, &'static str)]) -> Head {
    let mut h = HeaderMap::new();
    for (k, v) in headers {
        h.append(*k, HeaderValue::from_static(v));
    }
    Head {
        status: StatusCode::from_u16(status).unwrap(),
        headers: h,
        keep_alive: true,
    }
}

#[test]
fn the_framing_follows_rfc_9112() {
    let te = [("transfer-encoding", "chunked")];
    assert_eq!(Framing::of(&Method::HEAD, &head(200, &te)), Framing::Done);
    assert_eq!(Framing::of(&Method::POST, &head(204, &[])), Framing::Done);
    assert_eq!(
        Framing::of(&Method::POST, &head(200, &te)),
        Framing::Chunked(Chunk::Size)
    );
    let gzip_last = [("transfer-encoding", "chunked, gzip")];
    assert_eq!(
        Framing::of(&Method::POST, &head(200, &gzip_last)),
        Framing::Close
    );
    let cl = [("content-length", "12")];
    assert_eq!(
        Framing::of(&Method::POST, &head(200, &cl)),
        Framing::Length(12)
    );
    assert_eq!(Framing::of(&Method::POST, &head(200, &[])), Framing::Close);
    assert!(Framing::Close.until_close() && !Framing::Length(1).until_close());
}

/// Every piece `f` yields from `wire` fed in two parts cut at `cut`, and what stays in the buffer.
fn decode(mut f: Framing, wire: &[u8], cut: usize) -> (Vec<u8>, Framing, BytesMut) {
    let mut buf = BytesMut::from(&wire[..cut]);
    let mut out = Vec::new();
    while let Some(d) = f.next(&mut buf).unwrap() {
        out.extend_from_slice(&d);
    }
    buf.extend_from_slice(&wire[cut..]);
    while let Some(d) = f.next(&mut buf).unwrap() {
        out.extend_from_slice(&d);
    }
    (out, f, buf)
}

#[test]
fn a_chunked_body_decodes_the_same_wherever_the_reads_split_it() {
    let wire: &[u8] = b"d\r\ndata: {\"a\":1}\r\n1c;ext=1\r\n\n\ndata: [DONE] and the rest\n\r\n0\r\nx-trailer: 1\r\n\r\nHTTP/1.1";
    let want: &[u8] = b"data: {\"a\":1}\n\ndata: [DONE] and the rest\n";
    for cut in 0..wire.len() {
        let (out, f, rest) = decode(Framing::Chunked(Chunk::Size), wire, cut);
        assert_eq!(out, want, "cut at {cut}");
        assert_eq!(f, Framing::Done, "cut at {cut}");
        assert_eq!(
            &rest[..],
            b"HTTP/1.1",
            "the next response's bytes stay (cut at {cut})"
        );
    }
}

#[test]
fn a_length_body_ends_at_its_length_and_a_close_body_takes_everything() {
    for cut in 0..12 {
        let (out, f, rest) = decode(Framing::Length(5), b"hello world", cut.min(11));
        assert_eq!(
            (&out[..], f, &rest[..]),
            (&b"hello"[..], Framing::Done, &b" world"[..])
        );
    }
    let (out, f, _) = decode(Framing::Close, b"all of it", 3);
    assert_eq!((&out[..], f), (&b"all of it"[..], Framing::Close));
}

#[test]
fn bad_chunk_framing_is_an_error_not_a_guess() {
    for (wire, says) in [
        (&b"zz\r\n"[..], "bad chunk size"),
        (b"\r\n", "bad chunk size"),
        (b"fffffffffffffffff\r\n", "bad chunk size"),
        (b"2\r\nabX\r\n", "did not end where its size said"),
    ] {
        let mut f = Framing::Chunked(Chunk::Size);
        let mut buf = BytesMut::from(wire);
        let e = loop {
            match f.next(&mut buf) {
                Ok(Some(_)) => {}
                Ok(None) => panic!("{wire:?} decoded without an error"),
                Err(e) => break e,
            }
        };
        assert!(e.to_string().contains(says), "{wire:?}: {e}");
    }
    let mut long = BytesMut::from(&vec![b'1'; MAX_LINE + 1][..]);
    assert!(Framing::Chunked(Chunk::Size).next(&mut long).is_err());
}
