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
//!   ignored; the log is rewritten clean when the store opens. A line longer than any record
//!   can be (see below) is damage too, skipped without being held in memory.
//! * A write that fails while the process keeps running (disk full, quota, `EIO`) answers an
//!   error (the transaction is not acknowledged, and the homeserver retries it), and the log is
//!   truncated back to its last good line before anything else is appended, so a torn
//!   half-line never corrupts the next acknowledged record. If the truncation fails too, the
//!   store refuses every later record until it is reopened.
//! * One process at a time: the store directory itself is locked (`flock`) while a store is
//!   open, so deleting files in it does not let a second process in.
//!
//! # Bounds
//!
//! The store keeps `capacity` records (default 10 000), in memory and in the log (at most twice
//! that before compaction). A transaction ID longer than
//! [`MAX_KEY_BYTES`](appservice_dispatch::store::MAX_KEY_BYTES) (255) is kept as a 34-byte digest
//! ([`appservice_dispatch::store::key`]), so a record costs at most a few hundred bytes whatever the
//! homeserver sends.
//!
//! Lookups never wait for the disk: they read an in-memory index that a record joins only once
//! its line is synced; appends, syncs and compaction run on `blocking`'s thread pool under a
//! separate lock.
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

use parking_lot::Mutex;
mod line;
mod log;

use std::{fs::File, io::BufReader, path::Path, sync::Arc};

use appservice_dispatch::{
    BoxFuture,
    store::{BoundedMap, DEFAULT_CAPACITY, Fingerprint, StoreError, TransactionStore},
};

use crate::{
    line::{Record, decode_line, read_line},
    log::{Writer, io_error},
};

/// A persistent transaction store in a directory. See the crate docs for its crash contract.
#[derive(Debug, Clone)]
pub struct FileStore {
    /// What lookups read: the records that are durable. Held only briefly, never across IO.
    index: Arc<Mutex<BoundedMap<Record>>>,
    /// The log; held by one `record` at a time, on the blocking pool.
    writer: Arc<Mutex<Writer>>,
    /// The locked store directory (the lock lasts as long as this handle).
    _lock: Arc<File>,
}

impl FileStore {
    /// Opens (or creates) the store in `dir`, remembering [`DEFAULT_CAPACITY`] transactions.
    /// Blocking: call it at start-up.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with_capacity(dir, DEFAULT_CAPACITY)
    }

    /// Opens (or creates) the store in `dir`, remembering `capacity` transactions (at least 1).
    pub fn open_with_capacity(dir: impl AsRef<Path>, capacity: usize) -> Result<Self, StoreError> {
        let dir = dir.as_ref();
        let capacity = capacity.max(1);
        std::fs::create_dir_all(dir).map_err(|e| io_error("create the store directory", e))?;
        let dir_lock = File::open(dir).map_err(|e| io_error("open the store directory", e))?;
        dir_lock
            .try_lock()
            .map_err(|e| StoreError::new("the store is in use by another process", e))?;
        let entries = read_log(dir, capacity)?;
        let writer = Writer::create(dir, &entries, capacity)?;
        Ok(Self {
            index: Arc::new(Mutex::new(entries)),
            writer: Arc::new(Mutex::new(writer)),
            _lock: Arc::new(dir_lock),
        })
    }

    /// How many transactions it remembers.
    pub fn len(&self) -> usize {
        self.index.lock().len()
    }

    /// Whether it remembers none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends, syncs, then publishes the record to lookups; compacts when due.
    fn record_blocking(&self, txn_id: &str, fingerprint: Fingerprint) -> Result<(), StoreError> {
        let mut writer = self.writer.lock();
        let record = Record::new(fingerprint);
        writer.append(txn_id, record)?;
        self.index.lock().insert(txn_id, record);
        if writer.wants_compaction() {
            // The index only changes under the writer's lock, so a snapshot of it is exact.
            let snapshot = {
                let index = self.index.lock();
                let mut copy = BoundedMap::new(index.capacity());
                for (id, record) in index.iter() {
                    copy.insert(id, *record);
                }
                copy
            };
            writer.compact(&snapshot)?;
        }
        Ok(())
    }
}

/// Reads the records of the log in `dir` (none if there is no log), skipping damaged lines.
fn read_log(dir: &Path, capacity: usize) -> Result<BoundedMap<Record>, StoreError> {
    let mut entries = BoundedMap::new(capacity);
    let file = match File::open(log::path(dir)) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(entries),
        Err(e) => return Err(io_error("open the log", e)),
    };
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    while let Some(fits) =
        read_line(&mut reader, &mut line).map_err(|e| io_error("read the log", e))?
    {
        match fits.then(|| decode_line(&line)).flatten() {
            Some((id, record)) => entries.insert(&id, record),
            None => tracing::warn!("transaction store: ignoring a damaged or torn log line"),
        }
    }
    Ok(entries)
}

impl TransactionStore for FileStore {
    fn lookup<'a>(
        &'a self,
        txn_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Fingerprint>, StoreError>> {
        // Served from memory: the log is only read at open.
        let found = self.index.lock().get(txn_id).map(|r| r.fingerprint);
        Box::pin(std::future::ready(Ok(found)))
    }

    fn record<'a>(
        &'a self,
        txn_id: &'a str,
        fingerprint: Fingerprint,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let store = self.clone();
        let id = txn_id.to_owned();
        // The write and fsync run on `blocking`'s thread pool, not on the caller's executor.
        Box::pin(blocking::unblock(move || store.record_blocking(&id, fingerprint)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lookup on the executor never waits for a record's write, sync or compaction.
    #[test]
    fn a_lookup_does_not_wait_for_a_write_in_progress() {
        let dir = std::env::temp_dir().join(format!("fs-store-unit-lookup-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = FileStore::open(&dir).unwrap_or_else(|e| panic!("{e}"));
        futures::executor::block_on(store.record("1", Fingerprint(1)))
            .unwrap_or_else(|e| panic!("{e}"));
        let writing = store.writer.lock(); // as a slow fsync or a compaction holds it
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = store.clone();
        std::thread::spawn(move || {
            let found = futures::executor::block_on(reader.lookup("1")).ok().flatten();
            let _ = tx.send(found);
        });
        let found = rx.recv_timeout(std::time::Duration::from_secs(5));
        drop(writing);
        assert_eq!(found, Ok(Some(Fingerprint(1))), "the lookup waited for the writer");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
