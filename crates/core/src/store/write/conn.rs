//! What the ingest write path needs of a database connection, on either backend: one
//! transaction that runs SQL with typed arguments. SQLite's side is rusqlite (`super::sqlite`:
//! statements prepared once per batch, on a blocking thread: the fastest way into SQLite measured
//! here), PostgreSQL's is sqlx (below). The SQL is written once, with `?N` parameters; PostgreSQL's side spells them `$N`.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use crate::store::model::{RequestStatus, Traffic};
use crate::timestamp::Timestamp;

/// A value bound to the write path's SQL, typed even when NULL (PostgreSQL types every parameter).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Arg<'a> {
    Text(Option<&'a str>),
    Int(Option<i64>),
    Float(Option<f64>),
}

/// A value read back.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Null,
    Text(String),
    Int(i64),
    Float(f64),
}

impl Val {
    pub(crate) fn text(&self) -> Option<&str> {
        match self {
            Val::Text(s) => Some(s),
            _ => None,
        }
    }
    pub(crate) fn int(&self) -> Option<i64> {
        match self {
            Val::Int(i) => Some(*i),
            _ => None,
        }
    }
    pub(crate) fn float(&self) -> Option<f64> {
        match self {
            Val::Float(f) => Some(*f),
            Val::Int(i) => Some(*i as f64),
            _ => None,
        }
    }
}

/// The type of a column read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    Text,
    Int,
    Float,
}

/// A field of a row as a bound value.
pub(crate) trait ToArg {
    fn arg(&self) -> Arg<'_>;
}

impl ToArg for String {
    fn arg(&self) -> Arg<'_> {
        Arg::Text(Some(self))
    }
}
impl ToArg for Option<String> {
    fn arg(&self) -> Arg<'_> {
        Arg::Text(self.as_deref())
    }
}
impl ToArg for &str {
    fn arg(&self) -> Arg<'_> {
        Arg::Text(Some(self))
    }
}
impl ToArg for i64 {
    fn arg(&self) -> Arg<'_> {
        Arg::Int(Some(*self))
    }
}
impl ToArg for Option<i64> {
    fn arg(&self) -> Arg<'_> {
        Arg::Int(*self)
    }
}
impl ToArg for bool {
    fn arg(&self) -> Arg<'_> {
        Arg::Int(Some(i64::from(*self)))
    }
}
impl ToArg for f64 {
    fn arg(&self) -> Arg<'_> {
        Arg::Float(Some(*self))
    }
}
impl ToArg for Option<f64> {
    fn arg(&self) -> Arg<'_> {
        Arg::Float(*self)
    }
}
impl ToArg for Timestamp {
    fn arg(&self) -> Arg<'_> {
        Arg::Float(Some(self.ms()))
    }
}
impl ToArg for Option<Timestamp> {
    fn arg(&self) -> Arg<'_> {
        Arg::Float(self.map(Timestamp::ms))
    }
}
impl ToArg for RequestStatus {
    fn arg(&self) -> Arg<'_> {
        Arg::Text(Some(self.as_str()))
    }
}
impl ToArg for Traffic {
    fn arg(&self) -> Arg<'_> {
        Arg::Text(Some(self.as_str()))
    }
}

impl rusqlite::ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(match self {
            Arg::Text(v) => v.to_sql()?,
            Arg::Int(v) => v.to_sql()?,
            Arg::Float(v) => v.to_sql()?,
        })
    }
}

/// A transaction of the write path.
pub(crate) trait WriteTx {
    /// Run `sql`; the rows it changed.
    async fn exec(&mut self, sql: &'static str, args: &[Arg<'_>]) -> Result<u64, String>;
    /// Run `sql`; its rows, read as `types`.
    async fn rows(
        &mut self,
        sql: &'static str,
        args: &[Arg<'_>],
        types: &[Ty],
    ) -> Result<Vec<Vec<Val>>, String>;
    /// Run an upsert of one row; whether it inserted a new row (`Some(true)`), changed one
    /// (`Some(false)`) or did nothing (`None`).
    async fn upsert(&mut self, sql: &'static str, args: &[Arg<'_>])
        -> Result<Option<bool>, String>;

    /// Rows one upsert statement may carry (1: a statement per row, as SQLite's prepared
    /// statements are fastest).
    const ROWS_PER_STATEMENT: usize = 1;

    /// Upsert several rows (distinct keys) with one statement: `(inserted, merged)`.
    async fn upsert_many(
        &mut self,
        sql: &'static str,
        rows: &[Vec<Arg<'_>>],
    ) -> Result<(u64, u64), String> {
        let (mut inserted, mut merged) = (0, 0);
        for args in rows {
            match self.upsert(sql, args).await? {
                Some(true) => inserted += 1,
                Some(false) => merged += 1,
                None => {}
            }
        }
        Ok((inserted, merged))
    }
}

/// `make(sql)`, made once per statement (per `table`) and kept: statements are a fixed set
/// built once, so what is kept for the process is bounded.
fn made_once(
    table: &'static OnceLock<Mutex<HashMap<usize, &'static str>>>,
    sql: &'static str,
    make: impl FnOnce() -> String,
) -> &'static str {
    let made = table.get_or_init(Default::default);
    let mut made = match made.lock() {
        Ok(m) => m,
        Err(poisoned) => poisoned.into_inner(),
    };
    made.entry(sql.as_ptr() as usize)
        .or_insert_with(|| Box::leak(make().into_boxed_str()))
}

/// `sql` with PostgreSQL's parameter marks (`?N` → `$N`).
fn pg_sql(sql: &'static str) -> &'static str {
    static MADE: OnceLock<Mutex<HashMap<usize, &'static str>>> = OnceLock::new();
    made_once(&MADE, sql, || {
        let mut out = String::with_capacity(sql.len());
        let mut chars = sql.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
                out.push('$');
            } else {
                out.push(c);
            }
        }
        out
    })
}

/// An upsert that says whether it inserted: `xmax = 0` when the row version was made by the
/// INSERT, not by the conflict's UPDATE.
fn pg_returning(sql: &'static str) -> &'static str {
    static MADE: OnceLock<Mutex<HashMap<usize, &'static str>>> = OnceLock::new();
    made_once(&MADE, sql, || {
        format!("{} RETURNING (xmax = 0)", pg_sql(sql))
    })
}

/// The arguments of a PostgreSQL statement, in order.
fn pg_args<'q>(args: &[Arg<'q>]) -> Result<sqlx::postgres::PgArguments, String> {
    use sqlx::Arguments;
    let mut out = sqlx::postgres::PgArguments::default();
    for a in args {
        match *a {
            Arg::Text(v) => out.add(v),
            Arg::Int(v) => out.add(v),
            Arg::Float(v) => out.add(v),
        }
        .map_err(|e| e.to_string())?;
    }
    Ok(out)
}

/// `sql` (a one-row `INSERT … VALUES (?1, …, ?N) ON CONFLICT …`) for `k` rows:
/// `VALUES ($1, …, $N), ($N+1, …, $2N), …`, returning `(xmax = 0)` per row written.
fn pg_multi_row(sql: &str, k: usize) -> Result<String, String> {
    let bad = || format!("not a one-row insert: {}", &sql[..sql.len().min(80)]);
    let at = sql.find(" VALUES (").ok_or_else(bad)? + " VALUES ".len();
    let end = at + sql[at..].find(')').ok_or_else(bad)? + 1;
    let n = sql[at..end].matches('?').count();
    let mut out = String::with_capacity(sql.len() + k * n * 6);
    out.push_str(&sql[..at]);
    for row in 0..k {
        out.push_str(if row == 0 { "(" } else { ", (" });
        for col in 0..n {
            if col > 0 {
                out.push_str(", ");
            }
            out.push('$');
            out.push_str(&(row * n + col + 1).to_string());
        }
        out.push(')');
    }
    out.push_str(&sql[end..]);
    out.push_str(" RETURNING (xmax = 0)");
    Ok(out)
}

impl WriteTx for sqlx::Transaction<'_, sqlx::Postgres> {
    async fn exec(&mut self, sql: &'static str, args: &[Arg<'_>]) -> Result<u64, String> {
        sqlx::query_with(pg_sql(sql), pg_args(args)?)
            .execute(&mut **self)
            .await
            .map(|d| d.rows_affected())
            .map_err(|e| e.to_string())
    }

    async fn rows(
        &mut self,
        sql: &'static str,
        args: &[Arg<'_>],
        types: &[Ty],
    ) -> Result<Vec<Vec<Val>>, String> {
        use sqlx::Row;
        let rows = sqlx::query_with(pg_sql(sql), pg_args(args)?)
            .fetch_all(&mut **self)
            .await
            .map_err(|e| e.to_string())?;
        rows.iter()
            .map(|r| {
                types
                    .iter()
                    .enumerate()
                    .map(|(i, ty)| {
                        let v = match ty {
                            Ty::Text => r.try_get::<Option<String>, _>(i).map(|v| v.map(Val::Text)),
                            Ty::Int => r.try_get::<Option<i64>, _>(i).map(|v| v.map(Val::Int)),
                            Ty::Float => r.try_get::<Option<f64>, _>(i).map(|v| v.map(Val::Float)),
                        };
                        v.map(|v| v.unwrap_or(Val::Null)).map_err(|e| e.to_string())
                    })
                    .collect()
            })
            .collect()
    }

    async fn upsert(
        &mut self,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> Result<Option<bool>, String> {
        let with_returning = pg_returning(sql);
        let inserted: Option<bool> = sqlx::query_scalar_with(with_returning, pg_args(args)?)
            .fetch_optional(&mut **self)
            .await
            .map_err(|e| e.to_string())?;
        Ok(inserted)
    }

    /// PostgreSQL takes at most 65,535 parameters a statement: ~70 columns × 500 rows.
    const ROWS_PER_STATEMENT: usize = 500;

    async fn upsert_many(
        &mut self,
        sql: &'static str,
        rows: &[Vec<Arg<'_>>],
    ) -> Result<(u64, u64), String> {
        let text = pg_multi_row(sql, rows.len())?;
        let all: Vec<Arg<'_>> = rows.iter().flatten().copied().collect();
        let written: Vec<bool> = sqlx::query_scalar_with(&text, pg_args(&all)?)
            .fetch_all(&mut **self)
            .await
            .map_err(|e| e.to_string())?;
        let inserted = written.iter().filter(|w| **w).count() as u64;
        Ok((inserted, written.len() as u64 - inserted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_marks_replace_numbered_ones_only() {
        let sql = "SELECT '?' , ?1, ?12 WHERE x = ?2";
        assert_eq!(pg_sql(sql), "SELECT '?' , $1, $12 WHERE x = $2");
        assert!(std::ptr::eq(pg_sql(sql), pg_sql(sql)), "made once");
    }

    #[test]
    fn a_one_row_insert_becomes_a_multi_row_one() {
        let sql =
            "INSERT INTO t (a, b) VALUES (?1, ?2) ON CONFLICT (a) DO UPDATE SET b = excluded.b";
        assert_eq!(
            pg_multi_row(sql, 3).unwrap(),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4), ($5, $6) ON CONFLICT (a) DO UPDATE SET b = excluded.b RETURNING (xmax = 0)"
        );
        assert!(pg_multi_row("UPDATE t SET a = 1", 2).is_err());
    }
}
