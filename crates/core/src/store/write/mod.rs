//! The ingest write path: normalized rows into `requests`, one upsert per row, with the edge's
//! events, the sessions' `rollup_stale` marks, the usage rollups and the spool cursor in one
//! transaction, so a killed ingest resumes exactly where it stopped. The logic is written once
//! over [`conn::WriteTx`]: on SQLite a dedicated rusqlite connection with cached prepared
//! statements (measured here about twice as fast as statements bound through sqlx, whose
//! per-value binding dominated ingest), on PostgreSQL the store's sqlx pool.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;

use crate::store::edge_events::EdgeEvent;
use crate::store::model::{RequestRow, TimedAt};
use crate::store::requests::{columns_of, Side, Source, REQUEST_COLUMNS};
use crate::timestamp::Timestamp;
use crate::Error;

pub(crate) mod conn;
mod sqlite;
use conn::{Arg, ToArg, WriteTx};

fn names(side: Side) -> Vec<&'static str> {
    columns_of(side).collect()
}

/// The row's values in `REQUEST_COLUMNS` order (`ingested_at` = the time of this write,
/// `machine_key` = the writing machine's), into `out` (reused across rows).
fn bind<'a>(r: &'a RequestRow, now: Timestamp, machine: i64, out: &mut Vec<Arg<'a>>) {
    out.clear();
    out.extend(REQUEST_COLUMNS.iter().map(|c| match c.get {
        Source::Row(get) => get(r).arg(),
        Source::WrittenAt => Arg::Float(Some(now.ms())),
        Source::Machine => Arg::Int(Some(machine)),
    }));
}

/// The final output token count given the merged row's parts: the stream's own report, none for
/// a failed stream without one, else LiteLLM's count.
/// (An `edge_lost` row has no client-side view at all: LiteLLM's count stands.)
fn tokens_expr(edge: &str, lit: &str) -> String {
    format!("(CASE WHEN {edge}.output_tokens IS NOT NULL THEN {edge}.output_tokens WHEN {edge}.status = 'error' AND {edge}.streamed = 1 AND {edge}.outcome IS DISTINCT FROM 'edge_lost' THEN NULL ELSE {lit}.output_tokens END)")
}

/// `x` when positive, else 0 (SQLite's two-argument `MAX` is not PostgreSQL's `GREATEST`).
fn non_negative(x: &str) -> String {
    format!("CASE WHEN {x} > 0 THEN {x} ELSE 0 END")
}

/// Provider timings, proxy overhead and throughput from the edge's times (`e`) and LiteLLM's
/// hand-off (`l`).
fn derived(e: &str, l: &str) -> Vec<String> {
    let tok = tokens_expr(e, l);
    vec![
        format!("provider_ttft_ms = CASE WHEN {l}.upstream_started_at IS NOT NULL AND {e}.first_token_at >= {l}.upstream_started_at THEN {e}.first_token_at - {l}.upstream_started_at END"),
        format!("provider_latency_ms = CASE WHEN {l}.upstream_started_at IS NOT NULL THEN {} END", non_negative(&format!("{e}.request_finished_at - {l}.upstream_started_at"))),
        format!("proxy_overhead_ms = CASE WHEN {l}.upstream_started_at IS NOT NULL THEN {} END", non_negative(&format!("{l}.upstream_started_at - {e}.request_started_at"))),
        format!("output_tokens_per_s = CASE WHEN {tok} > 1 AND {e}.request_finished_at > {e}.first_token_at THEN ({tok} - 1) * 1000.0 / ({e}.request_finished_at - {e}.first_token_at) END"),
        format!("output_tokens = {tok}"),
        format!("output_tokens_missing_reason = CASE WHEN {e}.output_tokens IS NOT NULL THEN NULL WHEN {e}.status = 'error' AND {e}.streamed = 1 AND {e}.outcome IS DISTINCT FROM 'edge_lost' THEN {e}.output_tokens_missing_reason ELSE NULL END"),
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

fn db(path: &Path) -> impl Fn(String) -> Error + '_ {
    move |message| Error::Database {
        path: path.to_path_buf(),
        message,
    }
}

/// Where a batch moves its spool's cursor to, and which machine writes it.
pub(crate) struct Cursor<'a> {
    /// The spool's key (see `Store::spool_key`).
    pub spool: &'a str,
    pub file_id: &'a str,
    pub offset: u64,
    /// This machine's key (see `Store::machine_key`).
    pub machine: i64,
}

impl Writer {
    /// Write a batch into the SQLite file at `path` (see [`write_batch`]). Blocking: call it on
    /// a blocking thread.
    pub(crate) fn write(
        &self,
        path: &Path,
        cursor: &Cursor<'_>,
        rows: &[RequestRow],
        events: &[EdgeEvent],
    ) -> Result<(Written, Vec<RequestRow>), Error> {
        let e = |x: rusqlite::Error| db(path)(x.to_string());
        let mut guard = self.0.lock().map_err(|_| Error::Database {
            path: path.to_path_buf(),
            message: "the ingest writer was poisoned by an earlier panic".into(),
        })?;
        if guard.is_none() {
            let c = Connection::open(path).map_err(e)?;
            c.busy_timeout(Duration::from_secs(10)).map_err(e)?;
            c.execute_batch(
                "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -65536;",
            )
            .map_err(e)?;
            *guard = Some(c);
        }
        let Some(conn) = guard.as_ref() else {
            return Ok((Written::default(), Vec::new()));
        };
        // IMMEDIATE: take the write lock now (waiting through the busy timeout). A deferred
        // transaction that read first and then wrote failed at once with "database is locked"
        // whenever another connection had committed in between.
        let mut tx = sqlite::SqliteTx::begin(conn).map_err(e)?;
        // rusqlite's calls never wait: the future is ready at its first poll.
        let done = futures::executor::block_on(write_batch(&mut tx, cursor, rows, events))
            .map_err(db(path))?;
        tx.commit().map_err(e)?;
        Ok(done)
    }
}

impl super::Store {
    /// Write a batch into PostgreSQL (see [`write_batch`]), in one transaction.
    pub(crate) async fn write_pg(
        &self,
        pool: &sqlx::PgPool,
        cursor: &Cursor<'_>,
        rows: &[RequestRow],
        events: &[EdgeEvent],
    ) -> Result<(Written, Vec<RequestRow>), Error> {
        let mut tx = pool.begin().await.map_err(self.db())?;
        let done = write_batch(&mut tx, cursor, rows, events)
            .await
            .map_err(db(self.path()))?;
        tx.commit().await.map_err(self.db())?;
        Ok(done)
    }
}

/// Sessions one statement marks stale (a shorter list is padded with its last id). One
/// statement per session was a round trip per session and batch to PostgreSQL: 1,000 of them
/// per 10,000 lines in the ingest benchmark's 1,000 sessions.
const MARKS_PER_STATEMENT: usize = 100;

/// `UPDATE sessions SET rollup_stale = 1 WHERE session_id IN (?1, …, ?100)`.
fn mark_stale_sql() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        let marks: Vec<String> = (1..=MARKS_PER_STATEMENT).map(|i| format!("?{i}")).collect();
        format!(
            "UPDATE sessions SET rollup_stale = 1 WHERE session_id IN ({})",
            marks.join(", ")
        )
    })
}

/// `rows` cut into runs one upsert statement can carry: at most `max` rows, one kind of line
/// (edge or LiteLLM), and no request twice (a statement cannot merge into a row it wrote).
fn statement_chunks(rows: &[RequestRow], max: usize) -> Vec<&[RequestRow]> {
    let mut out = Vec::new();
    let (mut start, mut ids) = (0, std::collections::HashSet::new());
    for (i, r) in rows.iter().enumerate() {
        let full = i - start >= max.max(1);
        let other_kind = i > start && rows[start].timed_at != r.timed_at;
        if full || other_kind || (max > 1 && !ids.insert(r.request_id.as_str())) {
            out.push(&rows[start..i]);
            start = i;
            ids.clear();
            if max > 1 {
                ids.insert(r.request_id.as_str());
            }
        }
    }
    if start < rows.len() {
        out.push(&rows[start..]);
    }
    out
}

/// Insert `rows`, apply the edge's `events` (see [`super::edge_events`]), mark the sessions'
/// rollups stale, refresh the usage rollups and move the cursor, in the caller's transaction.
/// Returns the rows that start lines became (`edge_lost`) too.
pub(crate) async fn write_batch<T: WriteTx>(
    tx: &mut T,
    cursor: &Cursor<'_>,
    rows: &[RequestRow],
    events: &[EdgeEvent],
) -> Result<(Written, Vec<RequestRow>), String> {
    let now = Timestamp::now();
    let (edge_sql, litellm_sql) = statements();
    let mut written = Written::default();
    let mut args = Vec::with_capacity(REQUEST_COLUMNS.len());
    for chunk in statement_chunks(rows, T::ROWS_PER_STATEMENT) {
        let sql = match chunk[0].timed_at {
            TimedAt::Edge => edge_sql,
            TimedAt::Litellm => litellm_sql,
        };
        if let [r] = chunk {
            bind(r, now, cursor.machine, &mut args);
            match tx.upsert(sql, &args).await? {
                Some(true) => written.inserted += 1,
                Some(false) => written.merged += 1,
                None => {} // this side of the request is already stored
            }
        } else {
            let all: Vec<Vec<Arg<'_>>> = chunk
                .iter()
                .map(|r| {
                    let mut a = Vec::with_capacity(REQUEST_COLUMNS.len());
                    bind(r, now, cursor.machine, &mut a);
                    a
                })
                .collect();
            let (inserted, merged) = tx.upsert_many(sql, &all).await?;
            written.inserted += inserted;
            written.merged += merged;
        }
    }
    let lost = super::edge_events::apply(tx, rows, events).await?;
    for r in &lost {
        bind(r, now, cursor.machine, &mut args);
        written.lost += u64::from(tx.upsert(edge_sql, &args).await?.is_some());
    }
    // Sessions that gained rows need their rollups recomputed.
    let mut touched: Vec<&str> = rows
        .iter()
        .chain(&lost)
        .filter_map(|r| r.session_id.as_deref())
        .collect();
    touched.sort_unstable();
    touched.dedup();
    for ids in touched.chunks(MARKS_PER_STATEMENT) {
        let args: Vec<Arg<'_>> = (0..MARKS_PER_STATEMENT)
            .map(|i| Arg::Text(ids.get(i).or(ids.last()).copied()))
            .collect();
        tx.exec(mark_stale_sql(), &args).await?;
    }
    tx.exec(
        "INSERT INTO ingest_cursors (spool, file_id, \"offset\", updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (spool) DO UPDATE SET file_id = excluded.file_id, \"offset\" = excluded.\"offset\",
         updated_at = excluded.updated_at",
        &[
            Arg::Text(Some(cursor.spool)),
            Arg::Text(Some(cursor.file_id)),
            Arg::Int(Some(cursor.offset.min(i64::MAX as u64) as i64)),
            now.arg(),
        ],
    )
    .await?;
    super::usage::refresh_rollups(tx, &super::usage::usage_groups(rows)).await?;
    let sql = "UPDATE machines SET last_seen = ?1 WHERE machine_key = ?2 AND last_seen < ?1";
    tx.exec(sql, &[now.arg(), Arg::Int(Some(cursor.machine))])
        .await?;
    Ok((written, lost))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, timed_at: TimedAt) -> RequestRow {
        let line = format!(
            r#"{{"v":1,"litellm_call_id":"{id}","status":"success","route":"/v1/chat/completions","stream":false,"start":1.0,"end":2.0,"model_group":"m"}}"#
        );
        let rec = crate::ingest::normalize::parse_line(&line).expect("line");
        let models = crate::ingest::normalize::ModelIndex::new();
        let mut r = crate::ingest::normalize::normalize(&rec, None, &models).expect("row");
        r.timed_at = timed_at;
        r
    }

    fn ids(chunks: Vec<&[RequestRow]>) -> Vec<Vec<String>> {
        chunks
            .iter()
            .map(|c| c.iter().map(|r| r.request_id.clone()).collect())
            .collect()
    }

    #[test]
    fn a_statement_carries_one_kind_of_line_no_request_twice_and_at_most_its_share() {
        use TimedAt::{Edge, Litellm};
        let rows = [
            row("a", Litellm),
            row("b", Litellm),
            row("a", Litellm),
            row("c", Litellm),
            row("d", Edge),
            row("e", Edge),
            row("f", Edge),
        ];
        let got = ids(statement_chunks(&rows, 500));
        assert_eq!(got, [vec!["a", "b"], vec!["a", "c"], vec!["d", "e", "f"]]);
        assert_eq!(
            ids(statement_chunks(&rows, 2)),
            [vec!["a", "b"], vec!["a", "c"], vec!["d", "e"], vec!["f"]]
        );
        assert_eq!(statement_chunks(&rows, 1).len(), rows.len());
        assert!(statement_chunks(&[], 500).is_empty());
    }
}
