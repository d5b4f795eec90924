//! The app's database: an SQLite file (the embedded default: WAL mode, foreign keys on) or a
//! PostgreSQL server (`postgres://…`, for a team), migrated on open from the SQL files embedded
//! in the binary (`migrations/` and `migrations/postgres/`, at the same schema version).
//!
//! Every query is written once, in SQL both accept (`$1` parameters, `CASE` for two-argument
//! `MAX`, `IS DISTINCT FROM`, `"offset"` quoted), and compiled once per backend by [`on_pool!`].

use crate::timestamp::Timestamp;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sqlx::sqlite::SqlitePool;

use crate::config::{canonical_json, Registry};
use crate::Error;

mod cols;
mod copy;
mod datasets;
pub mod edge_events;
pub mod leases;
mod machines;
pub mod model;
mod open;
mod prune;
pub mod requests;
mod rollups;
mod runs;
mod sessions;
pub mod spans;
pub(crate) mod usage;
pub(crate) mod write;

pub use copy::TableCopy;
pub use datasets::{columns as dataset_columns, Cell, Dataset};
pub use leases::{Lease, Leased};
pub use model::Worker;
pub(crate) use open::url_has_password;
pub use open::{is_server_url, shown_url};
pub use prune::{Artifact, PrunePlan};
pub use requests::{Kind, RequestBrief, REQUEST_COLUMNS};
pub use rollups::{RequestValues, SessionHead};
pub use runs::{RunItemRow, RunRow, TaskResult};
pub use sessions::{NewSession, SessionFilter};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
static PG_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The database behind a store.
#[derive(Clone, Debug)]
pub enum Pool {
    /// An SQLite file (the embedded default).
    Sqlite(SqlitePool),
    /// A PostgreSQL server (a team's shared store).
    Postgres(sqlx::PgPool),
}

/// Run `$body` with `$p` bound to the store's pool; the body is compiled once per backend, so
/// rows, transactions and query builders have the backend's own types (`$Db` names it).
macro_rules! on_pool {
    ($store:expr, |$p:ident, $Db:ident| $body:expr) => {
        match $store.pool() {
            $crate::store::Pool::Sqlite($p) => {
                type $Db = sqlx::Sqlite;
                $body
            }
            $crate::store::Pool::Postgres($p) => {
                type $Db = sqlx::Postgres;
                $body
            }
        }
    };
    ($store:expr, |$p:ident| $body:expr) => {
        match $store.pool() {
            $crate::store::Pool::Sqlite($p) => $body,
            $crate::store::Pool::Postgres($p) => $body,
        }
    };
}
pub(crate) use on_pool;

/// The few SQL words the two backends spell differently.
pub(crate) trait Dialect {
    /// `F(haystack, needle)`: the 1-based position of needle, 0 when absent.
    const POSITION: &'static str;
    /// After a `SELECT` that picks rows to take: skip rows another transaction has locked
    /// (PostgreSQL; SQLite has one writer at a time and nothing to skip).
    const SKIP_LOCKED: &'static str;
}

impl Dialect for sqlx::Sqlite {
    const POSITION: &'static str = "instr";
    const SKIP_LOCKED: &'static str = "";
}

impl Dialect for sqlx::Postgres {
    const POSITION: &'static str = "strpos";
    const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";
}

/// The open database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
    /// The file, or the server's address without its password (for messages).
    path: PathBuf,
    /// The ingest path's own connection (see `ingest_write`).
    writer: crate::ingest_write::Writer,
    /// The machine this handle writes as, and its key once registered (see `machines`).
    machine: std::sync::Arc<machines::ThisMachine>,
}

/// One applied migration.
#[derive(Debug, Clone, Serialize)]
pub struct AppliedMigration {
    pub version: i64,
    pub description: String,
}

/// What a config sync changed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncReport {
    pub providers: usize,
    pub harness_profiles: usize,
    pub variants: usize,
    pub experiments: usize,
    pub task_cards: usize,
    /// Variants whose fingerprint is new (first sync, or the definition changed).
    pub new_fingerprints: Vec<String>,
}

/// Opening failed: a file that is not an SQLite database (or is damaged) says so; anything
/// else is "unavailable".
fn open_error(path: &Path, e: sqlx::Error) -> Error {
    let corrupt = e
        .as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "26" || c == "11")
        || e.to_string().contains("not a database");
    if corrupt {
        Error::DatabaseCorrupt {
            path: path.to_path_buf(),
        }
    } else {
        db_err(path)(e)
    }
}

fn db_err(path: &Path) -> impl Fn(sqlx::Error) -> Error + '_ {
    move |e| Error::Database {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

impl Store {
    /// Where the last ingest pass over a spool stopped: `(file id, byte offset)`.
    pub async fn ingest_cursor(&self, spool: &str) -> Result<Option<(String, u64)>, Error> {
        let sql = "SELECT file_id, \"offset\" FROM ingest_cursors WHERE spool = $1";
        let spool = self.spool_key(spool);
        let row: Option<(String, i64)> = on_pool!(self, |p| sqlx::query_as(sql)
            .bind(&*spool)
            .fetch_optional(p)
            .await)
        .map_err(self.db())?;
        Ok(row.map(|(f, o)| (f, o.max(0) as u64)))
    }

    /// Give a spool's cursor to its new name (rotation), only if it still stands at `(file_id,
    /// offset)`: false when another process moved or advanced it first.
    pub async fn move_ingest_cursor(
        &self,
        from: &str,
        to: &str,
        file_id: &str,
        offset: u64,
    ) -> Result<bool, Error> {
        let sql = "UPDATE ingest_cursors SET spool = $1 WHERE spool = $2 AND file_id = $3 AND \"offset\" = $4";
        let (from, to) = (self.spool_key(from), self.spool_key(to));
        let done = on_pool!(self, |p| sqlx::query(sql)
            .bind(&*to)
            .bind(&*from)
            .bind(file_id)
            .bind(offset as i64)
            .execute(p)
            .await
            .map(|d| d.rows_affected()))
        .map_err(self.db())?;
        Ok(done == 1)
    }

    /// Set a spool's cursor where none is (a store copied in: see `copy`).
    pub(crate) async fn put_ingest_cursor(
        &self,
        spool: &str,
        file_id: &str,
        offset: u64,
    ) -> Result<(), Error> {
        let sql = "INSERT INTO ingest_cursors (spool, file_id, \"offset\", updated_at) VALUES ($1, $2, $3, $4) ON CONFLICT (spool) DO NOTHING";
        let spool = self.spool_key(spool);
        on_pool!(self, |p| sqlx::query(sql)
            .bind(&*spool)
            .bind(file_id)
            .bind(offset.min(i64::MAX as u64) as i64)
            .bind(crate::timestamp::Timestamp::now())
            .execute(p)
            .await
            .map(drop))
        .map_err(self.db())
    }

    /// Forget a deleted spool's cursor.
    pub async fn delete_ingest_cursor(&self, spool: &str) -> Result<(), Error> {
        let spool = self.spool_key(spool);
        on_pool!(self, |p| sqlx::query(
            "DELETE FROM ingest_cursors WHERE spool = $1"
        )
        .bind(&*spool)
        .execute(p)
        .await
        .map(drop))
        .map_err(self.db())
    }

    /// Map a query error to the store's error (naming the database file).
    pub(crate) fn db(&self) -> impl Fn(sqlx::Error) -> Error + '_ {
        db_err(&self.path)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The SQLite pool, when the store is an SQLite file (benchmarks and tests that reach past
    /// the store API).
    pub fn sqlite_pool(&self) -> Option<&SqlitePool> {
        match &self.pool {
            Pool::Sqlite(p) => Some(p),
            Pool::Postgres(_) => None,
        }
    }

    /// Whether the store is a PostgreSQL server.
    pub fn is_postgres(&self) -> bool {
        matches!(self.pool, Pool::Postgres(_))
    }

    pub(crate) fn writer(&self) -> &crate::ingest_write::Writer {
        &self.writer
    }

    /// Migrations recorded as applied.
    pub async fn applied_migrations(&self) -> Result<Vec<AppliedMigration>, Error> {
        let sql =
            "SELECT version, description FROM _sqlx_migrations WHERE success ORDER BY version";
        let rows: Vec<(i64, String)> = on_pool!(self, |p| sqlx::query_as(sql).fetch_all(p).await)
            .map_err(db_err(&self.path))?;
        Ok(rows
            .into_iter()
            .map(|(version, description)| AppliedMigration {
                version,
                description,
            })
            .collect())
    }

    /// Upsert the config registry. Variants are keyed by (name, fingerprint): a changed
    /// definition adds a row and marks the old one not current, so history stays comparable.
    pub async fn sync_config(&self, reg: &Registry) -> Result<SyncReport, Error> {
        let e = db_err(&self.path);
        let now = Timestamp::now();
        let json = |v: &dyn erased::Ser| canonical_json(&v.value());
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await.map_err(&e)?;
            let mut report = SyncReport::default();
            for p in reg.providers.iter().map(|l| &l.value) {
                sqlx::query(
                "INSERT INTO providers (name, route_name, protocol_surface, definition, updated_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (name) DO UPDATE SET route_name = excluded.route_name, protocol_surface = excluded.protocol_surface,
                 definition = excluded.definition, updated_at = excluded.updated_at",
            )
            .bind(&p.name)
            .bind(&p.route_name)
            .bind(p.protocol_surface.as_str())
            .bind(json(p))
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(&e)?;
                report.providers += 1;
            }
            for h in reg.harnesses.iter().map(|l| &l.value) {
                sqlx::query(
                "INSERT INTO harness_profiles (name, protocol_surface, definition, updated_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (name) DO UPDATE SET protocol_surface = excluded.protocol_surface,
                 definition = excluded.definition, updated_at = excluded.updated_at",
            )
            .bind(&h.name)
            .bind(h.protocol_surface.as_str())
            .bind(json(h))
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(&e)?;
                report.harness_profiles += 1;
            }
            for v in reg.variants.iter().map(|l| &l.value) {
                let Some(r) = reg.resolve(&v.name) else {
                    continue;
                };
                let inserted = sqlx::query(
                "INSERT INTO variants (name, config_fingerprint, provider, provider_route, model_alias, upstream_model,
                 harness_profile, benchmark_tags, definition, is_current, first_seen_at, last_seen_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, $10, $11)
                 ON CONFLICT (name, config_fingerprint) DO NOTHING",
            )
            .bind(&v.name)
            .bind(&r.config_fingerprint)
            .bind(&v.provider)
            .bind(&v.provider_route)
            .bind(&v.model_alias)
            .bind(r.upstream_model)
            .bind(&v.harness_profile)
            .bind(json(&v.benchmark_tags))
            .bind(json(v))
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(&e)?;
                if inserted.rows_affected() > 0 {
                    report.new_fingerprints.push(v.name.clone());
                }
                sqlx::query("UPDATE variants SET is_current = CASE WHEN config_fingerprint = $1 THEN 1 ELSE 0 END, last_seen_at = CASE WHEN config_fingerprint = $2 THEN $3 ELSE last_seen_at END WHERE name = $4")
                .bind(&r.config_fingerprint)
                .bind(&r.config_fingerprint)
                .bind(now)
                .bind(&v.name)
                .execute(&mut *tx)
                .await
                .map_err(&e)?;
                report.variants += 1;
            }
            for x in reg.experiments.iter().map(|l| &l.value) {
                sqlx::query(
                "INSERT INTO experiments (name, description, variants, definition, updated_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (name) DO UPDATE SET description = excluded.description, variants = excluded.variants,
                 definition = excluded.definition, updated_at = excluded.updated_at",
            )
            .bind(&x.name)
            .bind(&x.description)
            .bind(json(&x.variants))
            .bind(json(x))
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(&e)?;
                report.experiments += 1;
            }
            for t in reg.task_cards.iter().map(|l| &l.value) {
                sqlx::query(
                "INSERT INTO task_cards (name, repo_path, stop_condition, session_timebox_minutes, definition, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (name) DO UPDATE SET repo_path = excluded.repo_path, stop_condition = excluded.stop_condition,
                 session_timebox_minutes = excluded.session_timebox_minutes, definition = excluded.definition,
                 updated_at = excluded.updated_at",
            )
            .bind(&t.name)
            .bind(&t.repo_path)
            .bind(&t.stop_condition)
            .bind(i64::from(t.session_timebox_minutes))
            .bind(json(t))
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(&e)?;
                report.task_cards += 1;
            }
            tx.commit().await.map_err(&e)?;
            Ok(report)
        })
    }

    /// Every stored fingerprint of a variant, newest first: `(fingerprint, is_current)`.
    pub async fn variant_fingerprints(&self, name: &str) -> Result<Vec<(String, bool)>, Error> {
        let sql = "SELECT config_fingerprint, is_current FROM variants WHERE name = $1 ORDER BY variant_id DESC";
        let rows: Vec<(String, i64)> =
            on_pool!(self, |p| sqlx::query_as(sql).bind(name).fetch_all(p).await)
                .map_err(db_err(&self.path))?;
        Ok(rows.into_iter().map(|(f, c)| (f, c == 1)).collect())
    }

    /// Names of the tables in the schema (for `db` diagnostics and tests).
    pub async fn tables(&self) -> Result<Vec<String>, Error> {
        let sql = match self.pool() {
            Pool::Sqlite(_) => "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite%' ORDER BY name",
            Pool::Postgres(_) => "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() AND tablename NOT LIKE '\\_%' ESCAPE '\\' ORDER BY tablename",
        };
        on_pool!(self, |p| sqlx::query_scalar(sql).fetch_all(p).await).map_err(db_err(&self.path))
    }
}

/// Serialize anything to a JSON value without naming its type at the call site.
mod erased {
    pub trait Ser {
        fn value(&self) -> serde_json::Value;
    }
    impl<T: serde::Serialize> Ser for T {
        fn value(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
        }
    }
}

#[cfg(test)]
mod tests {
    /// Times are f64 ms since 1970 with 16-17 significant digits; JSON (CLI `--json`, spool
    /// lines, the API) must give back the very same f64, or a `created_at` read back misses its
    /// own `since` filter. serde_json's default parser is off by one ULP for about one in ten.
    #[test]
    fn times_survive_json_exactly() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut off = 0;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let t = 1.7e12 + (x % 100_000_000_000) as f64 / 1e3 + (x >> 44) as f64 * 1e-7;
            let text = serde_json::to_string(&t).expect("json");
            let back: f64 = serde_json::from_str(&text).expect("parse");
            let via_value = serde_json::from_str::<serde_json::Value>(&text)
                .expect("value")
                .as_f64();
            off += usize::from(back != t || via_value != Some(t));
        }
        assert_eq!(off, 0, "times changed by a JSON round trip");
        let now = crate::timestamp::Timestamp::now();
        let text = serde_json::to_string(&now).expect("json");
        assert_eq!(serde_json::from_str::<f64>(&text).expect("parse"), now.ms());
    }
}
