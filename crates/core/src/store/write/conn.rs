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

impl Val {
    /// The value bound as a column of type `ty` (NULL typed as the column).
    pub(crate) fn arg(&self, ty: Ty) -> Arg<'_> {
        match (self, ty) {
            (Val::Text(s), _) => Arg::Text(Some(s)),
            (Val::Int(i), _) => Arg::Int(Some(*i)),
            (Val::Float(f), _) => Arg::Float(Some(*f)),
            (Val::Null, Ty::Text) => Arg::Text(None),
            (Val::Null, Ty::Int) => Arg::Int(None),
            (Val::Null, Ty::Float) => Arg::Float(None),
        }
    }
}

/// Column `i` of an sqlx row read as `ty`. A number stored as the other kind (SQLite keeps a
/// column's declared type only as an affinity) is converted.
pub(crate) fn read_val<'r, R>(row: &'r R, i: usize, ty: Ty) -> Result<Val, sqlx::Error>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<f64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let v = match ty {
        Ty::Text => row.try_get::<Option<String>, _>(i)?.map(Val::Text),
        Ty::Int => match row.try_get::<Option<i64>, _>(i) {
            Ok(v) => v.map(Val::Int),
            Err(e) => match row.try_get::<Option<f64>, _>(i) {
                Ok(v) => v.map(|f| Val::Int(f as i64)),
                Err(_) => return Err(e),
            },
        },
        Ty::Float => match row.try_get::<Option<f64>, _>(i) {
            Ok(v) => v.map(Val::Float),
            Err(e) => match row.try_get::<Option<i64>, _>(i) {
                Ok(v) => v.map(|n| Val::Float(n as f64)),
                Err(_) => return Err(e),
            },
        },
    };
    Ok(v.unwrap_or(Val::Null))
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

/// A one-row `INSERT … VALUES (?1, …, ?N) ON CONFLICT …` split around its row: the text before
/// `VALUES` and the text after the row (PostgreSQL's marks).
fn one_row_insert(sql: &'static str) -> Result<(&'static str, &'static str), String> {
    let bad = || format!("not a one-row insert: {}", &sql[..sql.len().min(80)]);
    let sql = pg_sql(sql);
    let at = sql.find(" VALUES (").ok_or_else(bad)?;
    let end = at + sql[at..].find(')').ok_or_else(bad)? + 1;
    Ok((&sql[..=at], &sql[end..]))
}

/// Column `i` of every row, each of the kind `pick` takes (`None`: another kind).
fn column<'a, T>(
    rows: &[Vec<Arg<'a>>],
    i: usize,
    pick: impl Fn(Arg<'a>) -> Option<T>,
) -> Result<Vec<T>, String> {
    rows.iter()
        .map(|r| {
            let a = r.get(i).copied().ok_or("rows of different widths")?;
            pick(a).ok_or_else(|| "a column of mixed types".to_string())
        })
        .collect()
}

/// `rows` as one upsert over `UNNEST` of one array per column (each column's type from its
/// first row's argument), returning `(xmax = 0)` per row written.
fn pg_unnest<'a>(
    sql: &'static str,
    rows: &[Vec<Arg<'a>>],
) -> Result<(String, sqlx::postgres::PgArguments), String> {
    use sqlx::Arguments;
    let (head, tail) = one_row_insert(sql)?;
    let first = rows.first().ok_or("no rows")?;
    let mut select = String::from("SELECT * FROM UNNEST(");
    let mut args = sqlx::postgres::PgArguments::default();
    for (i, kind) in first.iter().enumerate() {
        let ty = match *kind {
            Arg::Text(_) => {
                let v = column(rows, i, |a| match a {
                    Arg::Text(v) => Some(v),
                    _ => None,
                })?;
                args.add(v).map_err(|e| e.to_string())?;
                "text"
            }
            Arg::Int(_) => {
                let v = column(rows, i, |a| match a {
                    Arg::Int(v) => Some(v),
                    _ => None,
                })?;
                args.add(v).map_err(|e| e.to_string())?;
                "int8"
            }
            Arg::Float(_) => {
                let v = column(rows, i, |a| match a {
                    Arg::Float(v) => Some(v),
                    _ => None,
                })?;
                args.add(v).map_err(|e| e.to_string())?;
                "float8"
            }
        };
        if i > 0 {
            select.push_str(", ");
        }
        select.push_str(&format!("${}::{ty}[]", i + 1));
    }
    select.push(')');
    Ok((format!("{head}{select}{tail} RETURNING (xmax = 0)"), args))
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
        let rows = sqlx::query_with(pg_sql(sql), pg_args(args)?)
            .fetch_all(&mut **self)
            .await
            .map_err(|e| e.to_string())?;
        rows.iter()
            .map(|r| {
                types
                    .iter()
                    .enumerate()
                    .map(|(i, ty)| read_val(r, i, *ty).map_err(|e| e.to_string()))
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

    /// Rows go in as one array per column (`UNNEST`): the statement's size does not grow with
    /// them, nor does the server's parsing.
    const ROWS_PER_STATEMENT: usize = 1000;

    async fn upsert_many(
        &mut self,
        sql: &'static str,
        rows: &[Vec<Arg<'_>>],
    ) -> Result<(u64, u64), String> {
        let (sql, args) = pg_unnest(sql, rows)?;
        let written: Vec<bool> = sqlx::query_scalar_with(&sql, args)
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
    fn a_one_row_insert_becomes_one_over_a_column_array_each() {
        let sql =
            "INSERT INTO t (a, b) VALUES (?1, ?2) ON CONFLICT (a) DO UPDATE SET b = excluded.b";
        let rows = vec![
            vec![Arg::Text(Some("x")), Arg::Int(None)],
            vec![Arg::Text(Some("y")), Arg::Int(Some(2))],
            vec![Arg::Text(None), Arg::Int(Some(3))],
        ];
        assert_eq!(
            pg_unnest(sql, &rows).unwrap().0,
            "INSERT INTO t (a, b) SELECT * FROM UNNEST($1::text[], $2::int8[]) ON CONFLICT (a) DO UPDATE SET b = excluded.b RETURNING (xmax = 0)"
        );
        assert!(pg_unnest("UPDATE t SET a = 1", &rows).is_err());
        let mixed = vec![vec![Arg::Text(None)], vec![Arg::Int(Some(1))]];
        assert!(pg_unnest(sql, &mixed).is_err(), "one type per column");
    }
}
