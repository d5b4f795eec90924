//! Secrets against the real OS keychain (Secret Service on Linux): set from stdin, list without
//! values, environment override, delete. scripts/test.sh runs the tests inside a Secret Service.

use std::process::{Command, Stdio};

use serde_json::Value;
use stackperf_e2e::StackEnv;

#[test]
fn secrets_live_in_the_keychain_and_never_print() {
    let env = StackEnv::new("secrets");
    let value = format!("sk-e2e-openai-{}", std::process::id());
    env.set_secret("OPENAI_API_KEY", &format!("{value}\n"));

    let list = |extra_env: Option<(&str, &str)>| -> Value {
        let mut c = env.cmd(&["--json", "secrets", "list"]);
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

    // The value (trimmed) really is in the Secret Service: read it back with libsecret's own tool.
    if let Ok(out) = Command::new("secret-tool")
        .args([
            "lookup",
            "service",
            &env.keyring,
            "username",
            "OPENAI_API_KEY",
        ])
        .output()
    {
        if out.status.success() {
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), value);
        }
    }

    let out = env.run(&["secrets", "delete", "OPENAI_API_KEY"]);
    assert!(out.status.success());
    assert_eq!(find(&list(None))["in_keychain"], false);

    let out = env
        .cmd(&["secrets", "set", "1BAD"])
        .stdin(Stdio::null())
        .output()
        .expect("bad name");
    assert_eq!(out.status.code(), Some(1));
}
