//! The one poison-tolerant mutex lock of the crate.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `m`, also after a panic in another holder: no critical section of this crate leaves
/// its data half-updated across a panic (none awaits or returns early mid-update).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
