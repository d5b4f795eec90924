//! Exports: sessions and requests as CSV or JSON with one shared schema (stable column names,
//! RFC 3339 timestamps). Only aliases and hashes ever appear, never a key.

use serde_json::{Map, Value};
use sqlx::{Column, Row, TypeInfo, ValueRef};

use crate::store::Store;
use crate::Error;

/// What to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dataset {
    Sessions,
    Requests,
}

/// Columns holding Unix-epoch milliseconds, exported as RFC 3339.
const TIME_COLUMNS: &[&str] = &[
    "created_at",
    "started_at",
    "ended_at",
    "key_expires_at",
    "request_started_at",
    "request_finished_at",
    "first_token_at",
    "ingested_at",
];

const SESSION_SQL: &str = "SELECT s.session_id, s.experiment, v.name AS variant, v.config_fingerprint, s.task_card, s.harness_profile,
    v.provider, v.provider_route, v.model_alias AS model, v.upstream_model, s.status, s.mode, s.created_at, s.started_at,
    s.ended_at, s.operator_label, s.repo_root, s.git_branch, s.git_commit_sha, s.git_dirty, s.proxy_key_alias,
    s.outcome, s.notes, s.app_version, s.litellm_version, s.config_commit,
    (SELECT COUNT(*) FROM requests r WHERE r.session_id = s.session_id) AS request_count
    FROM sessions s JOIN variants v ON v.variant_id = s.variant_id";

const REQUEST_SQL: &str = "SELECT r.request_id, r.litellm_call_id, r.session_id, r.experiment, v.name AS variant,
    v.config_fingerprint, s.task_card, r.provider, r.provider_route, r.model, r.upstream_model, r.harness_profile,
    r.protocol_surface, r.streamed, r.request_started_at, r.request_finished_at, r.first_token_at, r.latency_ms,
    r.ttft_ms, r.ttft_missing_reason, r.output_tokens_per_s, r.input_tokens, r.output_tokens, r.cached_input_tokens,
    r.cache_write_tokens, r.status, r.http_status, r.error_code, r.error_class, r.provider_request_id,
    r.proxy_overhead_ms, r.key_alias, s.git_commit_sha
    FROM requests r LEFT JOIN sessions s ON s.session_id = r.session_id LEFT JOIN variants v ON v.variant_id = r.variant_id";

/// Unix epoch milliseconds as RFC 3339 UTC with millisecond precision.
pub fn rfc3339(ms: f64) -> String {
    let total_ms = ms.round() as i64;
    let (secs, millis) = (total_ms.div_euclid(1000), total_ms.rem_euclid(1000));
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The rows of a dataset, optionally of one experiment or session, as JSON objects in column order.
pub async fn rows(
    store: &Store,
    what: Dataset,
    experiment: Option<&str>,
    session: Option<&str>,
) -> Result<(Vec<String>, Vec<Map<String, Value>>), Error> {
    let (base, prefix, order) = match what {
        Dataset::Sessions => (SESSION_SQL, "s", "s.created_at"),
        Dataset::Requests => (REQUEST_SQL, "r", "r.request_started_at"),
    };
    let mut sql = format!("{base} WHERE 1 = 1");
    if experiment.is_some() {
        sql.push_str(&format!(" AND {prefix}.experiment = ?"));
    }
    if session.is_some() {
        sql.push_str(&format!(" AND {prefix}.session_id = ?"));
    }
    sql.push_str(&format!(" ORDER BY {order}"));
    let mut q = sqlx::query(&sql);
    if let Some(e) = experiment {
        q = q.bind(e);
    }
    if let Some(s) = session {
        q = q.bind(s);
    }
    let fetched = q
        .fetch_all(store.pool())
        .await
        .map_err(|e| Error::Database {
            path: store.path().to_path_buf(),
            message: e.to_string(),
        })?;
    let mut columns = Vec::new();
    let mut out = Vec::with_capacity(fetched.len());
    for row in &fetched {
        if columns.is_empty() {
            columns = row.columns().iter().map(|c| c.name().to_string()).collect();
        }
        let mut obj = Map::new();
        for (i, name) in columns.iter().enumerate() {
            let raw = row.try_get_raw(i).ok();
            let v = match raw {
                None => Value::Null,
                Some(r) if r.is_null() => Value::Null,
                Some(r) => match r.type_info().name() {
                    "INTEGER" => row
                        .try_get::<i64, _>(i)
                        .map(Value::from)
                        .unwrap_or(Value::Null),
                    "REAL" => row
                        .try_get::<f64, _>(i)
                        .map(Value::from)
                        .unwrap_or(Value::Null),
                    _ => row
                        .try_get::<String, _>(i)
                        .map(Value::from)
                        .unwrap_or(Value::Null),
                },
            };
            let v = match (&v, TIME_COLUMNS.contains(&name.as_str())) {
                (Value::Number(n), true) => {
                    n.as_f64().map(|ms| Value::String(rfc3339(ms))).unwrap_or(v)
                }
                _ => v,
            };
            obj.insert(name.clone(), v);
        }
        out.push(obj);
    }
    if columns.is_empty() {
        // No rows: the schema is still the same.
        columns = column_names(what).iter().map(|s| s.to_string()).collect();
    }
    Ok((columns, out))
}

/// The column names of a dataset (the shared schema of every format).
pub fn column_names(what: Dataset) -> &'static [&'static str] {
    match what {
        Dataset::Sessions => &[
            "session_id",
            "experiment",
            "variant",
            "config_fingerprint",
            "task_card",
            "harness_profile",
            "provider",
            "provider_route",
            "model",
            "upstream_model",
            "status",
            "mode",
            "created_at",
            "started_at",
            "ended_at",
            "operator_label",
            "repo_root",
            "git_branch",
            "git_commit_sha",
            "git_dirty",
            "proxy_key_alias",
            "outcome",
            "notes",
            "app_version",
            "litellm_version",
            "config_commit",
            "request_count",
        ],
        Dataset::Requests => &[
            "request_id",
            "litellm_call_id",
            "session_id",
            "experiment",
            "variant",
            "config_fingerprint",
            "task_card",
            "provider",
            "provider_route",
            "model",
            "upstream_model",
            "harness_profile",
            "protocol_surface",
            "streamed",
            "request_started_at",
            "request_finished_at",
            "first_token_at",
            "latency_ms",
            "ttft_ms",
            "ttft_missing_reason",
            "output_tokens_per_s",
            "input_tokens",
            "output_tokens",
            "cached_input_tokens",
            "cache_write_tokens",
            "status",
            "http_status",
            "error_code",
            "error_class",
            "provider_request_id",
            "proxy_overhead_ms",
            "key_alias",
            "git_commit_sha",
        ],
    }
}

fn csv_field(v: &Value) -> String {
    let s = match v {
        Value::Null => return String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// CSV with a header row.
pub fn to_csv(columns: &[String], rows: &[Map<String, Value>]) -> String {
    let mut out = columns.join(",");
    out.push('\n');
    for r in rows {
        let fields: Vec<String> = columns
            .iter()
            .map(|c| csv_field(r.get(c).unwrap_or(&Value::Null)))
            .collect();
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}

/// A JSON array of objects.
pub fn to_json(rows: &[Map<String, Value>]) -> String {
    serde_json::to_string_pretty(rows).unwrap_or_else(|_| "[]".into()) + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_812_735_129.78), "2026-11-27T20:52:15.130Z");
        assert_eq!(rfc3339(951_782_400_000.0), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let cols = vec!["a".to_string(), "b".to_string()];
        let mut r = Map::new();
        r.insert("a".into(), Value::from("x,\"y\""));
        r.insert("b".into(), Value::Null);
        assert_eq!(to_csv(&cols, &[r]), "a,b\n\"x,\"\"y\"\"\",\n");
    }
}
