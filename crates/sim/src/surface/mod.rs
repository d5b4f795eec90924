//! Request handling shared by all wire protocols: auth, parsing, fault injection and the
//! token-paced streaming driver. Each protocol only supplies an [`Encoder`].

mod anthropic;
mod google;
mod openai;
mod schema_fill;
pub mod tools;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use stackperf_contract::Surface;

use crate::profile::{Fault, Plan};
use crate::server::SimState;
use crate::truth::Recorder;

/// The endpoint a request arrived on: its protocol surface and, for Google's, how it streams.
#[derive(Debug, Clone, Copy)]
pub enum Endpoint {
    Chat,
    Responses,
    Messages,
    Google { stream: bool, sse: bool },
}

/// What the simulator needs from a request body.
pub struct Request {
    pub model: String,
    pub stream: bool,
    pub max_tokens: Option<u64>,
    pub include_usage: bool,
    pub input_tokens: u64,
}

/// Serializes one protocol's frames.
pub trait Encoder: Send {
    fn content_type(&self) -> &'static str {
        "text/event-stream"
    }
    /// Frames sent as soon as the response starts (before the first token).
    fn preamble(&mut self, plan: &Plan) -> Vec<Bytes>;
    /// One content delta.
    fn delta(&mut self, plan: &Plan, text: &str) -> Bytes;
    /// One reasoning (thinking) delta, before any content.
    fn reasoning(&mut self, plan: &Plan, text: &str) -> Bytes;
    /// Frames after the last token (finish reason, usage, terminator).
    fn finish(&mut self, plan: &Plan, text: &str) -> Vec<Bytes>;
    /// A frame a client cannot parse.
    fn malformed(&mut self) -> Bytes {
        Bytes::from_static(b"data: {\"id\": \"broken\", \"choices\": [{\"delta\": \n\n")
    }
    /// The whole non-streaming response body.
    fn full(&self, plan: &Plan, text: &str) -> Value;
}

impl Endpoint {
    pub fn surface(&self) -> Surface {
        match self {
            Endpoint::Chat => Surface::OpenaiChat,
            Endpoint::Responses => Surface::OpenaiResponses,
            Endpoint::Messages => Surface::AnthropicMessages,
            Endpoint::Google { .. } => Surface::GoogleGenerateContent,
        }
    }

    fn parse(&self, body: &Value, path_model: Option<String>) -> Result<Request, String> {
        let model = match path_model {
            Some(m) => m,
            None => body
                .get("model")
                .and_then(Value::as_str)
                .filter(|m| !m.is_empty())
                .ok_or("`model` is required and must be a non-empty string")?
                .to_string(),
        };
        let flag = |v: Option<&Value>| v.and_then(Value::as_bool).unwrap_or(false);
        let num = |v: Option<&Value>| v.and_then(Value::as_u64);
        let input_tokens = estimate_tokens(body);
        Ok(match self {
            Endpoint::Chat => Request {
                model,
                stream: flag(body.get("stream")),
                max_tokens: num(body.get("max_completion_tokens")).or(num(body.get("max_tokens"))),
                include_usage: flag(body.pointer("/stream_options/include_usage")),
                input_tokens,
            },
            Endpoint::Responses => Request {
                model,
                stream: flag(body.get("stream")),
                max_tokens: num(body.get("max_output_tokens")),
                include_usage: true,
                input_tokens,
            },
            Endpoint::Messages => {
                if body.get("max_tokens").and_then(Value::as_u64).is_none() {
                    return Err("max_tokens: Field required".into());
                }
                Request {
                    model,
                    stream: flag(body.get("stream")),
                    max_tokens: num(body.get("max_tokens")),
                    include_usage: true,
                    input_tokens,
                }
            }
            Endpoint::Google { stream, .. } => Request {
                model,
                stream: *stream,
                max_tokens: num(body.pointer("/generationConfig/maxOutputTokens")),
                include_usage: true,
                input_tokens,
            },
        })
    }

    fn encoder(&self, plan: &Plan, req: &Request) -> Box<dyn Encoder> {
        match self {
            Endpoint::Chat => Box::new(openai::Chat::new(plan, req.include_usage)),
            Endpoint::Responses => Box::new(openai::Responses::new(plan)),
            Endpoint::Messages => Box::new(anthropic::Messages::default()),
            Endpoint::Google { sse, .. } => Box::new(google::Generate::new(*sse)),
        }
    }

    /// An error response in this protocol's own format.
    pub fn error(&self, status: StatusCode, message: &str) -> Response {
        let code = status.as_u16();
        let body = match self {
            Endpoint::Chat | Endpoint::Responses => {
                let (kind, c) = match code {
                    400 => ("invalid_request_error", Value::Null),
                    401 => ("invalid_request_error", json!("invalid_api_key")),
                    429 => ("requests", json!("rate_limit_exceeded")),
                    _ => ("server_error", Value::Null),
                };
                json!({"error": {"message": message, "type": kind, "param": null, "code": c}})
            }
            Endpoint::Messages => {
                let kind = match code {
                    400 => "invalid_request_error",
                    401 => "authentication_error",
                    404 => "not_found_error",
                    429 => "rate_limit_error",
                    504 => "timeout_error",
                    _ => "api_error",
                };
                json!({"type": "error", "error": {"type": kind, "message": message}})
            }
            Endpoint::Google { .. } => {
                let st = match code {
                    400 => "INVALID_ARGUMENT",
                    401 => "UNAUTHENTICATED",
                    404 => "NOT_FOUND",
                    429 => "RESOURCE_EXHAUSTED",
                    504 => "DEADLINE_EXCEEDED",
                    _ => "INTERNAL",
                };
                json!({"error": {"code": code, "message": message, "status": st}})
            }
        };
        (status, axum::Json(body)).into_response()
    }
}

/// Rough token count of a request: string content / 4 (what matters is that it is stable and
/// grows with the prompt).
pub fn estimate_tokens(body: &Value) -> u64 {
    fn chars(v: &Value) -> usize {
        match v {
            Value::String(s) => s.chars().count(),
            Value::Array(a) => a.iter().map(chars).sum(),
            Value::Object(o) => o
                .iter()
                .filter(|(k, _)| k.as_str() != "model")
                .map(|(_, v)| chars(v))
                .sum(),
            _ => 0,
        }
    }
    (chars(body) as u64).div_ceil(4).max(1)
}

/// Check the client's key: any non-empty key, or exactly the configured one. Returns the
/// rejection to send, if any.
pub fn reject_unauthorized(
    st: &SimState,
    surface: Endpoint,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Option<Response> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let key = header("authorization")
        .and_then(|v| v.strip_prefix("Bearer ").map(str::to_string))
        .or_else(|| header("x-api-key"))
        .or_else(|| header("x-goog-api-key"))
        .or_else(|| query.get("key").cloned())
        .filter(|k| !k.trim().is_empty());
    match (key, &st.config.api_key) {
        (None, _) => Some(surface.error(
            StatusCode::UNAUTHORIZED,
            "no API key: send Authorization: Bearer, x-api-key or x-goog-api-key",
        )),
        (Some(k), Some(expected)) if &k != expected => Some(surface.error(
            StatusCode::UNAUTHORIZED,
            "incorrect API key provided to the simulated provider",
        )),
        _ => None,
    }
}

fn id_headers(resp: &mut Response, plan: &Plan) {
    if let Ok(v) = HeaderValue::from_str(&plan.id) {
        for name in ["x-sim-request-id", "x-request-id", "request-id"] {
            resp.headers_mut().insert(name, v.clone());
        }
    }
}

/// Handle one generation request on `surface`.
pub async fn handle(
    st: Arc<SimState>,
    surface: Endpoint,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    body: &Bytes,
    path_model: Option<String>,
) -> Response {
    let start = Instant::now();
    if let Some(resp) = reject_unauthorized(&st, surface, headers, query) {
        return resp;
    }
    let json: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return surface.error(
                StatusCode::BAD_REQUEST,
                &format!("request body is not valid JSON: {e}"),
            )
        }
    };
    let req = match surface.parse(&json, path_model) {
        Ok(r) => r,
        Err(msg) => return surface.error(StatusCode::BAD_REQUEST, &msg),
    };
    let cfg = &st.config;
    let plan = cfg.profiles.resolve(&req.model).plan(
        cfg.seed,
        st.next_seq(),
        &req.model,
        req.input_tokens,
        req.max_tokens,
    );
    let mut rec = cfg.truth.begin(&plan, surface.surface(), req.stream, start);
    let call = plan
        .scripted_agent
        .then(|| tools::scripted_call(surface, &json, &plan.id, |s| st.agent_draw(s)))
        .flatten();
    let mut resp = match (call, plan.fault.clone()) {
        (Some(call), _) => tool_response(surface, &plan, &req, &call, rec).await,
        (None, fault) => match fault {
            Some(Fault::RateLimit {
                retry_after_seconds,
            }) => {
                let mut r = surface.error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Rate limit reached for requests (simulated)",
                );
                if let Ok(v) = HeaderValue::from_str(&retry_after_seconds.to_string()) {
                    r.headers_mut().insert(header::RETRY_AFTER, v);
                }
                finish_rec(&mut rec, 429, "rate_limit");
                r
            }
            Some(Fault::ServerError) => {
                finish_rec(&mut rec, 500, "server_error");
                surface.error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The server had an error while processing your request (simulated)",
                )
            }
            Some(Fault::Timeout { hang_ms }) => {
                tokio::time::sleep(Duration::from_millis(hang_ms)).await;
                finish_rec(&mut rec, 504, "timeout");
                surface.error(
                    StatusCode::GATEWAY_TIMEOUT,
                    "The request timed out (simulated)",
                )
            }
            _ => {
                let enc = surface.encoder(&plan, &req);
                if req.stream {
                    stream_response(plan.clone(), enc, rec)
                } else {
                    full_response(&plan, enc, rec).await
                }
            }
        },
    };
    id_headers(&mut resp, &plan);
    resp
}

/// The scripted agent's tool call, after the plan's first-token time.
async fn tool_response(
    surface: Endpoint,
    plan: &Plan,
    req: &Request,
    call: &tools::ToolCall,
    mut rec: Recorder,
) -> Response {
    let think = call.think_ms as f64;
    tokio::time::sleep_until(due(&rec, plan.token_due_ms(0) + think)).await;
    rec.mark_first_token();
    rec.record.agent_result = call.right.map(|ok| if ok { "right" } else { "wrong" });
    rec.record.output_tokens = tools::call_tokens(call);
    rec.record.output_tokens_sent = rec.record.output_tokens;
    rec.mark_finished("tool_call");
    let (content_type, body) = if req.stream {
        let frames = tools::stream(surface, plan, call, req.include_usage);
        let stream = futures::stream::iter(frames.into_iter().map(Ok::<_, std::io::Error>));
        ("text/event-stream", Body::from_stream(stream))
    } else {
        (
            "application/json",
            Body::from(tools::full(surface, plan, call).to_string()),
        )
    };
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .body(body)
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn finish_rec(rec: &mut Recorder, status: u16, outcome: &str) {
    rec.record.status = status;
    rec.mark_finished(outcome);
}

fn due(rec: &Recorder, ms: f64) -> tokio::time::Instant {
    tokio::time::Instant::from_std(rec.start() + Duration::from_secs_f64(ms.max(0.0) / 1000.0))
}

async fn full_response(plan: &Plan, enc: Box<dyn Encoder>, mut rec: Recorder) -> Response {
    let last = plan.output_tokens.saturating_sub(1);
    tokio::time::sleep_until(due(&rec, plan.token_due_ms(last))).await;
    let text = plan.text(0, plan.output_tokens);
    let body = match plan.fault {
        Some(Fault::Disconnect { .. }) => {
            rec.mark_finished("disconnect");
            let err = std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "simulated disconnect",
            );
            Body::from_stream(futures::stream::once(async move { Err::<Bytes, _>(err) }))
        }
        Some(Fault::MalformedChunk { .. }) => {
            rec.mark_finished("malformed_chunk");
            Body::from(Bytes::from_static(
                b"{\"id\": \"broken\", \"choices\": [{\"message\": ",
            ))
        }
        _ => {
            rec.record.output_tokens_sent = plan.output_tokens;
            rec.mark_finished("ok");
            Body::from(enc.full(plan, &text).to_string())
        }
    };
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn stream_response(plan: Plan, mut enc: Box<dyn Encoder>, mut rec: Recorder) -> Response {
    let content_type = enc.content_type();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    tokio::spawn(async move {
        for frame in enc.preamble(&plan) {
            if tx.send(Ok(frame)).await.is_err() {
                return;
            }
        }
        let n = plan.output_tokens;
        let fault_at = match plan.fault {
            Some(Fault::Disconnect { after_tokens })
            | Some(Fault::MalformedChunk { after_tokens }) => Some(after_tokens),
            _ => None,
        };
        let mut k = 0;
        while k < plan.reasoning_tokens && fault_at.is_none() {
            tokio::time::sleep_until(due(&rec, plan.reasoning_due_ms(k))).await;
            let now = rec.elapsed_ms();
            let mut j = k + 1;
            while j < plan.reasoning_tokens && plan.reasoning_due_ms(j) <= now {
                j += 1;
            }
            let frame = enc.reasoning(&plan, &"hmm ".repeat((j - k) as usize));
            rec.mark_first_token();
            if tx.send(Ok(frame)).await.is_err() {
                return;
            }
            k = j;
        }
        let mut i = 0;
        while i < n {
            if fault_at == Some(i) {
                break;
            }
            tokio::time::sleep_until(due(&rec, plan.token_due_ms(i))).await;
            // Tokens that are already due go out together, as real providers batch them.
            let now = rec.elapsed_ms();
            let mut j = i + 1;
            while j < n && fault_at != Some(j) && plan.token_due_ms(j) <= now {
                j += 1;
            }
            let frame = enc.delta(&plan, &plan.text(i, j));
            rec.mark_first_token();
            if tx.send(Ok(frame)).await.is_err() {
                return;
            }
            rec.record.output_tokens_sent = j;
            i = j;
        }
        match plan.fault {
            Some(Fault::Disconnect { .. }) => {
                rec.mark_finished("disconnect");
                let err = std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "simulated disconnect",
                );
                let _ = tx.send(Err(err)).await;
            }
            Some(Fault::MalformedChunk { .. }) => {
                let _ = tx.send(Ok(enc.malformed())).await;
                rec.mark_finished("malformed_chunk");
            }
            _ => {
                for frame in enc.finish(&plan, &plan.text(0, n)) {
                    if tx.send(Ok(frame)).await.is_err() {
                        return;
                    }
                }
                rec.mark_finished("ok");
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// `data: {json}\n\n`, optionally preceded by an `event:` line.
pub(crate) fn sse(event: Option<&str>, data: &Value) -> Bytes {
    match event {
        Some(e) => Bytes::from(format!("event: {e}\ndata: {data}\n\n")),
        None => Bytes::from(format!("data: {data}\n\n")),
    }
}

pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
