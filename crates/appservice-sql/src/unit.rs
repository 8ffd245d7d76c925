//! [`SqlUnit`]: one database transaction, shared by a transaction's handler calls, committed
//! with its record.

use std::sync::Arc;

use appservice_dispatch::{BoxFuture, Fingerprint, StoreError, UnitOfWork};
use sqlx::{Any, AnyConnection, Transaction};
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};

use crate::{
    SqlError, SqlErrorKind,
    state::{kv_get, kv_keys_of, kv_remove, kv_set},
    store::{Shared, insert_record},
};

/// A unit's open database transaction, shared with the [`SqlState`](crate::SqlState) of the same
/// store while the unit is open; `None` once committed.
pub(crate) type OpenTx = Arc<Mutex<Option<Transaction<'static, Any>>>>;

/// The [`SqlStore`](crate::SqlStore)'s unit of work: an open database transaction. Write the
/// bridge's own state through [`lock`](Self::lock); it commits together with the appservice
/// transaction's record once every handler call succeeded, and rolls back otherwise.
///
/// Get it in a handler with
/// [`TransactionContext::unit`](appservice_dispatch::TransactionContext::unit).
///
/// While it is open, the same store's [`SqlState`](crate::SqlState) (the client's state store)
/// runs its statements in it too: what the client learns while handling the transaction (a
/// registration, a join) commits with it, and never waits for the locks the unit holds (SQLite
/// has one writer; PostgreSQL locks the rows the unit wrote). So do not hold the guard of
/// [`lock`](Self::lock) across a client call.
pub struct SqlUnit {
    txn_id: String,
    recorded: Option<Fingerprint>,
    /// The fingerprint this unit already wrote the record with (a new ID), if any.
    claimed: Option<Fingerprint>,
    tx: OpenTx,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SqlUnit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlUnit").field("txn_id", &self.txn_id).finish_non_exhaustive()
    }
}

impl SqlUnit {
    pub(crate) fn new(
        txn_id: String,
        recorded: Option<Fingerprint>,
        claimed: Option<Fingerprint>,
        tx: Transaction<'static, Any>,
        shared: Arc<Shared>,
    ) -> Self {
        let tx = Arc::new(Mutex::new(Some(tx)));
        shared.set_open_unit(&tx);
        Self { txn_id, recorded, claimed, tx, shared }
    }

    /// The open database transaction, as a connection to run statements on
    /// (`query.execute(&mut *unit.lock().await?)`). Handler calls running at once (per-room
    /// concurrency) take turns on it.
    pub async fn lock(&self) -> Result<MappedMutexGuard<'_, AnyConnection>, SqlError> {
        let guard = MutexGuard::try_map(self.tx.lock().await, Option::as_mut)
            .map_err(|_| SqlError::new(SqlErrorKind::Query, "the unit of work is finished"))?;
        Ok(MappedMutexGuard::map(guard, |tx| &mut **tx))
    }
}

impl Drop for SqlUnit {
    fn drop(&mut self) {
        self.shared.clear_open_unit(&self.tx);
    }
}

/// The bridge's key-value mappings, written in this unit: committed with the transaction, or
/// rolled back with it. The same as [`SqlState`](crate::SqlState)'s methods of these names.
impl SqlUnit {
    /// The value of `key` in `namespace`, as this unit sees it.
    pub async fn get(&self, namespace: &str, key: &str) -> Result<Option<String>, SqlError> {
        kv_get(&mut *self.lock().await?, namespace, key).await
    }

    /// The keys of `namespace` whose value is `value`, sorted, as this unit sees them.
    pub async fn keys_of(&self, namespace: &str, value: &str) -> Result<Vec<String>, SqlError> {
        kv_keys_of(&mut *self.lock().await?, namespace, value).await
    }

    /// Sets `key` in `namespace` to `value`.
    pub async fn set(&self, namespace: &str, key: &str, value: &str) -> Result<(), SqlError> {
        kv_set(&mut *self.lock().await?, namespace, key, value).await
    }

    /// Removes `key` from `namespace`; whether it was there.
    pub async fn remove(&self, namespace: &str, key: &str) -> Result<bool, SqlError> {
        kv_remove(&mut *self.lock().await?, namespace, key).await
    }
}

impl UnitOfWork for SqlUnit {
    fn recorded(&self) -> Option<Fingerprint> {
        self.recorded
    }

    fn commit(
        self: Box<Self>,
        fingerprint: Fingerprint,
    ) -> BoxFuture<'static, Result<(), StoreError>> {
        Box::pin(async move {
            // Waits for a state-store statement running in the unit, then keeps it from others.
            let taken = self.tx.lock().await.take();
            self.shared.clear_open_unit(&self.tx);
            let mut tx = taken.ok_or_else(|| {
                StoreError::from(SqlError::new(SqlErrorKind::Query, "the unit of work is finished"))
            })?;
            // Claimed at the start with this fingerprint: the record is written already.
            if self.claimed != Some(fingerprint) {
                insert_record(&mut tx, &self.txn_id, fingerprint).await?;
            }
            tx.commit().await.map_err(|e| {
                StoreError::from(crate::SqlError::sqlx(
                    crate::SqlErrorKind::Query,
                    "committing a unit of work",
                    e,
                ))
            })?;
            self.shared.committed().await;
            Ok(())
        })
    }
}
