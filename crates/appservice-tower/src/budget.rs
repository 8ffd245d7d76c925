//! [`BodyBudget`]: a bound on the request bodies held in memory at once, across requests.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bytes of request bodies that may be in memory at once (received, parsed, being handled).
#[derive(Debug)]
pub(crate) struct BodyBudget {
    bytes: Arc<Semaphore>,
    total: usize,
}

impl BodyBudget {
    pub(crate) fn new(total: usize) -> Self {
        let total = total.clamp(1, Semaphore::MAX_PERMITS);
        Self { bytes: Arc::new(Semaphore::new(total)), total }
    }

    /// Reserves `bytes` of the budget until the returned permit is dropped; `None` if that much
    /// is not free now. A body larger than the whole budget reserves all of it.
    pub(crate) fn reserve(&self, bytes: usize) -> Option<OwnedSemaphorePermit> {
        let bytes = u32::try_from(bytes.clamp(1, self.total)).unwrap_or(u32::MAX);
        Arc::clone(&self.bytes).try_acquire_many_owned(bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_are_bounded_and_returned() {
        let budget = BodyBudget::new(100);
        let a = budget.reserve(60).expect("free");
        assert!(budget.reserve(50).is_none(), "only 40 left");
        let b = budget.reserve(40).expect("exactly what is left");
        drop((a, b));
        assert!(budget.reserve(1_000).is_some(), "a body over the budget takes all of it");
    }
}
