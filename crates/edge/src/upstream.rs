//! The edge's HTTP/1.1 client to LiteLLM.
//!
//! A request is written in one write; the response head is parsed with `httparse`; the body is
//! read straight from the socket by the response body the client's connection polls
//! ([`UpBody`]). So a chunk LiteLLM sends is read, handed over and written to the client in one
//! poll of one task, with no connection driver or channel in between (hyper's client has both).
//! Idle connections are shared by all client connections through a small [`Pool`], so a client
//! that opens a connection per request does not pay an upstream connect each time.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use hyper::http::{Request, Response};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::wire::{self, Framing};

/// Below uvicorn's 5 s keep-alive, so a reused connection is never one LiteLLM is closing.
const IDLE_MAX: Duration = Duration::from_secs(3);
/// Idle connections kept for other client connections.
const POOL_MAX: usize = 32;
/// Free space made in the read buffer before a read.
const READ_SPACE: usize = 16 << 10;

/// Why a request did not get a response head.
#[derive(Debug)]
pub enum SendError {
    /// No connection could be made (LiteLLM is not listening).
    Connect(io::Error),
    /// The connection broke, or LiteLLM answered something that is not HTTP, before the
    /// response head arrived.
    Broken(io::Error),
}

/// A connection to LiteLLM and what has been read from it but not used yet.
struct Conn {
    tcp: TcpStream,
    buf: BytesMut,
}

impl Conn {
    /// LiteLLM closed it, or sent something nobody asked for, while it was idle. (No system call
    /// unless the runtime saw it become readable since it was last read.)
    fn is_dead(&self) -> bool {
        let mut b = [0u8; 1];
        !matches!(self.tcp.try_read(&mut b), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    /// Read more into the buffer; `Ok(0)` at the end of the stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.buf.capacity() - self.buf.len() < READ_SPACE / 4 {
            self.buf.reserve(READ_SPACE);
        }
        loop {
            ready!(self.tcp.poll_read_ready(cx))?;
            match self.tcp.try_read_buf(&mut self.buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                r => return Poll::Ready(r),
            }
        }
    }

    /// Write a request: `wire` from [`wire::encode`], then the body if it was too large to go
    /// with it.
    async fn write(&mut self, wire: &[u8], body: &Bytes) -> io::Result<()> {
        self.tcp.write_all(wire).await?;
        if body.len() > wire::INLINE_BODY {
            self.tcp.write_all(body).await?;
        }
        Ok(())
    }

    /// The response head (interim answers skipped).
    async fn read_head(&mut self) -> io::Result<wire::Head> {
        loop {
            if let Some(head) = wire::take_head(&mut self.buf)? {
                return Ok(head);
            }
            if std::future::poll_fn(|cx| self.poll_fill(cx)).await? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the connection closed before a response arrived",
                ));
            }
        }
    }
}

/// An idle connection.
struct Idle {
    conn: Conn,
    since: Instant,
}

/// Idle connections shared by all client connections.
pub struct Pool {
    addr: String,
    idle: Mutex<Vec<Idle>>,
    /// How long an idle connection may be reused ([`IDLE_MAX`]; shorter in tests).
    idle_max: Duration,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Pool {
    pub fn new(addr: String) -> Arc<Pool> {
        Arc::new(Pool {
            addr,
            idle: Mutex::new(Vec::new()),
            idle_max: IDLE_MAX,
        })
    }

    /// LiteLLM's `host:port`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    fn usable(&self, i: &Idle) -> bool {
        i.since.elapsed() < self.idle_max && !i.conn.is_dead()
    }

    fn take(&self) -> Option<Conn> {
        let mut idle = lock(&self.idle);
        while let Some(i) = idle.pop() {
            if self.usable(&i) {
                return Some(i.conn);
            }
        }
        None
    }

    fn put(&self, conn: Conn) {
        let mut idle = lock(&self.idle);
        idle.retain(|i| self.usable(i));
        if idle.len() < POOL_MAX {
            idle.push(Idle {
                conn,
                since: Instant::now(),
            });
        }
    }

    async fn connect(&self) -> Result<Conn, SendError> {
        let tcp = TcpStream::connect(&self.addr)
            .await
            .map_err(SendError::Connect)?;
        let _ = tcp.set_nodelay(true);
        Ok(Conn {
            tcp,
            buf: BytesMut::with_capacity(READ_SPACE),
        })
    }

    /// Send a request (origin-form URI, `Host` set) and wait for the response head. A request
    /// that could not be written to an idle connection (LiteLLM closed it) is written once more
    /// to a new connection; once written, it is never sent again.
    pub async fn send(
        self: &Arc<Self>,
        req: Request<Bytes>,
    ) -> Result<Response<UpBody>, SendError> {
        let bytes = wire::encode(&req);
        let body = req.body();
        let mut conn = match self.take() {
            Some(mut c) => match c.write(&bytes, body).await {
                Ok(()) => c,
                Err(_) => {
                    let mut c = self.connect().await?;
                    c.write(&bytes, body).await.map_err(SendError::Broken)?;
                    c
                }
            },
            None => {
                let mut c = self.connect().await?;
                c.write(&bytes, body).await.map_err(SendError::Broken)?;
                c
            }
        };
        let head = conn.read_head().await.map_err(SendError::Broken)?;
        let framing = Framing::of(req.method(), &head);
        let mut resp = Response::new(UpBody {
            conn: Some(conn),
            keep_alive: head.keep_alive && !framing.until_close(),
            framing,
            pool: self.clone(),
        });
        *resp.status_mut() = head.status;
        *resp.headers_mut() = head.headers;
        Ok(resp)
    }
}

/// A response body from LiteLLM, read from its connection as the client's side polls it; the
/// connection goes back to the pool when the body has been read to its end.
pub struct UpBody {
    conn: Option<Conn>,
    framing: Framing,
    keep_alive: bool,
    pool: Arc<Pool>,
}

impl UpBody {
    fn broken(&mut self, e: io::Error) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.conn = None;
        Poll::Ready(Some(Err(e)))
    }

    /// Everything the buffer holds of the body, as one piece (several chunks that arrived in one
    /// read go to the client in one write).
    fn decoded(&mut self) -> io::Result<Option<Bytes>> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(None);
        };
        let Some(first) = self.framing.next(&mut conn.buf)? else {
            return Ok(None);
        };
        let Some(second) = self.framing.next(&mut conn.buf)? else {
            return Ok(Some(first));
        };
        let mut all = BytesMut::with_capacity(first.len() + second.len() + 64);
        all.extend_from_slice(&first);
        all.extend_from_slice(&second);
        while let Some(more) = self.framing.next(&mut conn.buf)? {
            all.extend_from_slice(&more);
        }
        Ok(Some(all.freeze()))
    }

    /// The body is complete: its connection can carry the next request.
    fn release(&mut self) {
        if let Some(conn) = self.conn.take() {
            if self.keep_alive && conn.buf.is_empty() {
                self.pool.put(conn);
            }
        }
    }
}

impl Drop for UpBody {
    fn drop(&mut self) {
        // A body already complete when the client's side took it (nothing left to read), which
        // hyper does not poll.
        if self.framing == Framing::Done {
            self.release();
        }
    }
}

impl Body for UpBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        loop {
            match this.decoded() {
                Err(e) => return this.broken(e),
                Ok(Some(data)) => {
                    if this.framing == Framing::Done {
                        this.release();
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Ok(None) if this.framing == Framing::Done => {
                    this.release();
                    return Poll::Ready(None);
                }
                Ok(None) => {}
            }
            let Some(conn) = this.conn.as_mut() else {
                return Poll::Ready(None);
            };
            match ready!(conn.poll_fill(cx)) {
                Ok(0) if this.framing.until_close() => {
                    this.framing = Framing::Done;
                    this.conn = None;
                    return Poll::Ready(None);
                }
                Ok(0) => {
                    return this.broken(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the connection closed before the response was complete",
                    ))
                }
                Ok(_) => {}
                Err(e) => return this.broken(e),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.framing == Framing::Done
    }

    fn size_hint(&self) -> SizeHint {
        match self.framing.remaining() {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

#[cfg(test)]
#[path = "upstream_tests.rs"]
mod tests;
