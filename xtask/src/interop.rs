//! `cargo xtask interop`: `echo-appservice` against a real Synapse on loopback.
//!
//! In order: install Synapse into a virtualenv under the target directory when missing
//! (`<target>/interop/venv`, `python3 -m venv` + `pip install matrix-synapse==SYNAPSE_VERSION`);
//! build `echo-appservice` and the `identity_check` example of `appservice-client`; write a
//! throwaway run directory `<target>/interop/run-<time>/` (a fresh registration with fresh tokens,
//! the Synapse config with SQLite and one loopback listener, a signing key); start Synapse and wait
//! for `/_matrix/client/versions`; start the echo and wait for `/_matrix/mau/live`; run the
//! scenario driver (`xtask/interop/scenarios.py`, Python stdlib only, with the venv's python); stop
//! everything. The driver prints one line per scenario and `N passed, N failed`; on a failure the
//! tails of the logs are printed too. Every log stays in the run directory (the last few runs are
//! kept).
//!
//! The driver restarts the echo (scenarios 6 and 7) through a line protocol: it prints
//! `@control echo stop|kill|start [fail=N]` on its stdout and reads `ok` or `error: …` on its
//! stdin. So every child process is owned here.
//!
//! Cleanup: [`Children`] kills every child on drop (success, error and panic). A Ctrl-C in a
//! terminal goes to the whole foreground process group, and the children stay in it (no
//! `process_group`), so Synapse, the echo and the driver get the SIGINT too and stop on their
//! own even though this process dies without running destructors. No signal handler is
//! installed (that would need `unsafe` or a new dependency).

use std::{
    fs::{self},
    net::{Ipv4Addr, TcpListener},
    path::{Path, PathBuf},
    process::{Command, ExitCode, Stdio},
    time::{Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context as _, Result, ensure};

mod children;
mod replicas;
mod webhook;

use self::children::{Children, Paths};
use appservice_types::{
    Registration,
    generate::{NewRegistration, generate_token, write_private_file, write_registration},
};

use crate::{cargo, project_root};

/// The Synapse release the scenarios are written against (`../shared/research/synapse-behaviour.md`).
pub(crate) const SYNAPSE_VERSION: &str = "1.163.2";
/// The appservice `id` of the echo registration.
const AS_ID: &str = "echo";
/// The server name of the throwaway homeserver.
const SERVER_NAME: &str = "localhost";
/// How many run directories to keep (the newest ones).
const KEEP_RUNS: usize = 5;
/// Lines of each log printed on failure.
const TAIL_LINES: usize = 40;

/// Entry point of `cargo xtask interop`.
pub(crate) fn run() -> Result<ExitCode> {
    let started = Instant::now();
    let root = project_root()?;
    let target = target_dir(&root)?;
    let interop = target.join("interop");
    fs::create_dir_all(&interop).with_context(|| format!("cannot create {}", interop.display()))?;

    let python = ensure_venv(&interop.join("venv"))?;
    build(&root)?;
    let echo_bin = target.join("debug").join("echo-appservice");
    let webhook_bin = target.join("debug").join("webhook-bridge");
    let identity_check = target.join("debug").join("examples").join("identity_check");

    let run_dir = new_run_dir(&interop)?;
    println!("==> interop: run directory {}", run_dir.display());
    let [hs_port, as_port, webhook_port] = free_ports()?;
    let hs_url = format!("http://127.0.0.1:{hs_port}");
    let as_url = format!("http://127.0.0.1:{as_port}");
    let webhook_url = format!("http://127.0.0.1:{webhook_port}");
    let registration_file = run_dir.join("echo.yaml");
    let as_token = write_registration_file(&registration_file, &echo_registration(&as_url)?)?;
    let webhook_registration = run_dir.join("webhook.yaml");
    write_registration_file(&webhook_registration, &webhook::registration(&webhook_url)?)?;
    let shared_secret = generate_token()?.expose().to_owned();
    let registrations = [registration_file.as_path(), webhook_registration.as_path()];
    write_synapse_config(&python, &run_dir, hs_port, &registrations, &shared_secret)?;

    let mut children = Children::new(Paths {
        run_dir: run_dir.clone(),
        echo_bin,
        registration: registration_file,
        hs_url,
        as_url,
        webhook: children::WebhookPaths {
            bin: webhook_bin,
            registration: webhook_registration,
            url: webhook_url,
            token: generate_token()?.expose().to_owned(),
        },
    });
    let outcome = (|| -> Result<bool> {
        children.start_synapse(&python)?;
        children.start_echo(0)?;
        children.start_webhook()?;
        children.run_driver(&python, &root, &as_token, &shared_secret, &identity_check)
    })();
    children.stop_all();
    let passed = match outcome {
        Ok(passed) => passed,
        Err(e) => {
            print_tails(&run_dir);
            return Err(e.context(format!("interop failed; logs in {}", run_dir.display())));
        }
    };
    if !passed {
        print_tails(&run_dir);
    }
    println!(
        "==> interop: {} in {:.1} s; logs in {}",
        if passed { "passed" } else { "FAILED" },
        started.elapsed().as_secs_f64(),
        run_dir.display()
    );
    Ok(if passed { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// `$CARGO_TARGET_DIR` (relative to the current directory, as cargo reads it), else
/// `<root>/target`.
fn target_dir(root: &Path) -> Result<PathBuf> {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => Ok(std::env::current_dir()?.join(dir)),
        _ => Ok(root.join("target")),
    }
}

/// The venv's python, after installing Synapse into `venv` unless it is importable already.
fn ensure_venv(venv: &Path) -> Result<PathBuf> {
    let python = venv.join("bin").join("python");
    let check = format!(
        // Inside a git checkout Synapse appends the checkout's branch and commit to its version
        // (`1.163.2 (b=main,ad17380)`): compare the first word.
        "import synapse, signedjson.key, sys; \
         sys.exit(0 if synapse.__version__.split()[0] == '{SYNAPSE_VERSION}' else 1)"
    );
    let installed = |python: &Path| {
        Command::new(python)
            .args(["-c", &check])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if installed(&python) {
        println!("==> interop: Synapse {SYNAPSE_VERSION} found in {}", venv.display());
        return Ok(python);
    }
    let started = Instant::now();
    if !python.exists() {
        println!("==> interop: python3 -m venv {}", venv.display());
        let status = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(venv)
            .status()
            .context("cannot run python3 (is Python 3 installed?)")?;
        ensure!(status.success(), "python3 -m venv {} failed ({status})", venv.display());
    }
    let spec = format!("matrix-synapse=={SYNAPSE_VERSION}");
    println!("==> interop: pip install {spec} (about a minute the first time)");
    let status = Command::new(&python)
        .args(["-m", "pip", "install", "--progress-bar", "off", &spec])
        .status()
        .context("cannot run pip")?;
    ensure!(status.success(), "pip install {spec} failed ({status})");
    ensure!(installed(&python), "Synapse is still not importable from {}", python.display());
    println!("==> interop: Synapse installed in {:.1} s", started.elapsed().as_secs_f64());
    Ok(python)
}

/// Builds the echo, the webhook bridge and the typed-error check (`appservice-client`'s
/// `identity_check` example).
fn build(root: &Path) -> Result<()> {
    let args = [
        "build",
        "--quiet",
        "-p",
        "echo-appservice",
        "-p",
        "webhook-bridge",
        "-p",
        "appservice-client",
        "--bin",
        "echo-appservice",
        "--bin",
        "webhook-bridge",
        "--example",
        "identity_check",
    ];
    println!("==> interop: cargo {}", args.join(" "));
    let status = Command::new(cargo())
        .current_dir(root)
        .args(args)
        .status()
        .context("cannot run cargo build")?;
    ensure!(status.success(), "cargo build failed ({status})");
    Ok(())
}

/// A new `run-<unix time>` directory; older runs beyond [`KEEP_RUNS`] are removed.
fn new_run_dir(interop: &Path) -> Result<PathBuf> {
    let mut runs: Vec<PathBuf> = fs::read_dir(interop)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("run-")))
        .collect();
    runs.sort();
    let excess = (runs.len() + 1).saturating_sub(KEEP_RUNS);
    for old in runs.iter().take(excess) {
        // Best effort: a leftover directory is only disk space.
        let _ = fs::remove_dir_all(old);
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?;
    let dir = interop.join(format!("run-{}-{:03}", now.as_secs(), now.subsec_millis()));
    fs::create_dir(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// Distinct free loopback ports (Synapse's client listener, the echo, the webhook bridge),
/// found by binding port 0 (all bound at once, so they differ).
fn free_ports<const N: usize>() -> Result<[u16; N]> {
    let listeners: Vec<TcpListener> =
        (0..N).map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0))).collect::<Result<_, _>>()?;
    let mut ports = [0; N];
    for (port, listener) in ports.iter_mut().zip(&listeners) {
        *port = listener.local_addr()?.port();
    }
    Ok(ports)
}

/// The echo registration, with fresh tokens: what `cargo xtask registration generate --id echo
/// --localpart _echo_bot --server-name localhost --prefix _echo_ --receive-ephemeral
/// --rate-limited false` writes.
pub(crate) fn echo_registration(as_url: &str) -> Result<Registration> {
    let mut new = NewRegistration::new(AS_ID, Some(as_url.to_owned()), "_echo_bot");
    new.server_name = Some(SERVER_NAME.to_owned());
    new.prefixes.push("_echo_".to_owned());
    let mut registration = new.build()?;
    registration.receive_ephemeral = Some(true);
    registration.rate_limited = Some(false);
    Ok(registration)
}

/// Writes a registration (mode 0600) after checking it has no diagnostic at all; returns its
/// `as_token` (the driver acts as the echo's appservice with it).
fn write_registration_file(path: &Path, registration: &Registration) -> Result<String> {
    let problems: Vec<String> = registration
        .check(&appservice_types::CheckOptions::new().server_name(SERVER_NAME))
        .iter()
        .map(ToString::to_string)
        .collect();
    // Not one warning, on any homeserver profile: what `generate --prefix` writes is clean.
    ensure!(problems.is_empty(), "{} has problems: {}", path.display(), problems.join("; "));
    write_registration(path, registration, false)?;
    Ok(registration.as_token.expose().to_owned())
}

/// `homeserver.yaml`, `log.config` and the signing key (generated with `signedjson`, which
/// saves Synapse a `--generate-keys` start).
fn write_synapse_config(
    python: &Path,
    run_dir: &Path,
    port: u16,
    registrations: &[&Path],
    shared_secret: &str,
) -> Result<()> {
    let dir = run_dir.display();
    let key = run_dir.join("localhost.signing.key");
    let script = "import sys, signedjson.key as k\n\
                  with open(sys.argv[1], 'w') as f:\n    \
                  k.write_signing_keys(f, [k.generate_signing_key('a_interop')])\n";
    let status = Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(&key)
        .status()
        .context("cannot run the venv's python")?;
    ensure!(status.success(), "generating the signing key failed ({status})");
    let log_config = format!(
        "version: 1\n\
         formatters:\n  precise:\n    format: '%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s'\n\
         handlers:\n  file:\n    class: logging.FileHandler\n    formatter: precise\n    filename: {dir}/synapse.log\n    filters: [context]\n\
         filters:\n  context:\n    (): synapse.logging.context.LoggingContextFilter\n    request: \"\"\n\
         loggers:\n  synapse.storage.SQL:\n    level: WARNING\n  twisted:\n    level: WARNING\n\
         root:\n  level: INFO\n  handlers: [file]\n\
         disable_existing_loggers: false\n"
    );
    fs::write(run_dir.join("log.config"), log_config)?;
    let (macaroon, form) = (generate_token()?, generate_token()?);
    let (macaroon, form) = (macaroon.expose(), form.expose());
    let rate = "{per_second: 1000, burst_count: 1000}";
    let config = format!(
        "# Throwaway config of `cargo xtask interop`.\n\
         server_name: \"{SERVER_NAME}\"\n\
         pid_file: \"{dir}/homeserver.pid\"\n\
         public_baseurl: \"http://127.0.0.1:{port}/\"\n\
         listeners:\n  - port: {port}\n    bind_addresses: ['127.0.0.1']\n    type: http\n    tls: false\n    x_forwarded: false\n    resources:\n      - names: [client]\n        compress: false\n\
         database:\n  name: sqlite3\n  args:\n    database: \"{dir}/homeserver.db\"\n\
         log_config: \"{dir}/log.config\"\n\
         media_store_path: \"{dir}/media_store\"\n\
         signing_key_path: \"{key}\"\n\
         trusted_key_servers: []\n\
         suppress_key_server_warning: true\n\
         report_stats: false\n\
         enable_metrics: false\n\
         enable_registration: false\n\
         registration_shared_secret: \"{shared_secret}\"\n\
         macaroon_secret_key: \"{macaroon}\"\n\
         form_secret: \"{form}\"\n\
         presence:\n  enabled: false\n\
         url_preview_enabled: false\n\
         app_service_config_files:\n{registrations}\
         rc_message: {rate}\n\
         rc_registration: {rate}\n\
         rc_login:\n  address: {rate}\n  account: {rate}\n  failed_attempts: {rate}\n\
         rc_joins:\n  local: {rate}\n  remote: {rate}\n\
         rc_invites:\n  per_room: {rate}\n  per_user: {rate}\n  per_issuer: {rate}\n\
         rc_admin_redaction: {rate}\n",
        key = key.display(),
        registrations = registrations
            .iter()
            .map(|path| format!("  - \"{}\"\n", path.display()))
            .collect::<String>(),
    );
    let path = run_dir.join("homeserver.yaml");
    write_private_file(&path, config.as_bytes(), false)?;
    Ok(())
}

/// Prints the last lines of each log of the run.
fn print_tails(run_dir: &Path) {
    for name in ["synapse.log", "synapse.out", "echo.log", "webhook.log"] {
        let path = run_dir.join(name);
        let Ok(text) = fs::read_to_string(&path) else { continue };
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.len().saturating_sub(TAIL_LINES);
        println!("---- last {} lines of {} ----", lines.len() - start, path.display());
        for line in &lines[start..] {
            println!("{line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_echo_registration_is_valid_and_exclusive() {
        let registration = echo_registration("http://127.0.0.1:9").unwrap();
        let options = appservice_types::CheckOptions::new().server_name(SERVER_NAME);
        let diagnostics = registration.check(&options);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        assert_eq!(registration.receive_ephemeral, Some(true));
        let yaml = registration.to_yaml().unwrap();
        assert!(yaml.contains("^@_echo_.*") && yaml.contains("^#_echo_.*"), "{yaml}");
        assert!(!yaml.contains("exclusive: false"), "{yaml}");
    }

    #[test]
    fn free_ports_differ() {
        let [a, b, c] = free_ports().unwrap();
        assert!(a != b && b != c && a != c, "{a} {b} {c}");
    }

    #[test]
    fn the_webhook_registration_is_valid_and_exclusive() {
        let registration = webhook::registration("http://127.0.0.1:9").unwrap();
        let options = appservice_types::CheckOptions::new().server_name(SERVER_NAME);
        assert!(registration.check(&options).is_empty());
        let yaml = registration.to_yaml().unwrap();
        assert!(yaml.contains("^@_webhook_.*") && yaml.contains("^#_webhook_.*"), "{yaml}");
    }
}
