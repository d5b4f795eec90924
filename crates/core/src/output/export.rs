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

/// One row per variant and metric: the comparison in a flat shape.
pub fn comparison_table(c: &crate::report::Comparison) -> Table {
    let cols = [
        ("experiment", Kind::Text),
        ("variant", Kind::Text),
        ("metric", Kind::Text),
        ("sessions", Kind::Int),
        ("median", Kind::Float),
        ("p95", Kind::Float),
        ("ci95_low", Kind::Float),
        ("ci95_high", Kind::Float),
        ("stdev", Kind::Float),
    ];
    let f = |x: Option<f64>| x.map(Cell::Float).unwrap_or(Cell::Null);
    let mut rows = Vec::new();
    for v in &c.variants {
        let in_order = crate::metrics::METRICS
            .iter()
            .filter_map(|d| v.metrics.get(d.name).map(|m| (d.name, m)));
        for (name, m) in in_order {
            rows.push(vec![
                Cell::Text(c.experiment.clone()),
                Cell::Text(v.variant.clone()),
                Cell::Text(name.to_string()),
                Cell::Int(m.sessions as i64),
                f(m.median),
                f(m.p95),
                f(m.ci95.map(|x| x.0)),
                f(m.ci95.map(|x| x.1)),
                f(m.stdev),
            ]);
        }
    }
    table_from(&cols, rows)
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

/// `(name, type, SQL expression)` — the SELECT list is built from this, so the schema and the
/// query cannot drift apart.
type Column = (&'static str, Kind, &'static str);

const SESSION_COLUMNS: &[Column] = &[
    ("session_id", Text, "s.session_id"),
    ("experiment", Text, "s.experiment"),
    ("variant", Text, "v.name"),
    ("config_fingerprint", Text, "v.config_fingerprint"),
    ("task_card", Text, "s.task_card"),
    ("harness_profile", Text, "s.harness_profile"),
    ("provider", Text, "v.provider"),
    ("provider_route", Text, "v.provider_route"),
    ("model", Text, "v.model_alias"),
    ("upstream_model", Text, "v.upstream_model"),
    ("status", Text, "s.status"),
    ("mode", Text, "s.mode"),
    ("created_at", Time, "s.created_at"),
    ("started_at", Time, "s.started_at"),
    ("ended_at", Time, "s.ended_at"),
    ("operator_label", Text, "s.operator_label"),
    ("repo_root", Text, "s.repo_root"),
    ("git_branch", Text, "s.git_branch"),
    ("git_commit_sha", Text, "s.git_commit_sha"),
    ("git_dirty", Int, "s.git_dirty"),
    ("proxy_key_alias", Text, "s.proxy_key_alias"),
    ("outcome", Text, "s.outcome"),
    ("notes", Text, "s.notes"),
    ("app_version", Text, "s.app_version"),
    ("litellm_version", Text, "s.litellm_version"),
    ("config_commit", Text, "s.config_commit"),
    (
        "request_count",
        Int,
        "(SELECT COUNT(*) FROM requests r WHERE r.session_id = s.session_id)",
    ),
];

const SESSION_FROM: &str = "FROM sessions s JOIN variants v ON v.variant_id = s.variant_id";

const REQUEST_COLUMNS: &[Column] = &[
    ("request_id", Text, "r.request_id"),
    ("litellm_call_id", Text, "r.litellm_call_id"),
    ("session_id", Text, "r.session_id"),
    ("experiment", Text, "r.experiment"),
    ("variant", Text, "v.name"),
    ("config_fingerprint", Text, "v.config_fingerprint"),
    ("task_card", Text, "s.task_card"),
    ("provider", Text, "r.provider"),
    ("provider_route", Text, "r.provider_route"),
    ("model", Text, "r.model"),
    ("upstream_model", Text, "r.upstream_model"),
    ("harness_profile", Text, "r.harness_profile"),
    ("protocol_surface", Text, "r.protocol_surface"),
    ("streamed", Int, "r.streamed"),
    ("request_started_at", Time, "r.request_started_at"),
    ("request_finished_at", Time, "r.request_finished_at"),
    ("first_token_at", Time, "r.first_token_at"),
    ("latency_ms", Float, "r.latency_ms"),
    ("ttft_ms", Float, "r.ttft_ms"),
    ("ttft_missing_reason", Text, "r.ttft_missing_reason"),
    ("ttft_visible_ms", Float, "r.ttft_visible_ms"),
    ("first_visible_at", Time, "r.first_visible_at"),
    ("itl_ms", Float, "r.itl_ms"),
    ("max_gap_ms", Float, "r.max_gap_ms"),
    ("stall_count", Int, "r.stall_count"),
    ("content_deltas", Int, "r.content_deltas"),
    ("timed_at", Text, "r.timed_at"),
    ("has_litellm_record", Int, "r.has_litellm_record"),
    ("outcome", Text, "r.outcome"),
    ("upstream_started_at", Time, "r.upstream_started_at"),
    ("provider_ttft_ms", Float, "r.provider_ttft_ms"),
    ("provider_latency_ms", Float, "r.provider_latency_ms"),
    ("output_tokens_per_s", Float, "r.output_tokens_per_s"),
    ("input_tokens", Int, "r.input_tokens"),
    ("output_tokens", Int, "r.output_tokens"),
    (
        "output_tokens_missing_reason",
        Text,
        "r.output_tokens_missing_reason",
    ),
    ("cached_input_tokens", Int, "r.cached_input_tokens"),
    ("cache_write_tokens", Int, "r.cache_write_tokens"),
    ("status", Text, "r.status"),
    ("http_status", Int, "r.http_status"),
    ("error_code", Text, "r.error_code"),
    ("error_class", Text, "r.error_class"),
    ("provider_request_id", Text, "r.provider_request_id"),
    ("proxy_overhead_ms", Float, "r.proxy_overhead_ms"),
    ("cost_usd", Float, "r.cost_usd"),
    ("key_alias", Text, "r.key_alias"),
    ("git_commit_sha", Text, "s.git_commit_sha"),
];

const REQUEST_FROM: &str =
    "FROM requests r LEFT JOIN sessions s ON s.session_id = r.session_id LEFT JOIN variants v ON v.variant_id = r.variant_id";

fn spec(what: Dataset) -> (&'static [Column], &'static str) {
    match what {
        Dataset::Sessions => (SESSION_COLUMNS, SESSION_FROM),
        Dataset::Requests => (REQUEST_COLUMNS, REQUEST_FROM),
    }
}

/// The columns of a dataset: the schema every format shares.
pub fn columns(what: Dataset) -> Vec<(&'static str, Kind)> {
    spec(what).0.iter().map(|(n, k, _)| (*n, *k)).collect()
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
    let (cols, from) = spec(what);
    let (prefix, order) = match what {
        Dataset::Sessions => ("s", "s.created_at"),
        Dataset::Requests => ("r", "r.request_started_at"),
    };
    let select: Vec<&str> = cols.iter().map(|(_, _, expr)| *expr).collect();
    let mut sql = format!("SELECT {} {from} WHERE 1 = 1", select.join(", "));
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
    let rows = fetched
        .iter()
        .map(|row| {
            cols.iter()
                .enumerate()
                .map(|(i, (_, kind, _))| match kind {
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
        columns: cols.iter().map(|(n, k, _)| (n.to_string(), *k)).collect(),
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
