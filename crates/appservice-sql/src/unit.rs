//! [`SqlUnit`]: one database transaction, shared by a transaction's handler calls, committed
//! with its record.

use std::sync::Arc;

use appservice_dispatch::{BoxFuture, Fingerprint, StoreError, UnitOfWork};
use sqlx::{Any, AnyConnection, Transaction};
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};

use crate::{
    SqlError,
    state::{kv_get, kv_keys_of, kv_remove, kv_set},
    store::{Shared, insert_record},
};

/// The [`SqlStore`](crate::SqlStore)'s unit of work: an open database transaction. Write the
/// bridge's own state through [`lock`](Self::lock); it commits together with the appservice
/// transaction's record once every handler call succeeded, and rolls back otherwise.
///
/// Get it in a handler with
/// [`TransactionContext::unit`](appservice_dispatch::TransactionContext::unit).
pub struct SqlUnit {
    txn_id: String,
    recorded: Option<Fingerprint>,
    tx: Mutex<Transaction<'static, Any>>,
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
        tx: Transaction<'static, Any>,
        shared: Arc<Shared>,
    ) -> Self {
        Self { txn_id, recorded, tx: Mutex::new(tx), shared }
    }

    /// The open database transaction, as a connection to run statements on
    /// (`query.execute(&mut *unit.lock().await)`). Handler calls running at once (per-room
    /// concurrency) take turns on it.
    pub async fn lock(&self) -> MappedMutexGuard<'_, AnyConnection> {
        MutexGuard::map(self.tx.lock().await, |tx| &mut **tx)
    }
}

/// The bridge's key-value mappings, written in this unit: committed with the transaction, or
/// rolled back with it. The same as [`SqlState`](crate::SqlState)'s methods of these names.
impl SqlUnit {
    /// The value of `key` in `namespace`, as this unit sees it.
    pub async fn get(&self, namespace: &str, key: &str) -> Result<Option<String>, SqlError> {
        kv_get(&mut *self.lock().await, namespace, key).await
    }

    /// The keys of `namespace` whose value is `value`, sorted, as this unit sees them.
    pub async fn keys_of(&self, namespace: &str, value: &str) -> Result<Vec<String>, SqlError> {
        kv_keys_of(&mut *self.lock().await, namespace, value).await
    }

    /// Sets `key` in `namespace` to `value`.
    pub async fn set(&self, namespace: &str, key: &str, value: &str) -> Result<(), SqlError> {
        kv_set(&mut *self.lock().await, namespace, key, value).await
    }

    /// Removes `key` from `namespace`; whether it was there.
    pub async fn remove(&self, namespace: &str, key: &str) -> Result<bool, SqlError> {
        kv_remove(&mut *self.lock().await, namespace, key).await
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
            let Self { txn_id, tx, shared, .. } = *self;
            let mut tx = tx.into_inner();
            insert_record(&mut tx, &txn_id, fingerprint).await?;
            tx.commit().await.map_err(|e| {
                StoreError::from(crate::SqlError::sqlx(
                    crate::SqlErrorKind::Query,
                    "committing a unit of work",
                    e,
                ))
            })?;
            shared.committed().await;
            Ok(())
        })
    }
}
