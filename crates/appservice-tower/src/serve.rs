//! [`serve`]: a ready HTTP/1.1 and h2c server on hyper-util, with graceful shutdown.

use std::{convert::Infallible, future::Future, time::Duration};

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::{conn::auto, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use tokio::net::TcpListener;
use tower_service::Service;

use crate::{Appservice, Body};

/// Options of [`serve_with`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServeConfig {
    /// How long shutdown waits for connections and in-flight transactions. Default: 30 s.
    pub shutdown_timeout: Duration,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self { shutdown_timeout: Duration::from_secs(30) }
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
    let builder = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // E.g. too many open files: wait a little instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let service = TowerToHyperService::new(app.clone());
                let connection = builder.serve_connection(TokioIo::new(stream), service).into_owned();
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    drop(app);
    core.readiness.set(false);
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
