//! The edge's connections to LiteLLM: hyper's HTTP/1.1 client connection
//! (`hyper::client::conn::http1`), driven inside the task of the request that uses it.
//!
//! hyper parses and frames LiteLLM's responses (RFC 9112 §6: `Transfer-Encoding` over
//! `Content-Length`, differing or malformed lengths refused, chunk lines checked). Its connection
//! future is polled by the request's own future — while waiting for the response head
//! ([`Pool::send`]) and then by the response body just before the body itself ([`UpBody`]) — so a
//! chunk LiteLLM sends is read, handed over and written to the client in one poll of one task,
//! instead of in a connection task of its own that wakes the client's task through a channel.
//! Idle connections are shared by all client connections through a small [`Pool`]; a pooled
//! connection is polled and asked whether it is ready (hyper's own checks) before it is used, and
//! a request a connection gave back unwritten (it closed meanwhile) goes once more on a new one.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::{http1, TrySendError};
use hyper::http::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

type Sender = http1::SendRequest<Full<Bytes>>;
type Conn = Pin<Box<http1::Connection<TokioIo<TcpStream>, Full<Bytes>>>>;
type Exchanged = Result<Response<Incoming>, TrySendError<Request<Full<Bytes>>>>;

/// Below uvicorn's 5 s keep-alive, so a reused connection is never one LiteLLM is closing.
const IDLE_MAX: Duration = Duration::from_secs(3);
/// Idle connections kept for other client connections.
const POOL_MAX: usize = 32;
/// The largest response head accepted from LiteLLM.
const MAX_HEAD: usize = 256 << 10;

/// Why a request did not get a response head.
#[derive(Debug)]
pub enum SendError {
    /// No connection could be made (LiteLLM is not listening).
    Connect(io::Error),
    /// The connection broke before the response head arrived.
    Broken(String),
    /// LiteLLM answered something that is not a valid HTTP/1.1 response head.
    Invalid(String),
}

/// A hyper error with its causes, in words; a connection that ended too soon says so first.
fn describe(e: &hyper::Error) -> String {
    let mut causes = Vec::new();
    let mut eof = e.is_incomplete_message();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        eof |= c
            .downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::UnexpectedEof);
        causes.push(c.to_string());
        cause = c.source();
    }
    let text = std::iter::once(e.to_string())
        .chain(causes)
        .collect::<Vec<_>>()
        .join(": ");
    if eof {
        format!("the connection closed before the response was complete ({text})")
    } else {
        text
    }
}

/// A connection and its driver (gone once the connection has closed: dropping it gives back,
/// unwritten, a request hyper had queued on it).
struct Pair {
    sender: Sender,
    conn: Option<Conn>,
    /// The same socket, to look at it directly before it is reused: the runtime learns of a close
    /// only when its event loop next runs, which under load can be after the next request went.
    peek: std::net::TcpStream,
}

impl Pair {
    /// Poll the driver; forget it once the connection has closed (or failed).
    fn drive(&mut self, cx: &mut Context<'_>) {
        if let Some(c) = self.conn.as_mut() {
            if c.as_mut().poll(cx).is_ready() {
                self.conn = None;
            }
        }
    }

    /// Whether an idle connection can carry a request now: the socket has neither seen its end
    /// nor holds bytes nobody asked for (one non-blocking peek), and hyper, its driver polled
    /// once, says it is ready.
    async fn ready(&mut self) -> bool {
        let mut b = [0u8; 1];
        let quiet =
            matches!(self.peek.peek(&mut b), Err(e) if e.kind() == io::ErrorKind::WouldBlock);
        quiet
            && std::future::poll_fn(|cx| {
                self.drive(cx);
                let ready = matches!(self.sender.poll_ready(cx), Poll::Ready(Ok(())));
                Poll::Ready(ready && self.conn.is_some())
            })
            .await
    }

    /// Send `req` and wait for the response head, driving the connection meanwhile: the request
    /// is handed to hyper, then the driver writes it at once and reads the answer. A connection
    /// that closes first gives the request back unwritten, or fails it.
    async fn exchange(&mut self, req: Request<Full<Bytes>>) -> Exchanged {
        let mut sent = std::pin::pin!(self.sender.try_send_request(req));
        let conn = &mut self.conn;
        std::future::poll_fn(|cx| {
            if let Poll::Ready(r) = sent.as_mut().poll(cx) {
                return Poll::Ready(r);
            }
            if let Some(c) = conn.as_mut() {
                if c.as_mut().poll(cx).is_ready() {
                    *conn = None;
                }
            }
            sent.as_mut().poll(cx)
        })
        .await
    }
}

/// An idle connection (its driver not polled while it waits here).
struct Idle {
    pair: Pair,
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

    fn take(&self) -> Option<Pair> {
        let mut idle = lock(&self.idle);
        while let Some(i) = idle.pop() {
            if i.since.elapsed() < self.idle_max {
                return Some(i.pair);
            }
        }
        None
    }

    fn put(&self, pair: Pair) {
        let mut idle = lock(&self.idle);
        idle.retain(|i| i.since.elapsed() < self.idle_max && !i.pair.sender.is_closed());
        if idle.len() < POOL_MAX {
            idle.push(Idle {
                pair,
                since: Instant::now(),
            });
        }
    }

    /// A pooled connection that is ready, else a new one.
    /// `(connection, whether it was reused)`.
    async fn checkout(&self) -> Result<(Pair, bool), SendError> {
        while let Some(mut pair) = self.take() {
            if pair.ready().await {
                return Ok((pair, true));
            }
        }
        Ok((self.connect().await?, false))
    }

    async fn connect(&self) -> Result<Pair, SendError> {
        let tcp = TcpStream::connect(&self.addr)
            .await
            .map_err(SendError::Connect)?;
        let _ = tcp.set_nodelay(true);
        // A second descriptor of the socket (non-blocking like the first) for `Pair::ready`.
        let peek = std::os::fd::AsFd::as_fd(&tcp)
            .try_clone_to_owned()
            .map(std::net::TcpStream::from)
            .map_err(SendError::Connect)?;
        let (sender, conn) = http1::Builder::new()
            .max_buf_size(MAX_HEAD)
            .handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| SendError::Broken(describe(&e)))?;
        Ok(Pair {
            sender,
            conn: Some(Box::pin(conn)),
            peek,
        })
    }

    /// Send a request (origin-form URI, `Host` set) and wait for the response head. It goes once
    /// more, on a new connection, when a reused connection gave it back unwritten or closed
    /// without a byte of answer (LiteLLM closed that idle connection as the request went: it never
    /// read it); never after any of an answer arrived.
    pub async fn send(
        self: &Arc<Self>,
        req: Request<Bytes>,
    ) -> Result<Response<UpBody>, SendError> {
        let mut req = req.map(Full::new);
        let (mut pair, mut reused) = self.checkout().await?;
        loop {
            let spare = reused.then(|| copy(&req));
            let mut e = match pair.exchange(req).await {
                Ok(resp) => {
                    let (parts, incoming) = resp.into_parts();
                    let body = UpBody {
                        incoming,
                        pair: pair.conn.is_some().then_some(pair),
                        pool: self.clone(),
                    };
                    return Ok(Response::from_parts(parts, body));
                }
                Err(e) => e,
            };
            let again = match e.take_message() {
                Some(unsent) => Some(unsent),
                None if e.error().is_incomplete_message() => spare,
                None => None,
            };
            match again {
                Some(r) if reused => {
                    (req, pair, reused) = (r, self.connect().await?, false);
                }
                _ => {
                    let e = e.into_error();
                    let text = describe(&e);
                    return Err(if e.is_parse() || e.is_parse_status() {
                        SendError::Invalid(text)
                    } else {
                        SendError::Broken(text)
                    });
                }
            }
        }
    }
}

/// A copy of a request (its body is shared, not copied).
fn copy(req: &Request<Full<Bytes>>) -> Request<Full<Bytes>> {
    let mut r = Request::new(req.body().clone());
    *r.method_mut() = req.method().clone();
    *r.uri_mut() = req.uri().clone();
    *r.version_mut() = req.version();
    *r.headers_mut() = req.headers().clone();
    r
}

/// A response body from LiteLLM. Polling it drives its connection first, so what the connection
/// read is in the body when the body is polled; read to its end, the connection goes back to the
/// pool (a body dropped before its end closes it).
pub struct UpBody {
    incoming: Incoming,
    pair: Option<Pair>,
    pool: Arc<Pool>,
}

impl UpBody {
    fn drive(&mut self, cx: &mut Context<'_>) {
        if let Some(p) = self.pair.as_mut() {
            p.drive(cx);
            if p.conn.is_none() {
                // Closed (or failed): the body learns how from hyper.
                self.pair = None;
            }
        }
    }

    /// The body is complete: once its driver has seen that, the connection can carry the next
    /// request (checked again when it is taken from the pool).
    fn release(&mut self, cx: Option<&mut Context<'_>>) {
        if let Some(cx) = cx {
            self.drive(cx);
        }
        if let Some(pair) = self.pair.take() {
            if pair.conn.is_some() && !pair.sender.is_closed() {
                self.pool.put(pair);
            }
        }
    }
}

impl Drop for UpBody {
    fn drop(&mut self) {
        // A body already complete when the client's side took it, which hyper does not poll.
        if self.incoming.is_end_stream() {
            self.release(None);
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
        this.drive(cx);
        match Pin::new(&mut this.incoming).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if this.incoming.is_end_stream() {
                    this.release(Some(cx));
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.pair = None;
                Poll::Ready(Some(Err(io::Error::other(describe(&e)))))
            }
            Poll::Ready(None) => {
                this.release(Some(cx));
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}

#[cfg(test)]
#[path = "upstream_tests.rs"]
mod tests;
