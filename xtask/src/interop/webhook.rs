//! The webhook bridge (`examples/webhook`) in the interop run: its registration, beside the
//! echo's in Synapse's `app_service_config_files`, and its process (scenario 12).

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::{Context as _, Result, bail};
use appservice_types::{Registration, generate::NewRegistration};

use super::{
    SERVER_NAME,
    children::{http_get_status, socket_addr, wait_until},
};

/// The webhook bridge's registration, with fresh tokens: `--id webhook --localpart
/// _webhook_bot --prefix _webhook_`.
pub(crate) fn registration(url: &str) -> Result<Registration> {
    let mut new = NewRegistration::new("webhook", Some(url.to_owned()), "_webhook_bot");
    new.server_name = Some(SERVER_NAME.to_owned());
    new.prefixes.push("_webhook_".to_owned());
    let mut registration = new.build()?;
    registration.rate_limited = Some(false);
    Ok(registration)
}

/// Starts `webhook-bridge` (SQLite beside its registration in the run directory, the webhook
/// token in `WEBHOOK_TOKEN`) and waits until `/_matrix/mau/live` answers 200.
pub(super) fn start(
    bin: &Path,
    registration: &Path,
    hs_url: &str,
    url: &str,
    token: &str,
    log: std::fs::File,
) -> Result<Child> {
    let mut child = Command::new(bin)
        .arg("--registration")
        .arg(registration)
        .args(["--homeserver", hs_url, "--server-name", SERVER_NAME])
        .env("WEBHOOK_TOKEN", token)
        .env("RUST_LOG", "webhook_bridge=debug,appservice=debug,info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot start {}", bin.display()))?;
    println!("==> interop: webhook-bridge on {url} (pid {})", child.id());
    let addr = socket_addr(url)?;
    let waited =
        wait_until(Duration::from_secs(30), "the webhook bridge's /_matrix/mau/live", || {
            if let Some(status) = child.try_wait()? {
                bail!("webhook-bridge exited during start-up ({status})");
            }
            Ok(http_get_status(addr, "/_matrix/mau/live") == Some(200))
        });
    if let Err(e) = waited {
        let _ = child.kill();
        let _ = child.wait();
        return Err(e);
    }
    Ok(child)
}
