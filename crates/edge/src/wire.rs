//! HTTP/1.1 on the LiteLLM side of the edge, as bytes: the request as written, the response head
//! as read, and the response body's framing (RFC 9112 §6) decoded from a buffer that fills as the
//! socket is read. Pure functions over buffers; the socket work is in [`crate::upstream`].

use std::io;

use bytes::{Buf, Bytes, BytesMut};
use hyper::http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};

/// Largest response head accepted from LiteLLM.
const MAX_HEAD: usize = 256 << 10;
const MAX_HEADERS: usize = 256;
/// Longest chunk-size or trailer line accepted.
const MAX_LINE: usize = 4096;

pub(crate) fn invalid(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

/// Headers that belong to one connection, not to the request or response.
pub(crate) fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "upgrade"
    )
}

/// Headers a request is never written with as they came: they describe the client's connection
/// or body framing, which the edge sets itself.
fn not_forwarded(name: &HeaderName) -> bool {
    hop_by_hop(name) || *name == header::CONTENT_LENGTH || *name == header::EXPECT
}

/// Largest body sent in the same write as the head (a larger one is not copied: it follows in a
/// write of its own).
pub(crate) const INLINE_BODY: usize = 64 << 10;

/// The request as it goes on the wire: its head, and its body too when that is small, so that one
/// write sends it. (Header values come from hyper's parsed request: they hold no CR or LF.)
pub(crate) fn encode(req: &Request<Bytes>) -> Vec<u8> {
    let body = req.body();
    let pq = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let inline = if body.len() <= INLINE_BODY {
        body.len()
    } else {
        0
    };
    let mut w = Vec::with_capacity(512 + inline);
    w.extend_from_slice(req.method().as_str().as_bytes());
    w.push(b' ');
    w.extend_from_slice(pq.as_bytes());
    w.extend_from_slice(b" HTTP/1.1\r\n");
    for (k, v) in req.headers() {
        if !not_forwarded(k) {
            w.extend_from_slice(k.as_str().as_bytes());
            w.extend_from_slice(b": ");
            w.extend_from_slice(v.as_bytes());
            w.extend_from_slice(b"\r\n");
        }
    }
    if !body.is_empty() || !matches!(*req.method(), Method::GET | Method::HEAD) {
        w.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    w.extend_from_slice(b"\r\n");
    w.extend_from_slice(&body[..inline]);
    w
}

/// A response head.
#[derive(Debug)]
pub(crate) struct Head {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The connection may carry another request once this response's body is read.
    pub keep_alive: bool,
}

/// Parse a final response head from the front of `buf` (interim 1xx answers are skipped) and
/// remove it; `Ok(None)` while it is incomplete.
pub(crate) fn take_head(buf: &mut BytesMut) -> io::Result<Option<Head>> {
    loop {
        let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut r = httparse::Response::new(&mut slots);
        let n = match r.parse(buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
                return Err(invalid(format!(
                    "LiteLLM's response head is longer than {} KiB",
                    MAX_HEAD >> 10
                )))
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => return Err(invalid(format!("LiteLLM's response is not HTTP ({e})"))),
        };
        let code = r.code.unwrap_or(0);
        let status = StatusCode::from_u16(code)
            .map_err(|_| invalid(format!("LiteLLM answered status {code}")))?;
        let mut headers = HeaderMap::with_capacity(r.headers.len());
        let mut close = r.version != Some(1);
        for h in r.headers.iter() {
            if let (Ok(k), Ok(v)) = (
                HeaderName::from_bytes(h.name.as_bytes()),
                HeaderValue::from_bytes(h.value),
            ) {
                if k == header::CONNECTION {
                    close |= h
                        .value
                        .to_ascii_lowercase()
                        .windows(5)
                        .any(|w| w == b"close");
                }
                headers.append(k, v);
            }
        }
        buf.advance(n);
        if status.is_informational() && status != StatusCode::SWITCHING_PROTOCOLS {
            continue;
        }
        return Ok(Some(Head {
            status,
            headers,
            keep_alive: !close,
        }));
    }
}

/// Where a chunked body is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Chunk {
    Size,
    Data(u64),
    DataEnd,
    Trailer,
}

/// How the response body ends (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Framing {
    Length(u64),
    Chunked(Chunk),
    /// Until LiteLLM closes the connection.
    Close,
    Done,
}

impl Framing {
    pub fn of(method: &Method, head: &Head) -> Framing {
        let s = head.status;
        if *method == Method::HEAD || s == StatusCode::NO_CONTENT || s == StatusCode::NOT_MODIFIED {
            return Framing::Done;
        }
        if let Some(te) = head.headers.get(header::TRANSFER_ENCODING) {
            let last = te.as_bytes().rsplit(|b| *b == b',').next().unwrap_or(b"");
            return if last.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                Framing::Chunked(Chunk::Size)
            } else {
                Framing::Close
            };
        }
        match head.headers.get(header::CONTENT_LENGTH).map(|v| {
            std::str::from_utf8(v.as_bytes())
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
        }) {
            Some(Some(0)) => Framing::Done,
            Some(Some(n)) => Framing::Length(n),
            Some(None) => Framing::Close,
            None => Framing::Close,
        }
    }

    /// The body ends where the connection ends (it cannot carry another request).
    pub fn until_close(&self) -> bool {
        *self == Framing::Close
    }

    /// Bytes still to come, when known.
    pub fn remaining(&self) -> Option<u64> {
        match self {
            Framing::Length(n) => Some(*n),
            Framing::Done => Some(0),
            _ => None,
        }
    }

    /// The next piece of body data in `buf` (removed from it), `Ok(None)` when more must be read
    /// first or the body is complete ([`Framing::Done`]).
    pub fn next(&mut self, buf: &mut BytesMut) -> io::Result<Option<Bytes>> {
        loop {
            match self {
                Framing::Done => return Ok(None),
                Framing::Close if buf.is_empty() => return Ok(None),
                Framing::Close => return Ok(Some(buf.split().freeze())),
                Framing::Length(rem) => {
                    let n = (*rem).min(buf.len() as u64) as usize;
                    if n == 0 {
                        return Ok(None);
                    }
                    *rem -= n as u64;
                    if *rem == 0 {
                        *self = Framing::Done;
                    }
                    return Ok(Some(buf.split_to(n).freeze()));
                }
                Framing::Chunked(Chunk::Data(rem)) => {
                    let n = (*rem).min(buf.len() as u64) as usize;
                    if n == 0 {
                        return Ok(None);
                    }
                    *rem -= n as u64;
                    if *rem == 0 {
                        *self = Framing::Chunked(Chunk::DataEnd);
                    }
                    return Ok(Some(buf.split_to(n).freeze()));
                }
                Framing::Chunked(at) => {
                    let at = *at;
                    let Some(line) = take_line(buf)? else {
                        return Ok(None);
                    };
                    *self = match at {
                        Chunk::Size => match chunk_size(&line)? {
                            0 => Framing::Chunked(Chunk::Trailer),
                            n => Framing::Chunked(Chunk::Data(n)),
                        },
                        Chunk::DataEnd if line.is_empty() => Framing::Chunked(Chunk::Size),
                        Chunk::DataEnd => {
                            return Err(invalid("LiteLLM's chunk did not end where its size said"))
                        }
                        Chunk::Trailer if line.is_empty() => Framing::Done,
                        Chunk::Trailer | Chunk::Data(_) => Framing::Chunked(at),
                    };
                }
            }
        }
    }
}

/// One line from the front of `buf` without its line end (CRLF, or a bare LF).
fn take_line(buf: &mut BytesMut) -> io::Result<Option<BytesMut>> {
    let Some(i) = buf.iter().take(MAX_LINE + 2).position(|b| *b == b'\n') else {
        if buf.len() > MAX_LINE {
            return Err(invalid("LiteLLM sent a chunk line longer than 4 KiB"));
        }
        return Ok(None);
    };
    let mut line = buf.split_to(i + 1);
    line.truncate(i);
    if line.last() == Some(&b'\r') {
        line.truncate(i - 1);
    }
    Ok(Some(line))
}

/// A chunk-size line: hex digits, then optional `;extensions`.
fn chunk_size(line: &[u8]) -> io::Result<u64> {
    let digits = line
        .split(|b| *b == b';')
        .next()
        .unwrap_or(b"")
        .trim_ascii();
    std::str::from_utf8(digits)
        .ok()
        .filter(|d| !d.is_empty() && d.len() <= 15)
        .and_then(|d| u64::from_str_radix(d, 16).ok())
        .ok_or_else(|| {
            invalid(format!(
                "LiteLLM sent a bad chunk size {:?}",
                String::from_utf8_lossy(&line[..line.len().min(40)])
            ))
        })
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
