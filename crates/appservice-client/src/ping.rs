//! [`PingTracker`]: remembers the `transaction_id`s that reached our own
//! `POST /_matrix/app/v1/ping` handler, so a CS ping can confirm that the homeserver's ping
//! arrived at *this* appservice (checklist [AS-PING-5](https://spec.matrix.org/v1.19/application-service-api/#pinging)).
//!
//! The homeserver answers the CS ping only after the appservice answered its
//! `/_matrix/app/v1/ping` (EX-PINGFLOW-OK), so once the CS ping returns 200 our handler has
//! already recorded the ID: no waiting and no timer are needed.

use parking_lot::Mutex;
use std::{collections::VecDeque, sync::Arc};

/// How many recent ping transaction IDs a tracker keeps.
const CAPACITY: usize = 64;

/// The transaction IDs our appservice's ping handler has seen recently. Cheap to clone (shared).
///
/// Wire it into the appservice's `/_matrix/app/v1/ping` handler — with `appservice-dispatch`,
/// call [`PingTracker::record`] from `Handler::ping(transaction_id)` — and pass it to
/// [`Client::ping_and_confirm`](crate::Client::ping_and_confirm) or
/// [`Client::ping_until_ready`](crate::Client::ping_until_ready).
///
/// ```
/// use appservice_client::PingTracker;
///
/// let tracker = PingTracker::new();
/// tracker.record(Some("asrs-ping-1")); // in the /_matrix/app/v1/ping handler
/// tracker.record(None); // Synapse sends {"transaction_id": null} for pings without an ID
/// assert!(tracker.take("asrs-ping-1"));
/// assert!(!tracker.take("asrs-ping-1")); // each confirmation is used once
/// ```
#[derive(Clone, Debug, Default)]
pub struct PingTracker {
    seen: Arc<Mutex<VecDeque<String>>>,
}

impl PingTracker {
    /// An empty tracker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the `transaction_id` of a ping the appservice received (the body's
    /// `transaction_id`, which may be absent or `null`). Keeps the 64 most recent.
    pub fn record(&self, transaction_id: Option<&str>) {
        let Some(id) = transaction_id else { return };
        let mut seen = self.seen.lock();
        if seen.len() == CAPACITY {
            seen.pop_front();
        }
        seen.push_back(id.to_owned());
    }

    /// Whether `transaction_id` was seen; forgets it if so.
    pub fn take(&self, transaction_id: &str) -> bool {
        let mut seen = self.seen.lock();
        match seen.iter().position(|s| s == transaction_id) {
            Some(i) => {
                seen.remove(i);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_the_most_recent() {
        let t = PingTracker::new();
        for i in 0..=CAPACITY {
            t.record(Some(&format!("p{i}")));
        }
        assert!(!t.take("p0"));
        assert!(t.take("p1"));
        assert!(t.take(&format!("p{CAPACITY}")));
    }
}
