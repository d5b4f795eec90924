//! `stackperf doctor`: every prerequisite and running part, each with the fix when it fails.

use std::time::Duration;

use serde::Serialize;
use stackperf_core::config::Registry;
use stackperf_core::paths;
use stackperf_core::secrets::{KeyringStore, SecretStore};
use stackperf_core::stack::{process, prometheus, NativeStack, Ports};
use stackperf_core::store::Store;

use crate::output::json as print_json;
use crate::stack_cmd::options;
use crate::{runtime, CliError, Global};

#[derive(Serialize)]
struct Check {
    name: String,
    ok: bool,
    detail: String,
    fix: String,
}

fn check(name: &str, ok: bool, detail: impl Into<String>, fix: impl Into<String>) -> Check {
    Check {
        name: name.into(),
        ok,
        detail: detail.into(),
        fix: if ok { String::new() } else { fix.into() },
    }
}

pub fn run(g: &Global) -> Result<(), CliError> {
    let mut checks = Vec::new();
    let (_, problems) = Registry::load(&g.config_dir);
    checks.push(check(
        "config",
        problems.is_empty(),
        format!(
            "{} problem(s) in {}",
            problems.len(),
            g.config_dir.display()
        ),
        "run `stackperf config validate` and fix what it lists",
    ));

    let python = std::env::var("STACKPERF_PYTHON").unwrap_or_else(|_| "python3".into());
    let py = std::process::Command::new(&python)
        .arg("--version")
        .output();
    let py_ok = py.as_ref().is_ok_and(|o| o.status.success());
    let py_detail = py
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|e| e.to_string());
    checks.push(check(
        "python",
        py_ok,
        py_detail,
        "install Python 3.10+ with venv (Debian/Ubuntu: apt-get install python3 python3-venv)",
    ));
    let venv_ok = py_ok
        && std::process::Command::new(&python)
            .args(["-c", "import venv, ensurepip"])
            .output()
            .is_ok_and(|o| o.status.success());
    checks.push(check(
        "python venv",
        venv_ok,
        if venv_ok { "available" } else { "missing" },
        "apt-get install python3-venv",
    ));

    let opts = options(Ports::default(), Duration::from_secs(5))?;
    let stack = NativeStack::new(opts.clone());
    let venv = stack.venv();
    match venv.installed() {
        Some(v) => checks.push(check(
            "litellm install",
            true,
            format!("LiteLLM {v} in {}", venv.dir.display()),
            "",
        )),
        None => checks.push(check(
            "litellm install",
            false,
            "not installed yet",
            "`stackperf stack up` installs it (about 650 MB, hash-checked)",
        )),
    }
    let state = stack.state();
    let ports = state.as_ref().map(|s| s.ports).unwrap_or_default();
    for (name, port) in [
        ("litellm", ports.litellm),
        ("sim", ports.sim),
        ("prometheus", ports.prometheus),
    ] {
        let ours = state.as_ref().is_some_and(|s| {
            s.services
                .iter()
                .any(|r| r.name == name && process::alive(r.pid))
        });
        let free = process::port_free(port);
        let detail = if ours {
            format!("127.0.0.1:{port} used by the running stack")
        } else if free {
            format!("127.0.0.1:{port} free")
        } else {
            format!("127.0.0.1:{port} taken by another program")
        };
        checks.push(check(
            &format!("port {name}"),
            ours || free,
            detail,
            format!("free port {port} or start with --{name}-port N"),
        ));
    }
    let services = runtime()?.block_on(stack.status());
    let litellm = services.iter().find(|s| s.name == "litellm");
    let running = litellm.is_some_and(|s| s.state == "running");
    checks.push(check(
        "litellm health",
        litellm.is_some_and(|s| s.healthy),
        litellm
            .map(|s| format!("{} {}", s.state, s.url.clone().unwrap_or_default()))
            .unwrap_or_default(),
        if running {
            "see `stackperf stack logs litellm`"
        } else {
            "start it with `stackperf stack up`"
        },
    ));
    match prometheus::find_binary() {
        None => checks.push(check(
            "prometheus",
            false,
            "not installed",
            prometheus::INSTALL_HINT,
        )),
        Some(bin) => {
            let up = runtime()?.block_on(prometheus_target_up(ports.prometheus));
            checks.push(check("prometheus", true, format!("{}", bin.display()), ""));
            checks.push(check("prometheus target", up == Some(true), match up { Some(true) => "LiteLLM target up".to_string(), Some(false) => "LiteLLM target down".into(), None => "Prometheus not running".into() }, "start the stack with `stackperf stack up`; if it runs, see `stackperf stack logs prometheus`"));
        }
    }
    let db = paths::db_path(g.db.clone())?;
    let db_result =
        runtime()?.block_on(async { Store::open(&db).await?.applied_migrations().await });
    match db_result {
        Ok(m) => checks.push(check(
            "database",
            true,
            format!(
                "{} (migration {})",
                db.display(),
                m.last().map(|m| m.version).unwrap_or(0)
            ),
            "",
        )),
        Err(e) => checks.push(check(
            "database",
            false,
            e.to_string(),
            "pass --db PATH to a writable location",
        )),
    }
    let probe = KeyringStore::new().get("STACKPERF_DOCTOR_PROBE");
    checks.push(check(
        "keychain",
        probe.is_ok(),
        probe
            .err()
            .map(|e| e.to_string())
            .unwrap_or_else(|| "reachable".into()),
        "start a Secret Service (gnome-keyring) or set secrets as environment variables",
    ));

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

async fn prometheus_target_up(port: u16) -> Option<bool> {
    let client = reqwest_client();
    let v: serde_json::Value = client
        .get(format!("http://127.0.0.1:{port}/api/v1/targets"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    let targets = v["data"]["activeTargets"].as_array()?;
    Some(
        targets
            .iter()
            .any(|t| t["labels"]["job"] == "litellm" && t["health"] == "up"),
    )
}

fn reqwest_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap_or_default()
}
