//! Running one command of a run (setup, the harness, verify): in its own process group, with its
//! output in files, a time limit, and cancellation that stops the whole group.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::{io_err, Error};

/// A command to run.
pub struct Launch<'a> {
    pub argv: &'a [String],
    pub env: &'a [(String, String)],
    pub cwd: &'a Path,
    /// stdout and stderr go to `<log_stem>.out` / `<log_stem>.err`.
    pub log_stem: &'a Path,
    pub timeout: Duration,
}

/// How a command ended.
#[derive(Debug, Clone)]
pub struct Finished {
    /// The exit status; `None` when it was stopped (timeout, cancel) or killed by a signal.
    pub code: Option<i32>,
    pub timed_out: bool,
    pub cancelled: bool,
    pub wall_s: f64,
    /// The last lines of its output (stderr, then stdout), for the session's outcome.
    pub tail: String,
    /// The signal that ended it, when it was not StackPerf's (time limit, cancel).
    pub signal: Option<i32>,
    /// Why it could not be started at all (then nothing else is set).
    pub not_started: Option<String>,
}

impl Finished {
    fn not_started(why: String) -> Finished {
        Finished {
            code: None,
            timed_out: false,
            cancelled: false,
            wall_s: 0.0,
            tail: why.clone(),
            signal: None,
            not_started: Some(why),
        }
    }
}

/// Run `launch` to its end, its time limit, or `cancel` turning true.
pub async fn run_command(
    launch: &Launch<'_>,
    cancel: &mut watch::Receiver<bool>,
) -> Result<Finished, Error> {
    let Some((program, args)) = launch.argv.split_first() else {
        return Err(Error::Invalid("an empty command line".into()));
    };
    let out_path = launch.log_stem.with_extension("out");
    let err_path = launch.log_stem.with_extension("err");
    let file =
        |p: &Path| std::fs::File::create(p).map_err(io_err(format!("create {}", p.display())));
    let mut cmd = crate::stack::process::tokio_command(program);
    // PWD too: some harnesses (OpenCode) take their project folder from it, not from getcwd().
    cmd.args(args)
        .envs(launch.env.iter().map(|(k, v)| (k, v)))
        .env("PWD", launch.cwd)
        .current_dir(launch.cwd)
        .stdin(Stdio::null())
        .stdout(file(&out_path)?)
        .stderr(file(&err_path)?)
        .kill_on_drop(true);
    #[cfg(unix)]
    cmd.process_group(0);
    let started = Instant::now();
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return Ok(Finished::not_started(format!(
                "cannot start `{program}`: {e}. Is it installed and on PATH (the harness profile's launch checks say how to check)?"
            )))
        }
    };
    let pid = child.id();
    let (mut timed_out, mut cancelled) = (false, false);
    let status = tokio::select! {
        s = child.wait() => Some(s.map_err(io_err(format!("wait for `{program}`")))?),
        _ = tokio::time::sleep(launch.timeout) => { timed_out = true; None }
        _ = wait_cancel(cancel) => { cancelled = true; None }
    };
    if status.is_none() {
        if let Some(pid) = pid {
            let _ = tokio::task::spawn_blocking(move || {
                crate::stack::process::terminate_group(pid, Duration::from_secs(5))
            })
            .await;
        }
        let _ = child.wait().await;
    }
    let tail = [&err_path, &out_path]
        .iter()
        .map(|p| crate::stack::process::tail(p, 8))
        .filter(|t| !t.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    Ok(Finished {
        code: status.and_then(|s| s.code()),
        timed_out,
        cancelled,
        wall_s: started.elapsed().as_secs_f64(),
        tail,
        signal: status.and_then(signal_of),
        not_started: None,
    })
}

#[cfg(unix)]
fn signal_of(s: std::process::ExitStatus) -> Option<i32> {
    std::os::unix::process::ExitStatusExt::signal(&s)
}

#[cfg(not(unix))]
fn signal_of(_: std::process::ExitStatus) -> Option<i32> {
    None
}

async fn wait_cancel(cancel: &mut watch::Receiver<bool>) {
    loop {
        if *cancel.borrow_and_update() {
            return;
        }
        if cancel.changed().await.is_err() {
            // The sender is gone: nobody can cancel any more.
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(argv: &[&str]) -> Finished {
        let dir = tempfile::tempdir().unwrap();
        let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        let launch = Launch {
            argv: &argv,
            env: &[],
            cwd: dir.path(),
            log_stem: &dir.path().join("out"),
            timeout: Duration::from_secs(30),
        };
        let (_tx, mut rx) = watch::channel(false);
        run_command(&launch, &mut rx).await.unwrap()
    }

    /// A SIGKILL StackPerf did not send (the OOM killer's) and a program that is not there are
    /// told apart from an exit status: both are the machine's failures, not the task's.
    #[tokio::test]
    async fn a_kill_from_outside_and_a_missing_program_are_reported_as_such() {
        let killed = run(&["sh", "-c", "kill -9 $$"]).await;
        assert_eq!((killed.code, killed.signal), (None, Some(9)));
        assert!(!killed.timed_out && !killed.cancelled && killed.not_started.is_none());
        let missing = run(&["/nonexistent/stackperf-harness"]).await;
        assert!(missing
            .not_started
            .as_deref()
            .is_some_and(|w| w.contains("cannot start")));
        let ok = run(&["true"]).await;
        assert_eq!((ok.code, ok.signal), (Some(0), None));
    }
}
