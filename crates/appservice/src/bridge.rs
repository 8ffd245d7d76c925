//! [`Bridge`]: a started appservice, served with a handler.

use std::{convert::Infallible, future::Future, sync::Arc};

use appservice_client::{PingTracker, RetryPolicy, ruma_common::ServerName};
use appservice_dispatch::{
    DispatchConfig, Dispatcher, Event, EventHook, Handler, HandlerError, Hooked,
    TransactionContext, TransactionStore,
};
use appservice_tower::{
    Appservice, AppserviceConfig, AppserviceLayer, Body, NotFound, ServeConfig, serve_with,
};
use appservice_types::ValidatedRegistration;
use http::{Request, Response};
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tower_layer::Layer as _;
use tower_service::Service;

use crate::{Client, Error, ErrorKind};

/// What [`Builder::start`](crate::Builder::start) hands over.
pub(crate) struct Parts {
    pub(crate) registration: ValidatedRegistration,
    pub(crate) client: Client,
    pub(crate) listener: TcpListener,
    pub(crate) store: Arc<dyn TransactionStore>,
    #[cfg(feature = "sql")]
    pub(crate) sql: Option<appservice_sql::SqlStore>,
    pub(crate) dispatch: DispatchConfig,
    pub(crate) service: AppserviceConfig,
    pub(crate) serve: ServeConfig,
    pub(crate) ping: Option<RetryPolicy>,
}

/// A started appservice: the client, the database and the listen socket are ready. Build your
/// handler with [`client`](Self::client) (and [`database`](Self::database)), then
/// [`run`](Self::run) it, or [`run_with`](Self::run_with) to serve your own routes beside the
/// appservice's on the same port.
pub struct Bridge {
    parts: Parts,
    tracker: PingTracker,
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge")
            .field("id", &self.parts.registration.id())
            .field("listen", &self.parts.listener.local_addr().ok())
            .finish_non_exhaustive()
    }
}

/// Confirms the bridge's own start-up ping: records the pings that reach the appservice.
struct PingConfirm(PingTracker);

impl EventHook for PingConfirm {
    async fn before_event(
        &self,
        _: &TransactionContext<'_>,
        _: Event<'_>,
    ) -> Result<(), HandlerError> {
        Ok(())
    }

    fn ping_received(&self, transaction_id: Option<&str>) {
        self.0.record(transaction_id);
    }
}

/// The hooks before the user's handler: the ping confirmation, and on a database the tracking
/// of our users' memberships.
#[cfg(feature = "sql")]
type StartHooks = (PingConfirm, Option<appservice_sql::TrackMembership>);
#[cfg(not(feature = "sql"))]
type StartHooks = PingConfirm;

impl Bridge {
    pub(crate) fn new(parts: Parts) -> Self {
        Self { parts, tracker: PingTracker::new() }
    }

    /// The client: [`Client::intent`] acts as one of the appservice's users,
    /// [`Client::bot`] as the bot.
    pub fn client(&self) -> &Client {
        &self.parts.client
    }

    /// The registration.
    pub fn registration(&self) -> &ValidatedRegistration {
        &self.parts.registration
    }

    /// The homeserver's server name.
    pub fn server_name(&self) -> &ServerName {
        self.parts.client.server_name()
    }

    /// The database, if the store is one: open a unit of work in a handler with
    /// `txn.unit::<appservice::sql::SqlUnit>()` to write your tables together with the
    /// transaction's record, or use [`SqlStore::pool`](appservice_sql::SqlStore::pool).
    #[cfg(feature = "sql")]
    pub fn database(&self) -> Option<&appservice_sql::SqlStore> {
        self.parts.sql.as_ref()
    }

    /// The address the server listens on (useful with port 0).
    pub fn local_addr(&self) -> Result<std::net::SocketAddr, Error> {
        self.parts
            .listener
            .local_addr()
            .map_err(|e| Error::with_source(ErrorKind::Listen, "the listen socket", e))
    }

    /// Serves the appservice with `handler` until `shutdown` completes, then drains: in-flight
    /// transactions finish and are recorded (for at most the [`ServeConfig`] shutdown
    /// timeout), new requests are refused, readiness goes false.
    ///
    /// Once serving, pings the homeserver (`POST /_matrix/client/v1/appservice/{id}/ping`,
    /// retried while it starts) and logs the round trip when the homeserver's ping reached us;
    /// a failed ping is logged and serving goes on. On a database, `/_matrix/mau/ready` is false
    /// while the database does not answer.
    pub async fn run<H: Handler>(
        self,
        handler: H,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        self.run_with(handler, NotFound, shutdown).await
    }

    /// Like [`run`](Self::run), with `inner` (for example an `axum::Router`) serving every
    /// request that is not the appservice's on the same port, and the same graceful drain.
    ///
    /// ```no_run
    /// # async fn example(bridge: appservice::Bridge, handler: impl appservice::prelude::Handler) -> Result<(), appservice::Error> {
    /// let routes = axum::Router::new().route("/webhook", axum::routing::post(|| async { "ok" }));
    /// bridge.run_with(handler, routes, appservice::shutdown_signal()).await
    /// # }
    /// ```
    pub async fn run_with<H: Handler, I>(
        self,
        handler: H,
        inner: I,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error>
    where
        Appservice<I>: Service<Request<Incoming>, Response = Response<Body>, Error = Infallible>
            + Clone
            + Send
            + 'static,
        <Appservice<I> as Service<Request<Incoming>>>::Future: Send + 'static,
    {
        let Self { parts, tracker } = self;
        let ping_confirm = PingConfirm(tracker.clone());
        #[cfg(feature = "sql")]
        let hooks: StartHooks = (
            ping_confirm,
            parts.sql.as_ref().map(|sql| {
                appservice_sql::TrackMembership::new(
                    parts.registration.clone(),
                    parts.client.server_name().as_str(),
                    sql.state(),
                )
            }),
        );
        #[cfg(not(feature = "sql"))]
        let hooks: StartHooks = ping_confirm;
        let dispatcher = Dispatcher::with_store(
            parts.registration.clone(),
            Hooked::new(handler, hooks),
            parts.store,
            parts.dispatch,
        );
        let layer = AppserviceLayer::with_config(dispatcher, parts.service);
        #[cfg(feature = "sql")]
        let watcher = parts.sql.as_ref().map(|sql| {
            let database = layer.readiness().condition();
            sql.watch_reachability(std::time::Duration::from_secs(2), move |up| database.set(up))
        });
        let app = layer.layer(inner);
        let server = tokio::spawn(serve_with(parts.listener, app, shutdown, parts.serve));
        let client = parts.client;
        let ping = parts.ping.map(|policy| {
            tokio::spawn(async move {
                match client.ping_until_ready(&policy, Some(&tracker)).await {
                    Ok(duration) => tracing::info!(
                        duration_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
                        "homeserver ping confirmed"
                    ),
                    Err(e) => tracing::error!(error = %e, "homeserver ping failed"),
                }
            })
        });
        let served = server.await;
        if let Some(ping) = ping {
            ping.abort();
        }
        #[cfg(feature = "sql")]
        if let Some(watcher) = watcher {
            watcher.abort();
        }
        served
            .map_err(|e| Error::with_source(ErrorKind::Serve, "the server task failed", e))?
            .map_err(|e| Error::with_source(ErrorKind::Serve, "serving failed", e))?;
        tracing::info!("stopped");
        Ok(())
    }
}
