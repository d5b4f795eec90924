//! The two exportable datasets (sessions, requests): their columns as SQL expressions, and the
//! query that reads them. The requests dataset is the store's own column list
//! ([`super::REQUEST_COLUMNS`]) plus the session and variant context of each request.

use sqlx::Row;

use super::requests::Kind;
use super::{on_pool, Store, REQUEST_COLUMNS};
use crate::Error;

/// What to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dataset {
    Sessions,
    Requests,
}

/// One cell, typed.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Text(String),
    Int(i64),
    Float(f64),
}

use Kind::{Float, Int, Text, Time};

/// `(name, type, SQL expression)` — the SELECT list is built from this, so the schema and the
/// query cannot drift apart.
type Column = (&'static str, Kind, &'static str);

const SESSION_COLUMNS: &[Column] = &[
    ("session_id", Text, "s.session_id"),
    ("experiment", Text, "s.experiment"),
    ("variant", Text, "v.name"),
    ("config_fingerprint", Text, "v.config_fingerprint"),
    ("task_card", Text, "s.task_card"),
    ("harness_profile", Text, "s.harness_profile"),
    ("provider", Text, "v.provider"),
    ("provider_route", Text, "v.provider_route"),
    ("model", Text, "v.model_alias"),
    ("upstream_model", Text, "v.upstream_model"),
    ("status", Text, "s.status"),
    ("mode", Text, "s.mode"),
    ("created_at", Time, "s.created_at"),
    ("started_at", Time, "s.started_at"),
    ("ended_at", Time, "s.ended_at"),
    ("operator_label", Text, "s.operator_label"),
    ("repo_root", Text, "s.repo_root"),
    ("git_branch", Text, "s.git_branch"),
    ("git_commit_sha", Text, "s.git_commit_sha"),
    ("git_dirty", Int, "s.git_dirty"),
    ("proxy_key_alias", Text, "s.proxy_key_alias"),
    ("outcome", Text, "s.outcome"),
    ("notes", Text, "s.notes"),
    ("app_version", Text, "s.app_version"),
    ("litellm_version", Text, "s.litellm_version"),
    ("config_commit", Text, "s.config_commit"),
    ("machine_id", Text, "s.machine_id"),
    (
        "hostname",
        Text,
        "(SELECT m.hostname FROM machines m WHERE m.machine_id = s.machine_id)",
    ),
    (
        "request_count",
        Int,
        "(SELECT COUNT(*) FROM requests r WHERE r.session_id = s.session_id)",
    ),
];

const SESSION_FROM: &str = "FROM sessions s JOIN variants v ON v.variant_id = s.variant_id";

/// Context the requests export adds from the session and variant of each request.
const REQUEST_CONTEXT: &[Column] = &[
    ("variant", Text, "v.name"),
    ("config_fingerprint", Text, "v.config_fingerprint"),
    ("task_card", Text, "s.task_card"),
    ("git_commit_sha", Text, "s.git_commit_sha"),
];

/// The requests export: the store's columns (those marked for export, in table order) with the
/// session and variant context after `experiment`.
fn request_columns() -> &'static [Column] {
    static COLS: std::sync::OnceLock<Vec<Column>> = std::sync::OnceLock::new();
    COLS.get_or_init(|| {
        let mut out = Vec::new();
        for c in REQUEST_COLUMNS.iter().filter(|c| c.export) {
            // An empty expression is the request's own column (`r.<name>`).
            out.push((c.name, c.kind, ""));
            if c.name == "experiment" {
                out.extend_from_slice(&REQUEST_CONTEXT[..3]);
            }
        }
        out.push(REQUEST_CONTEXT[3]);
        out
    })
}

const REQUEST_FROM: &str =
    "FROM requests r LEFT JOIN sessions s ON s.session_id = r.session_id LEFT JOIN variants v ON v.variant_id = r.variant_id";

fn spec(what: Dataset) -> (&'static [Column], &'static str) {
    match what {
        Dataset::Sessions => (SESSION_COLUMNS, SESSION_FROM),
        Dataset::Requests => (request_columns(), REQUEST_FROM),
    }
}

/// The columns of a dataset: the schema every format shares.
pub fn columns(what: Dataset) -> Vec<(&'static str, Kind)> {
    spec(what).0.iter().map(|(n, k, _)| (*n, *k)).collect()
}

impl Store {
    /// Load a dataset, optionally of one experiment or session; requests leave StackPerf's own
    /// traffic out unless `include_internal`.
    pub async fn dataset(
        &self,
        what: Dataset,
        experiment: Option<&str>,
        session: Option<&str>,
        include_internal: bool,
    ) -> Result<(Vec<(&'static str, Kind)>, Vec<Vec<Cell>>), Error> {
        let store = self;
        let (cols, from) = spec(what);
        let (prefix, order) = match what {
            Dataset::Sessions => ("s", "s.created_at"),
            Dataset::Requests => ("r", "r.request_started_at"),
        };
        let select: Vec<String> = cols
            .iter()
            .map(|(name, _, expr)| {
                if expr.is_empty() {
                    format!("r.{name}")
                } else {
                    expr.to_string()
                }
            })
            .collect();
        let mut sql = format!("SELECT {} {from} WHERE 1 = 1", select.join(", "));
        let mut n = 0;
        if experiment.is_some() {
            n += 1;
            sql.push_str(&format!(" AND {prefix}.experiment = ${n}"));
        }
        if session.is_some() {
            n += 1;
            sql.push_str(&format!(" AND {prefix}.session_id = ${n}"));
        }
        if what == Dataset::Requests && !include_internal {
            sql.push_str(" AND r.traffic <> 'internal'");
        }
        sql.push_str(&format!(" ORDER BY {order}"));
        on_pool!(store, |p| {
            let mut q = sqlx::query(&sql);
            for v in [experiment, session].into_iter().flatten() {
                q = q.bind(v);
            }
            let fetched = q.fetch_all(p).await.map_err(|e| Error::Database {
                path: store.path().to_path_buf(),
                message: e.to_string(),
            })?;
            let rows = fetched
                .iter()
                .map(|row| {
                    cols.iter()
                        .enumerate()
                        .map(|(i, (_, kind, _))| match kind {
                            Text => row
                                .try_get::<Option<String>, _>(i)
                                .ok()
                                .flatten()
                                .map(Cell::Text)
                                .unwrap_or(Cell::Null),
                            Int => row
                                .try_get::<Option<i64>, _>(i)
                                .ok()
                                .flatten()
                                .map(Cell::Int)
                                .unwrap_or(Cell::Null),
                            Float | Time => row
                                .try_get::<Option<f64>, _>(i)
                                .ok()
                                .flatten()
                                .map(Cell::Float)
                                .unwrap_or(Cell::Null),
                        })
                        .collect()
                })
                .collect();
            Ok((cols.iter().map(|(n, k, _)| (*n, *k)).collect(), rows))
        })
    }
}
