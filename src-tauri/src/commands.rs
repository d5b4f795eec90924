//! The command surface: each command calls one `stackperf-core` service and returns its result.

use std::sync::Arc;

use serde::Serialize;
use stackperf_core::app::{
    App, Catalog, Check, Choices, ConfigKind, DraftCheck, EnvView, ExportRequest, OtlpSettings,
    RequestBrief, RequestsPage, StackView, StartSession, TrafficReport, Written,
};
use stackperf_core::config::RenderFormat;
use stackperf_core::report::{Comparison, SessionStats};
use stackperf_core::secrets::{Secret, SecretInfo};
use stackperf_core::session::{FinalStatus, SessionRow};
use stackperf_core::stack::{DownReport, Runtime, Service, UpReport};
use stackperf_core::timestamp::Timestamp;
use stackperf_core::ErrorCode;
use tauri::{AppHandle, State};
use tauri_plugin_clipboard_manager::ClipboardExt;
use tauri_specta::{collect_commands, collect_events, Builder};

use crate::error::{UiError, UiResult};
use crate::events::{CaptureError, CaptureUpdate, StackProgress, TrafficProgress, Window};

/// The application, or why it could not open (shown by every command).
pub struct Shared(pub Result<Arc<App>, UiError>);

impl Shared {
    pub(crate) fn app(&self) -> UiResult<Arc<App>> {
        self.0.clone()
    }
}

/// Where things are, for the status bar and the first-run hints.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct AppInfo {
    pub version: String,
    pub config_dir: String,
    pub data_dir: String,
    pub db_path: String,
}

#[tauri::command]
#[specta::specta]
pub async fn app_info(state: State<'_, Shared>) -> UiResult<AppInfo> {
    let app = state.app()?;
    Ok(AppInfo {
        version: stackperf_core::APP_VERSION.to_string(),
        config_dir: app.paths.config_dir.display().to_string(),
        data_dir: app.paths.data_dir.display().to_string(),
        db_path: app.paths.db_path.display().to_string(),
    })
}

/// The UI painted its first frame: log how long start-up took (the start-up benchmark reads it).
#[tauri::command]
#[specta::specta]
pub fn ui_ready() {
    eprintln!(
        "stackperf-desktop: first paint {} ms after start",
        crate::STARTED
            .get()
            .map(|t| t.elapsed().as_millis())
            .unwrap_or_default()
    );
}

#[tauri::command]
#[specta::specta]
pub async fn stack_status(state: State<'_, Shared>) -> UiResult<StackView> {
    Ok(state.app()?.stack_status().await)
}

#[tauri::command]
#[specta::specta]
pub async fn stack_up(
    handle: AppHandle,
    state: State<'_, Shared>,
    runtime: Runtime,
) -> UiResult<UpReport> {
    Ok(state.app()?.stack_up(runtime, &Window(handle)).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn stack_down(handle: AppHandle, state: State<'_, Shared>) -> UiResult<DownReport> {
    Ok(state.app()?.stack_down(&Window(handle)).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn stack_log_tail(
    state: State<'_, Shared>,
    service: Service,
    lines: u32,
) -> UiResult<Vec<String>> {
    Ok(state.app()?.stack_log_tail(service, lines as usize)?)
}

#[tauri::command]
#[specta::specta]
pub async fn doctor(state: State<'_, Shared>) -> UiResult<Vec<Check>> {
    Ok(state.app()?.doctor().await)
}

/// How much data StackPerf keeps here, by kind.
#[tauri::command]
#[specta::specta]
pub async fn data_usage(state: State<'_, Shared>) -> UiResult<stackperf_core::app::DataUsage> {
    Ok(state.app()?.data_usage())
}

/// What the retention policy would delete now (nothing is changed).
#[tauri::command]
#[specta::specta]
pub async fn prune_plan(state: State<'_, Shared>) -> UiResult<stackperf_core::app::PruneReport> {
    Ok(state.app()?.prune_plan().await?)
}

/// Delete what a plan the user confirmed lists, then compact the database.
#[tauri::command]
#[specta::specta]
pub async fn prune_apply(
    state: State<'_, Shared>,
    plan: stackperf_core::app::PruneReport,
) -> UiResult<stackperf_core::app::PruneReport> {
    Ok(state.app()?.prune_apply(plan).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn secrets_list(state: State<'_, Shared>) -> UiResult<Vec<SecretInfo>> {
    Ok(state.app()?.secrets_list().await?)
}

#[tauri::command]
#[specta::specta]
pub async fn secret_set(state: State<'_, Shared>, name: String, value: String) -> UiResult<()> {
    Ok(state.app()?.secret_set(&name, Secret::new(value)).await?)
}

/// What is wrong with a secret name (None: it is fine) — core's rule, checked as the user types.
#[tauri::command]
#[specta::specta]
pub fn secret_name_check(state: State<'_, Shared>, name: String) -> UiResult<Option<String>> {
    Ok(state.app()?.secret_name_problem(&name))
}

#[tauri::command]
#[specta::specta]
pub async fn secret_delete(state: State<'_, Shared>, name: String) -> UiResult<bool> {
    Ok(state.app()?.secret_delete(&name).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn choices(state: State<'_, Shared>) -> UiResult<Choices> {
    Ok(state.app()?.choices())
}

#[tauri::command]
#[specta::specta]
pub async fn config_catalog(state: State<'_, Shared>) -> UiResult<Catalog> {
    Ok(state.app()?.config_catalog())
}

#[tauri::command]
#[specta::specta]
pub async fn config_check(
    state: State<'_, Shared>,
    kind: ConfigKind,
    file: String,
    text: String,
) -> UiResult<DraftCheck> {
    Ok(state.app()?.config_check(kind, &file, &text)?)
}

#[tauri::command]
#[specta::specta]
pub async fn config_save(
    state: State<'_, Shared>,
    kind: ConfigKind,
    file: String,
    text: String,
) -> UiResult<DraftCheck> {
    Ok(state.app()?.config_save(kind, &file, &text)?)
}

/// A started session and its environment.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct Started {
    pub session: SessionRow,
    pub env: EnvView,
}

#[tauri::command]
#[specta::specta]
pub async fn session_start(state: State<'_, Shared>, req: StartSession) -> UiResult<Started> {
    let (session, env) = state.app()?.session_start(req).await?;
    Ok(Started { session, env })
}

#[tauri::command]
#[specta::specta]
pub async fn session_env(
    state: State<'_, Shared>,
    id: String,
    format: Option<RenderFormat>,
) -> UiResult<EnvView> {
    Ok(state.app()?.session_env(&id, format).await?)
}

/// Copy the environment (with the key) to the clipboard without the key entering the web view.
#[tauri::command]
#[specta::specta]
pub async fn session_copy_env(
    handle: AppHandle,
    state: State<'_, Shared>,
    id: String,
    format: Option<RenderFormat>,
) -> UiResult<u32> {
    let text = state.app()?.session_env_text(&id, format).await?;
    let lines = text.lines().count() as u32;
    handle.clipboard().write_text(text).map_err(|e| {
        UiError::new(
            ErrorCode::Clipboard,
            format!("cannot write the clipboard: {e}"),
        )
    })?;
    Ok(lines)
}

#[tauri::command]
#[specta::specta]
pub async fn session_traffic(
    handle: AppHandle,
    state: State<'_, Shared>,
    id: String,
    count: u32,
) -> UiResult<TrafficReport> {
    Ok(state
        .app()?
        .session_sample_traffic(&id, count, &Window(handle))
        .await?)
}

#[tauri::command]
#[specta::specta]
/// The requests of a session stored or changed since `since` (all with null), and the next cursor.
pub async fn session_requests_since(
    state: State<'_, Shared>,
    id: String,
    since: Option<Timestamp>,
) -> UiResult<RequestsPage> {
    Ok(state.app()?.session_requests_since(&id, since).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn session_requests(state: State<'_, Shared>, id: String) -> UiResult<Vec<RequestBrief>> {
    Ok(state.app()?.session_requests(&id).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn sessions_list(
    state: State<'_, Shared>,
    experiment: Option<String>,
) -> UiResult<Vec<SessionRow>> {
    Ok(state.app()?.sessions_list(experiment.as_deref()).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn session_finalize(
    state: State<'_, Shared>,
    id: String,
    status: FinalStatus,
    outcome: Option<String>,
    notes: Option<String>,
) -> UiResult<SessionRow> {
    Ok(state
        .app()?
        .session_finalize(&id, status, outcome.as_deref(), notes.as_deref())
        .await?
        .session)
}

#[tauri::command]
#[specta::specta]
pub async fn compare(state: State<'_, Shared>, experiment: String) -> UiResult<Comparison> {
    Ok(state.app()?.compare(&experiment).await?)
}

/// Sessions pooled by harness, provider or model (or variant) across experiments (all with
/// sessions when `experiments` is empty).
#[tauri::command]
#[specta::specta]
pub async fn compare_grouped(
    state: State<'_, Shared>,
    by: stackperf_core::analysis::group::GroupBy,
    experiments: Vec<String>,
) -> UiResult<Comparison> {
    Ok(state.app()?.compare_by(by, &experiments).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn compare_sessions(
    state: State<'_, Shared>,
    experiment: String,
) -> UiResult<Vec<SessionStats>> {
    Ok(state.app()?.compare_sessions(&experiment).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn compare_chart(
    state: State<'_, Shared>,
    experiment: String,
    metric: String,
) -> UiResult<String> {
    Ok(state.app()?.compare_chart_svg(&experiment, &metric).await?)
}

/// The critical-difference diagram of the experiment's suite, as SVG.
#[tauri::command]
#[specta::specta]
pub async fn compare_cd(state: State<'_, Shared>, experiment: String) -> UiResult<String> {
    Ok(state.app()?.compare_cd_svg(&experiment).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn export_data(state: State<'_, Shared>, req: ExportRequest) -> UiResult<Written> {
    Ok(state.app()?.export(&req).await?)
}

/// Where spans go (OTLP export): set by the environment or by these settings, and what was sent.
#[tauri::command]
#[specta::specta]
pub async fn otlp_settings(state: State<'_, Shared>) -> UiResult<OtlpSettings> {
    Ok(state.app()?.otlp_settings().await)
}

/// Save the OTLP endpoint (empty: off) and, when given, the backend's headers (`key=value,…`,
/// kept in the OS keychain; empty: removed); the export restarts from them.
#[tauri::command]
#[specta::specta]
pub async fn otlp_configure(
    state: State<'_, Shared>,
    endpoint: Option<String>,
    headers: Option<String>,
) -> UiResult<OtlpSettings> {
    Ok(state
        .app()?
        .otlp_configure(endpoint, headers.map(Secret::new))
        .await?)
}

/// Every command and event, declared once (the bindings are generated from this).
pub fn builder() -> Builder<tauri::Wry> {
    Builder::<tauri::Wry>::new()
        .commands(collect_commands![
            app_info,
            ui_ready,
            stack_status,
            stack_up,
            stack_down,
            stack_log_tail,
            doctor,
            secrets_list,
            secret_set,
            secret_delete,
            secret_name_check,
            choices,
            config_catalog,
            config_check,
            config_save,
            session_start,
            session_env,
            session_copy_env,
            session_traffic,
            session_requests_since,
            session_requests,
            sessions_list,
            session_finalize,
            compare,
            compare_grouped,
            data_usage,
            prune_plan,
            prune_apply,
            compare_sessions,
            compare_chart,
            compare_cd,
            export_data,
            otlp_settings,
            otlp_configure,
            crate::runs::run_start,
            crate::runs::run_plan,
            crate::runs::run_cancel,
            crate::runs::run_join,
            crate::runs::run_items,
            crate::usage::usage_keys,
            crate::usage::usage_key_create,
            crate::usage::usage_key_copy,
            crate::usage::usage_key_revoke,
            crate::usage::usage_report,
            crate::usage::usage_chart,
            crate::window::window_close,
        ])
        .events(collect_events![
            StackProgress,
            CaptureUpdate,
            CaptureError,
            TrafficProgress,
            crate::events::RunProgress,
            crate::window::CloseAsked
        ])
        // The metric registry and how each unit is written, as constants: the UI lists and
        // formats metrics from these, never from copies of its own.
        .typ::<stackperf_core::metrics::MetricInfo>()
        .typ::<stackperf_core::analysis::units::UnitFormat>()
        .constant("METRICS", stackperf_core::metrics::infos())
        .constant(
            "UNIT_FORMATS",
            stackperf_core::analysis::units::UNIT_FORMATS,
        )
        // The most sessions a worker runs at once (core refuses more): the Run panel's bound.
        .constant("MAX_PARALLEL", stackperf_core::run::MAX_PARALLEL)
}
