//! `stackperf doctor`: every prerequisite and running part, each with the fix when it fails.
//! The checks live in core (the desktop's Stack screen shows the same list).

use crate::output::json as print_json;
use crate::{app, runtime, CliError, Global};

pub fn run(g: &Global) -> Result<(), CliError> {
    let checks = runtime()?.block_on(app(g)?.doctor());
    let failed = checks.iter().filter(|c| !c.ok).count();
    if g.json {
        print_json(&serde_json::json!({"ok": failed == 0, "checks": checks}))?;
    } else {
        for c in &checks {
            println!(
                "{} {:<18} {}",
                if c.ok { "ok  " } else { "FAIL" },
                c.name,
                c.detail
            );
            if !c.ok {
                println!("     {:<18} fix: {}", "", c.fix);
            }
        }
    }
    if failed == 0 {
        Ok(())
    } else {
        Err(CliError::Reported(format!("{failed} check(s) failed")))
    }
}
