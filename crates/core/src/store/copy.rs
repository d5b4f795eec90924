//! Moving in (docs/team.md): copy an SQLite store into a PostgreSQL one — every table, in the
//! order their references need, in batches; rows the target already has (by their key) are left
//! as they are, so a copy can be run again (after more sessions, or after an interrupted copy)
//! and adds only what is new. Surrogate keys (a variant's, a machine's) are the target's own:
//! rows are matched by their natural keys (a variant's name and fingerprint, a machine's id) and
//! the references to them rewritten. A batch the target did not take whole is looked up in the
//! target by key: a row that is not there is an error naming the table.

use std::collections::HashMap;

use futures::TryStreamExt;
use serde::Serialize;
use sqlx::{PgPool, Row, SqlitePool};

use super::write::conn::{read_val, Arg, Ty, Val};
use super::Store;
use crate::Error;

/// The advisory lock a copy holds on the target (PostgreSQL's, for the copy's connection).
const COPY_LOCK: i64 = 0x5350_636f_7079; // "SPcopy"

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
    /// Whether the key is a unique constraint of the target (a row already there is skipped by
    /// the insert itself); else the target's keys are read first and matched here.
    unique: bool,
}

const fn spec(table: &'static str, key: &'static [&'static str]) -> Spec {
    Spec {
        table,
        key,
        own_id: None,
        unique: true,
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
        unique: true,
    },
    Spec {
        table: "machines",
        key: &["machine_id"],
        own_id: Some("machine_key"),
        unique: true,
    },
    spec("sessions", &["session_id"]),
    spec("metric_rollups", &["scope", "scope_id", "metric"]),
    Spec {
        table: "artifacts",
        key: &["path", "kind", "created_at"],
        own_id: Some("artifact_id"),
        unique: false,
    },
    spec("usage_keys", &["alias"]),
    spec("usage_rollups", &["key_alias", "model", "day"]),
    spec("edge_instances", &["instance"]),
    spec("edge_pending", &["request_id"]),
    spec("runs", &["run_id"]),
    spec("run_items", &["run_id", "idx"]),
    spec("requests", &["request_id"]),
];

/// The text a key is compared by (NULL as the marker no key holds).
fn key_text(v: &Val) -> String {
    match v {
        Val::Null => "\u{0}".into(),
        Val::Int(v) => v.to_string(),
        Val::Float(v) => format!("{v:?}"),
        Val::Text(v) => v.clone(),
    }
}

/// A target table's columns, read once per table: `(name, type)` in table order.
async fn columns(pg: &PgPool, table: &str) -> Result<Vec<(String, Ty)>, sqlx::Error> {
    let cols: Vec<(String, String)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
    )
    .bind(table)
    .fetch_all(pg)
    .await?;
    let ty = |t: &str| match t {
        "bigint" | "integer" | "smallint" => Ty::Int,
        "double precision" | "real" => Ty::Float,
        _ => Ty::Text,
    };
    Ok(cols.into_iter().map(|(c, t)| (c, ty(&t))).collect())
}

fn quoted<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let cols: Vec<String> = names.into_iter().map(|c| format!("\"{c}\"")).collect();
    cols.join(", ")
}

/// Rows a batch holds: PostgreSQL takes at most 65,535 parameters per statement.
fn batch_rows(columns: usize) -> usize {
    (60_000 / columns.max(1)).clamp(1, 2_000)
}

/// Bind `args` as a row of a VALUES list.
fn push_row<'a>(
    b: &mut sqlx::query_builder::Separated<'_, 'a, sqlx::Postgres, &'static str>,
    args: &[Arg<'a>],
) {
    for a in args {
        match *a {
            Arg::Text(v) => b.push_bind(v),
            Arg::Int(v) => b.push_bind(v),
            Arg::Float(v) => b.push_bind(v),
        };
    }
}

/// Why a table's copy stopped.
enum Stop {
    Db(sqlx::Error),
    /// Rows of a batch the target neither took nor had.
    Missing(u64),
}

impl From<sqlx::Error> for Stop {
    fn from(e: sqlx::Error) -> Stop {
        Stop::Db(e)
    }
}

/// One table on its way: its columns, which of them are its key, and (for a table whose rows
/// are matched here) the target's keys with their own id.
struct Table<'s> {
    spec: &'s Spec,
    /// The columns copied (the target's own id left out), with their types.
    cols: Vec<(String, Ty)>,
    key_at: Vec<usize>,
    /// Matched here: a table with ids of its own (their references are rewritten) or without a
    /// unique key. What the target had, then what this copy wrote.
    target: Option<HashMap<Vec<String>, Option<i64>>>,
}

impl<'s> Table<'s> {
    async fn open(pg: &PgPool, spec: &'s Spec) -> Result<Table<'s>, sqlx::Error> {
        let cols: Vec<(String, Ty)> = columns(pg, spec.table)
            .await?
            .into_iter()
            .filter(|(c, _)| Some(c.as_str()) != spec.own_id)
            .collect();
        let key_at = spec
            .key
            .iter()
            .filter_map(|k| cols.iter().position(|(c, _)| c == k))
            .collect();
        let mut table = Table {
            spec,
            cols,
            key_at,
            target: None,
        };
        if spec.own_id.is_some() || !spec.unique {
            let id = spec
                .own_id
                .map_or("NULL::BIGINT".into(), |c| format!("\"{c}\""));
            let sql = format!(
                "SELECT {id}, {} FROM \"{}\"",
                quoted(spec.key.iter().copied()),
                spec.table
            );
            let rows = sqlx::query(&sql).fetch_all(pg).await?;
            table.target = Some(table.keyed(&rows)?);
        }
        Ok(table)
    }

    /// `(key, id)` rows (id first, then the key's columns) as a map.
    fn keyed(
        &self,
        rows: &[sqlx::postgres::PgRow],
    ) -> Result<HashMap<Vec<String>, Option<i64>>, sqlx::Error> {
        rows.iter()
            .map(|r| {
                let key = self
                    .key_at
                    .iter()
                    .enumerate()
                    .map(|(i, &at)| read_val(r, i + 1, self.cols[at].1).map(|v| key_text(&v)))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((key, r.try_get::<Option<i64>, _>(0)?))
            })
            .collect()
    }

    fn key(&self, vals: &[Val]) -> Vec<String> {
        self.key_at.iter().map(|&i| key_text(&vals[i])).collect()
    }

    /// Whether the row goes into the batch: not when it is matched here and the target has it
    /// (or it was queued already).
    fn take(&mut self, key: Vec<String>) -> bool {
        match &mut self.target {
            Some(t) if t.contains_key(&key) => false,
            Some(t) => {
                t.insert(key, None);
                true
            }
            None => true,
        }
    }

    /// Insert `rows`; rows whose key the target has are left as they are. What was written.
    async fn insert(&mut self, pg: &PgPool, rows: &[Vec<Val>]) -> Result<u64, Stop> {
        if rows.is_empty() {
            return Ok(0);
        }
        let mut q = sqlx::QueryBuilder::<sqlx::Postgres>::new(format!(
            "INSERT INTO \"{}\" ({}) ",
            self.spec.table,
            quoted(self.cols.iter().map(|(c, _)| c.as_str()))
        ));
        let types: Vec<Ty> = self.cols.iter().map(|(_, t)| *t).collect();
        q.push_values(rows, |mut b, row| {
            let args: Vec<Arg<'_>> = row.iter().zip(&types).map(|(v, t)| v.arg(*t)).collect();
            push_row(&mut b, &args);
        });
        q.push(" ON CONFLICT DO NOTHING");
        let written = match self.spec.own_id {
            None => q.build().execute(pg).await?.rows_affected(),
            Some(id) => {
                // The ids the target gave what it took, for the references rewritten after.
                q.push(format!(
                    " RETURNING \"{id}\", {}",
                    quoted(self.spec.key.iter().copied())
                ));
                let rows = q.build().fetch_all(pg).await?;
                let ids = self.keyed(&rows)?;
                self.target.get_or_insert_with(HashMap::new).extend(ids);
                rows.len() as u64
            }
        };
        if written < rows.len() as u64 {
            self.check(pg, rows).await?;
        }
        Ok(written)
    }

    /// A batch the target did not take whole: the rest must be there by key (from an earlier
    /// copy, or another one at once); rows that are not did not arrive.
    async fn check(&self, pg: &PgPool, rows: &[Vec<Val>]) -> Result<(), Stop> {
        let keys = quoted(self.spec.key.iter().copied());
        let mut q = sqlx::QueryBuilder::<sqlx::Postgres>::new(format!(
            "SELECT count(*) FROM (SELECT DISTINCT {keys} FROM \"{}\" WHERE ({keys}) IN (",
            self.spec.table
        ));
        q.push_values(rows, |mut b, row| {
            let args: Vec<Arg<'_>> = self
                .key_at
                .iter()
                .map(|&i| row[i].arg(self.cols[i].1))
                .collect();
            push_row(&mut b, &args);
        });
        q.push(")) AS there");
        let there: i64 = q.build_query_scalar().fetch_one(pg).await?;
        match rows.len() as u64 - there.max(0) as u64 {
            0 => Ok(()),
            missing => Err(Stop::Missing(missing)),
        }
    }
}

/// Copy one table; `maps` rewrites references to surrogate keys copied before (old → new).
async fn copy_table(
    src: &SqlitePool,
    pg: &PgPool,
    spec: &Spec,
    maps: &mut HashMap<&'static str, HashMap<i64, i64>>,
) -> Result<TableCopy, Stop> {
    let mut table = Table::open(pg, spec).await?;
    let own = spec.own_id.map_or("NULL".into(), |c| format!("\"{c}\""));
    let sql = format!(
        "SELECT {own}, {} FROM \"{}\" ORDER BY rowid",
        quoted(table.cols.iter().map(|(c, _)| c.as_str())),
        spec.table
    );
    let types = table.cols.clone();
    let limit = batch_rows(types.len());
    let (mut source, mut copied) = (0u64, 0u64);
    let mut batch: Vec<Vec<Val>> = Vec::new();
    let mut old_ids: Vec<(i64, Vec<String>)> = Vec::new();
    let mut stream = sqlx::query(&sql).fetch(src);
    while let Some(row) = stream.try_next().await? {
        source += 1;
        let mut vals = Vec::with_capacity(types.len());
        for (i, (name, ty)) in types.iter().enumerate() {
            let mut v = read_val(&row, i + 1, *ty)?;
            if let (Val::Int(id), Some(map)) = (&v, maps.get(name.as_str())) {
                v = map.get(id).map_or(Val::Null, |new| Val::Int(*new));
            }
            vals.push(v);
        }
        let key = table.key(&vals);
        if let Ok(Some(old)) = row.try_get::<Option<i64>, _>(0) {
            old_ids.push((old, key.clone()));
        }
        if table.take(key) {
            batch.push(vals);
        }
        if batch.len() >= limit {
            copied += table.insert(pg, &std::mem::take(&mut batch)).await?;
        }
    }
    copied += table.insert(pg, &batch).await?;
    if let (Some(id_col), Some(target)) = (spec.own_id, &table.target) {
        let map = old_ids
            .into_iter()
            .filter_map(|(old, key)| target.get(&key).copied().flatten().map(|new| (old, new)))
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
        // One copy into a store at a time: a second is told so rather than racing the first
        // (a table without a unique key could get a row twice). The lock is the connection's:
        // a copy that is killed lets go of it with its connection.
        let mut lock = pg.acquire().await.map_err(target.db())?;
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(COPY_LOCK)
            .fetch_one(&mut *lock)
            .await
            .map_err(target.db())?;
        if !locked {
            return Err(Error::Invalid(format!(
                "another `stackperf db copy` into {} is running: run this one again when it has finished",
                target.path().display()
            )));
        }
        let copied = self.copy_tables(src, pg, target, &mut progress).await;
        let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(COPY_LOCK)
            .execute(&mut *lock)
            .await;
        let done = copied?;
        unlocked.map_err(target.db())?;
        Ok(done)
    }

    async fn copy_tables(
        &self,
        src: &SqlitePool,
        pg: &PgPool,
        target: &Store,
        progress: &mut impl FnMut(&TableCopy),
    ) -> Result<Vec<TableCopy>, Error> {
        let mut maps = HashMap::new();
        let mut done = Vec::new();
        for spec in TABLES {
            let t = copy_table(src, pg, spec, &mut maps)
                .await
                .map_err(|stop| match stop {
                    Stop::Db(e) => target.db()(e),
                    Stop::Missing(n) => Error::Internal(format!(
                        "{n} rows of {} did not arrive in {}: run the copy again; if it says so again, report it",
                        spec.table,
                        target.path().display()
                    )),
                })?;
            progress(&t);
            done.push(t);
        }
        self.copy_cursors(src, target).await?;
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
