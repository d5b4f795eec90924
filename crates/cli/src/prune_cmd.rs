//! `stackperf prune`: say what the retention policy deletes, ask, delete, compact.

use std::io::{BufRead, IsTerminal, Write};

use clap::Args;
use stackperf_core::app::PruneReport;

use crate::output::json as print_json;
use crate::{app, runtime, CliError, Global};

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Only say what would be deleted
    #[arg(long)]
    dry_run: bool,
    /// Delete without asking
    #[arg(long, short)]
    yes: bool,
}

fn mb(b: u64) -> String {
    format!("{:.1} MB", b as f64 / 1e6)
}

fn describe(r: &PruneReport) -> String {
    let p = &r.plan;
    format!(
        "Retention (configs/retention.yaml): sessions {} days, requests {} days.\n\
         - {} session(s) ended more than {} days ago: deleted whole (row, rollups, {} folder(s), {})\n\
         - {} session(s) ended more than {} days ago: their request rows deleted (they keep their rollups and stay in comparisons)\n\
         - {} request row(s) in all, {} of them without a session (usage keys', StackPerf's own, unattributed)\n\
         - {} rotated capture spool(s) read to the end and older than {} days ({})\n\
         Database now {}.{}",
        r.retention.sessions_days,
        r.retention.requests_days,
        p.sessions.len(),
        r.retention.sessions_days,
        r.folders,
        mb(r.folder_bytes),
        p.requests_of.len(),
        r.retention.requests_days,
        p.requests,
        p.unattributed,
        r.spools.len(),
        r.retention.raw_days,
        mb(r.spool_bytes),
        mb(r.db_bytes),
        if r.old_exports.is_empty() {
            String::new()
        } else {
            format!(
                "\nExports older than {} days (your files; not deleted):\n{}",
                r.retention.sessions_days,
                r.old_exports
                    .iter()
                    .map(|a| format!("  {} ({} {})", a.path, a.kind, a.format))
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        }
    )
}

pub fn run(g: &Global, a: PruneArgs) -> Result<(), CliError> {
    let app = app(g)?;
    runtime()?.block_on(async {
        let plan = app.prune_plan().await?;
        let nothing = plan.plan.sessions.is_empty()
            && plan.plan.requests_of.is_empty()
            && plan.plan.requests == 0
            && plan.spools.is_empty();
        if a.dry_run || nothing {
            if g.json {
                return Ok(print_json(&plan)?);
            }
            println!("{}", describe(&plan));
            println!(
                "{}",
                if nothing {
                    "Nothing to delete."
                } else {
                    "Dry run: nothing was deleted."
                }
            );
            return Ok(());
        }
        if !a.yes {
            if !std::io::stdin().is_terminal() {
                return Err(CliError::Usage(
                    "prune deletes data: confirm with --yes (or look first with --dry-run)".into(),
                ));
            }
            eprintln!("{}", describe(&plan));
            eprint!("Delete this? [y/N] ");
            std::io::stderr().flush()?;
            let mut answer = String::new();
            std::io::stdin().lock().read_line(&mut answer)?;
            if !matches!(answer.trim(), "y" | "Y" | "yes") {
                eprintln!("Nothing deleted.");
                return Ok(());
            }
        }
        let done = app.prune_apply(plan).await?;
        if g.json {
            return Ok(print_json(&done)?);
        }
        println!("{}", describe(&done));
        println!(
            "Deleted. Database compacted: {} → {}.",
            mb(done.db_bytes),
            mb(done.db_bytes_after.unwrap_or(done.db_bytes))
        );
        Ok(())
    })
}
