//! StackPerf's local query API (`stackperf serve`): read-only HTTP JSON on loopback over the same
//! use-case layer the CLI and the desktop call. Every request carries the bearer token kept in
//! the OS keychain; errors are `{code, message, field?}` like the desktop's (docs/api.md).

mod openapi;
mod params;
mod usage;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use strum::VariantArray;

use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use sha2::{Digest, Sha256};
use stackperf_core::analysis::group::GroupBy;
use stackperf_core::app::{App, ExportFormat, ExportRequest, ExportWhat, MAX_PAGE};
use stackperf_core::secrets::Secret;
use stackperf_core::{Error, ErrorCode};

pub use openapi::document as openapi_document;
use params::Params;

/// The longest a query may run before the API answers 503.
pub const QUERY_TIME_LIMIT: Duration = Duration::from_secs(30);
/// Sessions per page when the request does not say.
pub const DEFAULT_PAGE: u32 = 100;

/// An error as the API sends it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ApiError {
    #[serde(skip)]
    status: StatusCode,
    pub code: String,
    pub message: String,
    /// The query parameter at fault, for a bad filter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    fn field(field: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: ErrorCode::BadField.as_str().into(),
            message: format!("{field}: {}", message.into()),
            field: Some(field.to_string()),
        }
    }

    fn unauthorized(message: &str) -> ApiError {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: "unauthorized".into(),
            message: message.into(),
            field: None,
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        let code = e.code();
        let (status, field) = match &e {
            Error::BadField { field, .. } => (StatusCode::BAD_REQUEST, Some(field.clone())),
            Error::NotFound { .. } => (StatusCode::NOT_FOUND, None),
            Error::Database { .. }
            | Error::DatabaseCorrupt { .. }
            | Error::DatabaseNewer { .. } => (StatusCode::SERVICE_UNAVAILABLE, None),
            // The server's file system, not the request: the API caller cannot fix it.
            Error::Io { .. } => (StatusCode::INTERNAL_SERVER_ERROR, None),
            e if e.is_user_error() => (StatusCode::BAD_REQUEST, None),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, None),
        };
        ApiError {
            status,
            code: code.as_str().into(),
            message: e.to_string(),
            field,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, Json(&self)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}

type ApiResult<T> = Result<Json<T>, ApiError>;

struct Shared {
    app: Arc<App>,
    /// SHA-256 of the token: compared in constant time, the token itself not kept around.
    token_hash: [u8; 32],
}

/// The API's routes over `app`, every one behind the bearer token.
pub fn router(app: Arc<App>, token: &Secret) -> Router {
    let shared = Arc::new(Shared {
        app,
        token_hash: Sha256::digest(token.expose().as_bytes()).into(),
    });
    Router::new()
        .route("/api/v1/health", get(health))
        .route("/api/v1/openapi.json", get(openapi_json))
        .route("/api/v1/experiments", get(experiments))
        .route("/api/v1/variants", get(variants))
        .route("/api/v1/task-cards", get(task_cards))
        .route("/api/v1/machines", get(machines))
        .route("/api/v1/sessions", get(sessions))
        .route("/api/v1/sessions/{id}", get(session))
        .route("/api/v1/comparisons", get(comparison_grouped))
        .route("/api/v1/comparisons/{experiment}", get(comparison))
        .route("/api/v1/exports/{what}", get(export))
        .route("/api/v1/usage", get(usage::report))
        .route("/api/v1/usage/keys", get(usage::keys))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(shared.clone(), authenticate))
        .with_state(shared)
}

/// Whether `addr` may be bound: loopback always, anything else only when the user opted in.
pub fn check_bind(addr: &SocketAddr, allow_remote: bool) -> Result<(), Error> {
    if addr.ip().is_loopback() || allow_remote {
        return Ok(());
    }
    Err(Error::Invalid(format!(
        "{addr} is not a loopback address: the API would be reachable from other machines. Bind 127.0.0.1, or pass --allow-remote if that is what you want (the bearer token still applies; traffic is not encrypted)."
    )))
}

/// Serve until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    token: &Secret,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    axum::serve(listener, router(app, token))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| Error::Internal(format!("the API server stopped: {e}")))
}

async fn authenticate(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    req: Request,
    next: Next,
) -> Response {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(given) = given else {
        return ApiError::unauthorized(
            "no bearer token: send `Authorization: Bearer <token>` (`stackperf api token` prints it)",
        )
        .into_response();
    };
    let hash: [u8; 32] = Sha256::digest(given.trim().as_bytes()).into();
    let same = hash
        .iter()
        .zip(s.token_hash.iter())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0;
    if !same {
        return ApiError::unauthorized(
            "wrong bearer token (`stackperf api token` prints the current one; a rotated token needs the server restarted)",
        )
        .into_response();
    }
    next.run(req).await
}

/// Run a query under the time limit.
async fn limited<T>(f: impl std::future::Future<Output = Result<T, Error>>) -> Result<T, ApiError> {
    match tokio::time::timeout(QUERY_TIME_LIMIT, f).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "timeout".into(),
            message: format!(
                "the query took longer than {} s; narrow it with filters",
                QUERY_TIME_LIMIT.as_secs()
            ),
            field: None,
        }),
    }
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct Health {
    pub status: String,
    pub version: String,
    /// Sessions in the database (it answered).
    pub sessions: u64,
}

async fn health(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery) -> ApiResult<Health> {
    Params::parse(q.as_deref(), &[])?;
    let page = limited(s.app.sessions_page(&Default::default(), 1, 0)).await?;
    Ok(Json(Health {
        status: "ok".into(),
        version: stackperf_core::APP_VERSION.into(),
        sessions: page.total,
    }))
}

async fn openapi_json(RawQuery(q): RawQuery) -> ApiResult<serde_json::Value> {
    Params::parse(q.as_deref(), &[])?;
    Ok(Json(openapi::document()))
}

async fn experiments(
    State(s): State<Arc<Shared>>,
    RawQuery(q): RawQuery,
) -> ApiResult<Vec<stackperf_core::app::ExperimentChoice>> {
    Params::parse(q.as_deref(), &[])?;
    Ok(Json(s.app.experiments()?))
}

async fn variants(
    State(s): State<Arc<Shared>>,
    RawQuery(q): RawQuery,
) -> ApiResult<Vec<stackperf_core::app::VariantInfo>> {
    let p = Params::parse(q.as_deref(), &["experiment"])?;
    let mut all = s.app.variants()?;
    if let Some(e) = p.one("experiment")? {
        all.retain(|v| v.experiments.contains(&e));
    }
    Ok(Json(all))
}

async fn task_cards(
    State(s): State<Arc<Shared>>,
    RawQuery(q): RawQuery,
) -> ApiResult<Vec<stackperf_core::app::TaskCardInfo>> {
    Params::parse(q.as_deref(), &[])?;
    Ok(Json(s.app.task_cards()?))
}

async fn machines(
    State(s): State<Arc<Shared>>,
    RawQuery(q): RawQuery,
) -> ApiResult<Vec<stackperf_core::store::model::Machine>> {
    Params::parse(q.as_deref(), &[])?;
    Ok(Json(limited(s.app.machines()).await?))
}

/// The filters and paging `/sessions` takes.
pub const SESSION_PARAMS: &[&str] = &[
    "experiment",
    "variant",
    "provider",
    "model",
    "harness",
    "task_card",
    "status",
    "label",
    "machine",
    "since",
    "until",
    "limit",
    "offset",
];

async fn sessions(
    State(s): State<Arc<Shared>>,
    RawQuery(q): RawQuery,
) -> ApiResult<stackperf_core::app::SessionPage> {
    let p = Params::parse(q.as_deref(), SESSION_PARAMS)?;
    let filter = p.session_filter()?;
    let limit = match p.number("limit")? {
        Some(n) if n == 0 || n > u64::from(MAX_PAGE) => {
            return Err(ApiError::field(
                "limit",
                format!("{n} is out of range: 1 to {MAX_PAGE}"),
            ))
        }
        Some(n) => n as u32,
        None => DEFAULT_PAGE,
    };
    let offset = p.number("offset")?.unwrap_or(0);
    Ok(Json(
        limited(s.app.sessions_page(&filter, limit, offset)).await?,
    ))
}

async fn session(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<stackperf_core::app::SessionDetail> {
    Params::parse(q.as_deref(), &[])?;
    Ok(Json(limited(s.app.session_detail(&id)).await?))
}

async fn comparison(
    State(s): State<Arc<Shared>>,
    Path(experiment): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<stackperf_core::report::Comparison> {
    Params::parse(q.as_deref(), &[])?;
    Ok(Json(limited(s.app.compare(&experiment)).await?))
}

async fn comparison_grouped(
    State(s): State<Arc<Shared>>,
    RawQuery(q): RawQuery,
) -> ApiResult<stackperf_core::report::Comparison> {
    let p = Params::parse(q.as_deref(), &["by", "experiment"])?;
    let by = match p.one("by")? {
        None => {
            return Err(ApiError::field(
                "by",
                "required: harness, provider, model or variant",
            ))
        }
        Some(b) => GroupBy::parse(&b).ok_or_else(|| {
            ApiError::field(
                "by",
                format!("`{b}` is not one of harness, provider, model, variant"),
            )
        })?,
    };
    Ok(Json(
        limited(s.app.compare_by(by, &p.all("experiment"))).await?,
    ))
}

async fn export(
    State(s): State<Arc<Shared>>,
    Path(what): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let p = Params::parse(
        q.as_deref(),
        &[
            "format",
            "experiment",
            "session",
            "metric",
            "include_internal",
        ],
    )?;
    let what = ExportWhat::from_name(&what).ok_or_else(|| {
        let known: Vec<&str> = ExportWhat::VARIANTS.iter().map(|w| w.name()).collect();
        ApiError::field(
            "what",
            format!("`{what}` is not one of {}", known.join(", ")),
        )
    })?;
    let fits = ExportFormat::fits(what);
    let format = match p.one("format")? {
        None => fits[0],
        Some(f) => ExportFormat::from_extension(&f)
            .filter(|x| fits.contains(x))
            .ok_or_else(|| {
                let ok: Vec<&str> = fits.iter().map(|x| x.extension()).collect();
                ApiError::field(
                    "format",
                    format!("`{f}` does not fit; use {}", ok.join(" or ")),
                )
            })?,
    };
    let req = ExportRequest {
        what,
        format,
        experiment: p.one("experiment")?,
        session: p.one("session")?,
        metric: p.one("metric")?,
        path: String::new(),
        include_internal: p.flag("include_internal")?,
    };
    let d = limited(s.app.export_bytes(&req)).await?;
    let disposition = format!("attachment; filename=\"{}\"", d.file_name.replace('"', ""));
    Ok((
        [
            (header::CONTENT_TYPE, d.content_type.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        d.bytes,
    )
        .into_response())
}

async fn not_found(req: Request) -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        code: ErrorCode::NotFound.as_str().into(),
        message: format!(
            "no endpoint {} {}; the API is described at /api/v1/openapi.json",
            req.method(),
            req.uri().path()
        ),
        field: None,
    }
}
