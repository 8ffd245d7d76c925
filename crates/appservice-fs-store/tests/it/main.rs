//! The persistent store survives drops, torn writes and a real crash (`abort`).

#![allow(clippy::unwrap_used)] // Test code: a panic is the failure report.

use std::path::PathBuf;

use appservice_dispatch::{DispatchConfig, Dispatcher, Fingerprint, TransactionStore};
use appservice_fs_store::FileStore;
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
    let d = Dispatcher::with_store(registration("null"), handler, store, DispatchConfig::new());
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
        .args(["--exact", "crash_child", "--nocapture"])
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
    let d =
        Dispatcher::with_store(registration("null"), handler.clone(), store, DispatchConfig::new());
    for i in [0, 17, 49] {
        let id = format!("${i}");
        assert_eq!(
            block_on(d.dispatch(put_txn(&i.to_string(), body(&[(id.as_str(), "!r")])))).status(),
            200
        );
    }
    assert!(handler.take_calls().is_empty());
}

/// 64-bit FNV-1a over length-prefixed parts (each part's length as 8 little-endian bytes, then
/// its bytes): the fingerprint and checksum of `v1` log lines, written out here independently
/// of the crate, so the test pins the format an older version wrote.
fn fnv1a_parts(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in (part.len() as u64).to_le_bytes().iter().chain(part.iter()) {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

/// A `v1` log line as an older version wrote it, for a transaction with these event IDs.
fn v1_line(txn_id: &str, event_ids: &[&str]) -> String {
    let ids: Vec<&[u8]> = event_ids.iter().map(|id| id.as_bytes()).collect();
    let body = format!("v1 {:016x} {txn_id}", fnv1a_parts(&ids));
    format!("{body} {:016x}\n", fnv1a_parts(&[body.as_bytes()]))
}

#[test]
fn a_v1_log_of_an_older_version_still_acknowledges_its_transactions() {
    let dir = temp_dir("v1");
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("transactions.log");
    std::fs::write(&log, v1_line("7", &["$a", "$b"]) + &v1_line("8", &["$c"])).unwrap();
    let retry = |store: FileStore, txn_id: &str, events: &[(&str, &str)]| {
        let handler = Recorder::new(Script::default());
        let d = Dispatcher::with_store(
            registration("null"),
            handler.clone(),
            store,
            DispatchConfig::new(),
        );
        let status = block_on(d.dispatch(put_txn(txn_id, body(events)))).status();
        (status.as_u16(), handler.take_calls().len())
    };
    let store = FileStore::open(&dir).unwrap();
    assert_eq!(store.len(), 2);
    // The homeserver retries a transaction the older version completed: not handled again.
    assert_eq!(retry(store.clone(), "7", &[("$a", "!r"), ("$b", "!r")]), (200, 0));
    // The same ID with other events is still a new transaction (AS-TXN-4).
    assert_eq!(retry(store.clone(), "8", &[("$d", "!r")]), (200, 1));
    drop(store);
    // Reopened (the log was rewritten at open and appended to since): still recognised.
    let store = FileStore::open(&dir).unwrap();
    assert_eq!(retry(store.clone(), "7", &[("$a", "!r"), ("$b", "!r")]), (200, 0));
    assert_eq!(retry(store.clone(), "8", &[("$d", "!r")]), (200, 0));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.lines().any(|l| l.starts_with("v1 ")), "the old record keeps its format: {text}");
    assert!(text.lines().any(|l| l.starts_with("v2 ")), "new records are v2: {text}");
}

const FSIZE_CHILD_ENV: &str = "APPSERVICE_FS_STORE_FSIZE_DIR";

/// Run as a child process by `a_failed_write_does_not_corrupt_the_next_record`: a record whose
/// write fails half-way (the file size limit cuts it), then one that succeeds.
#[test]
fn fsize_child() {
    let Some(dir) = std::env::var_os(FSIZE_CHILD_ENV) else { return };
    // Past the limit a write fails with EFBIG instead of the process being killed by SIGXFSZ.
    let _ = signal_hook::flag::register(
        signal_hook::consts::SIGXFSZ,
        std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
    )
    .unwrap();
    let store = FileStore::open(&dir).unwrap();
    block_on(store.record("1", Fingerprint(1))).unwrap();
    let log_len =
        std::fs::metadata(std::path::Path::new(&dir).join("transactions.log")).unwrap().len();
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::FSIZE).unwrap();
    // Room for half a line: the disk "fills up" in the middle of the next append.
    rlimit::setrlimit(rlimit::Resource::FSIZE, log_len + 20, hard).unwrap();
    assert!(block_on(store.record("2", Fingerprint(2))).is_err(), "the write must fail");
    rlimit::setrlimit(rlimit::Resource::FSIZE, hard, hard).unwrap(); // space again
    block_on(store.record("3", Fingerprint(3))).unwrap(); // acknowledged
    assert_eq!(block_on(store.lookup("2")).unwrap(), None, "a failed record is not visible");
    std::process::abort(); // a crash right after the acknowledgement
}

#[test]
fn a_failed_write_does_not_corrupt_the_next_record() {
    let dir = temp_dir("fsize");
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "fsize_child", "--nocapture"])
        .env(FSIZE_CHILD_ENV, &dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success(), "the child must die by abort, not fail its asserts: {status}");
    let store = FileStore::open(&dir).unwrap();
    assert_eq!(block_on(store.lookup("1")).unwrap(), Some(Fingerprint(1)));
    assert_eq!(
        block_on(store.lookup("3")).unwrap(),
        Some(Fingerprint(3)),
        "the acknowledged record after the failed write survived"
    );
    assert_eq!(block_on(store.lookup("2")).unwrap(), None);
}

#[test]
fn deleting_files_in_the_store_does_not_let_a_second_process_in() {
    let dir = temp_dir("lock-data");
    let first = FileStore::open_with_capacity(&dir, 2).unwrap();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().is_some_and(|n| n != "transactions.log") {
            std::fs::remove_file(path).unwrap(); // a cleanup job
        }
    }
    assert!(FileStore::open(&dir).is_err(), "the directory itself is locked");
    // Compaction replaces the log: the lock stays.
    for i in 0..10 {
        block_on(first.record(&i.to_string(), Fingerprint(i))).unwrap();
    }
    assert!(FileStore::open(&dir).is_err(), "still locked after compaction");
    drop(first);
    assert!(FileStore::open(&dir).is_ok(), "unlocked when the store is dropped");
}

#[test]
fn long_transaction_ids_cost_bounded_bytes() {
    let dir = temp_dir("long-ids");
    let store = FileStore::open_with_capacity(&dir, 100).unwrap();
    for i in 0..100 {
        let id = format!("{i:04}{}", "x".repeat(8_000));
        block_on(store.record(&id, Fingerprint(i))).unwrap();
    }
    let log = std::fs::metadata(dir.join("transactions.log")).unwrap().len();
    assert!(log < 100 * 128, "{log} bytes of log for 100 records");
    drop(store);
    let store = FileStore::open_with_capacity(&dir, 100).unwrap();
    let id = format!("{:04}{}", 42, "x".repeat(8_000));
    assert_eq!(block_on(store.lookup(&id)).unwrap(), Some(Fingerprint(42)), "found after reopen");
    let other = format!("{:04}{}y", 42, "x".repeat(7_999));
    assert_eq!(block_on(store.lookup(&other)).unwrap(), None);
}

const HUGE_LINE_CHILD_ENV: &str = "APPSERVICE_FS_STORE_HUGE_LINE_DIR";

/// Run as a child process by `a_huge_damaged_line_costs_no_memory`: opens the store and prints
/// its peak resident memory in KiB.
#[test]
fn huge_line_child() {
    let Some(dir) = std::env::var_os(HUGE_LINE_CHILD_ENV) else { return };
    let store = FileStore::open(&dir).unwrap();
    assert_eq!(store.len(), 2, "the records around the damage are read");
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let hwm = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).unwrap();
    #[allow(clippy::print_stdout)] // The parent reads it.
    {
        println!("\nHWM {}", hwm.trim().trim_end_matches(" kB"));
    }
}

#[test]
fn a_huge_damaged_line_costs_no_memory() {
    let dir = temp_dir("huge-line");
    {
        let store = FileStore::open(&dir).unwrap();
        block_on(store.record("1", Fingerprint(1))).unwrap();
    }
    // 256 MiB without a newline (damage, or a file written by something else), then a record.
    {
        use std::io::Write;
        let mut log =
            std::fs::OpenOptions::new().append(true).open(dir.join("transactions.log")).unwrap();
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..256 {
            log.write_all(&chunk).unwrap();
        }
        log.write_all(b"\n").unwrap();
    }
    let second = {
        let other = temp_dir("huge-line-source");
        let store = FileStore::open(&other).unwrap();
        block_on(store.record("2", Fingerprint(2))).unwrap();
        drop(store);
        std::fs::read(other.join("transactions.log")).unwrap()
    };
    {
        use std::io::Write;
        let mut log =
            std::fs::OpenOptions::new().append(true).open(dir.join("transactions.log")).unwrap();
        log.write_all(&second).unwrap();
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "huge_line_child", "--nocapture"])
        .env(HUGE_LINE_CHILD_ENV, &dir)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let hwm_kib: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("HWM ")?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no HWM line in {stdout}"));
    assert!(hwm_kib < 64 * 1024, "peak memory {hwm_kib} KiB opening a log with a 256 MiB line");
    let _ = std::fs::remove_dir_all(&dir);
}
