//! The LiteLLM virtualenv the app owns: `litellm[proxy]` at a pinned version, installed with uv
//! from a committed lock with hashes (`--require-hashes`), keyed by the lock's hash so a changed
//! lock gets a fresh environment and an unchanged one is reused.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, BufReader};

use super::{Progress, StackEvent};
use crate::{io_err, Error};
use stackperf_contract::Service;

/// The requirement lock, embedded so an installed binary needs no source tree.
pub const LOCK: &str = include_str!("../../../../configs/litellm/requirements.lock");
/// The LiteLLM version the lock pins.
pub const LITELLM_VERSION: &str = "1.108.7";
/// The uv version installed into the venv when none is on `PATH`.
pub const UV_VERSION: &str = "0.13.8";

const STAMP: &str = "stackperf-install.json";

#[derive(Serialize, Deserialize)]
struct Stamp {
    lock_sha256: String,
    litellm_version: String,
}

fn lock_sha() -> String {
    Sha256::digest(LOCK.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The managed virtualenv.
#[derive(Debug, Clone)]
pub struct Venv {
    pub dir: PathBuf,
}

impl Venv {
    /// The venv for the current lock under `cache_dir`.
    pub fn in_cache(cache_dir: &Path) -> Venv {
        Venv {
            dir: cache_dir.join(format!("litellm-{}", &lock_sha()[..12])),
        }
    }

    fn bin(&self, name: &str) -> PathBuf {
        if cfg!(windows) {
            self.dir.join("Scripts").join(format!("{name}.exe"))
        } else {
            self.dir.join("bin").join(name)
        }
    }

    pub fn litellm(&self) -> PathBuf {
        self.bin("litellm")
    }

    pub fn python(&self) -> PathBuf {
        self.bin("python")
    }

    /// The installed LiteLLM version, when a complete install for the current lock is present.
    pub fn installed(&self) -> Option<String> {
        let text = std::fs::read_to_string(self.dir.join(STAMP)).ok()?;
        let stamp: Stamp = serde_json::from_str(&text).ok()?;
        (stamp.lock_sha256 == lock_sha() && self.litellm().exists())
            .then_some(stamp.litellm_version)
    }

    /// Install LiteLLM unless it already is; returns its version. Idempotent.
    pub async fn ensure(&self, progress: Progress<'_>) -> Result<String, Error> {
        let step = |m: String| {
            progress(StackEvent::Step {
                service: Some(Service::Litellm),
                message: m,
            })
        };
        if let Some(v) = self.installed() {
            step(format!("LiteLLM {v} is installed ({})", self.dir.display()));
            return Ok(v);
        }
        // One install at a time per venv (two stacks, or the app and a terminal, starting at once
        // share the cache): the second waits, then finds the first one's install.
        let _one = crate::lockfile::FileLock::acquire(&self.dir.with_extension("lock"), || {
            step("waiting for another process that is installing LiteLLM".into())
        })
        .await?;
        if let Some(v) = self.installed() {
            step(format!("LiteLLM {v} is installed ({})", self.dir.display()));
            return Ok(v);
        }
        let started = Instant::now();
        let python = std::env::var("STACKPERF_PYTHON")
            .ok()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "python3".into());
        let version = run_capture(&python, &["--version".to_string()])
            .await
            .map_err(|e| Error::PythonMissing(format!("`{python} --version`: {e}")))?;
        // A half-finished earlier attempt is redone from scratch.
        if self.dir.exists() {
            std::fs::remove_dir_all(&self.dir).map_err(io_err(format!(
                "remove incomplete venv {}",
                self.dir.display()
            )))?;
        }
        if let Some(parent) = self.dir.parent() {
            std::fs::create_dir_all(parent)
                .map_err(io_err(format!("create {}", parent.display())))?;
        }
        step(format!(
            "[1/4] creating a virtualenv with {} in {}",
            version.trim(),
            self.dir.display()
        ));
        let dir = self.dir.display().to_string();
        run_streaming(
            "create venv",
            &python,
            &["-m".into(), "venv".into(), dir],
            progress,
        )
        .await?;

        let uv = match find_on_path("uv") {
            Some(uv) => {
                step(format!("[2/4] using uv from PATH ({})", uv.display()));
                uv
            }
            None => {
                step(format!(
                    "[2/4] installing uv {UV_VERSION} from PyPI into the venv"
                ));
                let args = [
                    "-m",
                    "pip",
                    "install",
                    "-q",
                    "--disable-pip-version-check",
                    &format!("uv=={UV_VERSION}"),
                ]
                .map(String::from);
                run_streaming(
                    "install uv",
                    &self.python().display().to_string(),
                    &args,
                    progress,
                )
                .await?;
                self.bin("uv")
            }
        };

        let lock_path = self.dir.join("requirements.lock");
        std::fs::write(&lock_path, LOCK)
            .map_err(io_err(format!("write {}", lock_path.display())))?;
        let packages = LOCK
            .lines()
            .filter(|l| l.chars().next().is_some_and(|c| c.is_ascii_alphanumeric()))
            .count();
        step(format!("[3/4] installing litellm[proxy]=={LITELLM_VERSION} and {} pinned dependencies (hash-checked, compiled to bytecode)", packages.saturating_sub(1)));
        let args = [
            "pip",
            "install",
            "--python",
            &self.python().display().to_string(),
            "--require-hashes",
            // Bytecode written once here: Python never compiles LiteLLM's modules again at each
            // start (or at all where PYTHONDONTWRITEBYTECODE is set, as on CI machines),
            // nor a module it imports per request (docs/sessions.md, "The stack's tax").
            "--compile-bytecode",
            "-r",
            &lock_path.display().to_string(),
        ]
        .map(String::from);
        run_streaming(
            "install LiteLLM",
            &uv.display().to_string(),
            &args,
            progress,
        )
        .await?;

        step("[4/4] verifying the install".into());
        let check = [
            "-c",
            "import importlib.metadata as m; print(m.version('litellm'))",
        ]
        .map(String::from);
        let installed = run_capture(&self.python().display().to_string(), &check)
            .await
            .map_err(|e| Error::Install {
                step: "verify".into(),
                message: e,
                tail: String::new(),
            })?;
        let installed = installed.trim().to_string();
        if installed != LITELLM_VERSION {
            return Err(Error::Install {
                step: "verify".into(),
                message: format!("found litellm {installed}, expected {LITELLM_VERSION}"),
                tail: String::new(),
            });
        }
        let stamp = Stamp {
            lock_sha256: lock_sha(),
            litellm_version: installed.clone(),
        };
        std::fs::write(
            self.dir.join(STAMP),
            serde_json::to_string(&stamp).unwrap_or_default(),
        )
        .map_err(io_err("write install stamp"))?;
        step(format!(
            "LiteLLM {installed} installed in {:.1} s",
            started.elapsed().as_secs_f64()
        ));
        Ok(installed)
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

async fn run_capture(program: &str, args: &[String]) -> Result<String, String> {
    let out = super::process::tokio_command(program)
        .args(args)
        .output()
        .await
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "exited with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    // `python --version` prints to stdout on 3.x; older ones used stderr.
    let text = if out.stdout.is_empty() {
        out.stderr
    } else {
        out.stdout
    };
    Ok(String::from_utf8_lossy(&text).to_string())
}

/// Run a step, forwarding each output line as progress; on failure report the last lines.
async fn run_streaming(
    step: &str,
    program: &str,
    args: &[String],
    progress: Progress<'_>,
) -> Result<(), Error> {
    let fail = |message: String, tail: String| Error::Install {
        step: step.to_string(),
        message,
        tail,
    };
    let mut child = super::process::tokio_command(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot run {program}: {e}"), String::new()))?;
    let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(fail("no output pipes".into(), String::new()));
    };
    // Both streams feed one channel; it closes when both reach end of file.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let tx_err = tx.clone();
    tokio::spawn(async move {
        let mut l = BufReader::new(out).lines();
        while let Ok(Some(line)) = l.next_line().await {
            let _ = tx.send(line);
        }
    });
    tokio::spawn(async move {
        let mut l = BufReader::new(err).lines();
        while let Ok(Some(line)) = l.next_line().await {
            let _ = tx_err.send(line);
        }
    });
    let mut lines = Vec::new();
    while let Some(line) = rx.recv().await {
        progress(StackEvent::Output {
            service: Service::Litellm,
            line: line.clone(),
        });
        lines.push(line);
    }
    let status = child
        .wait()
        .await
        .map_err(|e| fail(e.to_string(), String::new()))?;
    if status.success() {
        Ok(())
    } else {
        let tail = lines[lines.len().saturating_sub(15)..].join("\n");
        Err(fail(format!("{program} exited with {status}"), tail))
    }
}
