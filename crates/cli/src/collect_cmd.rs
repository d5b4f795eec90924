//! `stackperf collect` (one ingest pass, or `--follow` printing each request as it is captured)
//! and `stackperf rollup`.

use serde_json::json;
use stackperf_core::normalize::Traffic;

use crate::output::json as print_json;
use crate::{app, runtime, CliError, Global};

fn print_request(r: &stackperf_core::normalize::RequestRow, json_out: bool) {
    if json_out {
        println!("{}", serde_json::to_string(r).unwrap_or_default());
        return;
    }
    let ms = |v: Option<f64>| {
        v.map(|x| format!("{x:.0} ms"))
            .unwrap_or_else(|| "-".into())
    };
    println!(
        "{}  {:<18} {:<16} {:<20} {:<7} ttft {:>8}  latency {:>8}  out {:>5}",
        r.request_finished_at,
        r.session_id
            .clone()
            .unwrap_or_else(|| format!("({})", r.traffic.as_str())),
        r.model.as_deref().unwrap_or("-"),
        r.protocol_surface.as_deref().unwrap_or("-"),
        r.http_status
            .map(|s| s.to_string())
            .unwrap_or_else(|| r.status.as_str().to_string()),
        ms(r.ttft_ms),
        // A request whose record the edge lost has no latency (stored as 0).
        ms(
            (r.outcome.as_deref() != Some(stackperf_core::normalize_edge::EDGE_LOST))
                .then_some(r.latency_ms)
        ),
        r.output_tokens
            .map(|t| t.to_string())
            .unwrap_or_else(|| "-".into()),
    );
}

pub fn collect(g: &Global, follow: bool) -> Result<(), CliError> {
    runtime()?.block_on(async {
        let app = app(g)?;
        let spool = app.spool_path();
        if follow {
            if !g.json {
                eprintln!("following {} (Ctrl-C stops)", spool.display());
            }
            let json_out = g.json;
            let stop = async {
                let _ = tokio::signal::ctrl_c().await;
            };
            app.follow_capture(
                |_, rows| {
                    // StackPerf's own calls (the proxy warm-up) are not the user's traffic.
                    for r in rows.iter().filter(|r| r.traffic != Traffic::Internal) {
                        print_request(r, json_out);
                    }
                },
                stop,
            )
            .await?;
            return Ok(());
        }
        let r = app.ingest_now().await?;
        if g.json {
            return Ok(print_json(&json!({"spool": spool, "report": r}))?);
        }
        println!(
            "{}: {} lines read, {} new requests, {} already stored, {} unattributed, {} rejected, {} internal, {} malformed{}{}",
            spool.display(),
            r.lines,
            r.inserted,
            r.duplicates,
            r.unattributed,
            r.rejected,
            r.internal,
            r.malformed,
            r.first_malformed_at
                .map(|o| format!(" (skipped; the first at byte {o})"))
                .unwrap_or_default(),
            if r.pending_bytes > 0 { format!(", {} bytes of a line still being written", r.pending_bytes) } else { String::new() }
        );
        if r.edge_lost > 0 {
            println!(
                "{} request(s) lost their record with a stopped or killed edge: stored as edge_lost errors (`session show` says which session)",
                r.edge_lost
            );
        }
        Ok(())
    })
}

/// `stackperf rollup`: ingest what is pending, then bring every session rollup up to date.
pub fn rollup(g: &Global, experiment: Option<String>) -> Result<(), CliError> {
    runtime()?.block_on(async {
        let (collected, per) = app(g)?.rollup(experiment.as_deref()).await?;
        if g.json {
            let v: serde_json::Map<String, serde_json::Value> =
                per.iter().map(|(n, k)| (n.clone(), json!(k))).collect();
            return Ok(print_json(
                &json!({"collected": collected, "recomputed_sessions": v}),
            )?);
        }
        println!("collected {} new requests", collected.inserted);
        for (name, k) in per {
            println!("{name}: {k} session rollup(s) recomputed");
        }
        Ok(())
    })
}
