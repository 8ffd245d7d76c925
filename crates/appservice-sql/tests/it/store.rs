//! The store on each backend: schema and its refusals, records, units, pruning, faults.

use std::time::Duration;

use appservice_conformance::handler::{body, put_txn};
use appservice_dispatch::{Fingerprint, TransactionStore, store::MAX_KEY_BYTES};
use appservice_sql::{SqlConfig, SqlErrorKind, SqlStore, migrate::SCHEMA_VERSION};

use crate::support::{Database, Kind, RowWriter, dispatcher, rows};

async fn for_each_backend<F, Fut>(test: F)
where
    F: Fn(Kind) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    test(Kind::Sqlite).await;
    test(Kind::Postgres).await;
}

#[tokio::test]
async fn the_schema_is_created_once_and_a_newer_one_is_refused_naming_its_table() {
    for_each_backend(|kind| async move {
        let db = Database::new(kind).await;
        let store = db.store().await;
        let (version,): (i64,) = sqlx::query_as(
            "SELECT version FROM appservice_schema WHERE component = 'appservice-sql'",
        )
        .fetch_one(store.pool())
        .await
        .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        drop(store);
        let again = db.store().await; // Migrations are idempotent.
        sqlx::query("UPDATE appservice_schema SET version = 99")
            .execute(again.pool())
            .await
            .unwrap();
        again.pool().close().await;
        let e = SqlStore::connect(&db.url, SqlConfig::default()).await.unwrap_err();
        assert_eq!(e.kind(), SqlErrorKind::Schema, "{kind:?}");
        let message = e.to_string();
        assert!(
            message.contains("appservice_schema") && message.contains("version 99"),
            "{message}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_foreign_table_of_our_name_is_refused() {
    for_each_backend(|kind| async move {
        let db = Database::new(kind).await;
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&format!(
            "{}{}",
            db.url,
            if matches!(kind, Kind::Sqlite) { "?mode=rwc" } else { "" }
        ))
        .await
        .unwrap();
        sqlx::query("CREATE TABLE appservice_transactions (x BIGINT)")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        let e = SqlStore::connect(&db.url, SqlConfig::default()).await.unwrap_err();
        assert_eq!(e.kind(), SqlErrorKind::Schema);
        assert!(e.to_string().contains("table appservice_transactions exists"), "{e}");
    })
    .await;
}

#[tokio::test]
async fn records_survive_reopening_long_ids_are_keyed_and_a_reused_id_is_replaced() {
    for_each_backend(|kind| async move {
        let db = Database::new(kind).await;
        let store = db.store().await;
        let long = "x".repeat(MAX_KEY_BYTES + 10);
        store.record("1", Fingerprint(7)).await.unwrap();
        store.record(&long, Fingerprint(u64::MAX)).await.unwrap();
        store.record("1", Fingerprint(8)).await.unwrap();
        store.record("nul\0in-it", Fingerprint(9)).await.unwrap(); // A decoded `%00`.
        store.pool().close().await;
        let store = db.store().await;
        assert_eq!(store.lookup("1").await.unwrap(), Some(Fingerprint(8)));
        assert_eq!(store.lookup(&long).await.unwrap(), Some(Fingerprint(u64::MAX)));
        assert_eq!(store.lookup("nul\0in-it").await.unwrap(), Some(Fingerprint(9)));
        assert_eq!(store.lookup("2").await.unwrap(), None);
        assert_eq!(store.record_count().await.unwrap(), 3);
    })
    .await;
}

#[tokio::test]
async fn a_unit_commits_the_bridge_writes_with_the_record_or_neither() {
    for_each_backend(|kind| async move {
        let db = Database::new(kind).await;
        let store = db.store().await;
        let handler = RowWriter::default();
        handler.fail.store(1, std::sync::atomic::Ordering::SeqCst);
        let d = dispatcher(handler.clone(), &store);
        let txn = || put_txn("1", body(&[("$a", "!r"), ("$b", "!r")]));
        assert_eq!(d.dispatch(txn()).await.status(), 500);
        assert!(rows(&store).await.is_empty(), "{kind:?}: the failed attempt's row rolled back");
        assert_eq!(store.lookup("1").await.unwrap(), None);
        assert_eq!(d.dispatch(txn()).await.status(), 200);
        assert_eq!(d.dispatch(txn()).await.status(), 200);
        assert_eq!(rows(&store).await, ["$a", "$b"], "{kind:?}");
        assert_eq!(handler.calls.load(std::sync::atomic::Ordering::SeqCst), 1 + 2);
    })
    .await;
}

#[tokio::test]
async fn a_dropped_unit_rolls_back() {
    for_each_backend(|kind| async move {
        let db = Database::new(kind).await;
        let store = db.store().await;
        let unit = store.begin("1", Fingerprint(1)).await.unwrap().unwrap();
        let sql_unit =
            (&*unit as &dyn std::any::Any).downcast_ref::<appservice_sql::SqlUnit>().unwrap();
        sqlx::query("INSERT INTO bridge_rows (event_id) VALUES ('$x')")
            .execute(&mut *sql_unit.lock().await.unwrap())
            .await
            .unwrap();
        drop(unit);
        assert!(rows(&store).await.is_empty());
        // The record the unit wrote at its start rolled back with it.
        assert_eq!(store.lookup("1").await.unwrap(), None);
        let unit = store.begin("1", Fingerprint(1)).await.unwrap().unwrap();
        assert_eq!(unit.recorded(), None);
        unit.commit(Fingerprint(1)).await.unwrap();
        let again = store.begin("1", Fingerprint(2)).await.unwrap().unwrap();
        assert_eq!(again.recorded(), Some(Fingerprint(1)));
        // A reused ID committed with other events replaces the record.
        again.commit(Fingerprint(2)).await.unwrap();
        assert_eq!(store.lookup("1").await.unwrap(), Some(Fingerprint(2)));
        // A unit that claimed the ID with one fingerprint and commits another records the other.
        let unit = store.begin("2", Fingerprint(3)).await.unwrap().unwrap();
        unit.commit(Fingerprint(4)).await.unwrap();
        assert_eq!(store.lookup("2").await.unwrap(), Some(Fingerprint(4)));
    })
    .await;
}

#[tokio::test]
async fn pruning_keeps_the_newest_by_count_and_drops_the_old_by_age() {
    for_each_backend(|kind| async move {
        let db = Database::new(kind).await;
        let mut config = SqlConfig::default();
        config.capacity = 5;
        config.prune_every = 1000;
        let store = db.store_with(config).await;
        for i in 0..20 {
            store.record(&i.to_string(), Fingerprint(i)).await.unwrap();
        }
        assert_eq!(store.prune().await.unwrap(), 15);
        for i in 0..15 {
            assert_eq!(store.lookup(&i.to_string()).await.unwrap(), None, "{kind:?} {i}");
        }
        for i in 15..20 {
            assert_eq!(store.lookup(&i.to_string()).await.unwrap(), Some(Fingerprint(i)));
        }
        store.pool().close().await;
        let mut config = SqlConfig::default();
        config.max_age = Some(Duration::ZERO);
        let store = db.store_with(config).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(store.prune().await.unwrap(), 5);
        assert_eq!(store.record_count().await.unwrap(), 0);
    })
    .await;
}

#[tokio::test]
async fn pruning_runs_by_itself_every_few_commits() {
    let db = Database::new(Kind::Sqlite).await;
    let mut config = SqlConfig::default();
    config.capacity = 3;
    config.prune_every = 4;
    let store = db.store_with(config).await;
    for i in 0..8 {
        store.record(&i.to_string(), Fingerprint(i)).await.unwrap();
    }
    assert_eq!(store.record_count().await.unwrap(), 3, "pruned at the 4th and 8th commit");
}

#[tokio::test]
async fn with_the_database_down_transactions_are_500_readiness_is_false_and_both_recover() {
    let mut db = Database::new(Kind::Postgres).await;
    let mut config = SqlConfig::default();
    config.acquire_timeout = Duration::from_secs(2);
    let store = db.store_with(config).await;
    let handler = RowWriter::default();
    let d = dispatcher(handler.clone(), &store);
    let (tx, mut reports) = tokio::sync::mpsc::unbounded_channel();
    let watcher = store.watch_reachability(Duration::from_millis(200), move |ok| {
        let _ = tx.send(ok);
    });
    assert_eq!(reports.recv().await, Some(true));
    assert_eq!(d.dispatch(put_txn("1", body(&[("$a", "!r")]))).await.status(), 200);
    db.postgres.as_mut().unwrap().stop();
    assert!(!store.is_reachable().await);
    assert_eq!(reports.recv().await, Some(false), "readiness goes false while it is gone");
    let response = d.dispatch(put_txn("2", body(&[("$b", "!r")]))).await;
    assert_eq!(response.status(), 500, "never 200 for a transaction not recorded");
    db.postgres.as_mut().unwrap().restart();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !store.is_reachable().await {
        assert!(std::time::Instant::now() < deadline, "the pool did not reconnect");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(reports.recv().await, Some(true), "and true again, without a restart of ours");
    watcher.abort();
    assert_eq!(d.dispatch(put_txn("2", body(&[("$b", "!r")]))).await.status(), 200);
    assert_eq!(rows(&store).await, ["$a", "$b"]);
}
