//! The app's SQLite database: opened in WAL mode with foreign keys on, migrated on open from the
//! SQL files embedded in the binary.

use crate::timestamp::Timestamp;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Row;

use crate::config::{canonical_json, Registry};
use crate::Error;

mod datasets;
pub mod edge_events;
pub mod model;
mod prune;
pub mod requests;
mod rollups;
mod runs;
mod sessions;
pub(crate) mod usage;
pub(crate) mod write;

pub use datasets::{columns as dataset_columns, Cell, Dataset};
pub use prune::{Artifact, PrunePlan};
pub use requests::{Kind, RequestBrief, REQUEST_COLUMNS};
pub use rollups::{RequestValues, SessionHead};
pub use runs::{RunItemRow, RunRow, TaskResult};
pub use sessions::{NewSession, SessionFilter};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The open database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    path: PathBuf,
    /// The ingest path's own connection (see `ingest_write`).
    writer: crate::ingest_write::Writer,
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
        let row = sqlx::query("SELECT file_id, offset FROM ingest_cursors WHERE spool = ?")
            .bind(spool)
            .fetch_optional(self.pool())
            .await
            .map_err(self.db())?;
        Ok(row.map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1).max(0) as u64)))
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
        let done = sqlx::query(
            "UPDATE ingest_cursors SET spool = ? WHERE spool = ? AND file_id = ? AND offset = ?",
        )
        .bind(to)
        .bind(from)
        .bind(file_id)
        .bind(offset as i64)
        .execute(self.pool())
        .await
        .map_err(self.db())?;
        Ok(done.rows_affected() == 1)
    }

    /// Forget a deleted spool's cursor.
    pub async fn delete_ingest_cursor(&self, spool: &str) -> Result<(), Error> {
        sqlx::query("DELETE FROM ingest_cursors WHERE spool = ?")
            .bind(spool)
            .execute(self.pool())
            .await
            .map_err(self.db())?;
        Ok(())
    }

    /// Map a query error to the store's error (naming the database file).
    pub(crate) fn db(&self) -> impl Fn(sqlx::Error) -> Error + '_ {
        db_err(&self.path)
    }

    /// As [`Store::open`], creating the file's directory first (0700): for StackPerf's own data
    /// directory only — a path the user typed must exist, so a typo is an error, not an empty
    /// new database.
    pub async fn open_creating_dir(path: &Path) -> Result<Store, Error> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::paths::create_private_dir(dir).map_err(|e| Error::Database {
                path: path.to_path_buf(),
                message: format!("cannot create directory {}: {e}", dir.display()),
            })?;
        }
        Store::open(path).await
    }

    /// Open (creating the file if needed) and migrate the database at `path`; its directory
    /// must exist.
    pub async fn open(path: &Path) -> Result<Store, Error> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.is_dir() {
                return Err(Error::Invalid(format!(
                    "the folder {} for the database {} does not exist: create it, or pass another --db PATH (without --db StackPerf uses its data directory)",
                    dir.display(),
                    path.display()
                )));
            }
        }
        let existed = path.exists();
        let url = format!("sqlite://{}", path.display());
        let opts = SqliteConnectOptions::from_str(&url)
            .map_err(db_err(path))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            // A 64 MiB page cache keeps the request indexes hot during ingest and reports.
            .pragma("cache_size", "-65536")
            .pragma("temp_store", "memory")
            // Checkpoint the WAL less often during bulk ingest, and read pages through mmap.
            .pragma("wal_autocheckpoint", "10000")
            .pragma("mmap_size", "268435456");
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await
            .map_err(|e| open_error(path, e))?;
        MIGRATOR.run(&pool).await.map_err(|e| match e {
            // A migration this build does not have: the file was written by a newer StackPerf.
            sqlx::migrate::MigrateError::VersionMissing(v) => Error::DatabaseNewer {
                path: path.to_path_buf(),
                version: v,
            },
            sqlx::migrate::MigrateError::Execute(e) => open_error(path, e),
            other => Error::Database {
                path: path.to_path_buf(),
                message: format!("migration failed: {other}"),
            },
        })?;
        #[cfg(unix)]
        if !existed {
            use std::os::unix::fs::PermissionsExt;
            for f in [
                path.to_path_buf(),
                path.with_extension("sqlite-wal"),
                path.with_extension("sqlite-shm"),
            ] {
                let _ = std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600));
            }
        }
        Ok(Store {
            pool,
            path: path.to_path_buf(),
            writer: Default::default(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub(crate) fn writer(&self) -> &crate::ingest_write::Writer {
        &self.writer
    }

    /// Migrations recorded as applied.
    pub async fn applied_migrations(&self) -> Result<Vec<AppliedMigration>, Error> {
        let rows = sqlx::query(
            "SELECT version, description FROM _sqlx_migrations WHERE success = 1 ORDER BY version",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err(&self.path))?;
        Ok(rows
            .iter()
            .map(|r| AppliedMigration {
                version: r.get("version"),
                description: r.get("description"),
            })
            .collect())
    }

    /// Upsert the config registry. Variants are keyed by (name, fingerprint): a changed
    /// definition adds a row and marks the old one not current, so history stays comparable.
    pub async fn sync_config(&self, reg: &Registry) -> Result<SyncReport, Error> {
        let e = db_err(&self.path);
        let now = Timestamp::now();
        let mut tx = self.pool.begin().await.map_err(&e)?;
        let mut report = SyncReport::default();
        let json = |v: &dyn erased::Ser| canonical_json(&v.value());
        for p in reg.providers.iter().map(|l| &l.value) {
            sqlx::query(
                "INSERT INTO providers (name, route_name, protocol_surface, definition, updated_at) VALUES (?, ?, ?, ?, ?)
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
                "INSERT INTO harness_profiles (name, protocol_surface, definition, updated_at) VALUES (?, ?, ?, ?)
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
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)
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
            sqlx::query("UPDATE variants SET is_current = (config_fingerprint = ?), last_seen_at = CASE WHEN config_fingerprint = ? THEN ? ELSE last_seen_at END WHERE name = ?")
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
                "INSERT INTO experiments (name, description, variants, definition, updated_at) VALUES (?, ?, ?, ?, ?)
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
                 VALUES (?, ?, ?, ?, ?, ?)
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
    }

    /// Every stored fingerprint of a variant, newest first: `(fingerprint, is_current)`.
    pub async fn variant_fingerprints(&self, name: &str) -> Result<Vec<(String, bool)>, Error> {
        let rows = sqlx::query("SELECT config_fingerprint, is_current FROM variants WHERE name = ? ORDER BY variant_id DESC")
            .bind(name)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err(&self.path))?;
        Ok(rows
            .iter()
            .map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1) == 1))
            .collect())
    }

    /// Names of the tables in the schema (for `db` diagnostics and tests).
    pub async fn tables(&self) -> Result<Vec<String>, Error> {
        let rows = sqlx::query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite%' ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err(&self.path))?;
        Ok(rows.iter().map(|r| r.get::<String, _>(0)).collect())
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
