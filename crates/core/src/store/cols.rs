//! A row's columns read by position the same way on both backends: the sqlx bounds that say
//! "this backend decodes these types" are written here once, not at every function that maps a
//! row read from either pool.

use sqlx::{ColumnIndex, Decode, Row, Type};

/// Column `i` of a row as a Rust value. Like [`Row::get`], a column of another type is a bug in
/// the query beside the mapping, and panics with the column's name.
pub(crate) trait Cols {
    fn int(&self, i: usize) -> i64;
    fn opt_int(&self, i: usize) -> Option<i64>;
    fn text(&self, i: usize) -> String;
    fn opt_text(&self, i: usize) -> Option<String>;
    fn real(&self, i: usize) -> f64;
    fn opt_real(&self, i: usize) -> Option<f64>;
}

impl<R> Cols for R
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> f64: Decode<'r, R::Database> + Type<R::Database>,
{
    fn int(&self, i: usize) -> i64 {
        self.get(i)
    }
    fn opt_int(&self, i: usize) -> Option<i64> {
        self.get(i)
    }
    fn text(&self, i: usize) -> String {
        self.get(i)
    }
    fn opt_text(&self, i: usize) -> Option<String> {
        self.get(i)
    }
    fn real(&self, i: usize) -> f64 {
        self.get(i)
    }
    fn opt_real(&self, i: usize) -> Option<f64> {
        self.get(i)
    }
}
