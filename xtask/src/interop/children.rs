//! The child processes of an interop run (Synapse, the echo, the webhook bridge, the scenario
//! driver), owned by
//! [`Children`], which kills them all on drop; and the small loopback helpers that wait for them.

use std::{
    fs::{File, OpenOptions},
    io::{BufRead as _, BufReader, Read as _, Write as _},
    net::{SocketAddr, TcpStream},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, anyhow, bail, ensure};

use super::{AS_ID, SERVER_NAME, SYNAPSE_VERSION, replicas::Replicas};

/// Where things are, for [`Children`].
pub(super) struct Paths {
    pub(super) run_dir: PathBuf,
    pub(super) echo_bin: PathBuf,
    pub(super) registration: PathBuf,
    pub(super) hs_url: String,
    pub(super) as_url: String,
    pub(super) webhook: WebhookPaths,
}

/// The webhook bridge's binary, registration, URL and webhook token.
pub(super) struct WebhookPaths {
    pub(super) bin: PathBuf,
    pub(super) registration: PathBuf,
    pub(super) url: String,
    pub(super) token: String,
}

/// The child processes; every one still running is killed on drop.
pub(super) struct Children {
    paths: Paths,
    synapse: Option<Child>,
    echo: Option<Child>,
    echo_starts: u32,
    webhook: Option<Child>,
    driver: Option<Child>,
    replicas: Option<Replicas>,
}

impl Children {
    pub(super) fn new(paths: Paths) -> Self {
        Self {
            paths,
            synapse: None,
            echo: None,
            echo_starts: 0,
            webhook: None,
            driver: None,
            replicas: None,
        }
    }

    fn log_file(&self, name: &str) -> Result<File> {
        let path = self.paths.run_dir.join(name);
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))
    }

    /// Starts Synapse and waits until `/_matrix/client/versions` answers 200.
    pub(super) fn start_synapse(&mut self, python: &Path) -> Result<()> {
        let started = Instant::now();
        let out = self.log_file("synapse.out")?;
        let child = Command::new(python)
            .args(["-m", "synapse.app.homeserver", "-c"])
            .arg(self.paths.run_dir.join("homeserver.yaml"))
            .current_dir(&self.paths.run_dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .context("cannot start Synapse")?;
        println!(
            "==> interop: Synapse {SYNAPSE_VERSION} on {} (pid {})",
            self.paths.hs_url,
            child.id()
        );
        self.synapse = Some(child);
        let addr = socket_addr(&self.paths.hs_url)?;
        let path = "/_matrix/client/versions";
        wait_until_serving(&mut self.synapse, "Synapse", addr, path, Duration::from_secs(60))?;
        println!("==> interop: Synapse ready in {:.1} s", started.elapsed().as_secs_f64());
        Ok(())
    }

    /// Starts the echo (with `ECHO_FAIL_TRANSACTIONS=fail`) on the same database as before and
    /// waits until `/_matrix/mau/live` answers 200.
    pub(super) fn start_echo(&mut self, fail: u32) -> Result<()> {
        ensure!(self.echo.is_none(), "the echo is already running");
        self.echo_starts += 1;
        let mut log = self.log_file("echo.log")?;
        writeln!(
            log,
            "==== interop: echo start #{} (ECHO_FAIL_TRANSACTIONS={fail}) ====",
            self.echo_starts
        )?;
        let child = Command::new(&self.paths.echo_bin)
            .arg("--registration")
            .arg(&self.paths.registration)
            .args(["--homeserver", &self.paths.hs_url])
            // The default backend, SQLite, at a known path (interop scenario "SQLite default").
            .arg("--database")
            .arg(format!("sqlite://{}", self.paths.run_dir.join("echo.db").display()))
            .args(["--server-name", SERVER_NAME])
            .env("RUST_LOG", "echo_appservice=debug,info")
            .env("NO_COLOR", "1")
            .env("ECHO_FAIL_TRANSACTIONS", fail.to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", self.paths.echo_bin.display()))?;
        println!(
            "==> interop: echo-appservice on {} (pid {}, start #{}, ECHO_FAIL_TRANSACTIONS={fail})",
            self.paths.as_url,
            child.id(),
            self.echo_starts
        );
        self.echo = Some(child);
        let addr = socket_addr(&self.paths.as_url)?;
        let path = "/_matrix/mau/live";
        wait_until_serving(&mut self.echo, "echo-appservice", addr, path, Duration::from_secs(30))
    }

    /// Starts the webhook bridge (see [`super::webhook::spawn`]) and waits until
    /// `/_matrix/mau/live` answers 200.
    pub(super) fn start_webhook(&mut self) -> Result<()> {
        let log = self.log_file("webhook.log")?;
        let w = &self.paths.webhook;
        let addr = socket_addr(&w.url)?;
        let child =
            super::webhook::spawn(&w.bin, &w.registration, &self.paths.hs_url, &w.token, log)?;
        println!("==> interop: webhook-bridge on {} (pid {})", w.url, child.id());
        self.webhook = Some(child);
        let path = "/_matrix/mau/live";
        wait_until_serving(&mut self.webhook, "webhook-bridge", addr, path, Duration::from_secs(30))
    }

    /// Stops the echo: SIGTERM (graceful: in-flight transactions finish) or SIGKILL.
    fn stop_echo(&mut self, kill: bool) -> Result<()> {
        let mut child = self.echo.take().context("the echo is not running")?;
        if kill {
            child.kill().context("cannot SIGKILL the echo")?;
            child.wait()?;
            println!("==> interop: echo-appservice killed (SIGKILL)");
        } else {
            terminate(&mut child, Duration::from_secs(35))?;
            println!("==> interop: echo-appservice stopped (SIGTERM)");
        }
        Ok(())
    }

    /// Runs the driver to its end, serving its `@control` requests; whether it passed.
    pub(super) fn run_driver(
        &mut self,
        python: &Path,
        root: &Path,
        as_token: &str,
        shared_secret: &str,
        identity_check: &Path,
    ) -> Result<bool> {
        let script = root.join("xtask").join("interop").join("scenarios.py");
        let mut log = self.log_file("driver.log")?;
        let mut child = Command::new(python)
            .arg("-u")
            .arg(&script)
            .env("INTEROP_HS_URL", &self.paths.hs_url)
            .env("INTEROP_AS_URL", &self.paths.as_url)
            .env("INTEROP_AS_ID", AS_ID)
            .env("INTEROP_AS_TOKEN", as_token)
            .env("INTEROP_SHARED_SECRET", shared_secret)
            .env("INTEROP_SERVER_NAME", SERVER_NAME)
            .env("INTEROP_ECHO_LOG", self.paths.run_dir.join("echo.log"))
            .env("INTEROP_SYNAPSE_LOG", self.paths.run_dir.join("synapse.log"))
            .env("INTEROP_IDENTITY_CHECK", identity_check)
            .env("INTEROP_WEBHOOK_URL", &self.paths.webhook.url)
            .env("INTEROP_WEBHOOK_TOKEN", &self.paths.webhook.token)
            .env(
                "INTEROP_REPLICA_LOGS",
                (0..super::replicas::REPLICAS)
                    .map(|n| {
                        self.paths.run_dir.join(format!("replica-{n}.log")).display().to_string()
                    })
                    .collect::<Vec<_>>()
                    .join(","),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", script.display()))?;
        let stdout = child.stdout.take().context("the driver has no stdout")?;
        let mut stdin = child.stdin.take().context("the driver has no stdin")?;
        self.driver = Some(child);
        for line in BufReader::new(stdout).lines() {
            let line = line.context("reading the driver's output")?;
            writeln!(log, "{line}")?;
            match line.strip_prefix("@control ") {
                Some(request) => {
                    let answer = match self.control(request) {
                        Ok(()) => "ok".to_owned(),
                        Err(e) => format!("error: {e:#}"),
                    };
                    writeln!(log, "@answer {answer}")?;
                    reply(&mut stdin, &answer)?;
                }
                None => println!("{line}"),
            }
        }
        let status = self.driver.take().context("the driver is gone")?.wait()?;
        Ok(status.success())
    }

    /// One `@control` request of the driver.
    fn control(&mut self, request: &str) -> Result<()> {
        let words: Vec<&str> = request.split_whitespace().collect();
        match words.as_slice() {
            ["echo", "stop"] => self.stop_echo(false),
            ["echo", "kill"] => self.stop_echo(true),
            ["echo", "start"] => self.start_echo(0),
            ["echo", "start", fail] => {
                let n = fail.strip_prefix("fail=").and_then(|n| n.parse().ok());
                self.start_echo(n.with_context(|| format!("bad start option `{fail}`"))?)
            }
            ["replicas", "start"] => {
                ensure!(self.echo.is_none(), "stop the single echo first (it holds the url)");
                ensure!(self.replicas.is_none(), "the replicas are already running");
                self.replicas = Some(Replicas::start(&self.paths)?);
                Ok(())
            }
            ["replica", action, n] => {
                let n: usize = n.parse().with_context(|| format!("bad replica number `{n}`"))?;
                let replicas = self.replicas.as_mut().context("the replicas are not running")?;
                match *action {
                    "kill" => replicas.kill_replica(n),
                    "start" => replicas.start_replica(&self.paths, n),
                    _ => bail!("unknown replica action `{action}`"),
                }
            }
            ["postgres", "restart"] => {
                self.replicas.as_mut().context("the replicas are not running")?.restart_postgres()
            }
            _ => bail!("unknown control request `{request}`"),
        }
    }

    /// Stops every child still running: the driver and the echo first, Synapse last.
    pub(super) fn stop_all(&mut self) {
        if let Some(mut replicas) = self.replicas.take() {
            replicas.stop();
        }
        for (name, child) in [
            ("driver", self.driver.take()),
            ("echo", self.echo.take()),
            ("webhook bridge", self.webhook.take()),
            ("Synapse", self.synapse.take()),
        ] {
            if let Some(mut child) = child
                && let Err(e) = terminate(&mut child, Duration::from_secs(10))
            {
                eprintln!("warning: stopping {name} (pid {}): {e:#}", child.id());
            }
        }
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// Writes one answer line to the driver.
pub(super) fn reply(stdin: &mut ChildStdin, answer: &str) -> Result<()> {
    writeln!(stdin, "{answer}").and_then(|()| stdin.flush()).context("answering the driver")
}

/// SIGTERM (through `kill`, since std only sends SIGKILL), then SIGKILL after `grace`.
pub(super) fn terminate(child: &mut Child, grace: Duration) -> Result<()> {
    if child.try_wait()?.is_some() {
        return Ok(());
    }
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if sent {
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if child.try_wait()?.is_some() {
                return Ok(());
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
    child.kill()?;
    child.wait()?;
    Ok(())
}

/// Polls `ready` every 100 ms until it says yes, fails or `limit` passes.
pub(super) fn wait_until(
    limit: Duration,
    what: &str,
    mut ready: impl FnMut() -> Result<bool>,
) -> Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        if ready()? {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("{what} did not answer within {} s", limit.as_secs());
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// Waits (at most `limit`) until `GET path` on `addr` answers 200 while the child in `slot`
/// runs; if the child exits first, empties the slot and fails.
pub(super) fn wait_until_serving(
    slot: &mut Option<Child>,
    name: &str,
    addr: SocketAddr,
    path: &str,
    limit: Duration,
) -> Result<()> {
    wait_until(limit, &format!("{name}'s {path}"), || {
        if let Some(status) = slot.as_mut().map(Child::try_wait).transpose()?.flatten() {
            *slot = None;
            bail!("{name} exited during start-up ({status})");
        }
        Ok(http_get_status(addr, path) == Some(200))
    })
}

/// The address of an `http://127.0.0.1:PORT` URL.
pub(super) fn socket_addr(url: &str) -> Result<SocketAddr> {
    url.strip_prefix("http://")
        .and_then(|rest| rest.parse().ok())
        .ok_or_else(|| anyhow!("not an http://IP:PORT URL: {url}"))
}

/// The status of `GET path` over a fresh connection (HTTP/1.0, so the server closes it), or
/// `None` when nothing answers.
pub(super) fn http_get_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut head = [0_u8; 64];
    let mut len = 0;
    while len < 12 {
        let n = stream.read(&mut head[len..]).ok()?;
        if n == 0 {
            break;
        }
        len += n;
    }
    parse_status_line(head.get(..len)?)
}

/// The status code of an HTTP response's first bytes (`HTTP/1.x NNN …`).
pub(super) fn parse_status_line(head: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(head.get(..12)?).ok()?;
    let code = text.strip_prefix("HTTP/1.")?.get(2..5)?;
    code.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(parse_status_line(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(parse_status_line(b"HTTP/1.0 404 Not Found\r\n"), Some(404));
        assert_eq!(parse_status_line(b"HTTP/1.1 20"), None);
        assert_eq!(parse_status_line(b"SSH-2.0-OpenSSH_9"), None);
    }

    #[test]
    fn socket_addresses() {
        assert_eq!(socket_addr("http://127.0.0.1:8008").unwrap().port(), 8008);
        assert!(socket_addr("https://127.0.0.1:8008").is_err());
        assert!(socket_addr("http://localhost:8008").is_err());
    }
}
