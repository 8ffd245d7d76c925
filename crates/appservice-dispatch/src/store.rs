//! [`TransactionStore`]: which transactions are done, so a retry is acknowledged without running
//! the handler again.
//!
//! A store keeps, for each completed transaction ID, a [`Fingerprint`] of its events. A
//! homeserver must not change the events of a transaction ID on retries ([AS-TXN-4](https://spec.matrix.org/v1.19/application-service-api/#pushing-events)), so "same ID,
//! same fingerprint" is a retry; "same ID, other fingerprint" means the ID was reused (for
//! example a homeserver whose database was reset starts counting from 1 again), and the
//! transaction is handled as new instead of being silently dropped.
//!
//! Stores are bounded: they remember the most recent `capacity` transactions. Homeservers retry
//! the oldest unacknowledged transaction first (Synapse: one in flight per appservice), so the
//! bound only has to cover the retry window, not history.

mod bounded;
mod unit;

use parking_lot::Mutex;

pub use bounded::{BoundedMap, MAX_KEY_BYTES, key};
pub use unit::UnitOfWork;

use crate::BoxFuture;

/// The default number of completed transactions a store remembers.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// A stable 64-bit digest of a transaction's event IDs, in order: XXH3-64 (seed 0, the default
/// secret, as the xxHash specification defines it) of the length-prefixed IDs.
///
/// Not cryptographic: whoever can send transactions holds the `hs_token` anyway.
///
/// Version 0.1.0 used 64-bit FNV-1a over the same bytes (one multiplication per byte: about 5×
/// the instructions of XXH3 for 50 event IDs). Persistent stores may hold such fingerprints: the
/// dispatcher also accepts a recorded fingerprint that equals the FNV-1a digest of the events, so
/// a transaction completed before an upgrade is still recognised when it is retried after it
/// (this costs nothing on the happy path: FNV-1a is computed only when the current fingerprint
/// does not match).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[allow(clippy::exhaustive_structs)] // A newtype over its digest, by design.
pub struct Fingerprint(pub u64);

impl Fingerprint {
    /// The fingerprint of a sequence of event identities (event IDs, or the raw JSON of an event
    /// without one): XXH3-64 of each part's length (8 bytes, little-endian) followed by its
    /// bytes. Length-prefixed, so `["ab", "c"]` and `["a", "bc"]` differ.
    pub fn of<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> Self {
        // One contiguous input and a one-shot hash: the streaming hasher costs more per `write`
        // (two per part) than the copy. Event IDs are mostly 40-50 bytes.
        let parts = parts.into_iter();
        let mut input = Vec::with_capacity(parts.size_hint().0 * 64);
        for part in parts {
            input.extend_from_slice(&(part.len() as u64).to_le_bytes());
            input.extend_from_slice(part);
        }
        Self(twox_hash::XxHash3_64::oneshot(&input))
    }

    /// The fingerprint of older versions: 64-bit FNV-1a over the same bytes as [`of`](Self::of).
    pub fn of_fnv1a<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> Self {
        const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
        const PRIME: u64 = 0x0000_0100_0000_01b3;
        let mut hash = OFFSET;
        let mut feed = |bytes: &[u8]| {
            for b in bytes {
                hash ^= u64::from(*b);
                hash = hash.wrapping_mul(PRIME);
            }
        };
        for part in parts {
            feed(&(part.len() as u64).to_le_bytes());
            feed(part);
        }
        Self(hash)
    }
}

/// A store failed; the transaction is answered with a 500 and retried by the homeserver.
#[derive(Debug, thiserror::Error)]
#[error("transaction store: {message}")]
#[non_exhaustive]
pub struct StoreError {
    message: String,
    #[source]
    source: Option<crate::BoxError>,
}

impl StoreError {
    /// An error with a message and a cause.
    pub fn new(message: impl Into<String>, source: impl Into<crate::BoxError>) -> Self {
        Self { message: message.into(), source: Some(source.into()) }
    }

    /// An error with a message only.
    pub fn msg(message: impl Into<String>) -> Self {
        Self { message: message.into(), source: None }
    }

    /// What went wrong (without the cause: see [`std::error::Error::source`]).
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Remembers completed transactions. Implement it to keep them in your own database.
///
/// **Contract.** After `record(id, fp)` has returned `Ok`, `lookup(id)` returns `Some(fp)` — also
/// after a crash and restart, for a persistent store — until at least `capacity` later
/// transactions have been recorded. The dispatcher calls `record` only after the handler returned
/// success, and answers 200 only after `record` returned `Ok`.
///
/// A store on a database should also offer [units of work](UnitOfWork) ([`begin`](Self::begin)):
/// the handler then writes its own state in the same database transaction as the record, and a
/// crash can never make a transaction's writes happen twice or be lost while it counts as done.
/// Without units, a crash after the handler's writes but before `record` makes the homeserver's
/// retry run the handler again.
pub trait TransactionStore: Send + Sync + 'static {
    /// The fingerprint recorded for `txn_id`, if it was completed.
    fn lookup<'a>(
        &'a self,
        txn_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Fingerprint>, StoreError>>;

    /// Records `txn_id` as completed. Must be durable when it returns, for a persistent store.
    fn record<'a>(
        &'a self,
        txn_id: &'a str,
        fingerprint: Fingerprint,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Opens a unit of work for `txn_id`, or `None` if this store has none (the default: the
    /// dispatcher then calls [`record`](Self::record) after the handler). Called once per
    /// attempt, in the transaction's turn; the unit may take locks (a shared database: so that
    /// one process at a time handles transactions) and must see every record committed before.
    ///
    /// `fingerprint` is this delivery's, the one [`UnitOfWork::commit`] will get: a store may
    /// write the record at once, inside the unit (it then commits or rolls back with the unit),
    /// and save a statement at the commit.
    fn begin<'a>(
        &'a self,
        txn_id: &'a str,
        fingerprint: Fingerprint,
    ) -> BoxFuture<'a, Result<Option<Box<dyn UnitOfWork>>, StoreError>> {
        let _ = (txn_id, fingerprint);
        Box::pin(std::future::ready(Ok(None)))
    }

    /// Whether [`begin`](Self::begin) always opens a unit. Then the dispatcher looks the record
    /// up only inside the unit (one query per transaction instead of two); a duplicate of a
    /// completed transaction waits for its turn before it is acknowledged. Default: `false`.
    fn offers_units(&self) -> bool {
        false
    }
}

impl<S: TransactionStore + ?Sized> TransactionStore for std::sync::Arc<S> {
    fn lookup<'a>(
        &'a self,
        txn_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Fingerprint>, StoreError>> {
        (**self).lookup(txn_id)
    }

    fn record<'a>(
        &'a self,
        txn_id: &'a str,
        fingerprint: Fingerprint,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        (**self).record(txn_id, fingerprint)
    }

    fn begin<'a>(
        &'a self,
        txn_id: &'a str,
        fingerprint: Fingerprint,
    ) -> BoxFuture<'a, Result<Option<Box<dyn UnitOfWork>>, StoreError>> {
        (**self).begin(txn_id, fingerprint)
    }

    fn offers_units(&self) -> bool {
        (**self).offers_units()
    }
}

/// An in-memory store of the most recent `capacity` transactions. Forgets everything on restart:
/// after a crash the homeserver's retry of the last unacknowledged transaction is handled again.
#[derive(Debug)]
pub struct MemoryStore {
    inner: Mutex<BoundedMap<Fingerprint>>,
}

impl MemoryStore {
    /// A store remembering [`DEFAULT_CAPACITY`] transactions.
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }

    /// A store remembering `capacity` transactions (at least 1).
    pub fn with_capacity(capacity: usize) -> Self {
        Self { inner: Mutex::new(BoundedMap::new(capacity)) }
    }

    /// How many transactions it remembers now.
    pub fn len(&self) -> usize {
        self.inner.lock().len()
    }

    /// Whether it remembers none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl TransactionStore for MemoryStore {
    fn lookup<'a>(
        &'a self,
        txn_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Fingerprint>, StoreError>> {
        let found = self.inner.lock().get(txn_id).copied();
        Box::pin(std::future::ready(Ok(found)))
    }

    fn record<'a>(
        &'a self,
        txn_id: &'a str,
        fingerprint: Fingerprint,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.inner.lock().insert(txn_id, fingerprint);
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_length_prefixed_and_stable() {
        for of in [Fingerprint::of, Fingerprint::of_fnv1a] {
            assert_ne!(of([b"ab".as_slice(), b"c"]), of([b"a".as_slice(), b"bc"]));
            assert_eq!(of([b"a".as_slice(), b"b"]), of([b"a".as_slice(), b"b"]));
        }
        // Stable across versions and platforms: a persistent store depends on it.
        // XXH3-64 of the empty input (the xxHash specification's test vector).
        assert_eq!(Fingerprint::of([]), Fingerprint(0x2d06_8005_38d3_94c2));
        assert_eq!(Fingerprint::of([b"$event".as_slice()]), Fingerprint(XXH3_EVENT));
        // One part = its length then its bytes, in one stream.
        let mut input = 6u64.to_le_bytes().to_vec();
        input.extend_from_slice(b"$event");
        assert_eq!(twox_hash::XxHash3_64::oneshot(&input), XXH3_EVENT);
        // The FNV-1a fingerprint older versions persisted.
        assert_eq!(
            Fingerprint::of_fnv1a([b"$event".as_slice()]),
            Fingerprint(0x6709_57cf_f71f_e8bf)
        );
        assert_eq!(Fingerprint::of_fnv1a([]), Fingerprint(0xcbf2_9ce4_8422_2325));
    }

    /// XXH3-64 of `6u64` (little-endian) then `$event`, as the reference C implementation computes
    /// it (python-xxhash `xxh3_64_intdigest`).
    const XXH3_EVENT: u64 = 0xb120_70eb_b996_e49c;
}
