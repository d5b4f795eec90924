//! The response body the client receives: LiteLLM's body passed through frame by frame, timed
//! at the moment each frame is handed to the client's connection, and recorded when it ends —
//! completely, broken by LiteLLM, or abandoned by the client.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use crate::now_s;
use crate::record::{EdgeRecord, Outcome, Sink};
use crate::sse::Observer;
use crate::upstream::UpBody;

/// How a response body ended.
enum End {
    Complete,
    ProxyBroke(String),
    ClientGone,
}

/// The record of a request whose response is being delivered.
pub(crate) struct Track {
    pub rec: EdgeRecord,
    pub obs: Observer,
    /// The response is an SSE stream (its end marker is expected).
    pub sse: bool,
    pub sink: Sink,
}

impl Track {
    fn finish(&mut self, end: End) {
        let now = now_s();
        self.obs.finish(now);
        let s = &self.obs.stats;
        let r = &mut self.rec;
        r.finished = now;
        r.first_content = s.first_content;
        r.first_visible = s.first_visible;
        r.last_content = s.last_content;
        r.deltas = s.deltas;
        r.itl_ms = s.itl_ms();
        r.max_gap_ms = s.max_gap_ms;
        r.stalls = s.stalls;
        r.input_tokens = s.input_tokens;
        r.output_tokens = s.output_tokens;
        r.terminal = s.terminal;
        r.bytes_out = s.bytes;
        r.tool_calls = s.tool_calls.clone();
        let status = r.http_status.unwrap_or(0);
        // A client that leaves once it has the stream's end marker (Codex closes right after
        // `response.completed`) had the whole answer: its request ended there.
        let done_early = matches!(end, End::ClientGone)
            && self.sse
            && status < 400
            && s.error.is_none()
            && s.terminal_at.is_some();
        if done_early {
            r.finished = s.terminal_at.unwrap_or(now);
        }
        (r.outcome, r.error) = match end {
            End::ClientGone if done_early => (Outcome::Ok, None),
            End::ClientGone => (
                Outcome::ClientDisconnected,
                Some("the client closed the connection before the response was complete".into()),
            ),
            End::ProxyBroke(e) => (
                Outcome::ProxyDisconnected,
                Some(format!("LiteLLM's connection broke mid-response: {e}")),
            ),
            End::Complete if status >= 400 => (Outcome::HttpError, None),
            End::Complete if self.sse && s.error.is_some() => {
                (Outcome::StreamError, s.error.clone())
            }
            End::Complete if self.sse && !s.terminal => (
                Outcome::StreamError,
                Some("the stream ended without its end marker".into()),
            ),
            End::Complete => (Outcome::Ok, None),
        };
        self.sink.send_soon(self.rec.clone());
    }
}

/// A response body to the client.
pub enum OutBody {
    Full(Option<Bytes>),
    Timed(Box<Timed>),
}

/// LiteLLM's response body, observed.
pub struct Timed {
    inner: UpBody,
    track: Option<Track>,
    /// The last frame handed over, with its hand-over time: parsed on a later turn, after hyper
    /// has written it, so that parsing never delays a byte the client waits for.
    unparsed: Option<(f64, Bytes)>,
    /// The task has yielded once since `unparsed` was handed over (hyper has flushed it).
    yielded: bool,
}

impl OutBody {
    pub(crate) fn timed(inner: UpBody, track: Track) -> OutBody {
        OutBody::Timed(Box::new(Timed {
            inner,
            track: Some(track),
            unparsed: None,
            yielded: false,
        }))
    }
}

impl Timed {
    /// Parse the frame handed over last, if any.
    fn parse(&mut self) {
        if let (Some((at, data)), Some(track)) = (self.unparsed.take(), self.track.as_mut()) {
            track.obs.frame(at, &data);
        }
        self.yielded = false;
    }

    fn end(&mut self, end: End) {
        self.parse();
        if let Some(mut t) = self.track.take() {
            t.finish(end);
        }
    }

    fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if self.unparsed.is_some() {
            if !self.yielded {
                // Let hyper flush the frame first (it writes once the body is pending); this
                // task runs again at once.
                self.yielded = true;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            self.parse();
        }
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.unparsed = Some((now_s(), data.clone()));
                }
                if self.inner.is_end_stream() {
                    self.end(End::Complete);
                }
            }
            Poll::Ready(Some(Err(e))) => self.end(End::ProxyBroke(e.to_string())),
            Poll::Ready(None) => self.end(End::Complete),
            Poll::Pending => {}
        }
        polled
    }
}

impl Drop for Timed {
    fn drop(&mut self) {
        // Dropped before its end was seen: the client went away.
        self.end(End::ClientGone);
    }
}

impl Body for OutBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.get_mut() {
            OutBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            OutBody::Timed(t) => t.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            OutBody::Full(b) => b.is_none(),
            OutBody::Timed(t) => t.inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            OutBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            OutBody::Full(None) => SizeHint::with_exact(0),
            OutBody::Timed(t) => t.inner.size_hint(),
        }
    }
}
