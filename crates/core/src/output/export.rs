//! Exports: sessions and requests as CSV, JSON or Parquet with one schema (the same column names
//! and order in every format). Times are RFC 3339 UTC in CSV/JSON and `TIMESTAMP(MILLIS, UTC)` in
//! Parquet. Only key aliases ever appear, never a key.

use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::store::Store;
use crate::{io_err, Error};

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
        // Why a value is missing, when it is a known gap ("n/a": no price for the model).
        ("note", Kind::Text),
    ];
    let f = |x: Option<f64>| x.map(Cell::Float).unwrap_or(Cell::Null);
    let mut rows = Vec::new();
    for v in &c.variants {
        let in_order = crate::metrics::METRICS
            .iter()
            .filter_map(|d| v.metrics.get(d.name).map(|m| (d, m)));
        for (def, m) in in_order {
            let name = def.name;
            let note = match (def.unit, m.median) {
                (crate::metrics::Unit::Usd, None) => {
                    Cell::Text("n/a: no price known for this model".into())
                }
                _ => Cell::Null,
            };
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
                note,
            ]);
        }
        // Totals per successful task (in `median`): over sessions with an outcome, failures
        // included.
        for (name, ps) in [
            ("cost_per_success_usd", &v.cost_per_success),
            ("wall_per_success_s", &v.wall_per_success),
        ] {
            if ps.sessions == 0 {
                continue;
            }
            let note = match ps.value {
                Some(_) => format!("total / successes ({} of {})", ps.successes, ps.sessions),
                None if ps.successes == 0 => "no successful task".into(),
                None => "n/a: no price known for this model".into(),
            };
            rows.push(vec![
                Cell::Text(c.experiment.clone()),
                Cell::Text(v.variant.clone()),
                Cell::Text(name.to_string()),
                Cell::Int(ps.sessions as i64),
                f(ps.value),
                Cell::Null,
                f(ps.ci95.map(|x| x.0)),
                f(ps.ci95.map(|x| x.1)),
                Cell::Null,
                Cell::Text(note),
            ]);
        }
    }
    table_from(&cols, rows)
}

pub use crate::store::{Cell, Dataset, Kind};
use Kind::{Float, Int, Text, Time};

/// A table ready to be written in any format.
pub struct Table {
    pub columns: Vec<(String, Kind)>,
    pub rows: Vec<Vec<Cell>>,
}

pub use crate::timestamp::rfc3339;

/// Load a dataset, optionally of one experiment or session.
pub async fn load(
    store: &Store,
    what: Dataset,
    experiment: Option<&str>,
    session: Option<&str>,
    include_internal: bool,
) -> Result<Table, Error> {
    let (columns, rows) = store
        .dataset(what, experiment, session, include_internal)
        .await?;
    Ok(Table {
        columns: columns
            .into_iter()
            .map(|(n, k)| (n.to_string(), k))
            .collect(),
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
        // Text a harness or a user chose (model names, labels) must not open as a formula in a
        // spreadsheet: a leading `= + - @` or tab/CR gets a `'` (OWASP's CSV injection advice).
        Value::String(s) if s.starts_with(['=', '+', '-', '@', '\t', '\r']) => format!("'{s}"),
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

/// A suite's per task × variant cells, one row each (the per-task export).
pub fn tasks_table(experiment: &str, s: &crate::analysis::suite::SuiteAnalysis) -> Table {
    let cols = [
        ("experiment", Kind::Text),
        ("task_card", Kind::Text),
        ("variant", Kind::Text),
        ("trials", Kind::Int),
        ("median_wall_s", Kind::Float),
        ("time_ratio_to_task_best", Kind::Float),
        ("median_cost_usd", Kind::Float),
        ("median_ttft_ms", Kind::Float),
        ("successes", Kind::Int),
        ("known_outcomes", Kind::Int),
        ("success_ci95_low", Kind::Float),
        ("success_ci95_high", Kind::Float),
        ("k", Kind::Int),
        ("pass_at_k", Kind::Float),
        ("pass_hat_k", Kind::Float),
        ("flipped", Kind::Int),
        ("infra_errors", Kind::Int),
    ];
    let f = |x: Option<f64>| x.map(Cell::Float).unwrap_or(Cell::Null);
    let rows = s
        .cells
        .iter()
        .map(|c| {
            vec![
                Cell::Text(experiment.to_string()),
                Cell::Text(c.task_card.clone()),
                Cell::Text(c.variant.clone()),
                Cell::Int(c.trials.into()),
                f(c.time_s),
                f(c.time_ratio),
                f(c.cost_usd),
                f(c.ttft_ms),
                Cell::Int(c.successes.into()),
                Cell::Int(c.known.into()),
                f(c.success_ci95.map(|x| x.0)),
                f(c.success_ci95.map(|x| x.1)),
                Cell::Int(s.k.into()),
                f(c.pass_at_k),
                f(c.pass_hat_k),
                c.flipped.map_or(Cell::Null, |x| Cell::Int(x.into())),
                Cell::Int(c.infra_errors.into()),
            ]
        })
        .collect();
    table_from(&cols, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_cells_never_start_a_formula_in_csv() {
        for (cell, want) in [
            (
                "=HYPERLINK(\"http://x\",\"y\")",
                "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"",
            ),
            ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
            ("-2+3", "'-2+3"),
            ("@SUM(1)", "'@SUM(1)"),
            ("\tx", "'\tx"),
            ("sim-fast", "sim-fast"),
        ] {
            assert_eq!(csv_field(&Value::String(cell.into())), want, "{cell}");
        }
        // Numbers are numbers: a negative value is not text.
        assert_eq!(csv_field(&Value::from(-2.5)), "-2.5");
    }

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
