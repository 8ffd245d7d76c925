//! Fault injection: a child process handling a transaction aborts at every step; afterwards
//! the bridge's writes and the record are both there or both absent, and the homeserver's
//! retry leaves each write exactly once.

use std::process::Command;

use appservice_conformance::handler::{body, put_txn, registration};
use appservice_dispatch::{
    DispatchConfig, Dispatcher, Event, Handler, HandlerError, TransactionContext, TransactionStore,
};
use appservice_sql::{SqlConfig, SqlStore};

use appservice_test_pg::Postgres;

use crate::support::{Database, Kind, RowWriter, dispatcher, rows, write_row};

const STEP: &str = "APPSERVICE_SQL_CRASH_STEP";
const URL: &str = "APPSERVICE_SQL_CRASH_URL";

/// Where the child aborts: before its first write, after each of its two writes (the last
/// one just before the commit), and after the commit (before the 200 reaches anyone).
const STEPS: [&str; 4] = ["before-writes", "after-first-write", "before-commit", "after-commit"];

/// Writes each event's ID through the unit, aborting the process at the chosen step.
struct Crashing {
    step: usize,
}

impl Handler for Crashing {
    async fn event(
        &self,
        txn: &TransactionContext<'_>,
        event: Event<'_>,
    ) -> Result<(), HandlerError> {
        if self.step == 0 {
            std::process::abort();
        }
        write_row(txn, event).await?;
        if self.step == event.index + 1 {
            std::process::abort();
        }
        Ok(())
    }
}

fn transaction() -> http::Request<bytes::Bytes> {
    put_txn("1", body(&[("$a", "!r"), ("$b", "!r")]))
}

/// The child's side, started by the two crash tests below (ignored in a normal run: it aborts).
#[tokio::test]
#[ignore = "the child process of the crash tests, which run it"]
async fn crash_child() {
    let step = std::env::var(STEP).expect("started by a crash test, with the step set");
    let url = std::env::var(URL).expect("started by a crash test, with the URL set");
    let step: usize = step.parse().unwrap();
    let store = SqlStore::connect(&url, SqlConfig::default()).await.unwrap();
    let d = Dispatcher::with_store(
        registration("null"),
        Crashing { step },
        store,
        DispatchConfig::default(),
    );
    let response = d.dispatch(transaction()).await;
    assert_eq!(response.status(), 200);
    // After the commit: the process dies before anyone hears the 200.
    std::process::abort();
}

async fn crash_at_every_step(kind: Kind, postgres: Option<&Postgres>) {
    for (step, name) in STEPS.iter().enumerate() {
        let (db, url) = match postgres {
            Some(pg) => (None, pg.create_db(&format!("crash{step}"))),
            None => {
                let db = Database::new(Kind::Sqlite).await;
                let url = db.url.clone();
                (Some(db), url)
            }
        };
        let store = SqlStore::connect(&url, SqlConfig::default()).await.unwrap();
        sqlx::query("CREATE TABLE bridge_rows (event_id TEXT NOT NULL)")
            .execute(store.pool())
            .await
            .unwrap();
        let status = Command::new(std::env::current_exe().unwrap())
            .args(["crash::crash_child", "--exact", "--ignored", "--nocapture"])
            .env(STEP, step.to_string())
            .env(URL, &url)
            .status()
            .unwrap();
        assert!(!status.success(), "{kind:?} {name}: the child must die");
        let recorded = store.lookup("1").await.unwrap().is_some();
        let written = rows(&store).await;
        let expected_after_crash: Vec<&str> = if recorded { vec!["$a", "$b"] } else { vec![] };
        assert_eq!(written, expected_after_crash, "{kind:?} {name}: record {recorded}");
        assert_eq!(recorded, *name == "after-commit", "{kind:?} {name}");

        // The homeserver retries (here or on another process).
        let handler = RowWriter::default();
        let d = dispatcher(handler.clone(), &store);
        assert_eq!(d.dispatch(transaction()).await.status(), 200);
        assert_eq!(rows(&store).await, ["$a", "$b"], "{kind:?} {name}: each write exactly once");
        let handled = handler.calls.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(handled, if recorded { 0 } else { 2 }, "{kind:?} {name}");
        store.pool().close().await;
        drop(db);
    }
}

#[tokio::test]
async fn sqlite_crash_at_every_step_leaves_both_or_neither() {
    crash_at_every_step(Kind::Sqlite, None).await;
}

#[tokio::test]
async fn postgres_crash_at_every_step_leaves_both_or_neither() {
    let pg = Postgres::start();
    crash_at_every_step(Kind::Postgres, Some(&pg)).await;
}
