//! [`FileStore`]: a persistent, crash-safe [`TransactionStore`] for
//! [`appservice-dispatch`](appservice_dispatch) in a directory. The dispatcher itself does no file
//! IO; this crate is the file-backed store beside it.
//!
//! # Format
//!
//! One append-only log, `transactions.log`, one line per completed transaction:
//! `v2 <fingerprint, 16 hex digits> <percent-encoded transaction ID> <checksum, 16 hex digits>`,
//! where the fingerprint is [`Fingerprint::of`] (XXH3-64) and the checksum is
//! `Fingerprint::of([line before the checksum])`.
//!
//! Version 0.1.0 wrote `v1` lines: the same fields, with 64-bit FNV-1a for both the
//! fingerprint and the checksum. They are still read (and kept as `v1` lines when the log is
//! rewritten): such a record holds the FNV-1a fingerprint, which the dispatcher also accepts, so
//! a transaction completed before an upgrade and retried after it is acknowledged without the
//! handler. New records are always `v2`. An older version reading a `v2` line ignores it as
//! damaged (so after a downgrade those transactions are handled again if retried).
//!
//! Each `record` appends a line and calls `fsync` (`sync_data`) before it returns: one fsync per
//! transaction. When the log holds twice `capacity` lines it is compacted: the newest `capacity`
//! entries are written to a temporary file, which is synced and renamed over the log, and the
//! directory is synced.
//!
//! # Contract (what survives a crash)
//!
//! * A `record` that returned `Ok` survives any crash (`kill -9`, power loss on a file system
//!   that honours fsync): after a restart the transaction is acknowledged without the handler.
//! * A crash after the handler returned but before `record` returned may lose that record: the
//!   homeserver's retry is then handled again (at-least-once). Only a store that commits the
//!   handler's effects and the record in one database transaction can close that window.
//! * A torn last line (a crash mid-append) or a damaged line is detected by its checksum and
//!   ignored; the log is rewritten clean when the store opens.
//! * One process at a time: the directory is locked (`store.lock`) while a store is open.
//!
//! # Example
//!
//! ```
//! use appservice_dispatch::{Fingerprint, TransactionStore};
//! use appservice_fs_store::FileStore;
//!
//! let dir = std::env::temp_dir().join(format!("fs-store-doc-{}", std::process::id()));
//! # let _ = std::fs::remove_dir_all(&dir);
//! {
//!     let store = FileStore::open(&dir)?;
//!     futures::executor::block_on(store.record("42", Fingerprint(7)))?;
//! } // dropped: the directory is unlocked
//! let store = FileStore::open(&dir)?; // as after a restart
//! assert_eq!(futures::executor::block_on(store.lookup("42"))?, Some(Fingerprint(7)));
//! # drop(store);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Give it to a dispatcher with `Dispatcher::with_store(registration, handler, store, config)`.

use std::{
    fs::{File, OpenOptions},
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

use appservice_dispatch::{
    BoxFuture,
    store::{BoundedMap, DEFAULT_CAPACITY, Fingerprint, StoreError, TransactionStore},
};

const LOG: &str = "transactions.log";
const TMP: &str = "transactions.log.tmp";
const LOCK: &str = "store.lock";

/// Bytes escaped in a transaction ID on disk: controls, space, `%`, and non-ASCII.
const ESCAPE: &AsciiSet = &CONTROLS.add(b' ').add(b'%');

/// A persistent transaction store in a directory. See the module docs for its crash contract.
#[derive(Debug, Clone)]
pub struct FileStore {
    state: Arc<Mutex<State>>,
}

#[derive(Debug)]
struct State {
    dir: PathBuf,
    log: File,
    lines: usize,
    entries: BoundedMap<Record>,
    capacity: usize,
    _lock: File,
}

impl FileStore {
    /// Opens (or creates) the store in `dir`, remembering [`DEFAULT_CAPACITY`] transactions.
    /// Blocking: call it at start-up.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with_capacity(dir, DEFAULT_CAPACITY)
    }

    /// Opens (or creates) the store in `dir`, remembering `capacity` transactions (at least 1).
    pub fn open_with_capacity(dir: impl AsRef<Path>, capacity: usize) -> Result<Self, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        let capacity = capacity.max(1);
        std::fs::create_dir_all(&dir).map_err(|e| io_error("create the store directory", e))?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK))
            .map_err(|e| io_error("open the lock file", e))?;
        lock.try_lock()
            .map_err(|e| StoreError::new("the store is in use by another process", e))?;
        let mut entries = BoundedMap::new(capacity);
        match File::open(dir.join(LOG)) {
            Ok(file) => {
                for line in BufReader::new(file).split(b'\n') {
                    let line = line.map_err(|e| io_error("read the log", e))?;
                    match decode_line(&line) {
                        Some((id, record)) => entries.insert(&id, record),
                        None => {
                            tracing::warn!("transaction store: ignoring a damaged or torn log line")
                        }
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error("open the log", e)),
        }
        let log = rewrite(&dir, &entries)?;
        let lines = entries.len();
        Ok(Self {
            state: Arc::new(Mutex::new(State { dir, log, lines, entries, capacity, _lock: lock })),
        })
    }

    /// How many transactions it remembers.
    pub fn len(&self) -> usize {
        lock(&self.state).entries.len()
    }

    /// Whether it remembers none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic mid-append leaves at worst a torn line, which the checksum catches on reopen.
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

fn io_error(what: &str, e: std::io::Error) -> StoreError {
    StoreError::new(format!("cannot {what}"), e)
}

/// The line format a record was read from or is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// Version 0.1.0: FNV-1a fingerprint and checksum.
    V1,
    /// XXH3-64 fingerprint and checksum.
    V2,
}

impl Format {
    fn tag(self) -> &'static str {
        match self {
            Self::V1 => "v1",
            Self::V2 => "v2",
        }
    }

    fn checksum(self, body: &str) -> u64 {
        match self {
            Self::V1 => Fingerprint::of_fnv1a([body.as_bytes()]).0,
            Self::V2 => Fingerprint::of([body.as_bytes()]).0,
        }
    }
}

/// A completed transaction as the log holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Record {
    fingerprint: Fingerprint,
    format: Format,
}

impl Record {
    /// A record of this version.
    fn new(fingerprint: Fingerprint) -> Self {
        Self { fingerprint, format: Format::V2 }
    }
}

fn encode_line(id: &str, record: Record) -> String {
    let tag = record.format.tag();
    let body = format!("{tag} {:016x} {}", record.fingerprint.0, utf8_percent_encode(id, ESCAPE));
    let sum = record.format.checksum(&body);
    format!("{body} {sum:016x}\n")
}

fn decode_line(line: &[u8]) -> Option<(String, Record)> {
    let line = std::str::from_utf8(line).ok()?;
    let (body, sum) = line.rsplit_once(' ')?;
    let mut parts = body.splitn(3, ' ');
    let format = match parts.next()? {
        "v1" => Format::V1,
        "v2" => Format::V2,
        _ => return None,
    };
    if u64::from_str_radix(sum, 16).ok()? != format.checksum(body) {
        return None;
    }
    let fp = u64::from_str_radix(parts.next()?, 16).ok()?;
    let id = percent_decode_str(parts.next()?).decode_utf8().ok()?.into_owned();
    Some((id, Record { fingerprint: Fingerprint(fp), format }))
}

/// Writes `entries` to a fresh log atomically and returns it opened for appending.
fn rewrite(dir: &Path, entries: &BoundedMap<Record>) -> Result<File, StoreError> {
    let tmp = dir.join(TMP);
    {
        let mut file = File::create(&tmp).map_err(|e| io_error("create the compacted log", e))?;
        let mut buf = String::new();
        for (id, record) in entries.iter() {
            buf.push_str(&encode_line(id, *record));
        }
        file.write_all(buf.as_bytes()).map_err(|e| io_error("write the compacted log", e))?;
        file.sync_all().map_err(|e| io_error("sync the compacted log", e))?;
    }
    std::fs::rename(&tmp, dir.join(LOG)).map_err(|e| io_error("replace the log", e))?;
    // Make the rename itself durable.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error("sync the store directory", e))?;
    OpenOptions::new()
        .append(true)
        .open(dir.join(LOG))
        .map_err(|e| io_error("open the log for appending", e))
}

impl State {
    fn append(&mut self, id: &str, fp: Fingerprint) -> Result<(), StoreError> {
        let record = Record::new(fp);
        self.log
            .write_all(encode_line(id, record).as_bytes())
            .map_err(|e| io_error("append to the log", e))?;
        self.log.sync_data().map_err(|e| io_error("sync the log", e))?;
        self.entries.insert(id, record);
        self.lines += 1;
        if self.lines > 2 * self.capacity {
            self.log = rewrite(&self.dir, &self.entries)?;
            self.lines = self.entries.len();
        }
        Ok(())
    }
}

impl TransactionStore for FileStore {
    fn lookup<'a>(
        &'a self,
        txn_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Fingerprint>, StoreError>> {
        // Served from memory: the log is only read at open.
        let found = lock(&self.state).entries.get(txn_id).map(|r| r.fingerprint);
        Box::pin(std::future::ready(Ok(found)))
    }

    fn record<'a>(
        &'a self,
        txn_id: &'a str,
        fingerprint: Fingerprint,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let state = Arc::clone(&self.state);
        let id = txn_id.to_owned();
        // The write and fsync run on `blocking`'s thread pool, not on the caller's executor.
        Box::pin(blocking::unblock(move || lock(&state).append(&id, fingerprint)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_and_damage_is_detected() {
        for format in [Format::V1, Format::V2] {
            let record = Record { fingerprint: Fingerprint(42), format };
            for id in ["35", "with space", "new\nline", "100%", "ünï", ""] {
                let line = encode_line(id, record);
                assert!(line.starts_with(format.tag()));
                assert_eq!(line.matches('\n').count(), 1);
                assert_eq!(decode_line(line.trim_end().as_bytes()), Some((id.to_owned(), record)));
                let torn = &line.as_bytes()[..line.len() / 2];
                assert_eq!(decode_line(torn), None);
                let flipped = line.trim_end().replacen(" 0", " 1", 1);
                assert_eq!(decode_line(flipped.as_bytes()), None);
                // A line's checksum is that of its own format.
                let other = if format == Format::V1 { "v2" } else { "v1" };
                let retagged = line.trim_end().replacen(format.tag(), other, 1);
                assert_eq!(decode_line(retagged.as_bytes()), None);
            }
        }
    }

    #[test]
    fn v1_lines_of_older_versions_are_read() {
        // Written by version 0.1.0 (`FileStore::record("35", Fingerprint(42))`).
        let body = "v1 000000000000002a 35";
        let line = format!("{body} {:016x}", Fingerprint::of_fnv1a([body.as_bytes()]).0);
        assert_eq!(
            decode_line(line.as_bytes()),
            Some(("35".to_owned(), Record { fingerprint: Fingerprint(42), format: Format::V1 }))
        );
    }
}
