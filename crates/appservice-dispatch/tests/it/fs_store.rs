//! The persistent store survives drops, torn writes and a real crash (`abort`).

use std::path::PathBuf;

use appservice_dispatch::{Config, Dispatcher, Fingerprint, TransactionStore, fs_store::FileStore};
use futures::executor::block_on;

use appservice_conformance::handler::{Recorder, Script, body, put_txn, registration};

fn temp_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("appservice-fs-store-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn records_survive_reopening() {
    let dir = temp_dir("reopen");
    {
        let store = FileStore::open(&dir).unwrap();
        block_on(store.record("1", Fingerprint(11))).unwrap();
        block_on(store.record("with space\nand newline", Fingerprint(22))).unwrap();
    }
    let store = FileStore::open(&dir).unwrap();
    assert_eq!(block_on(store.lookup("1")).unwrap(), Some(Fingerprint(11)));
    assert_eq!(block_on(store.lookup("with space\nand newline")).unwrap(), Some(Fingerprint(22)));
    assert_eq!(block_on(store.lookup("2")).unwrap(), None);
}

#[test]
fn a_torn_last_line_is_ignored_and_cleaned_up() {
    let dir = temp_dir("torn");
    {
        let store = FileStore::open(&dir).unwrap();
        block_on(store.record("1", Fingerprint(1))).unwrap();
    }
    let log = dir.join("transactions.log");
    let mut text = std::fs::read_to_string(&log).unwrap();
    text.push_str("v1 00000000000000"); // a crash in the middle of an append
    std::fs::write(&log, text).unwrap();
    let store = FileStore::open(&dir).unwrap();
    assert_eq!(store.len(), 1);
    block_on(store.record("2", Fingerprint(2))).unwrap();
    drop(store);
    let store = FileStore::open(&dir).unwrap();
    assert_eq!(block_on(store.lookup("2")).unwrap(), Some(Fingerprint(2)));
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 2, "the torn line is gone");
}

#[test]
fn one_process_at_a_time() {
    let dir = temp_dir("lock");
    let _first = FileStore::open(&dir).unwrap();
    assert!(FileStore::open(&dir).is_err());
}

#[test]
fn bounded_and_compacted() {
    let dir = temp_dir("bounded");
    let store = FileStore::open_with_capacity(&dir, 10).unwrap();
    for i in 0..35 {
        block_on(store.record(&i.to_string(), Fingerprint(i))).unwrap();
    }
    let lines = std::fs::read_to_string(dir.join("transactions.log")).unwrap().lines().count();
    assert!(lines <= 20, "the log is compacted ({lines} lines)");
    drop(store);
    let store = FileStore::open_with_capacity(&dir, 10).unwrap();
    assert_eq!(store.len(), 10);
    assert_eq!(block_on(store.lookup("34")).unwrap(), Some(Fingerprint(34)));
    assert_eq!(block_on(store.lookup("24")).unwrap(), None);
}

const CHILD_ENV: &str = "APPSERVICE_FS_STORE_CRASH_DIR";

/// Run as a child process by `survives_a_crash`: records, then dies without unwinding.
#[test]
fn crash_child() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else { return };
    let store = FileStore::open(&dir).unwrap();
    let handler = Recorder::new(Script::default());
    let d = Dispatcher::with_store(registration("null"), handler, store, Config::new());
    for i in 0..50 {
        let id = format!("${i}");
        assert_eq!(
            block_on(d.dispatch(put_txn(&i.to_string(), body(&[(id.as_str(), "!r")])))).status(),
            200
        );
    }
    std::process::abort();
}

#[test]
fn survives_a_crash() {
    let dir = temp_dir("crash");
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "fs_store::crash_child", "--nocapture"])
        .env(CHILD_ENV, &dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success(), "the child must die by abort");
    let store = FileStore::open(&dir).unwrap();
    assert_eq!(store.len(), 50, "every acknowledged transaction survived the crash");
    // After the restart, the homeserver's retries are acknowledged without the handler.
    let handler = Recorder::new(Script::default());
    let d = Dispatcher::with_store(registration("null"), handler.clone(), store, Config::new());
    for i in [0, 17, 49] {
        let id = format!("${i}");
        assert_eq!(
            block_on(d.dispatch(put_txn(&i.to_string(), body(&[(id.as_str(), "!r")])))).status(),
            200
        );
    }
    assert!(handler.take_calls().is_empty());
}
