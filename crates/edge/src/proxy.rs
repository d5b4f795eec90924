//! One request through the edge: route allowlist → key → model scope → forward to LiteLLM with a
//! correlation id → deliver the response while timing it → record how it ended.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::http::{
    header, HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode,
};

use crate::auth::{self, Caller, Keys};
use crate::body::{OutBody, Track};
use crate::now_s;
use crate::record::{EdgeRecord, EdgeStart, Outcome, Sink, RECORD_VERSION};
use crate::routes::{self, Refusal, Route, Surface};
use crate::sse::Observer;
use crate::upstream::{Pool, SendError};
pub use stackperf_contract::wire::{EDGE_TOKEN_HEADER, HEALTH_PATH, REQUEST_ID_HEADER};

/// Largest request body accepted (a harness's first request is ~50 KB).
const MAX_BODY: usize = 64 << 20;
/// The largest request head the edge forwards: LiteLLM's server (uvicorn on h11) refuses a head
/// over 16 KiB, and the edge adds its own headers (request id, edge token) to what it forwards.
/// Larger heads get a 431 that says so (hyper itself answers a bare 431 past `max_buf_size`).
pub const MAX_HEAD: usize = 15 << 10;

/// The size of a request head as it arrived: request line, headers, blank line.
fn head_len(parts: &hyper::http::request::Parts) -> usize {
    let line = parts.method.as_str().len() + parts.uri.to_string().len() + 12;
    let headers: usize = parts
        .headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    line + headers + 2
}

/// Everything a request handler needs, shared by all connections.
pub struct Shared {
    pub keys: Keys,
    /// Idle connections to LiteLLM.
    pub pool: Arc<Pool>,
    /// LiteLLM's `host:port`, as the `Host` header.
    upstream_host: Option<HeaderValue>,
    edge_token: Option<HeaderValue>,
    /// The bearer token that reads the metrics.
    metrics_token: Option<Vec<u8>>,
    pub sink: Sink,
    pub stall_ms: f64,
    pub metrics: Arc<crate::metrics::Metrics>,
    id_prefix: String,
    next_id: AtomicU64,
}

impl Shared {
    pub fn new(
        cfg: &crate::EdgeConfig,
        sink: Sink,
        metrics: Arc<crate::metrics::Metrics>,
        instance: String,
    ) -> Shared {
        let pool = Pool::new(cfg.upstream.clone());
        Shared {
            keys: Keys::new(cfg.registry.clone(), cfg.master_key.clone()),
            upstream_host: HeaderValue::from_str(pool.addr()).ok(),
            pool,
            edge_token: cfg
                .edge_token
                .as_deref()
                .and_then(|t| HeaderValue::from_str(t).ok()),
            metrics_token: cfg
                .metrics_token
                .clone()
                .filter(|t| !t.is_empty())
                .map(String::into_bytes),
            sink,
            stall_ms: cfg.stall_ms,
            metrics,
            id_prefix: instance,
            next_id: AtomicU64::new(1),
        }
    }

    fn new_id(&self) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        format!("edge-{}-{n}", self.id_prefix)
    }
}

fn json_response(status: u16, body: &serde_json::Value) -> Response<OutBody> {
    let mut r = Response::new(OutBody::Full(Some(Bytes::from(body.to_string()))));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn refuse(surface: Surface, why: Refusal, message: &str) -> Response<OutBody> {
    json_response(why.status(), &routes::error_body(surface, why, message))
}

/// A refusal, also logged (path only: a query may hold a key) so an operator can see what a
/// harness asked for that StackPerf does not forward.
fn refused(
    surface: Surface,
    why: Refusal,
    method: &Method,
    path: &str,
    message: &str,
) -> Response<OutBody> {
    let shown: String = path.chars().take(120).collect();
    tracing::warn!("refused {} {method} {shown}: {message}", why.status());
    refuse(surface, why, message)
}

/// Headers that are not passed on, in either direction: those of one connection (RFC 9110
/// §7.6.1), the body's framing (hyper frames each side's body itself: a `Content-Length` beside
/// chunked framing is never forwarded), `Host` and `Expect` (the edge's own hop), and the edge's
/// headers to LiteLLM.
fn passed_on(name: &HeaderName) -> bool {
    !matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "upgrade"
            | "content-length"
            | "host"
            | "expect"
            | REQUEST_ID_HEADER
            | EDGE_TOKEN_HEADER
    )
}

fn copy_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (k, v) in from {
        if passed_on(k) {
            to.append(k.clone(), v.clone());
        }
    }
}

/// `model` and `stream` from a JSON body, without building the whole document.
fn peek(body: &[u8]) -> (Option<String>, bool) {
    #[derive(serde::Deserialize)]
    struct Peek {
        model: Option<serde_json::Value>,
        stream: Option<serde_json::Value>,
    }
    match serde_json::from_slice::<Peek>(body) {
        Ok(p) => (
            p.model.and_then(|m| m.as_str().map(str::to_string)),
            p.stream.and_then(|s| s.as_bool()).unwrap_or(false),
        ),
        Err(_) => (None, false),
    }
}

/// Why the metrics are not served to this request: they need the scrape token (they name sessions,
/// variants and labels), and an edge started without one serves none.
fn metrics_refusal(
    sh: &Shared,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Option<Response<OutBody>> {
    let text = |status: u16, line: &str| {
        let mut r = Response::new(OutBody::Full(Some(Bytes::from(format!("{line}\n")))));
        *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::UNAUTHORIZED);
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        r
    };
    let Some(token) = &sh.metrics_token else {
        return Some(text(
            404,
            "stackperf: this edge serves no metrics (it was started without --metrics-token-env).",
        ));
    };
    match auth::extract(headers, query) {
        Some(sent) if auth::ct_eq(&sent, token) => None,
        _ => Some(text(401, "stackperf: the metrics need the scrape token (Authorization: Bearer …); the Prometheus configuration `stackperf stack up` writes carries it.")),
    }
}

/// Handle one request (never fails: every problem is an HTTP answer).
pub async fn handle(
    sh: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<OutBody>, Infallible> {
    let arrived = now_s();
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query();
    if parts.method == Method::GET && path == HEALTH_PATH {
        return Ok(json_response(200, &serde_json::json!({"ok": true})));
    }
    if parts.method == Method::GET && path == crate::metrics::METRICS_PATH {
        if let Some(refusal) = metrics_refusal(&sh, &parts.headers, query) {
            return Ok(refusal);
        }
        let text = sh.metrics.render(&sh.keys, arrived);
        let mut r = Response::new(OutBody::Full(Some(Bytes::from(text))));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        );
        return Ok(r);
    }
    let Some(route) = routes::classify(parts.method.as_str(), &path) else {
        let surface = routes::surface_for_errors(
            &path,
            parts.headers.contains_key("x-api-key"),
            parts.headers.contains_key("x-goog-api-key")
                || query.is_some_and(|q| q.contains("key=")),
        );
        let shown: String = path.chars().take(120).collect();
        return Ok(refused(surface, Refusal::NotFound, &parts.method, &path, &format!(
            "stackperf: {} {shown} is not an inference route. Through StackPerf a key reaches only model calls: chat completions, responses, messages (and count_tokens), models, generateContent.",
            parts.method
        )));
    };
    let key = auth::extract(&parts.headers, query);
    let caller = match sh.keys.check(key.as_deref(), arrived) {
        Ok(c) => c,
        Err(msg) => {
            return Ok(refused(
                route.surface,
                Refusal::Unauthorized,
                &parts.method,
                &path,
                &msg,
            ))
        }
    };
    // After the key check (a bad key is a 401 whatever its size), before the body is read.
    let head = head_len(&parts);
    if head > MAX_HEAD {
        return Ok(refused(
            route.surface,
            Refusal::HeadersTooLarge,
            &parts.method,
            &path,
            &format!(
                "stackperf: the request's headers are {} KiB; the limit is {} KiB (LiteLLM refuses larger ones).",
                head.div_ceil(1024),
                MAX_HEAD >> 10
            ),
        ));
    }
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return Ok(refuse(
                route.surface,
                Refusal::TooLarge,
                &format!(
                    "stackperf: the request body is larger than {} MiB.",
                    MAX_BODY >> 20
                ),
            ))
        }
        // The client went away while sending its body: nothing was forwarded, nothing to record.
        Err(_) => {
            return Ok(refuse(
                route.surface,
                Refusal::BadRequest,
                "stackperf: the request body could not be read.",
            ))
        }
    };
    let (model, stream) = match &route.path_model {
        Some(m) => (Some(m.clone()), route.path_stream),
        None => peek(&body),
    };
    if let Some(r) = scope(&caller, &route, model.as_deref()) {
        tracing::warn!(
            "refused {} {} {path}: model {:?} for {}",
            r.status().as_u16(),
            parts.method,
            model
                .as_deref()
                .unwrap_or("-")
                .chars()
                .take(80)
                .collect::<String>(),
            caller.alias()
        );
        return Ok(r);
    }
    Ok(forward(sh, parts, body, route, caller, model, stream, arrived).await)
}

/// Refuse a model the caller may not use (403), or a model-less request from a session key.
fn scope(caller: &Caller, route: &Route, model: Option<&str>) -> Option<Response<OutBody>> {
    if !route.needs_model || matches!(caller, Caller::Admin) {
        return None;
    }
    let Some(model) = model else {
        return Some(refuse(
            route.surface,
            Refusal::BadRequest,
            "stackperf: the request names no `model`.",
        ));
    };
    match caller.may_use(model) {
        Ok(()) => None,
        Err(allowed) if matches!(caller, Caller::Usage(_)) => {
            let shown: String = model.chars().take(80).collect();
            Some(refuse(route.surface, Refusal::Forbidden, &format!(
                "stackperf: usage key {} may call only {}; `{shown}` is not one of them. Ask for a key that includes it.",
                caller.alias(),
                allowed.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ")
            )))
        }
        Err(allowed) if allowed.is_empty() => Some(refuse(route.surface, Refusal::Forbidden, "stackperf: this session key predates model scoping and may call no model. Create a new session.")),
        Err(allowed) => {
            let shown: String = model.chars().take(80).collect();
            Some(refuse(route.surface, Refusal::Forbidden, &format!(
                "stackperf: this session's key may call only {}; `{shown}` is not its variant's model. Start a session of the variant that uses it.",
                allowed.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ")
            )))
        }
    }
}

/// The record written if nothing else finishes it (the client left while LiteLLM had not yet
/// answered: the handler's future is dropped).
struct Pending(Option<(EdgeRecord, Sink)>);

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some((mut rec, sink)) = self.0.take() {
            rec.finished = now_s();
            rec.outcome = Outcome::ClientDisconnected;
            rec.error = Some("the client closed the connection before LiteLLM answered".into());
            sink.send(rec);
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn forward(
    sh: Arc<Shared>,
    parts: hyper::http::request::Parts,
    body: Bytes,
    route: Route,
    caller: Caller,
    model: Option<String>,
    stream: bool,
    arrived: f64,
) -> Response<OutBody> {
    let edge_id = sh.new_id();
    let id_value = HeaderValue::from_str(&edge_id).unwrap_or(HeaderValue::from_static("edge"));
    let pq = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mut up = Request::new(body);
    *up.method_mut() = parts.method.clone();
    *up.uri_mut() = match pq.parse() {
        Ok(u) => u,
        Err(_) => {
            return refuse(
                route.surface,
                Refusal::BadRequest,
                "stackperf: the request path is not a valid URI.",
            )
        }
    };
    copy_headers(&parts.headers, up.headers_mut());
    if let Some(h) = &sh.upstream_host {
        up.headers_mut().insert(header::HOST, h.clone());
    }
    up.headers_mut().insert(REQUEST_ID_HEADER, id_value.clone());
    if let Some(t) = &sh.edge_token {
        up.headers_mut().insert(EDGE_TOKEN_HEADER, t.clone());
    }
    let mut rec = EdgeRecord {
        v: RECORD_VERSION,
        edge_id,
        key_alias: caller.alias().to_string(),
        session_id: match &caller {
            Caller::Session(e) => Some(e.session_id.clone()),
            Caller::Admin | Caller::Usage(_) => None,
        },
        method: parts.method.to_string(),
        route: parts.uri.path().chars().take(300).collect(),
        surface: route.surface,
        model,
        stream,
        arrived,
        response_started: None,
        first_content: None,
        first_visible: None,
        last_content: None,
        finished: arrived,
        http_status: None,
        outcome: Outcome::ClientDisconnected,
        error: None,
        deltas: 0,
        itl_ms: None,
        max_gap_ms: None,
        stalls: 0,
        stall_threshold_ms: sh.stall_ms,
        input_tokens: None,
        output_tokens: None,
        terminal: false,
        bytes_out: 0,
        litellm_call_id: None,
        tool_calls: Vec::new(),
    };
    // Only model calls become rows; listing models and counting tokens are passed through.
    let mut pending = Pending(route.generates.then(|| (rec.clone(), sh.sink.clone())));
    if route.generates {
        sh.sink.start_soon(EdgeStart::of(&rec));
    }
    let resp = match sh.pool.send(up).await {
        Ok(r) => r,
        Err(e) => {
            let (outcome, what, cause) = match e {
                SendError::Connect(e) => {
                    (Outcome::ProxyUnavailable, "is not reachable", e.to_string())
                }
                SendError::Broken(e) => (
                    Outcome::ProxyDisconnected,
                    "closed the connection before answering",
                    e,
                ),
                SendError::Invalid(e) => (
                    Outcome::ProxyDisconnected,
                    "answered with something that is not a valid HTTP response",
                    e,
                ),
            };
            tracing::warn!("LiteLLM at {}: {cause}", sh.pool.addr());
            let message = format!("stackperf: the LiteLLM proxy behind StackPerf {what} ({}). `stackperf stack status` shows its state; `stackperf stack up` restarts it.", sh.pool.addr());
            if let Some((mut r, sink)) = pending.0.take() {
                r.finished = now_s();
                r.outcome = outcome;
                r.http_status = Some(502);
                r.error = Some(message.clone());
                sink.send(r);
            }
            let mut resp = refuse(route.surface, Refusal::Unavailable, &message);
            resp.headers_mut().insert(REQUEST_ID_HEADER, id_value);
            return resp;
        }
    };
    let generates = pending.0.take().is_some();
    let (rparts, rbody) = resp.into_parts();
    let sse = rparts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    rec.http_status = Some(rparts.status.as_u16());
    rec.litellm_call_id = rparts
        .headers
        .get("x-litellm-call-id")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(100).collect());
    rec.response_started = Some(now_s());
    let mut out = Response::new(OutBody::Full(None));
    *out.status_mut() = rparts.status;
    copy_headers(&rparts.headers, out.headers_mut());
    out.headers_mut().insert(REQUEST_ID_HEADER, id_value);
    *out.body_mut() = if generates {
        OutBody::timed(
            rbody,
            Track {
                rec,
                obs: Observer::new(sh.stall_ms),
                sse,
                sink: sh.sink.clone(),
            },
        )
    } else {
        match rbody.collect().await {
            Ok(b) => OutBody::Full(Some(b.to_bytes())),
            Err(_) => OutBody::Full(None),
        }
    };
    out
}
