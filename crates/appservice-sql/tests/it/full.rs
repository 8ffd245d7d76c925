//! A full disk: a transaction whose writes do not fit is answered 500 and leaves nothing; once
//! there is room, the next one is recorded. A child process under `RLIMIT_FSIZE` (with
//! `SIGXFSZ` ignored, so a write past the limit fails with `EFBIG` as on a full disk).

use std::process::Command;

use appservice_conformance::handler::{body, put_txn};
use appservice_dispatch::{Event, Handler, HandlerError, TransactionContext, TransactionStore};
use appservice_sql::{SqlConfig, SqlStore, SqlUnit};

use crate::support::{Database, Kind, dispatcher, rows};

const URL: &str = "APPSERVICE_SQL_FULL_URL";

/// Writes a 1 MiB row for transaction `big`, the event ID otherwise.
struct Writer;

impl Handler for Writer {
    async fn event(
        &self,
        txn: &TransactionContext<'_>,
        event: Event<'_>,
    ) -> Result<(), HandlerError> {
        let unit = txn.unit::<SqlUnit>().ok_or_else(|| HandlerError::failed("no unit"))?;
        let id = event.envelope.map(|e| e.event_id.to_string()).unwrap_or_default();
        let row = if txn.txn_id == "big" { "x".repeat(1 << 20) } else { id };
        sqlx::query("INSERT INTO bridge_rows (event_id) VALUES ($1)")
            .bind(row)
            .execute(&mut *unit.lock().await.map_err(HandlerError::failed)?)
            .await
            .map_err(HandlerError::failed)?;
        Ok(())
    }
}

/// The child's side, started by the test below (ignored in a normal run: it needs its limit).
#[tokio::test]
#[ignore = "the child process of a_full_disk_answers_500_and_leaves_nothing_behind, which runs it"]
async fn full_child() {
    let url = std::env::var(URL).expect("started by the full-disk test, with the URL set");
    let _ = signal_hook::flag::register(
        signal_hook::consts::SIGXFSZ,
        std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
    )
    .unwrap();
    let store = SqlStore::connect(&url, SqlConfig::default()).await.unwrap();
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(store.pool()).await.unwrap();
    let path = url.trim_start_matches("sqlite://");
    let size = std::fs::metadata(path).unwrap().len();
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::FSIZE).unwrap();
    // The write-ahead log starts empty; a 1 MiB row cannot fit in 64 KiB more than the database.
    rlimit::setrlimit(rlimit::Resource::FSIZE, size + (64 << 10), hard).unwrap();
    let d = dispatcher(Writer, &store);
    let full = d.dispatch(put_txn("big", body(&[("$big", "!r")]))).await;
    assert_eq!(full.status(), 500, "never 200 for a transaction that could not be recorded");
    rlimit::setrlimit(rlimit::Resource::FSIZE, hard, hard).unwrap(); // room again
    assert_eq!(d.dispatch(put_txn("small", body(&[("$small", "!r")]))).await.status(), 200);
}

#[tokio::test]
async fn a_full_disk_answers_500_and_leaves_nothing_behind() {
    let db = Database::new(Kind::Sqlite).await;
    let store = db.store().await;
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["full::full_child", "--exact", "--ignored", "--nocapture"])
        .env(URL, &db.url)
        .status()
        .unwrap();
    assert!(status.success(), "the child failed: {status}");
    assert_eq!(store.lookup("big").await.unwrap(), None);
    assert!(store.lookup("small").await.unwrap().is_some());
    assert_eq!(rows(&store).await, ["$small"]);
}
