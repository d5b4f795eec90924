//! Exit codes of the binary for usage mistakes. (Also makes `cargo test --workspace` build the
//! `stackperf` binary that the end-to-end tests drive.)
#![allow(clippy::disallowed_methods)] // tests start programs as a user would (core's builder is for the app)
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::process::Command;

fn stackperf(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_stackperf"))
        .args(args)
        .output()
        .expect("run stackperf")
}

#[test]
fn help_and_version_exit_0() {
    let o = stackperf(&["--version"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).contains(env!("CARGO_PKG_VERSION")));
    assert_eq!(stackperf(&["config", "--help"]).status.code(), Some(0));
}

#[test]
fn unknown_commands_and_flags_are_user_errors_exit_1() {
    let o = stackperf(&["frobnicate"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("frobnicate"));
    assert_eq!(
        stackperf(&["config", "validate", "--no-such-flag"])
            .status
            .code(),
        Some(1)
    );
}
