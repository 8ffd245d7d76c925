//! The unit-of-work contract: a handler's writes through the store's unit are committed with the
//! transaction's record, or not at all; a failed attempt leaves nothing, and its retry runs
//! every event again (no within-process progress).

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use appservice_dispatch::{
    BoxFuture, DispatchConfig, Dispatcher, Event, Fingerprint, Handler, HandlerError,
    RoomConcurrency, StoreError, TransactionContext, TransactionStore, UnitOfWork,
};
use futures::executor::block_on;
use proptest::prelude::*;

use appservice_conformance::handler::{body, put_txn, registration};

/// The committed state of a toy database: records and the handler's rows.
#[derive(Debug, Default)]
struct Db {
    records: BTreeMap<String, Fingerprint>,
    rows: Vec<String>,
}

/// A store whose units stage rows and apply them with the record at commit.
#[derive(Clone, Debug, Default)]
struct ToyStore {
    db: Arc<Mutex<Db>>,
    /// How many commits fail from now on.
    failing_commits: Arc<Mutex<u32>>,
    /// `lookup` answers `None`: only the unit's view of the records counts (as when another
    /// process commits between this one's lookup and its unit).
    blind_lookup: bool,
}

#[derive(Debug)]
struct ToyUnit {
    txn_id: String,
    recorded: Option<Fingerprint>,
    staged: Mutex<Vec<String>>,
    store: ToyStore,
}

impl ToyUnit {
    fn write(&self, row: String) {
        self.staged.lock().unwrap().push(row);
    }
}

impl UnitOfWork for ToyUnit {
    fn recorded(&self) -> Option<Fingerprint> {
        self.recorded
    }

    fn commit(self: Box<Self>, fp: Fingerprint) -> BoxFuture<'static, Result<(), StoreError>> {
        let result = {
            let mut failing = self.store.failing_commits.lock().unwrap();
            if *failing > 0 {
                *failing -= 1;
                Err(StoreError::msg("scripted commit failure"))
            } else {
                let mut db = self.store.db.lock().unwrap();
                db.rows.extend(self.staged.into_inner().unwrap());
                db.records.insert(self.txn_id, fp);
                Ok(())
            }
        };
        Box::pin(std::future::ready(result))
    }
}

impl TransactionStore for ToyStore {
    fn lookup<'a>(
        &'a self,
        txn_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Fingerprint>, StoreError>> {
        let found = self.db.lock().unwrap().records.get(txn_id).copied();
        Box::pin(std::future::ready(Ok(found.filter(|_| !self.blind_lookup))))
    }

    fn record<'a>(&'a self, _: &'a str, _: Fingerprint) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(std::future::ready(Err(StoreError::msg(
            "a store with units is never asked to record",
        ))))
    }

    fn begin<'a>(
        &'a self,
        txn_id: &'a str,
        _: Fingerprint,
    ) -> BoxFuture<'a, Result<Option<Box<dyn UnitOfWork>>, StoreError>> {
        let recorded = self.db.lock().unwrap().records.get(txn_id).copied();
        let unit = ToyUnit {
            txn_id: txn_id.to_owned(),
            recorded,
            staged: Mutex::default(),
            store: self.clone(),
        };
        Box::pin(std::future::ready(Ok(Some(Box::new(unit) as Box<dyn UnitOfWork>))))
    }
}

/// Writes each event ID through the unit; fails scripted events a number of times.
#[derive(Clone, Debug, Default)]
struct Writer {
    calls: Arc<Mutex<usize>>,
    fail: Arc<Mutex<Vec<(String, u32)>>>,
}

impl Handler for Writer {
    async fn event(
        &self,
        txn: &TransactionContext<'_>,
        event: Event<'_>,
    ) -> Result<(), HandlerError> {
        *self.calls.lock().unwrap() += 1;
        let id = event.envelope.unwrap().event_id.to_string();
        let unit = txn.unit::<ToyUnit>().ok_or_else(|| HandlerError::failed("no unit"))?;
        unit.write(id.clone());
        let mut fail = self.fail.lock().unwrap();
        if let Some((_, n)) = fail.iter_mut().find(|(e, n)| *e == id && *n > 0) {
            *n -= 1;
            return Err(HandlerError::failed("scripted"));
        }
        Ok(())
    }
}

fn dispatcher(handler: Writer, store: ToyStore, per_room: bool) -> Dispatcher<Writer, ToyStore> {
    let mut config = DispatchConfig::default();
    config.room_concurrency =
        if per_room { RoomConcurrency::PerRoom } else { RoomConcurrency::Sequential };
    Dispatcher::with_store(registration("null"), handler, store, config)
}

#[test]
fn a_failed_attempt_leaves_nothing_and_its_retry_runs_every_event_again() {
    let (handler, store) = (Writer::default(), ToyStore::default());
    handler.fail.lock().unwrap().push(("$b".into(), 1));
    let d = dispatcher(handler.clone(), store.clone(), false);
    let txn = || put_txn("1", body(&[("$a", "!r"), ("$b", "!r"), ("$c", "!r")]));

    assert_eq!(block_on(d.dispatch(txn())).status(), 500);
    assert!(store.db.lock().unwrap().rows.is_empty(), "the failed attempt's writes rolled back");
    assert!(store.db.lock().unwrap().records.is_empty());

    assert_eq!(block_on(d.dispatch(txn())).status(), 200);
    // $a again: its first write was rolled back, so skipping it would lose it.
    assert_eq!(*handler.calls.lock().unwrap(), 2 + 3);
    assert_eq!(store.db.lock().unwrap().rows, ["$a", "$b", "$c"]);

    assert_eq!(block_on(d.dispatch(txn())).status(), 200);
    assert_eq!(
        *handler.calls.lock().unwrap(),
        5,
        "a recorded transaction never reaches the handler"
    );
}

#[test]
fn a_failed_commit_is_a_500_and_the_retry_commits_once() {
    let (handler, store) = (Writer::default(), ToyStore::default());
    *store.failing_commits.lock().unwrap() = 1;
    let d = dispatcher(handler.clone(), store.clone(), false);
    let txn = || put_txn("1", body(&[("$a", "!r")]));
    assert_eq!(block_on(d.dispatch(txn())).status(), 500);
    assert!(store.db.lock().unwrap().rows.is_empty());
    assert_eq!(block_on(d.dispatch(txn())).status(), 200);
    assert_eq!(store.db.lock().unwrap().rows, ["$a"]);
}

#[test]
fn a_record_seen_inside_the_unit_is_acknowledged_without_the_handler() {
    let (handler, store) =
        (Writer::default(), ToyStore { blind_lookup: true, ..ToyStore::default() });
    let d = dispatcher(handler.clone(), store.clone(), false);
    let other = dispatcher(Writer::default(), store.clone(), false);
    let txn = || put_txn("1", body(&[("$a", "!r")]));
    // Another process (sharing the database) completed it; this one's memory knows nothing.
    assert_eq!(block_on(other.dispatch(txn())).status(), 200);
    let (response, report) = block_on(d.dispatch_with_report(txn()));
    assert_eq!(response.status(), 200);
    assert_eq!(report.outcome, appservice_dispatch::Disposition::Duplicate);
    assert_eq!(*handler.calls.lock().unwrap(), 0);
    assert_eq!(store.db.lock().unwrap().rows, ["$a"]);
}

proptest! {
    /// Whatever fails (any events, any number of times, any commits), delivering until 200
    /// leaves every event's write exactly once, in order per room, with the record.
    #[test]
    fn retries_until_success_write_each_event_exactly_once(
        events in prop::collection::vec((0u8..3, 0u32..3), 1..8),
        failing_commits in 0u32..3,
        per_room in any::<bool>(),
    ) {
        let (handler, store) = (Writer::default(), ToyStore::default());
        let ids: Vec<(String, String)> = events
            .iter()
            .enumerate()
            .map(|(i, (room, _))| (format!("$e{i}"), format!("!r{room}")))
            .collect();
        for ((id, _), (_, fails)) in ids.iter().zip(&events) {
            handler.fail.lock().unwrap().push((id.clone(), *fails));
        }
        *store.failing_commits.lock().unwrap() = failing_commits;
        let d = dispatcher(handler.clone(), store.clone(), per_room);
        let pairs: Vec<(&str, &str)> = ids.iter().map(|(e, r)| (e.as_str(), r.as_str())).collect();
        let mut attempts = 0;
        while block_on(d.dispatch(put_txn("t", body(&pairs)))).status() != 200 {
            attempts += 1;
            prop_assert!(attempts < 100);
        }
        let db = store.db.lock().unwrap();
        prop_assert_eq!(db.records.len(), 1);
        let mut written = db.rows.clone();
        for (room, _) in &events {
            let room = format!("!r{room}");
            let in_room: Vec<&String> =
                written.iter().filter(|id| ids.iter().any(|(e, r)| e == *id && *r == room)).collect();
            let expected: Vec<&String> = ids.iter().filter(|(_, r)| *r == room).map(|(e, _)| e).collect();
            prop_assert_eq!(in_room, expected);
        }
        written.sort();
        let mut all: Vec<String> = ids.iter().map(|(e, _)| e.clone()).collect();
        all.sort();
        prop_assert_eq!(written, all);
    }
}
