//! [`UnitOfWork`]: a store-side transaction that the handler writes through and the store
//! commits together with the transaction's record, so a bridge's own writes and "transaction
//! done" become durable together or not at all.

use std::any::Any;

use super::{Fingerprint, StoreError};
use crate::BoxFuture;

/// One open unit of work of a [`TransactionStore`](super::TransactionStore) that offers them
/// ([`TransactionStore::begin`](super::TransactionStore::begin)).
///
/// The dispatcher opens a unit for a transaction in its turn, hands it to every handler call
/// of that transaction ([`TransactionContext::unit`](crate::TransactionContext::unit)), then
/// either commits it with the record ([`commit`](Self::commit): all the handler's writes and
/// the record, atomically) after every handler call succeeded, or drops it (everything rolled
/// back) when one failed. A crash at any point therefore leaves either both or neither.
///
/// Because a failed attempt leaves nothing behind, the dispatcher's within-process retry
/// progress is not used with units: a retry runs every event of the transaction again.
///
/// Handlers find the store's concrete unit with
/// [`TransactionContext::unit`](crate::TransactionContext::unit); several handler calls may use
/// it at once (per-room concurrency), so a unit synchronises its own inner state.
pub trait UnitOfWork: Any + Send + Sync + std::fmt::Debug {
    /// The fingerprint recorded for this unit's transaction ID, as seen inside the unit (after
    /// the locks [`begin`](super::TransactionStore::begin) took): `Some` means another delivery
    /// (another process, for a shared database) completed it meanwhile, and the dispatcher
    /// acknowledges without calling the handler.
    fn recorded(&self) -> Option<Fingerprint>;

    /// Records the transaction as completed with `fingerprint`, inside the unit, and commits
    /// the unit: durable when it returns `Ok`. On `Err` nothing of the unit may be left
    /// committed, or all of it (a commit whose outcome is unknown, such as a lost connection
    /// during `COMMIT`, is both: the retry then finds the record).
    fn commit(
        self: Box<Self>,
        fingerprint: Fingerprint,
    ) -> BoxFuture<'static, Result<(), StoreError>>;
}
