//! [`run`]: the echo's start-up on the library's builder, and its configuration.

use std::{future::Future, sync::Arc};

use anyhow::{Context as _, anyhow};
use appservice::{Builder, ErrorKind, ruma_common::OwnedServerName};
use appservice_dispatch::{DispatchConfig, Dispatcher, Handler, RoomConcurrency, TransactionStore};
use appservice_fs_store::FileStore;
use appservice_tower::{Appservice, AppserviceConfig, HealthPaths};
use appservice_types::ValidatedRegistration;

use crate::{Args, EchoHandler};

/// The environment variable of the [`EchoHandler::fail_first_events`] test hook.
pub const FAIL_TRANSACTIONS_ENV: &str = "ECHO_FAIL_TRANSACTIONS";

/// The dispatcher configuration of the echo: events of different rooms are handled
/// concurrently (each room in order), so one slow room does not hold back the others.
pub fn dispatcher_config() -> DispatchConfig {
    DispatchConfig::new().room_concurrency(RoomConcurrency::PerRoom)
}

/// The HTTP service configuration of the echo: the default timeouts, and the health endpoints
/// `/_matrix/mau/live` and `/_matrix/mau/ready`.
pub fn service_config() -> AppserviceConfig {
    AppserviceConfig::new().health(HealthPaths::default())
}

/// The echo's HTTP service: `handler` (an [`EchoHandler`], possibly with hooks) behind a
/// dispatcher with [`dispatcher_config`] and `store`, with [`service_config`].
pub fn appservice<H: Handler, S: TransactionStore>(
    registration: ValidatedRegistration,
    handler: H,
    store: S,
) -> Appservice {
    let dispatcher = Dispatcher::with_store(registration, handler, store, dispatcher_config());
    Appservice::with_config(dispatcher, service_config())
}

/// Runs the appservice until `shutdown` completes, then shuts down gracefully (in-flight
/// transactions finish and are recorded, for at most 30 s).
///
/// The start-up is the library's ([`appservice::Builder`]): the registration (warnings
/// logged), the server name (`--server-name`, else `whoami` of the bot), the store
/// (`--store DIR`: `FileStore`; else `--database URL`, default SQLite beside the registration),
/// the bot user, the listen address (`--listen`, else the registration's `url`); then
/// [`appservice::Bridge::run`] serves, pings the homeserver and drains on shutdown.
pub async fn run(
    args: Args,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let mut builder = Builder::from_file(&args.registration, &args.homeserver)?
        .dispatch_config(dispatcher_config())
        .service_config(service_config());
    if let Some(address) = args.listen {
        builder = builder.listen(address);
    }
    if let Some(name) = &args.server_name {
        let name = OwnedServerName::try_from(name.as_str())
            .map_err(|e| anyhow!("--server-name {name:?}: {e}"))?;
        builder = builder.server_name(name);
    }
    if let Some(dir) = &args.store {
        let store = FileStore::open(dir)
            .with_context(|| format!("cannot open the transaction store {}", dir.display()))?;
        builder = builder.store(store);
    } else if let Some(url) = &args.database {
        builder = builder.database(url);
    }
    let bridge = builder.start().await.map_err(|e| match e.kind() {
        ErrorKind::ServerName => anyhow!("{e}; pass --server-name NAME"),
        _ => e.into(),
    })?;
    let fail_first = fail_transactions_from_env()?;
    let handler = EchoHandler::new(bridge.client().clone(), bridge.registration().clone())?
        .fail_first_events(fail_first);
    bridge.run(Arc::new(handler), shutdown).await?;
    Ok(())
}

/// `ECHO_FAIL_TRANSACTIONS`: absent or empty is 0.
fn fail_transactions_from_env() -> anyhow::Result<usize> {
    match std::env::var(FAIL_TRANSACTIONS_ENV) {
        Ok(value) if value.trim().is_empty() => Ok(0),
        Ok(value) => {
            let n = value
                .trim()
                .parse()
                .map_err(|e| anyhow!("{FAIL_TRANSACTIONS_ENV}={value:?} is not a count: {e}"))?;
            if n > 0 {
                tracing::warn!(n, "test hook {FAIL_TRANSACTIONS_ENV}: the first event calls fail");
            }
            Ok(n)
        }
        Err(std::env::VarError::NotPresent) => Ok(0),
        Err(e) => Err(anyhow!("{FAIL_TRANSACTIONS_ENV}: {e}")),
    }
}
