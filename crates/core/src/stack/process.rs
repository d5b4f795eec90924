//! Child processes of the native stack: spawned in their own process group with output to a log
//! file, so they outlive the CLI that started them and can be stopped as a group.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{io_err, Error};

/// Logs larger than this are moved to `<log>.1` when the service starts again.
const MAX_LOG_BYTES: u64 = 20 * 1024 * 1024;

/// Environment variables the host process set for itself or for its libraries' own helper
/// processes (the desktop shell: a malloc setting for WebKit's web and network processes), which
/// the programs StackPerf starts — stack services, harness runs — must not inherit: they run, and
/// are measured, with the user's environment.
static NOT_INHERITED: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

/// Declare the variables of [`NOT_INHERITED`]; the first call wins. Call it when setting them,
/// before starting any program.
pub fn keep_from_children(names: &[&str]) {
    let _ = NOT_INHERITED.set(names.iter().map(|n| (*n).to_owned()).collect());
}

/// The variables declared by [`keep_from_children`] (none unless a host declared some).
pub fn not_inherited() -> &'static [String] {
    NOT_INHERITED.get().map_or(&[], Vec::as_slice)
}

/// A program StackPerf starts (stack services, harness runs, git, uv, Docker, probes): the
/// host's own variables ([`keep_from_children`]) removed, so it runs with the user's environment.
/// Every spawn in core goes through this or [`tokio_command`] (clippy refuses `Command::new`).
#[allow(clippy::disallowed_methods)]
pub fn command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(program);
    for name in not_inherited() {
        cmd.env_remove(name);
    }
    cmd
}

/// [`command`] for the async runtime.
#[allow(clippy::disallowed_methods)]
pub fn tokio_command(program: impl AsRef<std::ffi::OsStr>) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(program);
    for name in not_inherited() {
        cmd.env_remove(name);
    }
    cmd
}

/// Whether nothing listens on 127.0.0.1:`port`.
pub fn port_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// Whether something accepts connections on 127.0.0.1:`port`.
pub fn port_listening(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

/// Keep one previous log and start a fresh one when the current one is large.
pub fn rotate(log: &Path) {
    if std::fs::metadata(log)
        .map(|m| m.len() > MAX_LOG_BYTES)
        .unwrap_or(false)
    {
        let _ = std::fs::rename(log, log.with_extension("log.1"));
    }
}

/// The last `n` lines of a file (empty if unreadable); reads at most the last 64 KiB.
pub fn tail(path: &Path, n: usize) -> String {
    let Ok(mut f) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Start `program` in a new process group, stdin closed, stdout and stderr appended to `log`.
pub fn spawn(
    program: &Path,
    args: &[String],
    env: &[(String, String)],
    cwd: &Path,
    log: &Path,
) -> Result<u32, Error> {
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir)
            .map_err(io_err(format!("create log directory {}", dir.display())))?;
    }
    rotate(log);
    let out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(io_err(format!("open log {}", log.display())))?;
    let err = out.try_clone().map_err(io_err("duplicate log handle"))?;
    let mut cmd = command(program);
    cmd.args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    let child = cmd
        .spawn()
        .map_err(io_err(format!("start {}", program.display())))?;
    Ok(child.id())
}

/// Whether `pid` is a live (not zombie) process.
pub fn alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(raw) = i32::try_from(pid) else {
            return false;
        };
        if nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), None).is_err() {
            return false;
        }
        // A zombie still answers kill(0); /proc tells the truth where it exists.
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .is_some_and(|s| s != "Z"),
            Err(_) => !Path::new("/proc/self").exists(),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        false
    }
}

/// Whether `pid` runs a command line containing `marker` (guards against PID reuse after a
/// reboot). Where the command line cannot be read, trusts the PID.
pub fn runs(pid: u32, marker: &str) -> bool {
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(raw) => String::from_utf8_lossy(&raw)
            .replace('\0', " ")
            .contains(marker),
        Err(_) => alive(pid),
    }
}

/// Stop a process group: SIGTERM, wait up to `grace`, then SIGKILL. True when it is gone.
pub fn terminate_group(pid: u32, grace: Duration) -> bool {
    #[cfg(unix)]
    {
        use nix::sys::signal::{killpg, Signal};
        use nix::unistd::Pid;
        let Ok(raw) = i32::try_from(pid) else {
            return true;
        };
        let group = Pid::from_raw(raw);
        let _ = killpg(group, Signal::SIGTERM);
        if wait_gone(pid, grace) {
            // Children of the leader (LiteLLM workers) may linger briefly; make sure.
            let _ = killpg(group, Signal::SIGKILL);
            return true;
        }
        let _ = killpg(group, Signal::SIGKILL);
        wait_gone(pid, Duration::from_secs(3))
    }
    #[cfg(not(unix))]
    {
        let _ = (pid, grace);
        true
    }
}

fn wait_gone(pid: u32, within: Duration) -> bool {
    let until = Instant::now() + within;
    while Instant::now() < until {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    !alive(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_returns_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x.log");
        std::fs::write(
            &f,
            (1..=10).map(|i| format!("line {i}\n")).collect::<String>(),
        )
        .unwrap();
        assert_eq!(tail(&f, 2), "line 9\nline 10");
        assert_eq!(tail(&dir.path().join("missing"), 3), "");
    }

    #[cfg(unix)]
    #[test]
    fn a_spawned_group_is_alive_until_terminated() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("sleep.log");
        let pid = spawn(
            Path::new("/bin/sh"),
            &["-c".into(), "echo started; exec sleep 30".into()],
            &[],
            dir.path(),
            &log,
        )
        .unwrap();
        assert!(alive(pid));
        // Until the child has exec'd, /proc shows the parent's command line: wait for its output.
        let until = Instant::now() + Duration::from_secs(5);
        while !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("started")
            && Instant::now() < until
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        let exec_until = Instant::now() + Duration::from_secs(5);
        while !runs(pid, "sleep") && Instant::now() < exec_until {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(runs(pid, "sleep"));
        assert!(!runs(pid, "no-such-program"));
        assert!(terminate_group(pid, Duration::from_secs(5)));
        assert!(!alive(pid));
        assert!(std::fs::read_to_string(&log).unwrap().contains("started"));
    }

    #[test]
    fn port_checks_see_a_listener() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        assert!(!port_free(port));
        assert!(port_listening(port));
        drop(l);
        // Other tests run in parallel and may take a just-released ephemeral port, so check the
        // "free" direction on fresh ports: at least one released port must read as free.
        let freed = (0..5).any(|_| {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let p = l.local_addr().unwrap().port();
            drop(l);
            port_free(p)
        });
        assert!(freed);
    }
}
