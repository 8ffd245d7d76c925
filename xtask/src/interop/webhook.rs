//! The webhook bridge (`examples/webhook`) in the interop run: its registration, beside the
//! echo's in Synapse's `app_service_config_files`, and its process (scenario 12).

use std::{
    path::Path,
    process::{Child, Command, Stdio},
};

use anyhow::{Context as _, Result};
use appservice_types::{Registration, generate::NewRegistration};

use super::SERVER_NAME;

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

/// Spawns `webhook-bridge` (SQLite beside its registration in the run directory, the webhook
/// token in `WEBHOOK_TOKEN`), logging to `log`.
pub(super) fn spawn(
    bin: &Path,
    registration: &Path,
    hs_url: &str,
    token: &str,
    log: std::fs::File,
) -> Result<Child> {
    Command::new(bin)
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
        .with_context(|| format!("cannot start {}", bin.display()))
}
