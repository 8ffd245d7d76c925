//! [`run`]: start-up, serving, the start-up ping, shutdown.

use std::{future::Future, net::SocketAddr, path::Path, sync::Arc, time::Duration};

use anyhow::{Context as _, anyhow, bail};
use appservice_client::{
    Client, HyperTransport, Identity, RegisterOutcome, RetryPolicy,
    ruma_client_api::account::whoami, ruma_common::OwnedServerName,
};
use appservice_dispatch::{
    DispatchConfig, Dispatcher, Handler, Hooked, RoomConcurrency, TransactionStore,
};
use appservice_fs_store::FileStore;
use appservice_sql::{Backend, SqlConfig, SqlStore, TrackMembership};
use appservice_tower::{Appservice, AppserviceConfig, HealthPaths, ServeConfig, serve_with};
use appservice_types::ValidatedRegistration;
use tokio::net::TcpListener;

use crate::{Args, EchoHandler, default_database_path};

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

/// Reads and validates the registration file; every error is in the message.
pub fn load_registration(path: &Path) -> anyhow::Result<ValidatedRegistration> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the registration {}", path.display()))?;
    let registration =
        ValidatedRegistration::parse(&text).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    for warning in registration.warnings() {
        tracing::warn!(%warning, "registration");
    }
    Ok(registration)
}

/// Runs the appservice until `shutdown` completes, then shuts down gracefully (in-flight
/// transactions finish and are recorded, for at most 30 s).
///
/// In order: read and validate the registration; find the server name (`--server-name`, else
/// the server of the bot's `whoami`); open the transaction store; listen on the host and port
/// of the registration's `url`; serve; then ping the homeserver
/// (`POST /_matrix/client/v1/appservice/{id}/ping`, retried while the homeserver is starting)
/// and log the round trip once our own ping handler confirmed it. A failed ping is logged, and
/// serving goes on.
pub async fn run(
    args: Args,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let registration = load_registration(&args.registration)?;
    let listen = match args.listen {
        Some(address) => vec![address],
        None => listen_addresses(&registration).await?,
    };
    let server_name = match &args.server_name {
        Some(name) => OwnedServerName::try_from(name.as_str())
            .map_err(|e| anyhow!("--server-name {name:?}: {e}"))?,
        None => discover_server_name(&args.homeserver, &registration).await?,
    };
    let (store, store_name, sql) = open_store(&args, &registration).await?;
    let transport =
        HyperTransport::new().map_err(|e| anyhow!("cannot build the HTTP client: {e}"))?;
    let mut client =
        Client::from_registration(&registration, &args.homeserver, server_name.clone(), transport)
            .context("invalid client settings")?;
    // On a database, the client's registrations and joins live there, and the memberships of
    // our users that others change (kicks, bans) are recorded from each transaction.
    if let Some(sql) = &sql {
        client = client.with_state_store(Arc::new(sql.state()));
    }
    let track = sql
        .as_ref()
        .map(|sql| TrackMembership::new(registration.clone(), server_name.as_str(), sql.state()));
    // Before the bot joins or creates anything (the Conduit family does not create it).
    match client.register_bot().await {
        Ok(RegisterOutcome::Created) => tracing::info!("bot user registered"),
        Ok(_) => tracing::info!("bot user already registered"),
        Err(e) => tracing::error!(error = %e, "registering the bot user failed; joins may fail"),
    }
    let fail_first = fail_transactions_from_env()?;
    let handler = Arc::new(
        EchoHandler::new(client.clone(), registration.clone())?.fail_first_events(fail_first),
    );
    let tracker = handler.ping_tracker().clone();
    let listener = TcpListener::bind(listen.as_slice())
        .await
        .with_context(|| format!("cannot listen on {listen:?} (the registration's url)"))?;
    tracing::info!(
        address = %listener.local_addr()?,
        id = registration.id(),
        %server_name,
        homeserver = %args.homeserver,
        store = %store_name,
        "serving"
    );
    let app = appservice(registration, Hooked::new(handler, track), store);
    // `/_matrix/mau/ready` is false while the database does not answer.
    let watcher = sql.map(|sql| {
        let database = app.readiness().condition();
        sql.watch_reachability(Duration::from_secs(2), move |reachable| database.set(reachable))
    });
    let server = tokio::spawn(serve_with(listener, app, shutdown, ServeConfig::new()));
    let ping = tokio::spawn(async move {
        let policy = RetryPolicy::default().max_retries(10).max_delay(Duration::from_secs(30));
        match client.ping_until_ready(&policy, Some(&tracker)).await {
            Ok(duration) => tracing::info!(
                duration_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
                "homeserver ping confirmed"
            ),
            Err(e) => tracing::error!(error = %e, "homeserver ping failed"),
        }
    });
    let served = server.await;
    ping.abort();
    if let Some(watcher) = watcher {
        watcher.abort();
    }
    served.context("the server task failed")?.context("serving failed")?;
    tracing::info!("stopped");
    Ok(())
}

/// The transaction store `args` ask for (`--store DIR`, else `--database URL`, else SQLite
/// beside the registration), and how to name it in logs (never a database URL: it may hold a
/// password).
async fn open_store(
    args: &Args,
    registration: &ValidatedRegistration,
) -> anyhow::Result<(Arc<dyn TransactionStore>, String, Option<SqlStore>)> {
    if let Some(dir) = &args.store {
        let store = FileStore::open(dir)
            .with_context(|| format!("cannot open the transaction store {}", dir.display()))?;
        return Ok((Arc::new(store), format!("files in {}", dir.display()), None));
    }
    let (url, name) = match &args.database {
        Some(url) => (url.clone(), format!("{:?} database", Backend::of_url(url)?)),
        None => {
            let path = default_database_path(&args.registration, registration.id());
            (format!("sqlite://{}", path.display()), format!("SQLite {}", path.display()))
        }
    };
    let store = SqlStore::connect(&url, SqlConfig::default())
        .await
        .with_context(|| format!("cannot open the {name}"))?;
    Ok((Arc::new(store.clone()), name, Some(store)))
}

/// The addresses of the registration's `url` host and port.
async fn listen_addresses(registration: &ValidatedRegistration) -> anyhow::Result<Vec<SocketAddr>> {
    let Some(url) = registration.url() else {
        bail!("the registration has no url: nothing to listen on (url: null)");
    };
    let parsed = url::Url::parse(url).with_context(|| format!("the registration's url {url:?}"))?;
    let port = parsed
        .port_or_known_default()
        .ok_or_else(|| anyhow!("the registration's url {url:?} has no port"))?;
    let host = match parsed.host() {
        Some(url::Host::Domain(domain)) => domain.to_owned(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        None => bail!("the registration's url {url:?} has no host"),
    };
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .with_context(|| format!("cannot resolve the host of the registration's url {url:?}"))?
        .collect();
    if addresses.is_empty() {
        bail!("the host of the registration's url {url:?} has no address");
    }
    Ok(addresses)
}

/// The server name from the homeserver: the server part of the bot's user ID in `whoami`.
async fn discover_server_name(
    homeserver: &str,
    registration: &ValidatedRegistration,
) -> anyhow::Result<OwnedServerName> {
    let hint = "pass --server-name NAME";
    // The client needs a server name for its users; `whoami` of the bot asserts no user, so a
    // placeholder is never used.
    let placeholder = OwnedServerName::try_from("localhost")
        .map_err(|e| anyhow!("placeholder server name: {e}"))?;
    let transport =
        HyperTransport::new().map_err(|e| anyhow!("cannot build the HTTP client: {e}"))?;
    let client = Client::new(homeserver, registration.as_token().clone(), placeholder, transport)
        .context("invalid --homeserver")?;
    let answer = client.send(whoami::v3::Request::new(), &Identity::none()).await.map_err(|e| {
        anyhow!("cannot find the server name: asking the homeserver (whoami) failed: {e}; {hint}")
    })?;
    let server_name = answer.user_id.server_name().to_owned();
    tracing::info!(%server_name, bot = %answer.user_id, "server name from whoami");
    Ok(server_name)
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
