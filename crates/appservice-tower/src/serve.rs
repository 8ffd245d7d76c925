//! [`serve`]: a ready HTTP/1.1 and h2c server on hyper-util, with graceful shutdown.

use std::{convert::Infallible, future::Future, net::SocketAddr, sync::Arc, time::Duration};

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use tokio::net::{TcpListener, TcpStream};
use tower_service::Service;

use crate::{
    Appservice, Body,
    connections::{Connection, Connections},
};

/// Options of [`serve_with`]: connection limits and timeouts. Every limit of the server, with
/// what hitting it looks like, is listed in `docs/server-config.md`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServeConfig {
    /// How long shutdown waits for connections and in-flight transactions. Default: 30 s.
    pub shutdown_timeout: Duration,
    /// How long a client may take to send a request head (HTTP/1), counted from its first
    /// byte; the connection is closed when it runs out. Default: 10 s.
    pub header_read_timeout: Duration,
    /// A connection with no request in flight for this long is closed: one that never sends,
    /// one idle after an answer (keep-alive), an HTTP/2 connection without streams. Default:
    /// 60 s.
    pub idle_timeout: Duration,
    /// The most connections open at once. A new connection beyond it closes the connection
    /// that has been idle longest; when none is idle, accepting waits until one closes. The
    /// same eviction runs when accepting fails for lack of file descriptors. Keep it below the
    /// process's descriptor limit (`ulimit -n`) less what the rest of the process needs.
    /// Default: 512.
    pub max_connections: usize,
    /// HTTP/2: how often to ping an idle-looking peer, and how long to wait for the answer
    /// before closing the connection (dead peers). Default: 20 s and 20 s.
    pub http2_keep_alive: (Duration, Duration),
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            shutdown_timeout: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 512,
            http2_keep_alive: (Duration::from_secs(20), Duration::from_secs(20)),
        }
    }
}

impl ServeConfig {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`shutdown_timeout`](Self::shutdown_timeout).
    #[must_use]
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Sets [`header_read_timeout`](Self::header_read_timeout).
    #[must_use]
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// Sets [`idle_timeout`](Self::idle_timeout).
    #[must_use]
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets [`max_connections`](Self::max_connections) (at least 1).
    #[must_use]
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// Sets [`http2_keep_alive`](Self::http2_keep_alive): the ping interval and its timeout.
    #[must_use]
    pub fn http2_keep_alive(mut self, interval: Duration, timeout: Duration) -> Self {
        self.http2_keep_alive = (interval, timeout);
        self
    }
}

/// Serves `app` on `listener` (HTTP/1.1 and HTTP/2 with prior knowledge) until `shutdown`
/// completes, then shuts down gracefully with the default [`ServeConfig`].
pub async fn serve<I>(
    listener: TcpListener,
    app: Appservice<I>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()>
where
    Appservice<I>: Service<Request<Incoming>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    <Appservice<I> as Service<Request<Incoming>>>::Future: Send + 'static,
{
    serve_with(listener, app, shutdown, ServeConfig::default()).await
}

/// Like [`serve`], with options.
///
/// Shutdown: stop accepting; mark the service not ready; let open connections finish their
/// requests (idle ones close at once), for at most the timeout; then wait, within the same
/// timeout, for dispatches still running (a handler whose connection went away still completes
/// and records its transaction). A transaction is acknowledged only after it was recorded, so a
/// shutdown never loses an acknowledged transaction; one cut off by the timeout was not
/// recorded, and the homeserver retries it.
pub async fn serve_with<I>(
    listener: TcpListener,
    app: Appservice<I>,
    shutdown: impl Future<Output = ()>,
    config: ServeConfig,
) -> std::io::Result<()>
where
    Appservice<I>: Service<Request<Incoming>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    <Appservice<I> as Service<Request<Incoming>>>::Future: Send + 'static,
{
    // Only the shared core is held across awaits: `Appservice` itself need not be `Sync`.
    let core = app.core();
    let builder = http_builder(&config);
    let graceful = GracefulShutdown::new();
    let connections = Arc::new(Connections::default());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = accept(&listener, &connections, config.max_connections) => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = accepted;
        let connection = connections.open();
        let hyper_service = TowerToHyperService::new(app.clone());
        let activity = connection.tracker();
        let service = hyper::service::service_fn(move |request| {
            let busy = activity.busy();
            let response = hyper::service::Service::call(&hyper_service, request);
            async move {
                let response = response.await;
                drop(busy);
                response
            }
        });
        let serving = builder.serve_connection(TokioIo::new(stream), service).into_owned();
        let serving = graceful.watch(serving);
        tokio::spawn(run_connection(serving, connection, peer, config.idle_timeout));
    }
    drop(listener);
    drop(app);
    core.readiness.set(false);
    connections.shut_down();
    let deadline = tokio::time::Instant::now() + config.shutdown_timeout;
    tracing::info!("shutting down: waiting for open connections");
    if tokio::time::timeout_at(deadline, graceful.shutdown()).await.is_err() {
        tracing::warn!("shutdown timeout: closing the remaining connections");
    }
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    if !core.drain(left).await {
        tracing::warn!(
            "shutdown timeout: some dispatches did not finish; their transactions were not acknowledged"
        );
    }
    Ok(())
}

/// hyper's server for both protocols, with a timer so its header-read timeout and HTTP/2
/// keep-alive run.
fn http_builder(config: &ServeConfig) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(config.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(config.http2_keep_alive.0)
        .keep_alive_timeout(config.http2_keep_alive.1);
    builder
}

/// Accepts the next connection, keeping to the cap: at the cap (or out of file descriptors),
/// the connection idle longest is closed to make room; with none idle, it waits for a close.
async fn accept(
    listener: &TcpListener,
    connections: &Connections,
    max: usize,
) -> (TcpStream, SocketAddr) {
    loop {
        if connections.len() >= max && !connections.evict_oldest_idle() {
            connections.wait_for_a_close().await;
            continue;
        }
        match listener.accept().await {
            Ok(accepted) => return accepted,
            Err(e) => {
                // E.g. too many open files: make room, and wait a little instead of spinning.
                tracing::warn!(error = %e, open = connections.len(), "accept failed");
                connections.evict_oldest_idle();
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Runs one connection until it ends, is evicted, stays idle past the timeout, or is idle when
/// the server shuts down (a request that never arrived in full does not delay shutdown).
async fn run_connection<F, E>(serving: F, connection: Connection, peer: SocketAddr, idle: Duration)
where
    F: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let mut serving = std::pin::pin!(serving);
    loop {
        let deadline = connection.idle_deadline(idle);
        let check = deadline.unwrap_or_else(|| tokio::time::Instant::now() + idle);
        tokio::select! {
            result = &mut serving => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            () = connection.close_requested() => {
                if connection.should_close_idle() || connection.idle_deadline(idle).is_some() {
                    tracing::debug!(%peer, "closing an idle connection (shutdown or connection cap)");
                    return;
                }
            }
            () = tokio::time::sleep_until(check) => {
                if connection.idle_deadline(idle).is_some_and(|d| d <= tokio::time::Instant::now()) {
                    tracing::debug!(%peer, "closing an idle connection (idle timeout)");
                    return;
                }
            }
        }
    }
}
