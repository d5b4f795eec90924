//! The ingest write path: normalized rows into `requests` through one prepared single-row
//! statement on a dedicated SQLite connection (rusqlite, the same libsqlite3 as sqlx). Measured
//! here it stores rows about twice as fast as multi-row statements bound through sqlx, whose
//! per-value binding dominated ingest. Rows, the sessions' `rollup_stale` marks and the spool
//! cursor commit in one transaction, so a killed ingest resumes exactly where it stopped.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{params, Connection, ToSql};

use crate::store::edge_events::EdgeEvent;
use crate::store::model::{RequestRow, TimedAt};
use crate::store::requests::{columns_of, Side, REQUEST_COLUMNS};
use crate::timestamp::Timestamp;
use crate::Error;

fn names(side: Side) -> Vec<&'static str> {
    columns_of(side).collect()
}

/// The row's values in `REQUEST_COLUMNS` order (`ingested_at` = the time of this write),
/// without allocating per row.
fn bind<'a>(r: &'a RequestRow, now: &'a Timestamp) -> impl rusqlite::Params + 'a {
    rusqlite::params_from_iter(REQUEST_COLUMNS.iter().map(move |c| match c.get {
        Some(get) => get(r),
        None => now as &dyn ToSql,
    }))
}

/// The final output token count given the merged row's parts: the stream's own report, none for
/// a failed stream without one, else LiteLLM's count.
/// (An `edge_lost` row has no client-side view at all: LiteLLM's count stands.)
fn tokens_expr(edge: &str, lit: &str) -> String {
    format!("(CASE WHEN {edge}.output_tokens IS NOT NULL THEN {edge}.output_tokens WHEN {edge}.status = 'error' AND {edge}.streamed = 1 AND {edge}.outcome IS NOT 'edge_lost' THEN NULL ELSE {lit}.output_tokens END)")
}

/// Provider timings, proxy overhead and throughput from the edge's times (`e`) and LiteLLM's
/// hand-off (`l`).
fn derived(e: &str, l: &str) -> Vec<String> {
    let tok = tokens_expr(e, l);
    vec![
        format!("provider_ttft_ms = CASE WHEN {l}.upstream_started_at IS NOT NULL AND {e}.first_token_at >= {l}.upstream_started_at THEN {e}.first_token_at - {l}.upstream_started_at END"),
        format!("provider_latency_ms = CASE WHEN {l}.upstream_started_at IS NOT NULL THEN MAX({e}.request_finished_at - {l}.upstream_started_at, 0) END"),
        format!("proxy_overhead_ms = CASE WHEN {l}.upstream_started_at IS NOT NULL THEN MAX({l}.upstream_started_at - {e}.request_started_at, 0) END"),
        format!("output_tokens_per_s = CASE WHEN {tok} > 1 AND {e}.request_finished_at > {e}.first_token_at THEN ({tok} - 1) * 1000.0 / ({e}.request_finished_at - {e}.first_token_at) END"),
        format!("output_tokens = {tok}"),
        format!("output_tokens_missing_reason = CASE WHEN {e}.output_tokens IS NOT NULL THEN NULL WHEN {e}.status = 'error' AND {e}.streamed = 1 AND {e}.outcome IS NOT 'edge_lost' THEN {e}.output_tokens_missing_reason ELSE NULL END"),
        format!("input_tokens = COALESCE({e}.input_tokens, {l}.input_tokens)"),
        format!("error_code = CASE WHEN {e}.status = 'success' THEN NULL ELSE COALESCE({e}.error_code, {l}.error_code) END"),
        format!("error_class = CASE WHEN {e}.status = 'success' THEN NULL ELSE COALESCE({l}.error_class, {e}.error_class) END"),
    ]
}

fn insert_head() -> String {
    let cols: Vec<&str> = REQUEST_COLUMNS.iter().map(|c| c.name).collect();
    let marks: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
    format!(
        "INSERT INTO requests ({}) VALUES ({}) ON CONFLICT (request_id) DO UPDATE SET ",
        cols.join(", "),
        marks.join(", ")
    )
}

/// What one write did with its lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Written {
    /// New rows.
    pub inserted: u64,
    /// Lines that completed a row the other side had started.
    pub merged: u64,
    /// Start lines that became `edge_lost` rows (their edge instance is gone).
    pub lost: u64,
}

/// The two upserts, built once.
fn statements() -> (&'static str, &'static str) {
    static SQL: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    let (a, b) = SQL.get_or_init(|| (edge_upsert(), litellm_upsert()));
    (a, b)
}

/// An edge line: its columns win; LiteLLM's columns already in the row are kept. A row that
/// already has its edge side is left alone (the same line ingested twice).
fn edge_upsert() -> String {
    let mut set: Vec<String> = names(Side::Edge)
        .iter()
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    set.extend(
        names(Side::Either)
            .iter()
            .map(|c| format!("{c} = COALESCE(requests.{c}, excluded.{c})")),
    );
    set.extend(derived("excluded", "requests"));
    set.push("ingested_at = excluded.ingested_at".into());
    // An `edge_lost` row is a presumption: the request's own record, arriving late (an edge
    // draining after its successor came up), replaces it.
    insert_head()
        + &set.join(", ")
        + " WHERE requests.timed_at <> 'edge' OR (requests.outcome = 'edge_lost' AND excluded.outcome <> 'edge_lost')"
}

/// A LiteLLM line: merged under an edge row, or (traffic straight to LiteLLM) the whole row.
fn litellm_upsert() -> String {
    let when_edge = |merged: &str, c: &str| {
        format!("{c} = CASE WHEN requests.timed_at = 'edge' THEN {merged} ELSE excluded.{c} END")
    };
    let mut set: Vec<String> = names(Side::Edge)
        .iter()
        .map(|c| when_edge(&format!("requests.{c}"), c))
        .collect();
    set.extend(
        names(Side::Either)
            .iter()
            .map(|c| format!("{c} = COALESCE(requests.{c}, excluded.{c})")),
    );
    set.extend(
        names(Side::Litellm)
            .iter()
            .map(|c| format!("{c} = COALESCE(excluded.{c}, requests.{c})")),
    );
    for d in derived("requests", "excluded") {
        if let Some((c, merged)) = d.split_once(" = ") {
            set.push(when_edge(merged, c));
        }
    }
    set.push("has_litellm_record = 1".into());
    set.push("ingested_at = excluded.ingested_at".into());
    // LiteLLM's first line for a request wins (on messages one failure can log two events).
    insert_head()
        + &set.join(", ")
        + " WHERE requests.timed_at = 'edge' AND requests.has_litellm_record = 0"
}

/// The lazily opened writer connection of a store (one per store; SQLite has one writer).
#[derive(Debug, Clone, Default)]
pub(crate) struct Writer(Arc<Mutex<Option<Connection>>>);

fn db(path: &Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |e| Error::Database {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

impl Writer {
    /// Insert `rows`, apply the edge's `events` (see [`super::edge_events`]), mark the sessions'
    /// rollups stale and move the cursor of `spool` to `(file_id, offset)`, in one transaction.
    /// Returns the rows that start lines became (`edge_lost`) too. Blocking: call it on a
    /// blocking thread.
    pub(crate) fn write(
        &self,
        path: &Path,
        spool: &str,
        file_id: &str,
        offset: u64,
        rows: &[RequestRow],
        events: &[EdgeEvent],
    ) -> Result<(Written, Vec<RequestRow>), Error> {
        let e = db(path);
        let mut guard = self.0.lock().map_err(|_| Error::Database {
            path: path.to_path_buf(),
            message: "the ingest writer was poisoned by an earlier panic".into(),
        })?;
        if guard.is_none() {
            let c = Connection::open(path).map_err(&e)?;
            c.busy_timeout(Duration::from_secs(10)).map_err(&e)?;
            c.execute_batch(
                "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -65536;",
            )
            .map_err(&e)?;
            *guard = Some(c);
        }
        let Some(conn) = guard.as_mut() else {
            return Ok((Written::default(), Vec::new()));
        };
        let now = Timestamp::now();
        // IMMEDIATE: take the write lock now (waiting through the busy timeout). A deferred
        // transaction that read first and then wrote failed at once with "database is locked"
        // whenever another connection had committed in between.
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(&e)?;
        let mut written = Written::default();
        {
            let (edge_sql, litellm_sql) = statements();
            let mut edge = tx.prepare_cached(edge_sql).map_err(&e)?;
            let mut lit = tx.prepare_cached(litellm_sql).map_err(&e)?;
            for r in rows {
                let st = match r.timed_at {
                    TimedAt::Edge => &mut edge,
                    TimedAt::Litellm => &mut lit,
                };
                let before = tx.last_insert_rowid();
                if st.execute(bind(r, &now)).map_err(&e)? == 0 {
                    continue; // this side of the request is already stored
                }
                // An upsert that updated leaves last_insert_rowid alone.
                if tx.last_insert_rowid() != before {
                    written.inserted += 1;
                } else {
                    written.merged += 1;
                }
            }
        }
        let lost = super::edge_events::apply(&tx, rows, events).map_err(&e)?;
        {
            let mut edge = tx.prepare_cached(statements().0).map_err(&e)?;
            for r in &lost {
                written.lost += edge.execute(bind(r, &now)).map_err(&e)? as u64;
            }
        }
        {
            // Sessions that gained rows need their rollups recomputed.
            let mut touched: Vec<&str> = rows
                .iter()
                .chain(&lost)
                .filter_map(|r| r.session_id.as_deref())
                .collect();
            touched.sort_unstable();
            touched.dedup();
            let mut stale = tx
                .prepare_cached("UPDATE sessions SET rollup_stale = 1 WHERE session_id = ?1")
                .map_err(&e)?;
            for id in touched {
                stale.execute(params![id]).map_err(&e)?;
            }
            tx.prepare_cached(
                "INSERT INTO ingest_cursors (spool, file_id, offset, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (spool) DO UPDATE SET file_id = excluded.file_id, offset = excluded.offset,
                 updated_at = excluded.updated_at",
            )
            .map_err(&e)?
            .execute(params![spool, file_id, offset as i64, now])
            .map_err(&e)?;
            super::usage::refresh_rollups(&tx, &super::usage::usage_groups(rows)).map_err(&e)?;
        }
        tx.commit().map_err(&e)?;
        Ok((written, lost))
    }
}
