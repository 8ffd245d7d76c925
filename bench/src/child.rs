//! [`ServerChild`]: a bench server in its own child process (or several replicas of one), which
//! announces its port on stdout and is killed when dropped.

use std::{
    io::{BufRead as _, BufReader},
    process::{Child, Command, Stdio},
};

use anyhow::{Context as _, Result, bail};

use crate::server::Kind;

/// A running bench server: one child process, or several replicas sharing one database.
pub(crate) struct ServerChild {
    pub(crate) kind: Kind,
    pub(crate) label: &'static str,
    pub(crate) child: Child,
    pub(crate) port: u16,
    /// More replicas of the same server (the same database), behind the same label.
    replicas: Vec<ServerChild>,
    _dir: Option<tempfile::TempDir>,
}

impl ServerChild {
    pub(crate) fn spawn(
        kind: Kind,
        base: &std::path::Path,
        alt: Option<&std::path::Path>,
        postgres: Option<&appservice_test_pg::Postgres>,
    ) -> Result<Self> {
        let exe = match alt {
            Some(alt) => alt.to_path_buf(),
            None => std::env::current_exe()?,
        };
        let label = if alt.is_some() { "alt-memory" } else { kind.name() };
        let mut command = Command::new(exe);
        command.arg("server").arg(kind.name());
        let dir = if kind.needs_dir() {
            let dir = tempfile::tempdir_in(base)?;
            if kind == Kind::OursFile {
                command.arg(dir.path().join("store"));
            } else {
                command.arg(dir.path());
            }
            Some(dir)
        } else {
            None
        };
        if kind.needs_postgres() {
            let pg = postgres.context("PostgreSQL is not running")?;
            command.arg(pg.create_db(&kind.name().replace('-', "_")));
        }
        Self::start(kind, label, command, dir)
    }

    /// `n` replicas of `kind` (a PostgreSQL server) sharing one new database, as `label`.
    pub(crate) fn spawn_replicas(
        kind: Kind,
        label: &'static str,
        n: usize,
        postgres: &appservice_test_pg::Postgres,
    ) -> Result<Self> {
        let url = postgres.create_db(&label.replace('-', "_"));
        let mut all = Vec::new();
        for _ in 0..n {
            let mut command = Command::new(std::env::current_exe()?);
            command.arg("server").arg(kind.name()).arg(&url);
            all.push(Self::start(kind, label, command, None)?);
        }
        let mut first = all.remove(0);
        first.replicas = all;
        Ok(first)
    }

    fn start(
        kind: Kind,
        label: &'static str,
        mut command: Command,
        dir: Option<tempfile::TempDir>,
    ) -> Result<Self> {
        let mut child = command.stdin(Stdio::null()).stdout(Stdio::piped()).spawn()?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let Some(port) = line.trim().strip_prefix("PORT ").and_then(|p| p.parse().ok()) else {
            let _ = child.kill();
            bail!("server {} did not announce its port (got {line:?})", kind.name());
        };
        Ok(Self { kind, label, child, port, replicas: Vec::new(), _dir: dir })
    }

    pub(crate) fn ports(&self) -> Vec<u16> {
        std::iter::once(self.port).chain(self.replicas.iter().map(|r| r.port)).collect()
    }

    pub(crate) fn pids(&self) -> Vec<u32> {
        std::iter::once(self.child.id()).chain(self.replicas.iter().map(|r| r.child.id())).collect()
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        // Only our own child, by its handle.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
