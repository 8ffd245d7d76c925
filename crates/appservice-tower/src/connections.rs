//! The open connections of [`serve_with`](crate::serve_with): the connection cap, idle
//! detection and eviction.
//!
//! A connection is *idle* while no request of it is being handled: before its first request
//! arrived in full, and after each response. An idle connection is closed after the idle
//! timeout, when the server shuts down, and, oldest first, when the cap is reached or the
//! process runs out of file descriptors, so that connections that never send (or trickle a
//! request head byte by byte) cannot keep the homeserver out.

use parking_lot::Mutex;
use std::{collections::BTreeMap, sync::Arc};

use tokio::{sync::Notify, time::Instant};

/// The registry of open connections.
#[derive(Debug, Default)]
pub(crate) struct Connections {
    state: Mutex<State>,
    /// Signalled whenever a connection closes.
    freed: Notify,
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    open: BTreeMap<u64, Entry>,
    shutting_down: bool,
}

#[derive(Debug)]
struct Entry {
    /// Requests of this connection being handled now.
    busy: usize,
    /// Since when no request was handled (meaningful while `busy` is 0).
    idle_since: Instant,
    /// Tells the connection's task to close it.
    close: Arc<Notify>,
}

impl Connections {
    /// Registers a new (idle) connection.
    pub(crate) fn open(self: &Arc<Self>) -> Connection {
        let mut s = self.state.lock();
        let id = s.next_id;
        s.next_id += 1;
        let close = Arc::new(Notify::new());
        s.open.insert(id, Entry { busy: 0, idle_since: Instant::now(), close: Arc::clone(&close) });
        Connection { id, close, registry: Arc::clone(self) }
    }

    /// How many connections are open.
    pub(crate) fn len(&self) -> usize {
        self.state.lock().open.len()
    }

    /// Tells the connection that has been idle longest to close; `false` if none is idle.
    pub(crate) fn evict_oldest_idle(&self) -> bool {
        let s = self.state.lock();
        let oldest = s.open.values().filter(|e| e.busy == 0).min_by_key(|e| e.idle_since);
        match oldest {
            Some(entry) => {
                entry.close.notify_one();
                true
            }
            None => false,
        }
    }

    /// Waits until some connection closes.
    pub(crate) async fn wait_for_a_close(&self) {
        self.freed.notified().await;
    }

    /// Shutdown: every idle connection closes now, and each busy one as soon as it is idle
    /// (after hyper has written its response: see [`Connection::should_close_idle`]).
    pub(crate) fn shut_down(&self) {
        let mut s = self.state.lock();
        s.shutting_down = true;
        for entry in s.open.values().filter(|e| e.busy == 0) {
            entry.close.notify_one();
        }
    }
}

/// One open connection's handle; dropping it unregisters the connection.
#[derive(Debug)]
pub(crate) struct Connection {
    id: u64,
    close: Arc<Notify>,
    registry: Arc<Connections>,
}

impl Connection {
    /// What the connection's service uses to mark its requests as in flight.
    pub(crate) fn tracker(&self) -> Tracker {
        Tracker { id: self.id, registry: Arc::clone(&self.registry) }
    }

    /// Completes when the connection was told to close (evicted, or shutdown while idle).
    pub(crate) async fn close_requested(&self) {
        self.close.notified().await;
    }

    /// When the connection, idle now, must be closed for idleness (`None`: it is busy).
    pub(crate) fn idle_deadline(&self, idle_timeout: std::time::Duration) -> Option<Instant> {
        let s = self.registry.state.lock();
        let e = s.open.get(&self.id)?;
        (e.busy == 0).then(|| e.idle_since + idle_timeout)
    }

    /// Whether an idle connection must close at once (the server is shutting down).
    pub(crate) fn should_close_idle(&self) -> bool {
        let s = self.registry.state.lock();
        s.shutting_down && s.open.get(&self.id).is_some_and(|e| e.busy == 0)
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.registry.state.lock().open.remove(&self.id);
        self.registry.freed.notify_waiters();
    }
}

/// Marks the requests of one connection as in flight.
#[derive(Clone, Debug)]
pub(crate) struct Tracker {
    id: u64,
    registry: Arc<Connections>,
}

impl Tracker {
    /// Marks a request as being handled until the returned guard is dropped.
    pub(crate) fn busy(&self) -> Busy {
        if let Some(e) = self.registry.state.lock().open.get_mut(&self.id) {
            e.busy += 1;
        }
        Busy { id: self.id, registry: Arc::clone(&self.registry) }
    }
}

/// A request being handled; dropping it makes the connection idle again (if it was the last).
#[derive(Debug)]
pub(crate) struct Busy {
    id: u64,
    registry: Arc<Connections>,
}

impl Drop for Busy {
    fn drop(&mut self) {
        if let Some(e) = self.registry.state.lock().open.get_mut(&self.id) {
            e.busy = e.busy.saturating_sub(1);
            if e.busy == 0 {
                e.idle_since = Instant::now();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_longest_idle_connection_is_evicted_and_busy_ones_are_not() {
        let registry = Arc::new(Connections::default());
        let a = registry.open();
        tokio::time::advance(std::time::Duration::from_secs(1)).await;
        let b = registry.open();
        let busy = a.tracker().busy();
        assert_eq!(registry.len(), 2);
        assert!(registry.evict_oldest_idle(), "b is idle");
        // b was told to close, a (busy, though older) was not.
        tokio::time::timeout(std::time::Duration::from_millis(1), b.close_requested())
            .await
            .unwrap_or_else(|_| panic!("b must be told to close"));
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(1), a.close_requested())
                .await
                .is_err()
        );
        assert_eq!(a.idle_deadline(std::time::Duration::from_secs(5)), None, "busy");
        drop(busy);
        assert!(a.idle_deadline(std::time::Duration::from_secs(5)).is_some());
        drop(b);
        assert_eq!(registry.len(), 1);
        registry.shut_down();
        assert!(a.should_close_idle());
    }
}
