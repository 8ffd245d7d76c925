//! A full disk: a transaction whose writes do not fit is answered 500 and leaves nothing; once
//! there is room, the next one is recorded. SQLite: a child process under `RLIMIT_FSIZE` (with
//! `SIGXFSZ` ignored, so a write past the limit fails with `EFBIG` as on a full disk).
//! PostgreSQL: its server started under `RLIMIT_FSIZE`.

use std::process::Command;

use appservice_conformance::handler::{body, put_txn};
use appservice_dispatch::{Event, Handler, HandlerError, TransactionContext, TransactionStore};
use appservice_sql::{SqlConfig, SqlStore};

use crate::support::{Database, Kind, dispatcher, event_id, insert_row, rows};

const URL: &str = "APPSERVICE_SQL_FULL_URL";

/// Writes, for a transaction whose ID starts with `big`, a row of `big` bytes of text that
/// does not compress (PostgreSQL would otherwise shrink it in TOAST); the event ID otherwise.
struct Writer {
    big: usize,
}

impl Handler for Writer {
    async fn event(
        &self,
        txn: &TransactionContext<'_>,
        event: Event<'_>,
    ) -> Result<(), HandlerError> {
        let id = event_id(&event);
        let row = if txn.txn_id.starts_with("big") { incompressible(&id, self.big) } else { id };
        insert_row(txn, row).await
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
    let d = dispatcher(Writer { big: 1 << 20 }, &store);
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

/// `len` pseudo-random letters, starting with `prefix` (xorshift: no repeats for LZ to find).
fn incompressible(prefix: &str, len: usize) -> String {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ prefix.len() as u64;
    let mut out = String::with_capacity(len);
    out.push_str(prefix);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push(char::from(b'a' + (x % 26) as u8));
    }
    out
}

/// PostgreSQL out of room: its server may not grow a file past 48 MiB (`RLIMIT_FSIZE`, as a
/// full disk: "could not extend file"). Transactions that write 4 MiB rows succeed until the
/// table's file is full; the one that does not fit is answered 500 and leaves neither its record
/// nor its row; a small one after it is recorded.
#[tokio::test]
async fn a_full_postgres_answers_500_and_leaves_nothing_behind() {
    let pg = appservice_test_pg::Postgres::start_with_file_size_limit(48 << 20);
    let url = pg.create_db("appservice");
    let store = SqlStore::connect(&url, SqlConfig::default()).await.unwrap();
    sqlx::query("CREATE TABLE bridge_rows (event_id TEXT NOT NULL)")
        .execute(store.pool())
        .await
        .unwrap();
    let d = dispatcher(Writer { big: 4 << 20 }, &store);
    let mut full = None;
    for n in 0..40 {
        let txn = format!("big{n}");
        let status = d.dispatch(put_txn(&txn, body(&[(&format!("$big{n}"), "!r")]))).await;
        match status.status().as_u16() {
            200 => assert!(store.lookup(&txn).await.unwrap().is_some(), "{txn}: 200 and recorded"),
            500 => {
                full = Some(n);
                break;
            }
            other => panic!("{txn}: {other}"),
        }
    }
    let full = full.expect("the table filled up within 40 rows of 4 MiB");
    assert!(full >= 2, "some rows fitted before the disk was full ({full})");
    assert_eq!(store.lookup(&format!("big{full}")).await.unwrap(), None, "not recorded");
    let count: (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM bridge_rows").fetch_one(store.pool()).await.unwrap();
    assert_eq!(count.0, i64::from(full), "only the recorded transactions' rows");
    // The fault is the one meant: the table's file cannot grow.
    let error = sqlx::query("INSERT INTO bridge_rows (event_id) VALUES ($1)")
        .bind(incompressible("direct", 4 << 20))
        .execute(store.pool())
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("could not extend file"), "{error}");
    assert_eq!(d.dispatch(put_txn("small", body(&[("$small", "!r")]))).await.status(), 200);
    assert!(store.lookup("small").await.unwrap().is_some());
}
