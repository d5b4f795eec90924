//! Moving in (docs/team.md): copy an SQLite store into a PostgreSQL one — every table, in the
//! order their references need, in batches; rows the target already has (by their key) are left
//! as they are, so a copy can be run again (after more sessions, or after an interrupted copy)
//! and adds only what is new. Surrogate keys (a variant's, a machine's) are the target's own:
//! rows are matched by their natural keys (a variant's name and fingerprint, a machine's id) and
//! the references to them rewritten. Afterwards every source row is looked up in the target by
//! its key: a copy that did not arrive is an error naming the table.

use std::collections::HashMap;

use futures::TryStreamExt;
use serde::Serialize;
use sqlx::{PgPool, Row, SqlitePool};

use super::Store;
use crate::Error;

/// What a copy did with one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableCopy {
    pub table: String,
    /// Rows in the source.
    pub source: u64,
    /// Rows written to the target.
    pub copied: u64,
    /// Rows the target already had (by key).
    pub already: u64,
}

/// One table's copy rules.
struct Spec {
    table: &'static str,
    /// The columns that identify a row across stores (its natural key).
    key: &'static [&'static str],
    /// A surrogate key the target assigns itself (left out of the insert).
    own_id: Option<&'static str>,
}

const fn spec(table: &'static str, key: &'static [&'static str]) -> Spec {
    Spec {
        table,
        key,
        own_id: None,
    }
}

/// Every table but `ingest_cursors` (rewritten apart: spool positions are per machine), in
/// the order their references need.
const TABLES: &[Spec] = &[
    spec("providers", &["name"]),
    spec("harness_profiles", &["name"]),
    spec("experiments", &["name"]),
    spec("task_cards", &["name"]),
    Spec {
        table: "variants",
        key: &["name", "config_fingerprint"],
        own_id: Some("variant_id"),
    },
    Spec {
        table: "machines",
        key: &["machine_id"],
        own_id: Some("machine_key"),
    },
    spec("sessions", &["session_id"]),
    spec("metric_rollups", &["scope", "scope_id", "metric"]),
    Spec {
        table: "artifacts",
        key: &["path", "kind", "created_at"],
        own_id: Some("artifact_id"),
    },
    spec("usage_keys", &["alias"]),
    spec("usage_rollups", &["key_alias", "model", "day"]),
    spec("edge_instances", &["instance"]),
    spec("edge_pending", &["request_id"]),
    spec("runs", &["run_id"]),
    spec("run_items", &["run_id", "idx"]),
    spec("requests", &["request_id"]),
];

/// A value on its way: the three column types the schema uses.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    Int(Option<i64>),
    Float(Option<f64>),
    Text(Option<String>),
}

impl Val {
    /// The value as key text (NULL as the empty marker no key holds).
    fn key_text(&self) -> String {
        match self {
            Val::Int(v) => v.map(|v| v.to_string()),
            Val::Float(v) => v.map(|v| format!("{v:?}")),
            Val::Text(v) => v.clone(),
        }
        .unwrap_or_else(|| "\u{0}".into())
    }
}

/// `(column, PostgreSQL type)` of a target table, in table order.
async fn target_columns(pg: &PgPool, table: &str) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT column_name::text, data_type::text FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
    )
    .bind(table)
    .fetch_all(pg)
    .await
}

fn read(row: &sqlx::sqlite::SqliteRow, i: usize, ty: &str) -> Result<Val, sqlx::Error> {
    Ok(match ty {
        "bigint" => Val::Int(match row.try_get::<Option<i64>, _>(i) {
            Ok(v) => v,
            Err(_) => row.try_get::<Option<f64>, _>(i)?.map(|f| f as i64),
        }),
        "double precision" => Val::Float(match row.try_get::<Option<f64>, _>(i) {
            Ok(v) => v,
            Err(_) => row.try_get::<Option<i64>, _>(i)?.map(|n| n as f64),
        }),
        _ => Val::Text(row.try_get(i)?),
    })
}

/// Rows a batch holds: PostgreSQL takes at most 65,535 parameters per statement.
fn batch_rows(columns: usize) -> usize {
    (60_000 / columns.max(1)).clamp(1, 2_000)
}

/// Insert `rows` (values in `cols` order), leaving rows whose key the target has; returns how
/// many were written.
async fn insert(
    pg: &PgPool,
    spec: &Spec,
    cols: &[String],
    rows: &[Vec<Val>],
) -> Result<u64, sqlx::Error> {
    if rows.is_empty() {
        return Ok(0);
    }
    let quoted: Vec<String> = cols.iter().map(|c| format!("\"{c}\"")).collect();
    let mut q = sqlx::QueryBuilder::<sqlx::Postgres>::new(format!(
        "INSERT INTO \"{}\" ({}) ",
        spec.table,
        quoted.join(", ")
    ));
    q.push_values(rows, |mut b, row| {
        for v in row {
            match v {
                Val::Int(v) => b.push_bind(*v),
                Val::Float(v) => b.push_bind(*v),
                Val::Text(v) => b.push_bind(v.clone()),
            };
        }
    });
    // A table whose key is its own unique constraint skips what is there; one without
    // (artifacts) was filtered before.
    q.push(" ON CONFLICT DO NOTHING");
    Ok(q.build().execute(pg).await?.rows_affected())
}

/// The types of a table's key columns (PostgreSQL's names).
async fn key_types(pg: &PgPool, spec: &Spec) -> Result<Vec<String>, sqlx::Error> {
    let cols = target_columns(pg, spec.table).await?;
    Ok(spec
        .key
        .iter()
        .map(|k| {
            cols.iter()
                .find(|(c, _)| c == k)
                .map_or_else(|| "text".to_string(), |(_, t)| t.clone())
        })
        .collect())
}

fn key_list(spec: &Spec) -> String {
    let cols: Vec<String> = spec.key.iter().map(|k| format!("\"{k}\"")).collect();
    cols.join(", ")
}

/// The target's rows of a table, by key, with their own id (variants, machines) or none.
async fn target_keys(
    pg: &PgPool,
    spec: &Spec,
) -> Result<HashMap<Vec<String>, Option<i64>>, sqlx::Error> {
    let types = key_types(pg, spec).await?;
    let id = spec
        .own_id
        .map_or("NULL::BIGINT".into(), |c| format!("\"{c}\""));
    let sql = format!("SELECT {id}, {} FROM \"{}\"", key_list(spec), spec.table);
    let rows = sqlx::query(&sql).fetch_all(pg).await?;
    rows.iter()
        .map(|r| {
            let key = types
                .iter()
                .enumerate()
                .map(|(i, ty)| read_pg(r, i + 1, ty).map(|v| v.key_text()))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((key, r.try_get::<Option<i64>, _>(0)?))
        })
        .collect()
}

fn read_pg(row: &sqlx::postgres::PgRow, i: usize, ty: &str) -> Result<Val, sqlx::Error> {
    Ok(match ty {
        "bigint" => Val::Int(row.try_get(i)?),
        "double precision" => Val::Float(row.try_get(i)?),
        _ => Val::Text(row.try_get(i)?),
    })
}

/// Copy one table; `maps` rewrites references to surrogate keys copied before (old → new).
async fn copy_table(
    src: &SqlitePool,
    pg: &PgPool,
    spec: &Spec,
    maps: &mut HashMap<&'static str, HashMap<i64, i64>>,
) -> Result<TableCopy, sqlx::Error> {
    let all = target_columns(pg, spec.table).await?;
    let cols: Vec<(String, String)> = all
        .into_iter()
        .filter(|(c, _)| Some(c.as_str()) != spec.own_id)
        .collect();
    let names: Vec<String> = cols.iter().map(|(c, _)| c.clone()).collect();
    let key_at: Vec<usize> = spec
        .key
        .iter()
        .filter_map(|k| names.iter().position(|c| c == k))
        .collect();
    let own = spec.own_id.map_or("NULL".into(), |c| format!("\"{c}\""));
    let quoted: Vec<String> = names.iter().map(|c| format!("\"{c}\"")).collect();
    let sql = format!(
        "SELECT {own}, {} FROM \"{}\" ORDER BY rowid",
        quoted.join(", "),
        spec.table
    );
    let mut before = target_keys(pg, spec).await?;
    let (mut source, mut copied) = (0u64, 0u64);
    let mut batch: Vec<Vec<Val>> = Vec::new();
    let mut old_ids: Vec<(i64, Vec<String>)> = Vec::new();
    let mut stream = sqlx::query(&sql).fetch(src);
    while let Some(row) = stream.try_next().await? {
        source += 1;
        let mut vals = Vec::with_capacity(cols.len());
        for (i, (name, ty)) in cols.iter().enumerate() {
            let mut v = read(&row, i + 1, ty)?;
            if let (Val::Int(Some(id)), Some(map)) = (&v, maps.get(name.as_str())) {
                v = Val::Int(map.get(id).copied());
            }
            vals.push(v);
        }
        let key: Vec<String> = key_at.iter().map(|&i| vals[i].key_text()).collect();
        if let Ok(Some(old)) = row.try_get::<Option<i64>, _>(0) {
            old_ids.push((old, key.clone()));
        }
        // Rows the target has (by key) stay as they are.
        if before.contains_key(&key) {
            continue;
        }
        before.insert(key, None);
        batch.push(vals);
        if batch.len() >= batch_rows(cols.len()) {
            copied += insert(pg, spec, &names, &std::mem::take(&mut batch)).await?;
        }
    }
    copied += insert(pg, spec, &names, &batch).await?;
    if let Some(id_col) = spec.own_id {
        let now = target_keys(pg, spec).await?;
        let map = old_ids
            .into_iter()
            .filter_map(|(old, key)| now.get(&key).copied().flatten().map(|new| (old, new)))
            .collect();
        maps.insert(id_col, map);
    }
    Ok(TableCopy {
        table: spec.table.into(),
        source,
        copied,
        already: source - copied,
    })
}

/// Source rows whose key is not in the target (the copy's check).
async fn check(src: &SqlitePool, pg: &PgPool, spec: &Spec) -> Result<u64, sqlx::Error> {
    let target = target_keys(pg, spec).await?;
    let types = key_types(pg, spec).await?;
    let sql = format!("SELECT {} FROM \"{}\"", key_list(spec), spec.table);
    let mut stream = sqlx::query(&sql).fetch(src);
    let mut missing = 0u64;
    while let Some(row) = stream.try_next().await? {
        let key = types
            .iter()
            .enumerate()
            .map(|(i, ty)| read(&row, i, ty).map(|v| v.key_text()))
            .collect::<Result<Vec<_>, _>>()?;
        missing += u64::from(!target.contains_key(&key));
    }
    Ok(missing)
}

impl Store {
    /// Copy this SQLite store into the PostgreSQL store `target` (see the module's notes),
    /// calling `progress` after each table.
    pub async fn copy_to(
        &self,
        target: &Store,
        mut progress: impl FnMut(&TableCopy),
    ) -> Result<Vec<TableCopy>, Error> {
        let (Some(src), super::Pool::Postgres(pg)) = (self.sqlite_pool(), target.pool()) else {
            return Err(Error::Invalid(
                "db copy copies an SQLite store into a PostgreSQL one (--to postgres://…)".into(),
            ));
        };
        let mut maps = HashMap::new();
        let mut done = Vec::new();
        for spec in TABLES {
            let t = copy_table(src, pg, spec, &mut maps)
                .await
                .map_err(target.db())?;
            progress(&t);
            done.push(t);
        }
        self.copy_cursors(src, target).await?;
        for spec in TABLES {
            let missing = check(src, pg, spec).await.map_err(target.db())?;
            if missing > 0 {
                return Err(Error::Internal(format!(
                    "{missing} rows of {} did not arrive in {}: run the copy again; if it says so again, report it",
                    spec.table,
                    target.path().display()
                )));
            }
        }
        Ok(done)
    }

    /// This machine's spool positions, under the target's keys for them (per machine), so its
    /// next ingest into the target goes on where the source's stopped.
    async fn copy_cursors(&self, src: &SqlitePool, target: &Store) -> Result<(), Error> {
        let rows: Vec<(String, String, i64)> =
            sqlx::query_as("SELECT spool, file_id, \"offset\" FROM ingest_cursors")
                .fetch_all(src)
                .await
                .map_err(self.db())?;
        for (spool, file_id, offset) in rows {
            if target.ingest_cursor(&spool).await?.is_none() {
                target
                    .put_ingest_cursor(&spool, &file_id, offset.max(0) as u64)
                    .await?;
            }
        }
        Ok(())
    }
}
