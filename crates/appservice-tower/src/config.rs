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

/// Whether the appservice is ready: it is serving (`serve` turns that off when shutdown starts)
/// and every [`ReadinessCondition`] holds (a database reachable, …).
#[derive(Clone, Debug)]
pub struct Readiness(Arc<ReadinessState>);

#[derive(Debug)]
struct ReadinessState {
    serving: AtomicBool,
    conditions: parking_lot::Mutex<Vec<ReadinessCondition>>,
}

/// One condition of [`Readiness`] (for example "the database answers"), set by whoever watches
/// it. Made by [`Readiness::condition`]; starts true.
#[derive(Clone, Debug)]
pub struct ReadinessCondition(Arc<AtomicBool>);

impl ReadinessCondition {
    /// Sets whether the condition holds.
    pub fn set(&self, holds: bool) {
        self.0.store(holds, Ordering::SeqCst);
    }

    /// Whether it holds.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

impl Readiness {
    /// Serving or not, with no conditions.
    pub fn new(ready: bool) -> Self {
        Self(Arc::new(ReadinessState {
            serving: AtomicBool::new(ready),
            conditions: parking_lot::Mutex::default(),
        }))
    }

    /// Sets whether the appservice is serving.
    pub fn set(&self, ready: bool) {
        self.0.serving.store(ready, Ordering::SeqCst);
    }

    /// A new condition, true until set otherwise; readiness needs it to hold.
    pub fn condition(&self) -> ReadinessCondition {
        let condition = ReadinessCondition(Arc::new(AtomicBool::new(true)));
        self.0.conditions.lock().push(condition.clone());
        condition
    }

    /// Whether it is ready: serving, and every condition holds.
    pub fn get(&self) -> bool {
        self.0.serving.load(Ordering::SeqCst)
            && self.0.conditions.lock().iter().all(ReadinessCondition::get)
    }
}

#[cfg(test)]
mod tests {
    use super::Readiness;

    #[test]
    fn ready_means_serving_and_every_condition_holding() {
        let readiness = Readiness::new(true);
        let database = readiness.condition();
        assert!(readiness.get());
        database.set(false);
        assert!(!readiness.get());
        database.set(true);
        assert!(readiness.clone().get());
        readiness.set(false);
        assert!(!readiness.get());
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
