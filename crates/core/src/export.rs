//! Exports: sessions and requests as CSV, JSON or Parquet with one schema (the same column names
//! and order in every format). Times are RFC 3339 UTC in CSV/JSON and `TIMESTAMP(MILLIS, UTC)` in
//! Parquet. Only key aliases ever appear, never a key.

use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value};
use sqlx::Row;

use crate::store::Store;
use crate::{io_err, Error};

/// What to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dataset {
    Sessions,
    Requests,
}

/// A column's type in every format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Int,
    Float,
    /// Unix epoch milliseconds in the database.
    Time,
}

use Kind::{Float, Int, Text, Time};

const SESSION_COLUMNS: &[(&str, Kind)] = &[
    ("session_id", Text),
    ("experiment", Text),
    ("variant", Text),
    ("config_fingerprint", Text),
    ("task_card", Text),
    ("harness_profile", Text),
    ("provider", Text),
    ("provider_route", Text),
    ("model", Text),
    ("upstream_model", Text),
    ("status", Text),
    ("mode", Text),
    ("created_at", Time),
    ("started_at", Time),
    ("ended_at", Time),
    ("operator_label", Text),
    ("repo_root", Text),
    ("git_branch", Text),
    ("git_commit_sha", Text),
    ("git_dirty", Int),
    ("proxy_key_alias", Text),
    ("outcome", Text),
    ("notes", Text),
    ("app_version", Text),
    ("litellm_version", Text),
    ("config_commit", Text),
    ("request_count", Int),
];

const SESSION_SQL: &str = "SELECT s.session_id, s.experiment, v.name, v.config_fingerprint, s.task_card, s.harness_profile,
    v.provider, v.provider_route, v.model_alias, v.upstream_model, s.status, s.mode, s.created_at, s.started_at,
    s.ended_at, s.operator_label, s.repo_root, s.git_branch, s.git_commit_sha, s.git_dirty, s.proxy_key_alias,
    s.outcome, s.notes, s.app_version, s.litellm_version, s.config_commit,
    (SELECT COUNT(*) FROM requests r WHERE r.session_id = s.session_id)
    FROM sessions s JOIN variants v ON v.variant_id = s.variant_id";

const REQUEST_COLUMNS: &[(&str, Kind)] = &[
    ("request_id", Text),
    ("litellm_call_id", Text),
    ("session_id", Text),
    ("experiment", Text),
    ("variant", Text),
    ("config_fingerprint", Text),
    ("task_card", Text),
    ("provider", Text),
    ("provider_route", Text),
    ("model", Text),
    ("upstream_model", Text),
    ("harness_profile", Text),
    ("protocol_surface", Text),
    ("streamed", Int),
    ("request_started_at", Time),
    ("request_finished_at", Time),
    ("first_token_at", Time),
    ("latency_ms", Float),
    ("ttft_ms", Float),
    ("ttft_missing_reason", Text),
    ("output_tokens_per_s", Float),
    ("input_tokens", Int),
    ("output_tokens", Int),
    ("cached_input_tokens", Int),
    ("cache_write_tokens", Int),
    ("status", Text),
    ("http_status", Int),
    ("error_code", Text),
    ("error_class", Text),
    ("provider_request_id", Text),
    ("proxy_overhead_ms", Float),
    ("key_alias", Text),
    ("git_commit_sha", Text),
];

const REQUEST_SQL: &str = "SELECT r.request_id, r.litellm_call_id, r.session_id, r.experiment, v.name,
    v.config_fingerprint, s.task_card, r.provider, r.provider_route, r.model, r.upstream_model, r.harness_profile,
    r.protocol_surface, r.streamed, r.request_started_at, r.request_finished_at, r.first_token_at, r.latency_ms,
    r.ttft_ms, r.ttft_missing_reason, r.output_tokens_per_s, r.input_tokens, r.output_tokens, r.cached_input_tokens,
    r.cache_write_tokens, r.status, r.http_status, r.error_code, r.error_class, r.provider_request_id,
    r.proxy_overhead_ms, r.key_alias, s.git_commit_sha
    FROM requests r LEFT JOIN sessions s ON s.session_id = r.session_id LEFT JOIN variants v ON v.variant_id = r.variant_id";

/// The columns of a dataset: the schema every format shares.
pub fn columns(what: Dataset) -> &'static [(&'static str, Kind)] {
    match what {
        Dataset::Sessions => SESSION_COLUMNS,
        Dataset::Requests => REQUEST_COLUMNS,
    }
}

/// One cell, typed.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Text(String),
    Int(i64),
    Float(f64),
}

/// A table ready to be written in any format.
pub struct Table {
    pub columns: Vec<(String, Kind)>,
    pub rows: Vec<Vec<Cell>>,
}

/// Unix epoch milliseconds as RFC 3339 UTC with millisecond precision.
pub fn rfc3339(ms: f64) -> String {
    let total_ms = ms.round() as i64;
    let (secs, millis) = (total_ms.div_euclid(1000), total_ms.rem_euclid(1000));
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Load a dataset, optionally of one experiment or session.
pub async fn load(
    store: &Store,
    what: Dataset,
    experiment: Option<&str>,
    session: Option<&str>,
) -> Result<Table, Error> {
    let (base, prefix, order) = match what {
        Dataset::Sessions => (SESSION_SQL, "s", "s.created_at"),
        Dataset::Requests => (REQUEST_SQL, "r", "r.request_started_at"),
    };
    let mut sql = format!("{base} WHERE 1 = 1");
    if experiment.is_some() {
        sql.push_str(&format!(" AND {prefix}.experiment = ?"));
    }
    if session.is_some() {
        sql.push_str(&format!(" AND {prefix}.session_id = ?"));
    }
    sql.push_str(&format!(" ORDER BY {order}"));
    let mut q = sqlx::query(&sql);
    for v in [experiment, session].into_iter().flatten() {
        q = q.bind(v);
    }
    let fetched = q
        .fetch_all(store.pool())
        .await
        .map_err(|e| Error::Database {
            path: store.path().to_path_buf(),
            message: e.to_string(),
        })?;
    let cols = columns(what);
    let rows = fetched
        .iter()
        .map(|row| {
            cols.iter()
                .enumerate()
                .map(|(i, (_, kind))| match kind {
                    Text => row
                        .try_get::<Option<String>, _>(i)
                        .ok()
                        .flatten()
                        .map(Cell::Text)
                        .unwrap_or(Cell::Null),
                    Int => row
                        .try_get::<Option<i64>, _>(i)
                        .ok()
                        .flatten()
                        .map(Cell::Int)
                        .unwrap_or(Cell::Null),
                    Float | Time => row
                        .try_get::<Option<f64>, _>(i)
                        .ok()
                        .flatten()
                        .map(Cell::Float)
                        .unwrap_or(Cell::Null),
                })
                .collect()
        })
        .collect();
    Ok(Table {
        columns: cols.iter().map(|(n, k)| (n.to_string(), *k)).collect(),
        rows,
    })
}

fn json_cell(cell: &Cell, kind: Kind) -> Value {
    match (cell, kind) {
        (Cell::Null, _) => Value::Null,
        (Cell::Float(ms), Time) => Value::String(rfc3339(*ms)),
        (Cell::Text(s), _) => Value::String(s.clone()),
        (Cell::Int(i), _) => Value::from(*i),
        (Cell::Float(f), _) => Value::from(*f),
    }
}

impl Table {
    /// Rows as JSON objects (times as RFC 3339).
    pub fn objects(&self) -> Vec<Map<String, Value>> {
        self.rows
            .iter()
            .map(|r| {
                self.columns
                    .iter()
                    .zip(r)
                    .map(|((n, k), c)| (n.clone(), json_cell(c, *k)))
                    .collect()
            })
            .collect()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.objects()).unwrap_or_else(|_| "[]".into()) + "\n"
    }

    pub fn to_csv(&self) -> String {
        let mut out = self
            .columns
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(",");
        out.push('\n');
        for r in &self.rows {
            let fields: Vec<String> = self
                .columns
                .iter()
                .zip(r)
                .map(|((_, k), c)| csv_field(&json_cell(c, *k)))
                .collect();
            out.push_str(&fields.join(","));
            out.push('\n');
        }
        out
    }

    /// Write Parquet (snappy) to `path`.
    pub fn write_parquet(&self, path: &Path, name: &str) -> Result<(), Error> {
        use parquet::basic::Compression;
        use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
        use parquet::file::properties::WriterProperties;
        use parquet::file::writer::SerializedFileWriter;
        use parquet::schema::parser::parse_message_type;

        let perr = |e: parquet::errors::ParquetError| Error::Io {
            context: format!("write Parquet {}", path.display()),
            source: std::io::Error::other(e),
        };
        let fields: Vec<String> = self
            .columns
            .iter()
            .map(|(n, k)| match k {
                Text => format!("OPTIONAL BYTE_ARRAY {n} (UTF8);"),
                Int => format!("OPTIONAL INT64 {n};"),
                Float => format!("OPTIONAL DOUBLE {n};"),
                Time => format!("OPTIONAL INT64 {n} (TIMESTAMP(MILLIS,true));"),
            })
            .collect();
        let schema = Arc::new(
            parse_message_type(&format!("message {name} {{ {} }}", fields.join(" ")))
                .map_err(perr)?,
        );
        let props = Arc::new(
            WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .build(),
        );
        let file =
            std::fs::File::create(path).map_err(io_err(format!("create {}", path.display())))?;
        let mut writer = SerializedFileWriter::new(file, schema, props).map_err(perr)?;
        let mut group = writer.next_row_group().map_err(perr)?;
        let mut i = 0;
        while let Some(mut col) = group.next_column().map_err(perr)? {
            let kind = self.columns[i].1;
            let cells = self.rows.iter().map(|r| &r[i]);
            let defs: Vec<i16> = cells.clone().map(|c| i16::from(*c != Cell::Null)).collect();
            match kind {
                Text => {
                    let v: Vec<ByteArray> = cells
                        .filter_map(|c| {
                            if let Cell::Text(s) = c {
                                Some(ByteArray::from(s.as_str()))
                            } else {
                                None
                            }
                        })
                        .collect();
                    col.typed::<ByteArrayType>()
                        .write_batch(&v, Some(&defs), None)
                        .map_err(perr)?;
                }
                Int => {
                    let v: Vec<i64> = cells
                        .filter_map(|c| if let Cell::Int(x) = c { Some(*x) } else { None })
                        .collect();
                    col.typed::<Int64Type>()
                        .write_batch(&v, Some(&defs), None)
                        .map_err(perr)?;
                }
                Float => {
                    let v: Vec<f64> = cells
                        .filter_map(|c| {
                            if let Cell::Float(x) = c {
                                Some(*x)
                            } else {
                                None
                            }
                        })
                        .collect();
                    col.typed::<DoubleType>()
                        .write_batch(&v, Some(&defs), None)
                        .map_err(perr)?;
                }
                Time => {
                    let v: Vec<i64> = cells
                        .filter_map(|c| {
                            if let Cell::Float(x) = c {
                                Some(x.round() as i64)
                            } else {
                                None
                            }
                        })
                        .collect();
                    col.typed::<Int64Type>()
                        .write_batch(&v, Some(&defs), None)
                        .map_err(perr)?;
                }
            }
            col.close().map_err(perr)?;
            i += 1;
        }
        group.close().map_err(perr)?;
        writer.close().map_err(perr)?;
        Ok(())
    }
}

fn csv_field(v: &Value) -> String {
    let s = match v {
        Value::Null => return String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// A table from JSON-like rows with every column typed `Text`/`Float`/`Int` as the values are
/// (used for the comparison export).
pub fn table_from(columns: &[(&str, Kind)], rows: Vec<Vec<Cell>>) -> Table {
    Table {
        columns: columns.iter().map(|(n, k)| (n.to_string(), *k)).collect(),
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_812_735_129.78), "2026-11-27T20:52:15.130Z");
        assert_eq!(rfc3339(951_782_400_000.0), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn csv_and_json_share_the_schema_and_quote_what_needs_quoting() {
        let t = table_from(
            &[("a", Text), ("t", Time), ("n", Int)],
            vec![vec![
                Cell::Text("x,\"y\"".into()),
                Cell::Float(0.0),
                Cell::Null,
            ]],
        );
        assert_eq!(
            t.to_csv(),
            "a,t,n\n\"x,\"\"y\"\"\",1970-01-01T00:00:00.000Z,\n"
        );
        let j: Value = serde_json::from_str(&t.to_json()).unwrap();
        assert_eq!(j[0]["t"], "1970-01-01T00:00:00.000Z");
        assert_eq!(j[0]["n"], Value::Null);
    }

    #[test]
    fn parquet_round_trips_through_the_reader() {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.parquet");
        let t = table_from(
            &[("a", Text), ("t", Time), ("n", Int), ("f", Float)],
            vec![
                vec![
                    Cell::Text("x".into()),
                    Cell::Float(1000.0),
                    Cell::Int(3),
                    Cell::Null,
                ],
                vec![Cell::Null, Cell::Null, Cell::Int(4), Cell::Float(2.5)],
            ],
        );
        t.write_parquet(&p, "t").unwrap();
        let r = SerializedFileReader::new(std::fs::File::open(&p).unwrap()).unwrap();
        assert_eq!(r.metadata().file_metadata().num_rows(), 2);
        assert_eq!(r.metadata().file_metadata().schema_descr().num_columns(), 4);
    }
}
