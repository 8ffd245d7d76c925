//! [`Builder`]: registration → store → client → listener, in the right order, with every
//! start-up step a bridge needs.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use appservice_client::{
    HyperTransport, RegisterOutcome, RetryPolicy, ruma_common::OwnedServerName,
};
use appservice_dispatch::{DispatchConfig, MemoryStore, TransactionStore};
use appservice_tower::{AppserviceConfig, HealthPaths, ServeConfig};
use appservice_types::ValidatedRegistration;
use tokio::net::TcpListener;

use crate::{Bridge, Client, Error, ErrorKind, bridge::Parts, load_registration, startup};

/// Which transaction store [`Builder::start`] opens.
#[derive(Clone)]
enum StoreChoice {
    /// SQLite beside the registration file, if there is one.
    Default,
    /// A database URL (`sqlite://PATH`, `postgres://…`).
    #[cfg(feature = "sql")]
    Database(String),
    /// The caller's store.
    Custom(Arc<dyn TransactionStore>),
}

/// Starts an appservice: the registration, the transaction store (and database), the client,
/// the bot user, the listen socket; then [`Bridge::run`] serves with your handler, pings the
/// homeserver, keeps readiness true only while the database answers, and drains gracefully on
/// shutdown.
///
/// ```no_run
/// use appservice::prelude::*;
///
/// struct Bot;
///
/// impl Handler for Bot {
///     async fn event(&self, _: &TransactionContext<'_>, event: Event<'_>) -> Result<(), HandlerError> {
///         if let Some(envelope) = event.envelope {
///             tracing::info!(room = %envelope.room_id, "event {}", envelope.event_type);
///         }
///         Ok(())
///     }
/// }
///
/// # async fn main_() -> Result<(), appservice::Error> {
/// // SQLite beside the registration; listens on the registration's `url`; the server name
/// // from the homeserver (`whoami`).
/// let bridge = Builder::from_file("registration.yaml", "http://localhost:8008")?.start().await?;
/// bridge.run(Bot, appservice::shutdown_signal()).await
/// # }
/// ```
#[derive(Clone)]
pub struct Builder {
    registration: ValidatedRegistration,
    registration_path: Option<PathBuf>,
    homeserver: String,
    server_name: Option<OwnedServerName>,
    listen: Option<Vec<SocketAddr>>,
    store: StoreChoice,
    #[cfg(feature = "sql")]
    sql_config: appservice_sql::SqlConfig,
    dispatch: DispatchConfig,
    service: AppserviceConfig,
    serve: ServeConfig,
    register_bot: bool,
    ping: Option<RetryPolicy>,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the store's URL: it may hold a password. The registration's Debug redacts tokens.
        f.debug_struct("Builder")
            .field("registration", &self.registration)
            .field("homeserver", &self.homeserver)
            .field("server_name", &self.server_name)
            .field("listen", &self.listen)
            .finish_non_exhaustive()
    }
}

impl Builder {
    /// An appservice of this registration, talking to the homeserver at `homeserver` (its
    /// Client-Server API base URL). There is no default database without a registration file:
    /// choose one with [`database`](Self::database), [`store`](Self::store) or
    /// [`memory_store`](Self::memory_store).
    pub fn new(registration: ValidatedRegistration, homeserver: impl Into<String>) -> Self {
        Self {
            registration,
            registration_path: None,
            homeserver: homeserver.into(),
            server_name: None,
            listen: None,
            store: StoreChoice::Default,
            #[cfg(feature = "sql")]
            sql_config: appservice_sql::SqlConfig::default(),
            dispatch: DispatchConfig::new(),
            service: AppserviceConfig::new().health(HealthPaths::default()),
            serve: ServeConfig::new(),
            register_bot: true,
            ping: Some(RetryPolicy::default().max_retries(10).max_delay(Duration::from_secs(30))),
        }
    }

    /// Like [`new`](Self::new), with the registration read from `path` by
    /// [`load_registration`] (warnings logged, errors returned). The default database is
    /// SQLite beside it ([`default_database_path`](crate::default_database_path)).
    pub fn from_file(path: impl AsRef<Path>, homeserver: impl Into<String>) -> Result<Self, Error> {
        let path = path.as_ref();
        let registration = load_registration(path)?;
        let mut builder = Self::new(registration, homeserver);
        builder.registration_path = Some(path.to_owned());
        Ok(builder)
    }

    /// The database for transaction records, the client's state and the bridge's own tables:
    /// `sqlite://PATH` or `postgres://…` (with the `postgres` feature).
    #[cfg(feature = "sql")]
    #[must_use]
    pub fn database(mut self, url: impl Into<String>) -> Self {
        self.store = StoreChoice::Database(url.into());
        self
    }

    /// Pool settings for [`database`](Self::database).
    #[cfg(feature = "sql")]
    #[must_use]
    pub fn database_config(mut self, config: appservice_sql::SqlConfig) -> Self {
        self.sql_config = config;
        self
    }

    /// Your own transaction store instead of a database (for example
    /// `appservice::fs_store::FileStore`).
    #[must_use]
    pub fn store(mut self, store: impl TransactionStore) -> Self {
        self.store = StoreChoice::Custom(Arc::new(store));
        self
    }

    /// Transactions remembered in memory only: after a restart, the homeserver's retries of
    /// transactions handled before it are handled again. For tests and stateless bots.
    #[must_use]
    pub fn memory_store(self) -> Self {
        self.store(MemoryStore::default())
    }

    /// The homeserver's server name; by default it is asked from the homeserver (`whoami`).
    #[must_use]
    pub fn server_name(mut self, name: OwnedServerName) -> Self {
        self.server_name = Some(name);
        self
    }

    /// Where to listen; by default the host and port of the registration's `url`.
    #[must_use]
    pub fn listen(mut self, address: SocketAddr) -> Self {
        self.listen = Some(vec![address]);
        self
    }

    /// The dispatcher's settings (room concurrency, limits).
    #[must_use]
    pub fn dispatch_config(mut self, config: DispatchConfig) -> Self {
        self.dispatch = config;
        self
    }

    /// The HTTP service's settings. Default: [`AppserviceConfig::new`] with the health
    /// endpoints `/_matrix/mau/live` and `/_matrix/mau/ready` on.
    #[must_use]
    pub fn service_config(mut self, config: AppserviceConfig) -> Self {
        self.service = config;
        self
    }

    /// The server's connection limits and timeouts.
    #[must_use]
    pub fn serve_config(mut self, config: ServeConfig) -> Self {
        self.serve = config;
        self
    }

    /// Whether [`start`](Self::start) registers the bot user (`sender_localpart`); default on,
    /// because the Conduit family does not create it. `M_USER_IN_USE` counts as done; another
    /// failure is logged and start-up goes on.
    #[must_use]
    pub fn register_bot(mut self, on: bool) -> Self {
        self.register_bot = on;
        self
    }

    /// How [`Bridge::run`] pings the homeserver once serving (to confirm that the homeserver
    /// reaches the appservice), or `None` for no ping. Default: up to 10 retries, at most 30 s
    /// apart, while the homeserver is starting.
    #[must_use]
    pub fn ping(mut self, policy: Option<RetryPolicy>) -> Self {
        self.ping = policy;
        self
    }

    /// Runs the start-up steps in order: the server name; the store (creating or migrating the
    /// database); the client (on a database, with its state store there); the bot user; the
    /// listen socket. Nothing is served yet: call [`Bridge::run`].
    pub async fn start(self) -> Result<Bridge, Error> {
        let registration = self.registration;
        let server_name = match self.server_name {
            Some(name) => name,
            None => startup::discover_server_name(&self.homeserver, &registration).await?,
        };
        #[cfg(feature = "sql")]
        let (store, store_name, sql) = open_store(
            self.store,
            self.registration_path.as_deref(),
            &registration,
            &self.sql_config,
        )
        .await?;
        #[cfg(not(feature = "sql"))]
        let (store, store_name) = open_store(self.store)?;
        let transport = HyperTransport::new().map_err(|e| {
            Error::with_source(ErrorKind::Client, "cannot build the HTTP client", e)
        })?;
        #[allow(unused_mut, reason = "mutated only with a database")]
        let mut client: Client = Client::from_registration(
            &registration,
            &self.homeserver,
            server_name.clone(),
            transport,
        )
        .map_err(|e| Error::with_source(ErrorKind::Client, "invalid client settings", e))?;
        #[cfg(feature = "sql")]
        if let Some(sql) = &sql {
            client = client.with_state_store(Arc::new(sql.state()));
        }
        if self.register_bot {
            match client.register_bot().await {
                Ok(RegisterOutcome::Created) => tracing::info!("bot user registered"),
                Ok(_) => tracing::info!("bot user already registered"),
                Err(e) => {
                    tracing::error!(error = %e, "registering the bot user failed; joins may fail");
                }
            }
        }
        let listen = match self.listen {
            Some(addresses) => addresses,
            None => startup::listen_addresses(&registration).await?,
        };
        let listener = TcpListener::bind(listen.as_slice()).await.map_err(|e| {
            Error::with_source(ErrorKind::Listen, format!("cannot listen on {listen:?}"), e)
        })?;
        tracing::info!(
            address = ?listener.local_addr().ok(),
            id = registration.id(),
            %server_name,
            homeserver = %self.homeserver,
            store = %store_name,
            "started"
        );
        Ok(Bridge::new(Parts {
            registration,
            client,
            listener,
            store,
            #[cfg(feature = "sql")]
            sql,
            dispatch: self.dispatch,
            service: self.service,
            serve: self.serve,
            ping: self.ping,
        }))
    }
}

/// The store `choice` names, how to name it in logs (never a database URL: it may hold a
/// password), and the database if it is one.
#[cfg(feature = "sql")]
async fn open_store(
    choice: StoreChoice,
    registration_path: Option<&Path>,
    registration: &ValidatedRegistration,
    config: &appservice_sql::SqlConfig,
) -> Result<(Arc<dyn TransactionStore>, String, Option<appservice_sql::SqlStore>), Error> {
    let (url, name) = match choice {
        StoreChoice::Custom(store) => return Ok((store, "the caller's store".to_owned(), None)),
        StoreChoice::Database(url) => {
            let backend = appservice_sql::Backend::of_url(&url)
                .map_err(|e| Error::with_source(ErrorKind::Store, "the database URL", e))?;
            let name = format!("{backend:?} database");
            (url, name)
        }
        StoreChoice::Default => {
            let Some(file) = registration_path else {
                return Err(no_store());
            };
            let path = crate::default_database_path(file, registration.id());
            (format!("sqlite://{}", path.display()), format!("SQLite {}", path.display()))
        }
    };
    let store = appservice_sql::SqlStore::connect(&url, config.clone())
        .await
        .map_err(|e| Error::with_source(ErrorKind::Store, format!("cannot open the {name}"), e))?;
    Ok((Arc::new(store.clone()), name, Some(store)))
}

#[cfg(not(feature = "sql"))]
fn open_store(choice: StoreChoice) -> Result<(Arc<dyn TransactionStore>, String), Error> {
    match choice {
        StoreChoice::Custom(store) => Ok((store, "the caller's store".to_owned())),
        StoreChoice::Default => Err(no_store()),
    }
}

fn no_store() -> Error {
    Error::new(
        ErrorKind::Store,
        "no transaction store: give a database (feature sqlite or postgres), a store, or \
         memory_store(), or build from a registration file for SQLite beside it",
    )
}
