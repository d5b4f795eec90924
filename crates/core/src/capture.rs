//! Capture: ingest the proxy's spool file into the database.
//!
//! Incremental (a byte cursor per spool, stored in the same transaction as the rows it covers),
//! idempotent (rows are keyed by LiteLLM's call id), and lossless: a partial last line is left for
//! the next pass, and a run after downtime catches up from the cursor.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::Path;

use serde::Serialize;
use sqlx::Row;

use crate::normalize::{self, Attribution, ModelIndex, RequestRow};
use crate::store::{now_ms, Store};
use crate::{io_err, Error};

/// Rows per transaction (the cursor moves with each).
const BATCH: usize = 10_000;

/// What one ingest pass did.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct CollectReport {
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub lines: u64,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub inserted: u64,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub duplicates: u64,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub malformed: u64,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub unattributed: u64,
    /// Bytes of an incomplete last line left for the next pass.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub pending_bytes: u64,
}

fn file_id(meta: &std::fs::Metadata) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        format!("{}:{}", meta.dev(), meta.ino())
    }
    #[cfg(not(unix))]
    {
        meta.created()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos().to_string())
            .unwrap_or_default()
    }
}

fn db_err(store: &Store) -> impl Fn(sqlx::Error) -> Error + '_ {
    move |e| Error::Database {
        path: store.path().to_path_buf(),
        message: e.to_string(),
    }
}

/// Resolves key aliases to sessions, caching lookups for one pass.
struct Sessions<'a> {
    store: &'a Store,
    cache: HashMap<String, Option<Attribution>>,
}

impl Sessions<'_> {
    async fn get(&mut self, alias: &str) -> Result<Option<Attribution>, Error> {
        if let Some(a) = self.cache.get(alias) {
            return Ok(a.clone());
        }
        let row = sqlx::query("SELECT session_id, variant_id, experiment, harness_profile FROM sessions WHERE proxy_key_alias = ?")
            .bind(alias)
            .fetch_optional(self.store.pool())
            .await
            .map_err(db_err(self.store))?;
        let a = row.map(|r| Attribution {
            session_id: r.get(0),
            variant_id: r.get(1),
            experiment: r.get(2),
            harness_profile: r.get(3),
        });
        self.cache.insert(alias.to_string(), a.clone());
        Ok(a)
    }
}

/// One ingest pass over `spool`.
pub async fn collect(
    store: &Store,
    spool: &Path,
    models: &ModelIndex,
) -> Result<CollectReport, Error> {
    collect_into(store, spool, models, None).await
}

/// One ingest pass; the rows read in this pass are also appended to `sink` (for live views).
pub async fn collect_into(
    store: &Store,
    spool: &Path,
    models: &ModelIndex,
    mut sink: Option<&mut Vec<RequestRow>>,
) -> Result<CollectReport, Error> {
    let mut report = CollectReport::default();
    let Ok(meta) = std::fs::metadata(spool) else {
        return Ok(report);
    };
    let key = spool.display().to_string();
    let id = file_id(&meta);
    let cursor = sqlx::query("SELECT file_id, offset FROM ingest_cursors WHERE spool = ?")
        .bind(&key)
        .fetch_optional(store.pool())
        .await
        .map_err(db_err(store))?;
    let mut offset: u64 = match cursor {
        // Same file, not truncated: continue where the last pass stopped.
        Some(r) if r.get::<String, _>(0) == id && (r.get::<i64, _>(1) as u64) <= meta.len() => {
            r.get::<i64, _>(1) as u64
        }
        _ => 0,
    };
    let mut file =
        std::fs::File::open(spool).map_err(io_err(format!("open {}", spool.display())))?;
    file.seek(SeekFrom::Start(offset))
        .map_err(io_err("seek in the spool"))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut sessions = Sessions {
        store,
        cache: HashMap::new(),
    };
    let mut batch: Vec<RequestRow> = Vec::with_capacity(BATCH);
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .map_err(io_err("read the spool"))? as u64;
        if n == 0 {
            break;
        }
        if !line.ends_with('\n') {
            // The proxy is still writing this line: leave it for the next pass.
            report.pending_bytes = n;
            break;
        }
        report.lines += 1;
        let parsed = normalize::parse_line(line.trim_end());
        let row = match parsed {
            Ok(rec) => {
                let attribution = match rec.key_alias.as_deref() {
                    Some(alias) => sessions.get(alias).await?,
                    None => None,
                };
                normalize::normalize(&rec, attribution.as_ref(), models).ok()
            }
            Err(_) => None,
        };
        match row {
            Some(r) => {
                if r.session_id.is_none() {
                    report.unattributed += 1;
                }
                batch.push(r);
            }
            None => report.malformed += 1,
        }
        offset += n;
        if batch.len() >= BATCH {
            let inserted = insert_rows(store, &key, &id, offset, &batch).await?;
            if let Some(out) = sink.as_deref_mut() {
                out.extend(batch.iter().cloned());
            }
            report.inserted += inserted;
            report.duplicates += batch.len() as u64 - inserted;
            batch.clear();
        }
    }
    let inserted = insert_rows(store, &key, &id, offset, &batch).await?;
    report.inserted += inserted;
    report.duplicates += batch.len() as u64 - inserted;
    if let Some(out) = sink {
        out.extend(batch);
    }
    Ok(report)
}

/// Tail the spool: ingest on every file notification (and at least every `poll` in case one is
/// missed) until `stop` resolves; each pass that read something is handed to `on_pass` with its
/// rows. Nothing is lost across restarts: the cursor lives in the database.
pub async fn follow<F, S>(
    store: &Store,
    spool: &Path,
    models: &ModelIndex,
    poll: std::time::Duration,
    mut on_pass: F,
    stop: S,
) -> Result<(), Error>
where
    F: FnMut(&CollectReport, &[RequestRow]),
    S: std::future::Future<Output = ()>,
{
    use notify::{RecursiveMode, Watcher};
    let dir = spool.parent().unwrap_or(Path::new(".")).to_path_buf();
    std::fs::create_dir_all(&dir).map_err(io_err(format!("create {}", dir.display())))?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let name = spool.file_name().map(|n| n.to_os_string());
    let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        if let Ok(ev) = ev {
            if ev
                .paths
                .iter()
                .any(|p| p.file_name().map(|n| n.to_os_string()) == name)
            {
                let _ = tx.send(());
            }
        }
    })
    .map_err(|e| Error::Io {
        context: "watch the capture spool".into(),
        source: std::io::Error::other(e),
    })?;
    watcher
        .watch(&dir, RecursiveMode::NonRecursive)
        .map_err(|e| Error::Io {
            context: format!("watch {}", dir.display()),
            source: std::io::Error::other(e),
        })?;
    let mut tick = tokio::time::interval(poll);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return Ok(()),
            _ = tick.tick() => {}
            Some(()) = rx.recv() => {
                // Coalesce a burst of notifications into one pass.
                while rx.try_recv().is_ok() {}
            }
        }
        let mut rows = Vec::new();
        let report = collect_into(store, spool, models, Some(&mut rows)).await?;
        if report.lines > 0 {
            on_pass(&report, &rows);
        }
    }
}

/// Rows per INSERT statement (35 columns each stays under SQLite's bound-parameter limit).
const ROWS_PER_STATEMENT: usize = 500;

/// Insert rows and move the cursor in one transaction; returns how many rows were new.
/// (Public for the ingest benchmark's raw baseline.)
pub async fn insert_rows(
    store: &Store,
    spool: &str,
    file_id: &str,
    offset: u64,
    rows: &[RequestRow],
) -> Result<u64, Error> {
    let e = db_err(store);
    let now = now_ms();
    let mut tx = store.pool().begin().await.map_err(&e)?;
    let mut inserted = 0;
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT OR IGNORE INTO requests (request_id, litellm_call_id, session_id, variant_id, experiment, provider,
             provider_route, model, upstream_model, harness_profile, protocol_surface, call_type, streamed,
             request_started_at, request_finished_at, first_token_at, latency_ms, ttft_ms, ttft_missing_reason,
             output_tokens_per_s, input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, status,
             http_status, error_code, error_class, provider_request_id, proxy_overhead_ms, key_alias, ingested_at,
             upstream_started_at, provider_ttft_ms, provider_latency_ms) ",
        );
        q.push_values(chunk, |mut b, r| {
            b.push_bind(&r.request_id)
                .push_bind(&r.litellm_call_id)
                .push_bind(&r.session_id)
                .push_bind(r.variant_id)
                .push_bind(&r.experiment)
                .push_bind(&r.provider)
                .push_bind(&r.provider_route)
                .push_bind(&r.model)
                .push_bind(&r.upstream_model)
                .push_bind(&r.harness_profile)
                .push_bind(&r.protocol_surface)
                .push_bind(&r.call_type)
                .push_bind(r.streamed)
                .push_bind(r.request_started_at)
                .push_bind(r.request_finished_at)
                .push_bind(r.first_token_at)
                .push_bind(r.latency_ms)
                .push_bind(r.ttft_ms)
                .push_bind(&r.ttft_missing_reason)
                .push_bind(r.output_tokens_per_s)
                .push_bind(r.input_tokens)
                .push_bind(r.output_tokens)
                .push_bind(r.cached_input_tokens)
                .push_bind(r.cache_write_tokens)
                .push_bind(&r.status)
                .push_bind(r.http_status)
                .push_bind(&r.error_code)
                .push_bind(&r.error_class)
                .push_bind(&r.provider_request_id)
                .push_bind(r.proxy_overhead_ms)
                .push_bind(&r.key_alias)
                .push_bind(now)
                .push_bind(r.upstream_started_at)
                .push_bind(r.provider_ttft_ms)
                .push_bind(r.provider_latency_ms);
        });
        inserted += q
            .build()
            .execute(&mut *tx)
            .await
            .map_err(&e)?
            .rows_affected();
    }
    // Sessions that gained rows need their rollups recomputed.
    let mut touched: Vec<&str> = rows
        .iter()
        .filter_map(|r| r.session_id.as_deref())
        .collect();
    touched.sort_unstable();
    touched.dedup();
    for chunk in touched.chunks(500) {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "UPDATE sessions SET rollup_stale = 1 WHERE session_id IN (",
        );
        let mut list = q.separated(", ");
        for id in chunk {
            list.push_bind(*id);
        }
        q.push(")");
        q.build().execute(&mut *tx).await.map_err(&e)?;
    }
    sqlx::query(
        "INSERT INTO ingest_cursors (spool, file_id, offset, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (spool) DO UPDATE SET file_id = excluded.file_id, offset = excluded.offset, updated_at = excluded.updated_at",
    )
    .bind(spool)
    .bind(file_id)
    .bind(offset as i64)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(&e)?;
    tx.commit().await.map_err(&e)?;
    Ok(inserted)
}
