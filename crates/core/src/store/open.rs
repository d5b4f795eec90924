//! Opening a store: an SQLite file, or a PostgreSQL server named by a `postgres://` URL.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use crate::lockfile::FileLock;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::{db_err, open_error, Pool, Store, MIGRATOR, PG_MIGRATOR};
use crate::Error;

/// Whether `db` names a PostgreSQL server (`postgres://…` or `postgresql://…`).
pub fn is_server_url(db: &Path) -> bool {
    db.to_str()
        .is_some_and(|s| s.starts_with("postgres://") || s.starts_with("postgresql://"))
}

/// A server URL as it may be shown: without its password (in the user part or as a
/// `password=` parameter). A URL that does not parse is shown as its scheme alone.
pub fn shown_url(url: &str) -> String {
    let Ok(mut u) = url::Url::parse(url) else {
        let scheme = url.split_once("://").map_or("postgres", |(s, _)| s);
        return format!("{scheme}://…");
    };
    let _ = u.set_password(None);
    let kept: Option<String> = u.query().map(|q| {
        q.split('&')
            .filter(|pair| !is_password_param(pair))
            .collect::<Vec<_>>()
            .join("&")
    });
    u.set_query(kept.as_deref().filter(|q| !q.is_empty()));
    u.to_string()
}

/// Whether a raw `key=value` query pair sets the password (the key decoded, any case).
fn is_password_param(pair: &str) -> bool {
    url::form_urlencoded::parse(pair.as_bytes())
        .next()
        .is_some_and(|(k, _)| k.eq_ignore_ascii_case("password"))
}

/// Whether a server URL carries a password itself (user part or `password=`).
pub(crate) fn url_has_password(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| {
        u.password().is_some()
            || u.query()
                .is_some_and(|q| q.split('&').any(is_password_param))
    })
}

fn migrate_error(path: &Path, e: sqlx::migrate::MigrateError) -> Error {
    match e {
        // A migration this build does not have: the store was written by a newer StackPerf.
        sqlx::migrate::MigrateError::VersionMissing(v) => Error::DatabaseNewer {
            path: path.to_path_buf(),
            version: v,
        },
        sqlx::migrate::MigrateError::Execute(e) => open_error(path, e),
        other => Error::Database {
            path: path.to_path_buf(),
            message: format!("migration failed: {other}"),
        },
    }
}

impl Store {
    /// As [`Store::open`], creating the file's directory first (0700): for StackPerf's own data
    /// directory only — a path the user typed must exist, so a typo is an error, not an empty
    /// new database.
    pub async fn open_creating_dir(path: &Path) -> Result<Store, Error> {
        if is_server_url(path) {
            return Store::open(path).await;
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::paths::create_private_dir(dir).map_err(|e| Error::Database {
                path: path.to_path_buf(),
                message: format!("cannot create directory {}: {e}", dir.display()),
            })?;
        }
        Store::open(path).await
    }

    /// Open and migrate the store: a PostgreSQL server when `path` is a `postgres://` URL, else
    /// the SQLite file at `path` (created if needed; its directory must exist).
    pub async fn open(path: &Path) -> Result<Store, Error> {
        match path.to_str().filter(|_| is_server_url(path)) {
            Some(url) => Store::open_postgres(url, None).await,
            None => Store::open_sqlite(path).await,
        }
    }

    /// A PostgreSQL server, with `password` when the URL, `PGPASSWORD` and the passfile are not
    /// to be asked (the app's keychain entry).
    pub async fn open_server(
        url: &Path,
        password: Option<&crate::secrets::Secret>,
    ) -> Result<Store, Error> {
        let text = url.to_string_lossy();
        Store::open_postgres(&text, password).await
    }

    async fn open_sqlite(path: &Path) -> Result<Store, Error> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.is_dir() {
                return Err(Error::Invalid(format!(
                    "the folder {} for the database {} does not exist: create it, or pass another --db PATH (without --db StackPerf uses its data directory)",
                    dir.display(),
                    path.display()
                )));
            }
        }
        // One process at a time creates or migrates the file: SQLite has no lock for that (sqlx's
        // migrator takes none on SQLite), so processes opening a new store at once each created
        // its tables and all but one failed ("table … already exists"). Held until the migrations
        // are applied; the others then find nothing left to do.
        let mut lock_path = path.as_os_str().to_os_string();
        lock_path.push(".migrate-lock");
        let migrating = FileLock::acquire(Path::new(&lock_path), || {}).await?;
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
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| migrate_error(path, e))?;
        drop(migrating);
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
            pool: Pool::Sqlite(pool),
            path: path.to_path_buf(),
            writer: Default::default(),
            machine: Default::default(),
        })
    }

    /// A PostgreSQL server. The password comes from the URL, `PGPASSWORD`, `password` (the app's
    /// keychain entry) or the user's libpq passfile (`~/.pgpass`, `PGPASSFILE`).
    async fn open_postgres(
        url: &str,
        password: Option<&crate::secrets::Secret>,
    ) -> Result<Store, Error> {
        let shown = PathBuf::from(shown_url(url));
        // sqlx's own errors may quote the URL: they are shown with the address only.
        let mut opts = PgConnectOptions::from_str(url).map_err(|_| Error::Database {
            path: shown.clone(),
            message: "not a PostgreSQL URL StackPerf can read (postgres://user@host:port/database?sslmode=…)".into(),
        })?;
        if let Some(p) = password {
            opts = opts.password(p.expose());
        }
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts)
            .await
            .map_err(|e| {
                let auth = e
                    .as_database_error()
                    .and_then(|d| d.code())
                    .is_some_and(|c| c == "28P01" || c == "28000");
                let hint = if auth {
                    ". Give the password with `stackperf secrets set STACKPERF_DB_PASSWORD`, PGPASSWORD or ~/.pgpass"
                } else if e.to_string().contains("certificate") {
                    ". The server's certificate is not signed by a root this machine trusts: add `sslrootcert=/path/to/ca.crt` to the URL (or its CA to the system's trust store)"
                } else {
                    ""
                };
                Error::Database {
                    path: shown.clone(),
                    message: format!("cannot connect: {e}{hint}"),
                }
            })?;
        PG_MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| migrate_error(&shown, e))?;
        Ok(Store {
            pool: Pool::Postgres(pool),
            path: shown,
            writer: Default::default(),
            machine: Default::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_url_is_shown_without_its_password() {
        assert_eq!(
            shown_url("postgres://ann:s3cret@db.example:5432/perf?sslmode=require"),
            "postgres://ann@db.example:5432/perf?sslmode=require"
        );
        assert_eq!(shown_url("postgres://db/perf"), "postgres://db/perf");
        assert_eq!(shown_url("postgres://a:b:c@h/d"), "postgres://a@h/d");
        assert_eq!(
            shown_url("postgres://h/d?sslmode=require&password=pw&application_name=x"),
            "postgres://h/d?sslmode=require&application_name=x"
        );
        assert_eq!(
            shown_url("postgres://u:p@h/d?Password=pw"),
            "postgres://u@h/d"
        );
        assert_eq!(shown_url("postgres://u:p%40ss@h/d"), "postgres://u@h/d");
        assert_eq!(
            shown_url("postgres://h/d?pass%77ord=pw&sslrootcert=/tmp/ca.crt"),
            "postgres://h/d?sslrootcert=/tmp/ca.crt"
        );
        assert_eq!(shown_url("postgres://u:p@[bad/d"), "postgres://…");
        assert!(url_has_password("postgres://u:p@h/d"));
        assert!(url_has_password(
            "postgres://u@h/d?sslmode=require&PASSWORD=x"
        ));
        assert!(!url_has_password("postgres://u@h/d?sslmode=require"));
        assert!(is_server_url(Path::new("postgresql://h/d")));
        assert!(!is_server_url(Path::new("/data/postgres://x")));
    }
}
