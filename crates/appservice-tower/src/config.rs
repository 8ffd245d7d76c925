//! [`AppserviceConfig`]: timeouts, health endpoints and readiness of the HTTP service.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

/// How long a request body may take to arrive (slow clients). Default: 30 s.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a user or alias query may take. Synapse waits 60 s and blocks its event delivery to
/// the appservice meanwhile (element-hq/synapse#17621); we answer well before. Default: 20 s.
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(20);

/// Unauthenticated health endpoints, outside `/_matrix/app/` (mautrix's convention).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HealthPaths {
    /// Liveness: 200 `{}` while the process serves requests. Default `/_matrix/mau/live`.
    pub live: String,
    /// Readiness: 200 `{}` while ready, 503 while starting or shutting down. Default
    /// `/_matrix/mau/ready`.
    pub ready: String,
}

impl Default for HealthPaths {
    fn default() -> Self {
        Self { live: "/_matrix/mau/live".to_owned(), ready: "/_matrix/mau/ready".to_owned() }
    }
}

/// Whether the appservice is ready; `serve` turns it off when shutdown starts.
#[derive(Clone, Debug)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Ready or not.
    pub fn new(ready: bool) -> Self {
        Self(Arc::new(AtomicBool::new(ready)))
    }

    /// Sets readiness.
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::SeqCst);
    }

    /// Whether it is ready.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Configuration of the HTTP service around the dispatcher.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AppserviceConfig {
    /// See [`DEFAULT_READ_TIMEOUT`].
    pub read_timeout: Duration,
    /// See [`DEFAULT_QUERY_TIMEOUT`].
    pub query_timeout: Duration,
    /// Health endpoints; `None` (the default) serves none.
    pub health: Option<HealthPaths>,
    /// Path of the Prometheus exposition endpoint (feature `metrics`); `None` serves none.
    pub metrics_path: Option<String>,
    /// Bytes of request bodies held at once across concurrent requests, from the moment a
    /// body starts to arrive until its dispatch finished (each body is reserved at its declared
    /// length, or at the body limit when it has none). A request that finds too little free is
    /// answered 503 `M_LIMIT_EXCEEDED` with `Retry-After: 1` before its body is read. Default:
    /// [`DEFAULT_BODY_BUDGET`].
    pub body_budget: usize,
}

/// The default [`AppserviceConfig::body_budget`]: 128 MiB, four bodies at the dispatcher's default
/// limit. A homeserver sends one transaction at a time (plus small queries).
pub const DEFAULT_BODY_BUDGET: usize = 128 << 20;

impl Default for AppserviceConfig {
    fn default() -> Self {
        Self {
            read_timeout: DEFAULT_READ_TIMEOUT,
            query_timeout: DEFAULT_QUERY_TIMEOUT,
            health: None,
            metrics_path: None,
            body_budget: DEFAULT_BODY_BUDGET,
        }
    }
}

impl AppserviceConfig {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`read_timeout`](Self::read_timeout).
    #[must_use]
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// Sets [`query_timeout`](Self::query_timeout).
    #[must_use]
    pub fn query_timeout(mut self, timeout: Duration) -> Self {
        self.query_timeout = timeout;
        self
    }

    /// Sets [`body_budget`](Self::body_budget).
    #[must_use]
    pub fn body_budget(mut self, bytes: usize) -> Self {
        self.body_budget = bytes;
        self
    }

    /// Serves health endpoints at these paths.
    #[must_use]
    pub fn health(mut self, paths: HealthPaths) -> Self {
        self.health = Some(paths);
        self
    }

    /// Serves the Prometheus exposition at `path` (feature `metrics`).
    #[must_use]
    pub fn metrics_path(mut self, path: impl Into<String>) -> Self {
        self.metrics_path = Some(path.into());
        self
    }
}
