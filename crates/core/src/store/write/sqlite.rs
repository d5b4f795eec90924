//! The write path's transaction on SQLite: rusqlite, `BEGIN IMMEDIATE` (the write lock taken at
//! once, waiting through the busy timeout), and each statement prepared once per batch, looked up
//! by its text's address — not by hashing the text, which for the ~5 kB request upserts cost about
//! a seventh of the write path when done per row (rusqlite's own statement cache).

use std::collections::HashMap;

use rusqlite::{Connection, Statement};

use super::conn::{Arg, Ty, Val, WriteTx};

pub(crate) struct SqliteTx<'c> {
    conn: &'c Connection,
    statements: HashMap<usize, Statement<'c>>,
    open: bool,
}

impl<'c> SqliteTx<'c> {
    pub(crate) fn begin(conn: &'c Connection) -> rusqlite::Result<Self> {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        Ok(SqliteTx {
            conn,
            statements: HashMap::new(),
            open: true,
        })
    }

    pub(crate) fn commit(mut self) -> rusqlite::Result<()> {
        self.statements.clear();
        self.open = false;
        self.conn.execute_batch("COMMIT")
    }

    fn statement(&mut self, sql: &'static str) -> Result<&mut Statement<'c>, String> {
        let conn = self.conn;
        match self.statements.entry(sql.as_ptr() as usize) {
            std::collections::hash_map::Entry::Occupied(e) => Ok(e.into_mut()),
            std::collections::hash_map::Entry::Vacant(v) => {
                Ok(v.insert(conn.prepare(sql).map_err(|e| e.to_string())?))
            }
        }
    }
}

impl Drop for SqliteTx<'_> {
    /// A batch that failed (or panicked) leaves nothing behind.
    fn drop(&mut self) {
        if self.open {
            self.statements.clear();
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

impl WriteTx for SqliteTx<'_> {
    async fn exec(&mut self, sql: &'static str, args: &[Arg<'_>]) -> Result<u64, String> {
        self.statement(sql)?
            .execute(rusqlite::params_from_iter(args))
            .map(|n| n as u64)
            .map_err(|e| e.to_string())
    }

    async fn rows(
        &mut self,
        sql: &'static str,
        args: &[Arg<'_>],
        types: &[Ty],
    ) -> Result<Vec<Vec<Val>>, String> {
        let st = self.statement(sql)?;
        let mut rows = st
            .query(rusqlite::params_from_iter(args))
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(|e| e.to_string())? {
            let mut row = Vec::with_capacity(types.len());
            for (i, ty) in types.iter().enumerate() {
                let v = match ty {
                    Ty::Text => r.get::<_, Option<String>>(i).map(|v| v.map(Val::Text)),
                    Ty::Int => r.get::<_, Option<i64>>(i).map(|v| v.map(Val::Int)),
                    Ty::Float => r.get::<_, Option<f64>>(i).map(|v| v.map(Val::Float)),
                }
                .map_err(|e| e.to_string())?;
                row.push(v.unwrap_or(Val::Null));
            }
            out.push(row);
        }
        Ok(out)
    }

    async fn upsert(
        &mut self,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> Result<Option<bool>, String> {
        let before = self.conn.last_insert_rowid();
        let changed = self
            .statement(sql)?
            .execute(rusqlite::params_from_iter(args))
            .map_err(|e| e.to_string())?;
        if changed == 0 {
            return Ok(None);
        }
        // An upsert that updated leaves last_insert_rowid alone.
        Ok(Some(self.conn.last_insert_rowid() != before))
    }
}
