//! Plain-text tables and JSON output.

use std::io::Write;

use serde::Serialize;

/// The widest a table cell is shown (longer values end in `…`; `--json` has them whole).
pub const MAX_CELL: usize = 60;

/// Text for a terminal: control characters (ANSI escapes, newlines, …) become `␣`-free spaces
/// and `?`, and at most `max` characters are kept. JSON output keeps the exact value.
pub fn clean(s: &str, max: usize) -> String {
    let mut out = String::new();
    for (n, c) in s.chars().enumerate() {
        if n == max {
            out.push('…');
            break;
        }
        out.push(match c {
            '\n' | '\r' | '\t' => ' ',
            c if c.is_control() => '?',
            c => c,
        });
    }
    out
}

/// Print `rows` under `headers`, columns padded to their widest cell.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> std::io::Result<()> {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| clean(c, MAX_CELL)).collect())
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut out = std::io::stdout().lock();
    // Padding by hand: `format!("{c:<w$}")` panics for widths over 65,535.
    let line = |cells: Vec<&str>| -> String {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| {
                let pad = w.saturating_sub(c.chars().count());
                format!("{c}{}", " ".repeat(pad))
            })
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    writeln!(out, "{}", line(headers.to_vec()))?;
    for row in &rows {
        writeln!(out, "{}", line(row.iter().map(String::as_str).collect()))?;
    }
    if rows.is_empty() {
        writeln!(out, "(none)")?;
    }
    Ok(())
}

/// Print a value as pretty JSON.
pub fn json<T: Serialize>(v: &T) -> std::io::Result<()> {
    let s = serde_json::to_string_pretty(v).map_err(std::io::Error::other)?;
    writeln!(std::io::stdout().lock(), "{s}")
}

/// The first 12 hex digits of a `sha256:` fingerprint.
pub fn short_fp(fp: &str) -> String {
    fp.trim_start_matches("sha256:").chars().take(12).collect()
}
