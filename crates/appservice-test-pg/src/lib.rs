//! A real PostgreSQL server for tests and interop runs: Debian's `postgresql` binaries, a
//! cluster in a temporary directory, listening on a loopback port, stopped when dropped. No mock
//! database.
//!
//! ```no_run
//! let pg = appservice_test_pg::Postgres::start();
//! let url = pg.create_db("bridge"); // postgres://appservice@127.0.0.1:PORT/bridge
//! # let _ = url;
//! ```
//!
//! The cluster is copied from a template made once by `initdb` (in the temporary directory). PostgreSQL
//! refuses to run as root: as root, the server runs as `nobody`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test support: a panic is the failure report.

use std::{
    net::TcpListener,
    os::unix::{fs::chown, process::CommandExt},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// The unprivileged user PostgreSQL runs as when the tests run as root.
const NOBODY: u32 = 65534;

/// A running PostgreSQL server.
pub struct Postgres {
    data: PathBuf,
    _dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
    file_size_limit: Option<u64>,
}

impl Postgres {
    /// Starts a new, empty cluster. Panics (a test failure, never a skip) if PostgreSQL is not
    /// installed.
    pub fn start() -> Self {
        Self::start_inner(None)
    }

    /// Starts a new, empty cluster whose server cannot grow any file past `bytes`
    /// (`RLIMIT_FSIZE`, set with util-linux's `prlimit`): a table that would grow past it fails
    /// with `EFBIG` ("could not extend file"), as on a full disk; PostgreSQL ignores `SIGXFSZ`.
    /// Leave room for the 16 MiB write-ahead log segments.
    pub fn start_with_file_size_limit(bytes: u64) -> Self {
        Self::start_inner(Some(bytes))
    }

    fn start_inner(file_size_limit: Option<u64>) -> Self {
        let bin = bin_dir();
        let template = template(&bin);
        let dir = tempfile::tempdir().expect("a temporary directory");
        let data = dir.path().join("data");
        let status = Command::new("cp").arg("-a").arg(&template).arg(&data).status().unwrap();
        assert!(status.success(), "copying the cluster template failed");
        own(dir.path());
        let mut pg = Self { data, _dir: dir, port: 0, child: None, file_size_limit };
        pg.run();
        pg
    }

    /// `postgres://…` for database `db` (made by [`create_db`](Self::create_db)).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://appservice@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates database `db` (with Debian's `createdb`); its URL.
    pub fn create_db(&self, db: &str) -> String {
        let status = Command::new(bin_dir().join("createdb"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "appservice", db])
            .status()
            .expect("running createdb");
        assert!(status.success(), "createdb {db} failed");
        self.url(db)
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server at once (`SIGQUIT`: immediate shutdown, no checkpoint; restart
    /// recovers from the WAL, as after a crash).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg("-QUIT").arg(child.id().to_string()).status();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and data.
    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }

    fn run(&mut self) {
        if self.port == 0 {
            self.port = free_port();
        }
        let postgres = bin_dir().join("postgres");
        let mut cmd = match self.file_size_limit {
            Some(limit) => {
                let mut cmd = Command::new("prlimit");
                cmd.arg(format!("--fsize={limit}:{limit}")).arg("--").arg(postgres);
                cmd
            }
            None => Command::new(postgres),
        };
        cmd.arg("-D").arg(&self.data).arg("-p").arg(self.port.to_string());
        cmd.args(["-c", "listen_addresses=127.0.0.1", "-c", "max_connections=60"]);
        cmd.args(["-c", "shared_buffers=16MB", "-c", "logging_collector=off"]);
        cmd.arg("-k").arg(&self.data);
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        as_unprivileged(&mut cmd);
        self.child = Some(cmd.spawn().expect("starting postgres"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "postgres did not listen within 30 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        // Listening is not yet accepting logins (recovery may run): wait for pg_isready.
        loop {
            let ready = Command::new(bin_dir().join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                break;
            }
            assert!(Instant::now() < deadline, "postgres not ready within 30 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether PostgreSQL's binaries are installed (see [`bin_dir`]).
pub fn installed() -> bool {
    std::env::var_os("APPSERVICE_PG_BIN").is_some()
        || std::fs::read_dir("/usr/lib/postgresql").is_ok_and(|mut dir| {
            dir.any(|e| e.is_ok_and(|e| e.path().join("bin/postgres").exists()))
        })
}

/// The directory of the newest installed PostgreSQL's binaries (`APPSERVICE_PG_BIN` wins).
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("APPSERVICE_PG_BIN") {
        return dir.into();
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dir| dir.filter_map(|e| e.ok()).map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    versions.retain(|bin| bin.join("postgres").exists());
    versions.sort();
    versions.pop().expect(
        "PostgreSQL is not installed: these tests run a real server (Debian: apt-get install \
         postgresql; `.ci/run` does), or set APPSERVICE_PG_BIN to its bin directory",
    )
}

/// The cluster every test copies: `initdb` once per machine, into the temporary directory
/// (which the unprivileged user can reach).
fn template(bin: &Path) -> PathBuf {
    let target = std::env::temp_dir().join("appservice-pg-template");
    let version = bin.parent().and_then(|p| p.file_name()).unwrap_or_default().to_owned();
    let template = target.join(version);
    if template.join("PG_VERSION").exists() {
        return template;
    }
    std::fs::create_dir_all(&target).unwrap();
    let staging = target.join(format!("staging-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).unwrap();
    own(&staging);
    let mut cmd = Command::new(bin.join("initdb"));
    cmd.arg("-D").arg(&staging).args(["-U", "appservice", "--auth=trust", "-E", "UTF8"]);
    cmd.args(["--no-sync", "--locale=C"]).stdout(Stdio::null());
    as_unprivileged(&mut cmd);
    let status = cmd.status().expect("running initdb");
    assert!(status.success(), "initdb failed");
    // Another test may have made it meanwhile: then keep theirs.
    if std::fs::rename(&staging, &template).is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    template
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

fn as_unprivileged(cmd: &mut Command) {
    if is_root() {
        cmd.uid(NOBODY).gid(NOBODY);
    }
}

/// Gives `dir` (recursively) to the unprivileged user, when running as root.
fn own(dir: &Path) {
    if is_root() {
        chown(dir, Some(NOBODY), Some(NOBODY)).unwrap();
        let status =
            Command::new("chown").arg("-R").arg(format!("{NOBODY}:{NOBODY}")).arg(dir).status();
        assert!(status.is_ok_and(|s| s.success()));
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
