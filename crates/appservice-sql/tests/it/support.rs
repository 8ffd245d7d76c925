//! A database of either kind for a test, and a handler that writes through the unit.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use appservice_conformance::handler::registration;
use appservice_dispatch::{
    DispatchConfig, Dispatcher, Event, Handler, HandlerError, TransactionContext,
};
use appservice_sql::{SqlConfig, SqlStore, SqlUnit};

use appservice_test_pg::Postgres;

/// Which database a test runs on.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    Sqlite,
    Postgres,
}

/// A fresh, empty database, kept alive as long as this is.
pub(crate) struct Database {
    pub(crate) url: String,
    pub(crate) postgres: Option<Postgres>,
    _dir: tempfile::TempDir,
}

impl Database {
    pub(crate) async fn new(kind: Kind) -> Self {
        let dir = tempfile::tempdir().unwrap();
        match kind {
            Kind::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("appservice.db").display());
                Self { url, postgres: None, _dir: dir }
            }
            Kind::Postgres => {
                let pg = Postgres::start();
                let url = pg.create_db("appservice");
                Self { url, postgres: Some(pg), _dir: dir }
            }
        }
    }

    pub(crate) async fn store(&self) -> SqlStore {
        self.store_with(SqlConfig::default()).await
    }

    pub(crate) async fn store_with(&self, config: SqlConfig) -> SqlStore {
        let store = SqlStore::connect(&self.url, config).await.unwrap();
        sqlx::query("CREATE TABLE IF NOT EXISTS bridge_rows (event_id TEXT NOT NULL)")
            .execute(store.pool())
            .await
            .unwrap();
        store
    }
}

/// The bridge's rows, sorted.
pub(crate) async fn rows(store: &SqlStore) -> Vec<String> {
    let rows: Vec<(String,)> = sqlx::query_as("SELECT event_id FROM bridge_rows ORDER BY event_id")
        .fetch_all(store.pool())
        .await
        .unwrap();
    rows.into_iter().map(|r| r.0).collect()
}

/// Writes each event's ID into `bridge_rows` through the unit; fails the first `fail` calls.
#[derive(Clone, Default)]
pub(crate) struct RowWriter {
    pub(crate) calls: Arc<AtomicUsize>,
    pub(crate) fail: Arc<AtomicUsize>,
}

impl Handler for RowWriter {
    async fn event(
        &self,
        txn: &TransactionContext<'_>,
        event: Event<'_>,
    ) -> Result<(), HandlerError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        write_row(txn, event).await?;
        if self.fail.load(Ordering::SeqCst) > 0 {
            self.fail.fetch_sub(1, Ordering::SeqCst);
            return Err(HandlerError::failed("scripted"));
        }
        Ok(())
    }
}

/// Inserts the event's ID into `bridge_rows` through the transaction's unit.
pub(crate) async fn write_row(
    txn: &TransactionContext<'_>,
    event: Event<'_>,
) -> Result<(), HandlerError> {
    insert_row(txn, event_id(&event)).await
}

/// The event's ID (empty without an envelope).
pub(crate) fn event_id(event: &Event<'_>) -> String {
    event.envelope.as_ref().map(|e| e.event_id.to_string()).unwrap_or_default()
}

/// Inserts `row` into `bridge_rows` through the transaction's unit.
pub(crate) async fn insert_row(
    txn: &TransactionContext<'_>,
    row: String,
) -> Result<(), HandlerError> {
    let unit = txn.unit::<SqlUnit>().ok_or_else(|| HandlerError::failed("no unit"))?;
    sqlx::query("INSERT INTO bridge_rows (event_id) VALUES ($1)")
        .bind(row)
        .execute(&mut *unit.lock().await.map_err(HandlerError::failed)?)
        .await
        .map_err(HandlerError::failed)?;
    Ok(())
}

/// A dispatcher over `store` with the default configuration.
pub(crate) fn dispatcher<H: Handler>(handler: H, store: &SqlStore) -> Dispatcher<H, SqlStore> {
    Dispatcher::with_store(registration("null"), handler, store.clone(), DispatchConfig::default())
}
