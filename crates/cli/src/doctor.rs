//! `stackperf doctor`: every prerequisite and running part, each with the fix when it fails.
//! The checks live in core (the desktop's Stack screen shows the same list).

use std::time::Duration;

use stackperf_core::app::{doctor_checks, AppPaths};
use stackperf_core::paths;
use stackperf_core::stack::{NativeStack, Ports};

use crate::output::json as print_json;
use crate::stack_cmd::options;
use crate::{runtime, CliError, Global};

pub fn run(g: &Global) -> Result<(), CliError> {
    let opts = options(Ports::default(), Duration::from_secs(5))?;
    let app_paths = AppPaths {
        config_dir: g.config_dir.clone(),
        data_dir: opts.data_dir.clone(),
        cache_dir: opts.cache_dir.clone(),
        db_path: paths::db_path(g.db.clone())?,
        stackperf_bin: opts.stackperf_bin.clone(),
    };
    let stack = NativeStack::new(opts);
    let checks = runtime()?.block_on(doctor_checks(&app_paths, &stack));
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
