//! `/api/v1/usage` (the usage report) and `/api/v1/usage/keys` (usage keys, never values).

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::Json;
use stackperf_core::usage::{parse_day, UsageBy, UsageFilter, UsageKey, UsageReport};

use crate::params::Params;
use crate::{limited, ApiError, ApiResult, Shared};

/// The filters `/usage` takes.
pub const USAGE_PARAMS: &[&str] = &["by", "since", "until", "key", "owner", "team", "model"];

fn day(p: &Params, key: &str) -> Result<Option<i64>, ApiError> {
    p.one(key)?
        .map(|v| {
            parse_day(&v).ok_or_else(|| {
                ApiError::field(key, format!("`{v}` is not a day: use YYYY-MM-DD (UTC)"))
            })
        })
        .transpose()
}

pub async fn report(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery) -> ApiResult<UsageReport> {
    let p = Params::parse(q.as_deref(), USAGE_PARAMS)?;
    let by = match p.one("by")? {
        None => UsageBy::default(),
        Some(b) => UsageBy::parse(&b).ok_or_else(|| {
            ApiError::field(
                "by",
                format!("`{b}` is not one of key, owner, team, model, day"),
            )
        })?,
    };
    let filter = UsageFilter {
        since_day: day(&p, "since")?,
        until_day: day(&p, "until")?,
        key: p.one("key")?,
        owner: p.one("owner")?,
        team: p.one("team")?,
        model: p.one("model")?,
    };
    Ok(Json(limited(s.app.usage_report(by, &filter)).await?))
}

pub async fn keys(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery) -> ApiResult<Vec<UsageKey>> {
    Params::parse(q.as_deref(), &[])?;
    Ok(Json(limited(s.app.usage_keys()).await?))
}
