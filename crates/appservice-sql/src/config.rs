//! [`SqlConfig`]: bounds, pool and timeouts of a [`SqlStore`](crate::SqlStore).

use std::time::Duration;

/// How a [`SqlStore`](crate::SqlStore) keeps its records and talks to its database.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SqlConfig {
    /// The most recent completed transactions kept. Older ones are pruned. Default:
    /// [`DEFAULT_CAPACITY`](appservice_dispatch::store::DEFAULT_CAPACITY) (10 000).
    pub capacity: usize,
    /// Records older than this are pruned, whatever their number. Default: 7 days. A homeserver
    /// retries a transaction only until it is acknowledged, so a record is needed for seconds.
    pub max_age: Option<Duration>,
    /// Pruning runs after every this many commits. Default: 100.
    pub prune_every: u32,
    /// The pool's largest number of connections. Default: 8.
    pub max_connections: u32,
    /// How long a statement waits for a pooled connection (a database that is down answers
    /// within this). Default: 10 s.
    pub acquire_timeout: Duration,
    /// PostgreSQL: how long a transaction waits for the lock that makes replicas take turns
    /// (another replica handling a transaction holds it). Default: 30 s: below the 60 s after
    /// which Synapse gives up on a request, so the answer is a 500 it retries.
    pub lock_timeout: Duration,
}

impl Default for SqlConfig {
    fn default() -> Self {
        Self {
            capacity: appservice_dispatch::store::DEFAULT_CAPACITY,
            max_age: Some(Duration::from_secs(7 * 24 * 3600)),
            prune_every: 100,
            max_connections: 8,
            acquire_timeout: Duration::from_secs(10),
            lock_timeout: Duration::from_secs(30),
        }
    }
}
