//! The log file: appending a record durably, repairing a failed append, and rewriting the log.

use std::{
    fs::{File, OpenOptions},
    io::Write,
    path::{Path, PathBuf},
};

use appservice_dispatch::store::{BoundedMap, StoreError, key};

use crate::line::{Record, encode_line};

const LOG: &str = "transactions.log";
const TMP: &str = "transactions.log.tmp";

pub(crate) fn io_error(what: &str, e: std::io::Error) -> StoreError {
    StoreError::new(format!("cannot {what}"), e)
}

/// The path of the log in `dir`.
pub(crate) fn path(dir: &Path) -> PathBuf {
    dir.join(LOG)
}

/// The log open for appending. Only the thread doing a `record` holds it (on the blocking pool),
/// never a lookup.
#[derive(Debug)]
pub(crate) struct Writer {
    dir: PathBuf,
    log: File,
    /// The log's length after its last complete, synced line.
    good_len: u64,
    /// Lines in the log (compaction runs at twice the capacity).
    lines: usize,
    capacity: usize,
    /// A failed append could not be undone: the log's end is unknown, so nothing more is
    /// appended (or acknowledged) until the store is reopened, which repairs it.
    broken: bool,
}

impl Writer {
    /// Writes `entries` as a fresh log (atomically) and opens it for appending.
    pub(crate) fn create(
        dir: &Path,
        entries: &BoundedMap<Record>,
        capacity: usize,
    ) -> Result<Self, StoreError> {
        let (log, good_len) = rewrite(dir, entries)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            log,
            good_len,
            lines: entries.len(),
            capacity,
            broken: false,
        })
    }

    /// Appends the record of `txn_id` and syncs it. On failure the log is truncated back to its
    /// last good line (and synced), so a torn half-line never stays in front of later records;
    /// if that fails too, the writer refuses every later append.
    pub(crate) fn append(&mut self, txn_id: &str, record: Record) -> Result<(), StoreError> {
        if self.broken {
            return Err(StoreError::msg(
                "a failed write could not be undone; reopen the store to repair the log",
            ));
        }
        let line = encode_line(&key(txn_id), record);
        let written = self
            .log
            .write_all(line.as_bytes())
            .map_err(|e| io_error("append to the log", e))
            .and_then(|()| self.log.sync_data().map_err(|e| io_error("sync the log", e)));
        if let Err(e) = written {
            let repaired = self.log.set_len(self.good_len).and_then(|()| self.log.sync_data());
            if let Err(repair) = repaired {
                self.broken = true;
                tracing::error!(error = %repair, "transaction store: cannot undo a failed write");
            }
            return Err(e);
        }
        self.good_len += line.len() as u64;
        self.lines += 1;
        Ok(())
    }

    /// Whether the log has grown to twice the capacity and should be rewritten.
    pub(crate) fn wants_compaction(&self) -> bool {
        self.lines > 2 * self.capacity
    }

    /// Rewrites the log with `entries` (the newest `capacity` records).
    pub(crate) fn compact(&mut self, entries: &BoundedMap<Record>) -> Result<(), StoreError> {
        let (log, good_len) = rewrite(&self.dir, entries)?;
        self.log = log;
        self.good_len = good_len;
        self.lines = entries.len();
        Ok(())
    }
}

/// Writes `entries` to a fresh log atomically and returns it opened for appending, with its
/// length.
fn rewrite(dir: &Path, entries: &BoundedMap<Record>) -> Result<(File, u64), StoreError> {
    let tmp = dir.join(TMP);
    let mut buf = String::new();
    for (id, record) in entries.iter() {
        buf.push_str(&encode_line(id, *record));
    }
    {
        let mut file = File::create(&tmp).map_err(|e| io_error("create the compacted log", e))?;
        file.write_all(buf.as_bytes()).map_err(|e| io_error("write the compacted log", e))?;
        file.sync_all().map_err(|e| io_error("sync the compacted log", e))?;
    }
    std::fs::rename(&tmp, path(dir)).map_err(|e| io_error("replace the log", e))?;
    // Make the rename itself durable.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error("sync the store directory", e))?;
    let log = OpenOptions::new()
        .append(true)
        .open(path(dir))
        .map_err(|e| io_error("open the log for appending", e))?;
    Ok((log, buf.len() as u64))
}
