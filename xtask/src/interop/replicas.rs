//! The replica set-up of the interop run: PostgreSQL (Debian's binaries, through
//! `appservice-test-pg`), two `echo-appservice` replicas on it, and HAProxy (Debian's package)
//! round-robin in front of them on the registration's `url`. Started and changed by the
//! driver's `@control replicas …`, `@control replica kill|start N` and
//! `@control postgres restart`; everything is stopped on drop.

use std::{
    fs::OpenOptions,
    net::{Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::{Context as _, Result, ensure};
use appservice_test_pg::Postgres;

use super::{
    SERVER_NAME,
    children::{Paths, socket_addr, terminate, wait_until_serving},
};

/// The number of replicas behind the balancer.
pub(super) const REPLICAS: usize = 2;

/// PostgreSQL, the replicas and HAProxy.
pub(super) struct Replicas {
    postgres: Postgres,
    database: String,
    ports: [u16; REPLICAS],
    replicas: [Option<Child>; REPLICAS],
    haproxy: Option<Child>,
}

impl Replicas {
    /// Starts PostgreSQL, the replicas on it and HAProxy on the registration's `url`, and waits
    /// until the `url` answers `/_matrix/mau/ready` through the balancer.
    pub(super) fn start(paths: &Paths) -> Result<Self> {
        let postgres = Postgres::start();
        let database = postgres.create_db("echo");
        println!("==> interop: PostgreSQL on 127.0.0.1:{}", postgres.port());
        let ports = super::free_ports::<REPLICAS>()?;
        let mut set = Self { postgres, database, ports, replicas: [None, None], haproxy: None };
        for n in 0..REPLICAS {
            set.start_replica(paths, n)?;
        }
        set.start_haproxy(paths)?;
        Ok(set)
    }

    /// Starts replica `n` and waits until it is ready (its database answers).
    pub(super) fn start_replica(&mut self, paths: &Paths, n: usize) -> Result<()> {
        ensure!(n < REPLICAS, "no replica {n}");
        ensure!(self.replicas[n].is_none(), "replica {n} is already running");
        let log = append(&paths.run_dir.join(format!("replica-{n}.log")))?;
        let child = Command::new(&paths.echo_bin)
            .arg("--registration")
            .arg(&paths.registration)
            .args(["--homeserver", &paths.hs_url, "--server-name", SERVER_NAME])
            .args(["--database", &self.database])
            .args(["--listen", &format!("127.0.0.1:{}", self.ports[n])])
            .env("RUST_LOG", "echo_appservice=debug,info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("cannot start a replica")?;
        println!("==> interop: replica {n} on 127.0.0.1:{} (pid {})", self.ports[n], child.id());
        self.replicas[n] = Some(child);
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.ports[n]));
        let (name, path) = (format!("replica {n}"), "/_matrix/mau/ready");
        wait_until_serving(&mut self.replicas[n], &name, addr, path, Duration::from_secs(30))
    }

    /// SIGKILLs replica `n`.
    pub(super) fn kill_replica(&mut self, n: usize) -> Result<()> {
        let mut child =
            self.replicas.get_mut(n).and_then(Option::take).context("no such replica running")?;
        child.kill().context("cannot SIGKILL the replica")?;
        child.wait()?;
        println!("==> interop: replica {n} killed (SIGKILL)");
        Ok(())
    }

    /// Restarts PostgreSQL at once (immediate shutdown, then recovery), on the same port.
    pub(super) fn restart_postgres(&mut self) -> Result<()> {
        self.postgres.restart();
        println!("==> interop: PostgreSQL restarted (immediate shutdown)");
        Ok(())
    }

    fn start_haproxy(&mut self, paths: &Paths) -> Result<()> {
        let front = socket_addr(&paths.as_url)?;
        let config = paths.run_dir.join("haproxy.cfg");
        std::fs::write(&config, haproxy_config(front, &self.ports))
            .with_context(|| format!("cannot write {}", config.display()))?;
        let log = append(&paths.run_dir.join("haproxy.log"))?;
        let child = Command::new(haproxy_bin()?)
            .arg("-db")
            .arg("-f")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("cannot start HAProxy")?;
        println!(
            "==> interop: HAProxy on {front} (pid {}), round-robin over the replicas",
            child.id()
        );
        self.haproxy = Some(child);
        let (name, path) = ("HAProxy (see haproxy.log)", "/_matrix/mau/ready");
        wait_until_serving(&mut self.haproxy, name, front, path, Duration::from_secs(20))
    }

    /// Stops HAProxy, the replicas (SIGTERM: in-flight transactions finish) and PostgreSQL.
    pub(super) fn stop(&mut self) {
        let children = std::iter::once(("HAProxy", self.haproxy.take()))
            .chain(self.replicas.iter_mut().map(|r| ("replica", r.take())));
        for (name, child) in children {
            if let Some(mut child) = child
                && let Err(e) = terminate(&mut child, Duration::from_secs(10))
            {
                eprintln!("warning: stopping {name} (pid {}): {e:#}", child.id());
            }
        }
        self.postgres.stop();
    }
}

impl Drop for Replicas {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Round-robin over the replicas; a replica is in rotation while its `/_matrix/mau/ready`
/// answers 200 (so not while its database is gone); a refused connection is retried on the
/// other one.
fn haproxy_config(front: SocketAddr, ports: &[u16]) -> String {
    let mut config = format!(
        "global\n    maxconn 256\n\n\
         defaults\n    mode http\n    timeout connect 2s\n    timeout client 90s\n    \
         timeout server 90s\n    retries 3\n    option redispatch\n\n\
         frontend appservice\n    bind {front}\n    default_backend replicas\n\n\
         backend replicas\n    balance roundrobin\n    option httpchk GET /_matrix/mau/ready\n    \
         http-check expect status 200\n    default-server inter 300ms fall 2 rise 2\n"
    );
    for (n, port) in ports.iter().enumerate() {
        config.push_str(&format!("    server replica{n} 127.0.0.1:{port} check\n"));
    }
    config
}

fn haproxy_bin() -> Result<PathBuf> {
    ["/usr/sbin/haproxy", "/usr/bin/haproxy", "/usr/local/sbin/haproxy"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .context("HAProxy is not installed (Debian: apt-get install haproxy; .ci/run does)")
}

fn append(path: &Path) -> Result<std::fs::File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_balancer_checks_readiness_and_lists_every_replica() {
        let config = haproxy_config(SocketAddr::from((Ipv4Addr::LOCALHOST, 8009)), &[1, 2]);
        assert!(config.contains("bind 127.0.0.1:8009"));
        assert!(config.contains("option httpchk GET /_matrix/mau/ready"));
        assert!(config.contains("server replica0 127.0.0.1:1 check"));
        assert!(config.contains("server replica1 127.0.0.1:2 check"));
    }
}
