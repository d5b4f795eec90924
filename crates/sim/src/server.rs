//! HTTP routing, shared state and the listener (TCP_NODELAY on every connection: without it
//! small SSE frames wait for delayed ACKs and every timing is off by ~40 ms).

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use serde_json::json;
use tokio::net::TcpListener;

use crate::profile::Profiles;
use crate::surface::{self, Endpoint};
use crate::truth::TruthLog;
use crate::SimError;

/// How the simulator behaves.
#[derive(Clone)]
pub struct SimConfig {
    /// Seed for every random choice; the same seed gives the same plans.
    pub seed: u64,
    pub profiles: Profiles,
    /// When set, requests must present exactly this key; otherwise any non-empty key is accepted.
    pub api_key: Option<String>,
    pub truth: TruthLog,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 0,
            profiles: Profiles::builtin(),
            api_key: None,
            truth: TruthLog::default(),
        }
    }
}

/// State shared by all handlers.
pub struct SimState {
    pub config: SimConfig,
    seq: AtomicU64,
    /// Per scripted-agent task: how many final results it has given.
    results: std::sync::Mutex<std::collections::HashMap<String, u64>>,
}

impl SimState {
    pub(crate) fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    /// The next value of `script`'s result sequence.
    pub(crate) fn agent_draw(&self, script: &crate::surface::tools::Script) -> f64 {
        let n = match self.results.lock() {
            Ok(mut m) => {
                let c = m.entry(script.key()).or_insert(0);
                *c += 1;
                *c - 1
            }
            Err(_) => 0,
        };
        crate::surface::tools::Script::nth_draw(n)
    }
}

type St = State<Arc<SimState>>;

/// The simulator's routes.
pub fn router(config: SimConfig) -> Router {
    let first = config.truth.first_seq();
    let state = Arc::new(SimState {
        config,
        seq: AtomicU64::new(first),
        results: Default::default(),
    });
    Router::new()
        .route("/", get(root).head(root))
        .route("/v1/models", get(models))
        .route("/v1beta/models", get(google_models))
        .route("/v1/chat/completions", post(chat))
        .route("/chat/completions", post(chat))
        .route("/v1/responses", post(responses))
        .route("/responses", post(responses))
        .route("/v1/messages", post(messages))
        .route("/v1/messages/count_tokens", post(count_tokens))
        .route("/v1beta/models/{model_action}", post(google))
        .route("/v1/models/{model_action}", post(google))
        .route("/_sim/requests", get(truth).delete(clear_truth))
        .route("/_sim/profiles", get(profiles))
        .with_state(state)
}

/// Serve on `addr` until `shutdown` completes. Calls `on_bound` with the bound address first
/// (useful with port 0).
pub async fn serve(
    addr: &str,
    config: SimConfig,
    on_bound: impl FnOnce(SocketAddr),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), SimError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| SimError::Bind {
            addr: addr.to_string(),
            source,
        })?;
    let local = listener
        .local_addr()
        .map_err(|e| SimError::Io(e.to_string()))?;
    on_bound(local);
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!("cannot set TCP_NODELAY: {e}");
        }
    });
    axum::serve(listener, router(config))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| SimError::Io(format!("simulator server failed: {e}")))
}

async fn root() -> Json<serde_json::Value> {
    Json(json!({"service": "stackperf-sim", "status": "ok"}))
}

async fn models(State(st): St, headers: HeaderMap) -> Json<serde_json::Value> {
    let names: Vec<&str> = st.config.profiles.all().map(|p| p.name.as_str()).collect();
    if headers.contains_key("anthropic-version") {
        let data: Vec<_> = names
            .iter()
            .map(|n| json!({"type": "model", "id": n, "display_name": n, "created_at": "2026-01-01T00:00:00Z"}))
            .collect();
        return Json(
            json!({"data": data, "has_more": false, "first_id": names.first(), "last_id": names.last()}),
        );
    }
    let data: Vec<_> = names
        .iter()
        .map(|n| json!({"id": n, "object": "model", "created": 0, "owned_by": "stackperf-sim"}))
        .collect();
    Json(json!({"object": "list", "data": data}))
}

async fn google_models(State(st): St) -> Json<serde_json::Value> {
    let models: Vec<_> = st
        .config
        .profiles
        .all()
        .map(|p| json!({"name": format!("models/{}", p.name), "displayName": p.name,
            "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"]}))
        .collect();
    Json(json!({"models": models}))
}

async fn chat(
    State(st): St,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    surface::handle(st, Endpoint::Chat, &headers, &q, &body, None).await
}

async fn responses(
    State(st): St,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    surface::handle(st, Endpoint::Responses, &headers, &q, &body, None).await
}

async fn messages(
    State(st): St,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    surface::handle(st, Endpoint::Messages, &headers, &q, &body, None).await
}

async fn count_tokens(
    State(st): St,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    if let Some(resp) = surface::reject_unauthorized(&st, Endpoint::Messages, &headers, &q) {
        return resp;
    }
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(v) => Json(json!({"input_tokens": surface::estimate_tokens(&v)})).into_response(),
        Err(e) => Endpoint::Messages.error(
            StatusCode::BAD_REQUEST,
            &format!("request body is not valid JSON: {e}"),
        ),
    }
}

async fn google(
    State(st): St,
    Path(model_action): Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let (model, action) = model_action
        .rsplit_once(':')
        .unwrap_or((model_action.as_str(), ""));
    let sse = q.get("alt").is_some_and(|a| a == "sse");
    let surface = match action {
        "generateContent" => Endpoint::Google {
            stream: false,
            sse: false,
        },
        "streamGenerateContent" => Endpoint::Google { stream: true, sse },
        "countTokens" => {
            let probe = Endpoint::Google {
                stream: false,
                sse: false,
            };
            if let Some(resp) = surface::reject_unauthorized(&st, probe, &headers, &q) {
                return resp;
            }
            return match serde_json::from_slice::<serde_json::Value>(&body) {
                Ok(v) => Json(json!({"totalTokens": surface::estimate_tokens(&v)})).into_response(),
                Err(e) => probe.error(
                    StatusCode::BAD_REQUEST,
                    &format!("request body is not valid JSON: {e}"),
                ),
            };
        }
        other => {
            return Endpoint::Google {
                stream: false,
                sse: false,
            }
            .error(
                StatusCode::NOT_FOUND,
                &format!("unknown method `{other}` (use generateContent or streamGenerateContent)"),
            )
        }
    };
    surface::handle(st, surface, &headers, &q, &body, Some(model.to_string())).await
}

#[derive(serde::Deserialize)]
struct Since {
    since_seq: Option<u64>,
}

async fn truth(State(st): St, Query(q): Query<Since>) -> Json<serde_json::Value> {
    Json(json!({"requests": st.config.truth.snapshot(q.since_seq.unwrap_or(0))}))
}

async fn clear_truth(State(st): St) -> StatusCode {
    st.config.truth.clear();
    StatusCode::NO_CONTENT
}

async fn profiles(State(st): St) -> Json<serde_json::Value> {
    Json(json!({"profiles": st.config.profiles.all().collect::<Vec<_>>()}))
}
