//! Secrets against the real OS keychain (Secret Service on Linux): set from stdin, list without
//! values, environment override, delete. scripts/test.sh runs the tests inside a Secret Service.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;
use stackperf_e2e::{stackperf, workspace};

fn cmd(data: &std::path::Path, service: &str, args: &[&str]) -> Command {
    let mut c = stackperf(data);
    c.args(args)
        .current_dir(workspace())
        .env("STACKPERF_KEYRING_SERVICE", service)
        .env_remove("OPENAI_API_KEY");
    c
}

#[test]
fn secrets_live_in_the_keychain_and_never_print() {
    let data = tempfile::tempdir().expect("tempdir");
    let service = format!("stackperf-e2e-secrets-{}", std::process::id());
    let value = format!("sk-e2e-openai-{}", std::process::id());

    let mut child = cmd(data.path(), &service, &["secrets", "set", "OPENAI_API_KEY"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{value}\n").as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&value));

    let list = |extra_env: Option<(&str, &str)>| -> Value {
        let mut c = cmd(data.path(), &service, &["--json", "secrets", "list"]);
        if let Some((k, v)) = extra_env {
            c.env(k, v);
        }
        let out = c.output().expect("list");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(!text.contains(&value), "list printed the value");
        serde_json::from_str(&text).expect("json")
    };
    let find = |v: &Value| {
        v.as_array()
            .expect("array")
            .iter()
            .find(|s| s["name"] == "OPENAI_API_KEY")
            .cloned()
            .expect("listed")
    };
    let entry = find(&list(None));
    assert_eq!(
        (entry["in_keychain"].clone(), entry["effective"].clone()),
        (Value::Bool(true), Value::from("keychain"))
    );
    let entry = find(&list(Some(("OPENAI_API_KEY", "from-env"))));
    assert_eq!(
        entry["effective"], "environment",
        "the environment overrides the keychain"
    );

    // The value really is in the Secret Service (read back with libsecret's own tool when present).
    if let Ok(out) = Command::new("secret-tool")
        .args(["lookup", "service", &service, "username", "OPENAI_API_KEY"])
        .output()
    {
        if out.status.success() {
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), value);
        }
    }

    let out = cmd(
        data.path(),
        &service,
        &["secrets", "delete", "OPENAI_API_KEY"],
    )
    .output()
    .expect("delete");
    assert!(out.status.success());
    let entry = find(&list(None));
    assert_eq!(entry["in_keychain"], false);

    let out = cmd(data.path(), &service, &["secrets", "set", "1BAD"])
        .stdin(Stdio::null())
        .output()
        .expect("bad name");
    assert_eq!(out.status.code(), Some(1));
}
