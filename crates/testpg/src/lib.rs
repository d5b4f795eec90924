//! A real PostgreSQL server for tests: Debian's server binaries (`postgresql` package),
//! `initdb` into a folder under `target/`, listening on a free loopback port, and stopped with
//! the test process — whichever way that ends: the server gets the parent-death signal
//! (`setpriv --pdeathsig`), and the next test process removes folders whose server is gone.
//!
//! One server per test process ([`server`]); each test takes a database of its own
//! ([`Server::fresh_database`]). Run as root (CI), the server runs as the `postgres` user,
//! because PostgreSQL refuses to run as root.
#![allow(clippy::disallowed_methods)] // test support: it starts programs directly (core's builder is for the app)

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The password of the server's `stackperf` role (a test server's, on loopback).
pub const PASSWORD: &str = "stackperf-test-pw";

/// A running server.
pub struct Server {
    pub port: u16,
    pub dir: PathBuf,
    child: Child,
    bin: PathBuf,
    user: Option<String>,
}

/// The process's one server, started on first use. `None` (with the reason printed) when
/// PostgreSQL's server binaries are not installed: tests that need it then fail with that reason.
pub fn server() -> Result<&'static Server, String> {
    static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
    SERVER
        .get_or_init(start_from_a_lasting_thread)
        .as_ref()
        .map_err(Clone::clone)
}

/// The parent-death signal is sent when the *thread* that started the server ends, and a test's
/// thread ends with the test: the server is started by a thread that lasts as long as the process.
fn start_from_a_lasting_thread() -> Result<Server, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("testpg".into())
        .spawn(move || {
            let _ = tx.send(Server::start());
            loop {
                std::thread::park();
            }
        })
        .map_err(|e| e.to_string())?;
    rx.recv().map_err(|e| e.to_string())?
}

/// The newest installed server's `bin` folder (`/usr/lib/postgresql/<version>/bin`), or
/// `STACKPERF_TEST_PG_BIN`.
fn bin_dir() -> Result<PathBuf, String> {
    if let Some(d) = std::env::var_os("STACKPERF_TEST_PG_BIN") {
        return Ok(PathBuf::from(d));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| format!("PostgreSQL's server is not installed (/usr/lib/postgresql: {e}); on Debian/Ubuntu: apt-get install postgresql"))?
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b).ok_or_else(|| {
        "no initdb under /usr/lib/postgresql/*/bin; apt-get install postgresql".into()
    })
}

/// Whether this process runs as root (`/proc/self` belongs to the process's effective user).
fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The folder the servers live in: `<target>/testpg` (next to the test binary's `deps`); as root,
/// `<temp>/stackperf-testpg`, because the server runs as `postgres`, who may not be allowed
/// into the checkout's folders (`/root` is private).
fn base_dir(root: bool) -> PathBuf {
    if root {
        return std::env::temp_dir().join("stackperf-testpg");
    }
    let exe = std::env::current_exe().unwrap_or_default();
    let target = exe
        .ancestors()
        .find(|a| a.file_name().is_some_and(|n| n == "target"))
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir);
    target.join("testpg")
}

/// Remove the folders of servers that are gone (their test process ended).
fn sweep(base: &Path) {
    for e in std::fs::read_dir(base).into_iter().flatten().flatten() {
        let pid = std::fs::read_to_string(e.path().join("data/postmaster.pid"))
            .ok()
            .and_then(|s| s.lines().next().and_then(|l| l.trim().parse::<u32>().ok()));
        let alive = pid.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists());
        if !alive {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

impl Server {
    fn start() -> Result<Server, String> {
        Server::start_in(&format!("pg-{}", std::process::id()))
    }

    /// A server of the caller's own, not the process's shared one ([`server`]): for a test that
    /// restarts it ([`Server::restart`]). Stopped when dropped, or when the thread that made it
    /// ends.
    pub fn own() -> Result<Server, String> {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        Server::start_in(&format!("pg-{}-own{n}", std::process::id()))
    }

    /// Stop the server at once, as a crash would (`SIGQUIT`: PostgreSQL's immediate shutdown;
    /// every connection cut, open transactions lost), then start it again on the same port and
    /// data, after `down` (connections are refused meanwhile). Returns when it accepts queries.
    pub fn restart(&mut self, down: Duration) -> Result<(), String> {
        let pid = self.child.id();
        let _ = Command::new("kill")
            .args(["-QUIT", &pid.to_string()])
            .status();
        let _ = self.child.wait();
        std::thread::sleep(down);
        self.child = spawn(&self.dir, self.port, &self.bin, &self.user)?;
        self.wait_ready(Duration::from_secs(60))
    }

    fn start_in(name: &str) -> Result<Server, String> {
        let bin = bin_dir()?;
        let root = is_root();
        let base = base_dir(root);
        std::fs::create_dir_all(&base).map_err(|e| format!("{}: {e}", base.display()))?;
        sweep(&base);
        let dir = base.join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let user = root.then(|| "postgres".to_string());
        if let Some(u) = &user {
            let ok = Command::new("chown")
                .args(["-R", &format!("{u}:{u}"), &dir.display().to_string()])
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                return Err(format!(
                    "chown {} to {u} failed (is the postgresql package installed?)",
                    dir.display()
                ));
            }
        }
        let data = dir.join("data");
        // Connections over TCP need the password (as a team's server would); the tests' own
        // createdb goes through the server's socket folder, trusted.
        let pwfile = dir.join("pw");
        std::fs::write(&pwfile, PASSWORD).map_err(|e| format!("{}: {e}", pwfile.display()))?;
        if let Some(u) = &user {
            let _ = Command::new("chown")
                .args([u.as_str(), &pwfile.display().to_string()])
                .status();
        }
        let out = as_user(&user, &bin.join("initdb"))
            .args(["-D", &data.display().to_string()])
            .args([
                "-U",
                "stackperf",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .args(["-E", "UTF8", "--no-sync", "--locale=C"])
            .output()
            .map_err(|e| format!("initdb: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        self_signed_cert(&dir, &user)?;
        let port = free_port()?;
        let server = Server {
            child: spawn(&dir, port, &bin, &user)?,
            port,
            dir,
            bin,
            user,
        };
        server.wait_ready(Duration::from_secs(60))?;
        Ok(server)
    }
    /// One of the server's client programs, pointed at it through its socket folder as the
    /// `stackperf` role (trusted there).
    fn client(&self, program: &str) -> Command {
        let mut c = Command::new(self.bin.join(program));
        c.arg("-h")
            .arg(&self.dir)
            .args(["-p", &self.port.to_string(), "-U", "stackperf"]);
        c
    }

    /// Until the server accepts a query (`pg_isready`).
    fn wait_ready(&self, within: Duration) -> Result<(), String> {
        let until = Instant::now() + within;
        loop {
            let ok = self
                .client("pg_isready")
                .args(["-d", "postgres"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return Ok(());
            }
            if Instant::now() > until {
                let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
                return Err(format!(
                    "PostgreSQL did not come up on port {}: {log}",
                    self.port
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The URL of `db` on this server, with the password.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://stackperf:{PASSWORD}@127.0.0.1:{}/{db}",
            self.port
        )
    }

    /// The URL of `db` without the password (it must come from elsewhere).
    pub fn url_without_password(&self, db: &str) -> String {
        format!("postgres://stackperf@127.0.0.1:{}/{db}", self.port)
    }

    /// A new, empty database for one test: its URL (with the password; see
    /// [`Server::url_without_password`]).
    pub fn fresh_database(&self, hint: &str) -> Result<String, String> {
        static N: AtomicU32 = AtomicU32::new(0);
        let clean: String = hint
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .take(40)
            .collect();
        let name = format!("t{}_{clean}", N.fetch_add(1, Ordering::Relaxed));
        let out = self
            .client("createdb")
            .arg(&name)
            .output()
            .map_err(|e| format!("createdb: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "createdb {name}: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(self.url(&name))
    }

    /// `psql` on the database a URL of [`Server::fresh_database`] names (quiet, stopping at
    /// the first error): for a test that holds a session open, a lock say.
    pub fn psql(&self, url: &str) -> Command {
        let db = url.rsplit('/').next().unwrap_or("postgres");
        let mut c = self.client("psql");
        c.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db]);
        c
    }

    /// The certificate authority that signed the server's certificate (for `localhost` and
    /// 127.0.0.1): the root a client with `sslmode=verify-full` is given.
    pub fn certificate(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// Who the server runs as (`postgres` when the tests run as root).
    pub fn os_user(&self) -> Option<&str> {
        self.user.as_deref()
    }
}

impl Drop for Server {
    /// Only servers of their own ([`Server::own`]) are ever dropped; the shared one lives as long
    /// as the process.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-QUIT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// A certificate authority (`ca.crt`, the root a verifying client is given) and the server's
/// certificate for `localhost` and 127.0.0.1 signed by it, made in-process (rcgen); the CA's
/// key is never written, the server's readable only by the server's user.
fn self_signed_cert(dir: &Path, user: &Option<String>) -> Result<(PathBuf, PathBuf), String> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
    let err = |e: rcgen::Error| format!("test certificate: {e}");
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "stackperf-testpg-ca");
    let ca_key = KeyPair::generate().map_err(err)?;
    let ca_cert = ca.self_signed(&ca_key).map_err(err)?;
    let issuer = Issuer::new(ca, ca_key);
    let mut server =
        CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).map_err(err)?;
    server
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let server_key = KeyPair::generate().map_err(err)?;
    let server_cert = server.signed_by(&server_key, &issuer).map_err(err)?;
    let write = |path: &Path, text: String| {
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
    };
    write(&dir.join("ca.crt"), ca_cert.pem())?;
    write(&cert, server_cert.pem())?;
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&key)
            .and_then(|mut f| f.write_all(server_key.serialize_pem().as_bytes()))
            .map_err(|e| format!("{}: {e}", key.display()))?;
    }
    if let Some(u) = user {
        let _ = Command::new("chown")
            .args([
                u.as_str(),
                &key.display().to_string(),
                &cert.display().to_string(),
            ])
            .status();
    }
    Ok((cert, key))
}

/// The server process on `dir`'s data folder, listening on `port`.
fn spawn(dir: &Path, port: u16, bin: &Path, user: &Option<String>) -> Result<Child, String> {
    let (data, cert, key) = (
        dir.join("data"),
        dir.join("server.crt"),
        dir.join("server.key"),
    );
    let mut cmd = as_user(user, &bin.join("postgres"));
    cmd.args(["-D", &data.display().to_string()])
        .args(["-p", &port.to_string()])
        .args(["-k", &dir.display().to_string()])
        .args(["-c", "listen_addresses=127.0.0.1"])
        // A test server: nothing to keep through a power cut.
        .args([
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ])
        .args(["-c", "max_connections=200"])
        // TLS as a team's server offers it (clients' `sslmode` decides whether it is used).
        .args(["-c", "ssl=on"])
        .arg("-c")
        .arg(format!("ssl_cert_file={}", cert.display()))
        .arg("-c")
        .arg(format!("ssl_key_file={}", key.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("server.log"))
                .map(Stdio::from)
                .unwrap_or_else(|_| Stdio::null()),
        );
    cmd.spawn().map_err(|e| format!("postgres: {e}"))
}

/// `program` run as `user` (when given), ended by SIGQUIT (PostgreSQL's immediate shutdown)
/// when the test process ends.
fn as_user(user: &Option<String>, program: &Path) -> Command {
    let mut c = Command::new("setpriv");
    if let Some(u) = user {
        c.args(["--reuid", u, "--regid", u, "--init-groups"]);
    }
    c.args(["--pdeathsig", "SIGQUIT", "--"]).arg(program);
    c
}
