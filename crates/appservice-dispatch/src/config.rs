//! [`DispatchConfig`]: the dispatcher's knobs, each with a default that follows the spec and
//! Synapse.

/// The default body size limit: 32 MiB.
///
/// Synapse puts at most 100 events, 100 ephemeral events and 100 to-device messages in one
/// transaction; an event is at most 64 KiB (the PDU size limit), so 100 events are ≤ 6.25 MiB, and
/// to-device messages and ephemeral data add a few MiB more in the worst case. 32 MiB leaves room
/// for other homeservers. With [`DEFAULT_MAX_EVENTS`] it bounds what one transaction costs: its
/// body about twice (the received bytes and the parsed copy its events share) plus at most a few
/// hundred bytes per event (`docs/server-config.md` has the measured figures). Across concurrent
/// requests, `appservice-tower`'s body budget bounds the total.
pub const DEFAULT_MAX_BODY_BYTES: usize = 32 << 20;

/// The default cap on timeline events per transaction: 10 000. Synapse sends at most 100; the
/// cap is far above any homeserver's batches, and keeps a body of tiny events (`[0,0,0,…]`)
/// from costing hundreds of bytes of bookkeeping for each of millions of events.
pub const DEFAULT_MAX_EVENTS: usize = 10_000;

/// How the events of one transaction are handed to [`Handler::event`](crate::Handler::event).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum RoomConcurrency {
    /// One event at a time, in array order (the spec's "as if from an event stream").
    #[default]
    Sequential,
    /// Events of different rooms concurrently (on the same task: no spawning), each room in
    /// array order. Malformed events, which have no room, form one more sequence of their own.
    /// Transactions are still handled one at a time.
    PerRoom,
}

/// The dispatcher's configuration.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DispatchConfig {
    /// Serve the legacy paths (`/transactions/…`, `/users/…`, `/rooms/…`,
    /// `/_matrix/app/unstable/thirdparty/…`). Default: `true`.
    pub legacy_routes: bool,
    /// Larger bodies are refused with 413 `M_TOO_LARGE`. Default: [`DEFAULT_MAX_BODY_BYTES`].
    pub max_body_bytes: usize,
    /// Event concurrency within a transaction. Default: [`RoomConcurrency::Sequential`].
    pub room_concurrency: RoomConcurrency,
    /// A path prefix in front of `/_matrix/app/…` (the path of the registration's `url`,
    /// [AS-ROUTE-1](https://spec.matrix.org/v1.19/application-service-api/#legacy-routes)). `None` (the default) takes it from the registration; requests without the
    /// prefix are served too (for proxies that strip it).
    pub path_prefix: Option<String>,
    /// How many failed transactions' progress (which events were already handled) is kept, so a
    /// retry does not hand them to the handler again. Default: 1024.
    pub progress_capacity: usize,
    /// A transaction with more timeline events is refused with 413 `M_TOO_LARGE` before any of
    /// its events is looked at. Default: [`DEFAULT_MAX_EVENTS`].
    pub max_events: usize,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        Self {
            legacy_routes: true,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            room_concurrency: RoomConcurrency::Sequential,
            path_prefix: None,
            progress_capacity: 1024,
            max_events: DEFAULT_MAX_EVENTS,
        }
    }
}

impl DispatchConfig {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`legacy_routes`](Self::legacy_routes).
    #[must_use]
    pub fn legacy_routes(mut self, on: bool) -> Self {
        self.legacy_routes = on;
        self
    }

    /// Sets [`max_body_bytes`](Self::max_body_bytes).
    #[must_use]
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Sets [`max_events`](Self::max_events).
    #[must_use]
    pub fn max_events(mut self, max: usize) -> Self {
        self.max_events = max;
        self
    }

    /// Sets [`room_concurrency`](Self::room_concurrency).
    #[must_use]
    pub fn room_concurrency(mut self, mode: RoomConcurrency) -> Self {
        self.room_concurrency = mode;
        self
    }

    /// Sets [`path_prefix`](Self::path_prefix).
    #[must_use]
    pub fn path_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.path_prefix = Some(prefix.into());
        self
    }
}
