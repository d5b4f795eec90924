//! Usage mode in the desktop: usage keys (the value goes to the clipboard, never to the web
//! view) and the usage report with its chart.

use stackperf_core::app::CreatedUsageKey;
use stackperf_core::output::timeline::UsageMetric;
use stackperf_core::usage::{NewUsageKey, UsageBy, UsageFilter, UsageKey, UsageReport};
use stackperf_core::ErrorCode;
use tauri::{AppHandle, State};
use tauri_plugin_clipboard_manager::ClipboardExt;

use crate::commands::Shared;
use crate::error::{UiError, UiResult};

fn to_clipboard(handle: &AppHandle, text: String) -> UiResult<()> {
    handle.clipboard().write_text(text).map_err(|e| {
        UiError::new(
            ErrorCode::Clipboard,
            format!("cannot write the clipboard: {e}"),
        )
    })
}

#[tauri::command]
#[specta::specta]
pub async fn usage_keys(state: State<'_, Shared>) -> UiResult<Vec<UsageKey>> {
    Ok(state.app()?.usage_keys().await?)
}

/// Create a key and put `OPENAI_BASE_URL`/`OPENAI_API_KEY` on the clipboard (shown nowhere).
#[tauri::command]
#[specta::specta]
pub async fn usage_key_create(
    handle: AppHandle,
    state: State<'_, Shared>,
    req: NewUsageKey,
) -> UiResult<CreatedUsageKey> {
    let app = state.app()?;
    let (created, _) = app.usage_key_create(&req).await?;
    to_clipboard(&handle, app.usage_key_env_text(&created.key.alias).await?)?;
    Ok(created)
}

/// Copy a live key's environment to the clipboard again.
#[tauri::command]
#[specta::specta]
pub async fn usage_key_copy(
    handle: AppHandle,
    state: State<'_, Shared>,
    alias: String,
) -> UiResult<()> {
    let text = state.app()?.usage_key_env_text(&alias).await?;
    to_clipboard(&handle, text)
}

#[tauri::command]
#[specta::specta]
pub async fn usage_key_revoke(state: State<'_, Shared>, alias: String) -> UiResult<bool> {
    Ok(state.app()?.usage_key_revoke(&alias).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn usage_report(
    state: State<'_, Shared>,
    by: UsageBy,
    filter: UsageFilter,
) -> UiResult<UsageReport> {
    Ok(state.app()?.usage_report(by, &filter).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn usage_chart(
    state: State<'_, Shared>,
    by: UsageBy,
    filter: UsageFilter,
    metric: UsageMetric,
) -> UiResult<String> {
    Ok(state.app()?.usage_chart_svg(by, &filter, metric).await?)
}
