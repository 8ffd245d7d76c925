//! [`SqlStore`]: the [`TransactionStore`] on SQLite or PostgreSQL, with units of work.

use std::{
    sync::{
        Arc, Weak,
        atomic::{AtomicU32, Ordering},
    },
    time::{SystemTime, UNIX_EPOCH},
};

use appservice_dispatch::{
    BoxFuture, Fingerprint, StoreError, TransactionStore, UnitOfWork, store::key,
};
use sqlx::{Any, AnyConnection, AnyPool, Row, Transaction, pool::PoolConnection};
use tokio::sync::OwnedMappedMutexGuard;

use crate::{Backend, SqlConfig, SqlError, SqlErrorKind, SqlUnit, connect, migrate, unit::OpenTx};

/// An arbitrary constant: the PostgreSQL advisory lock held by the replica handling a
/// transaction, so replicas take turns and see each other's records.
const TURN_LOCK: i64 = 0x6173_5f74_7572_6e73; // "as_turns"

/// Completed transactions in a SQL database, and the [units of work](SqlUnit) that let a
/// handler's own writes commit with them.
///
/// Cloning is cheap (one pool). See the [crate documentation](crate) for an example.
#[derive(Clone, Debug)]
pub struct SqlStore {
    shared: Arc<Shared>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pool: AnyPool,
    backend: Backend,
    config: SqlConfig,
    commits: AtomicU32,
    /// The unit being handled in this process (at most one: transactions take turns), for
    /// [`SqlState`](crate::SqlState) to run in.
    open_unit: parking_lot::Mutex<Weak<tokio::sync::Mutex<Option<Transaction<'static, Any>>>>>,
}

/// A connection for one statement of the state store: the open unit's, else a pooled one.
pub(crate) enum Conn {
    Unit(OwnedMappedMutexGuard<Option<Transaction<'static, Any>>, Transaction<'static, Any>>),
    Pool(PoolConnection<Any>),
}

impl Conn {
    pub(crate) fn get(&mut self) -> &mut AnyConnection {
        match self {
            Self::Unit(tx) => tx,
            Self::Pool(conn) => conn,
        }
    }
}

impl SqlStore {
    /// Opens the database at `url` (`sqlite://PATH`, created if missing, or `postgres://…`)
    /// and brings its schema up to date (refusing one written by a newer version).
    ///
    /// The future is `Send` (spawn it anywhere).
    pub fn connect(url: &str, config: SqlConfig) -> BoxFuture<'_, Result<Self, SqlError>> {
        Box::pin(async move {
            let (pool, backend) = connect::pool(url, &config).await?;
            migrate::run(&pool, backend).await?;
            let shared = Shared {
                pool,
                backend,
                config,
                commits: AtomicU32::new(0),
                open_unit: parking_lot::Mutex::new(Weak::new()),
            };
            Ok(Self { shared: Arc::new(shared) })
        })
    }

    /// The pool, for the bridge's own queries and migrations.
    pub fn pool(&self) -> &AnyPool {
        &self.shared.pool
    }

    /// The state store and key-value mappings in this database.
    pub fn state(&self) -> crate::SqlState {
        crate::SqlState::new(Arc::clone(&self.shared))
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.shared.backend
    }

    /// Whether the database answers now (`SELECT 1`), for readiness checks.
    pub async fn is_reachable(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.shared.pool).await.is_ok()
    }

    /// Checks every `every` whether the database answers (each check given `every` at most) and
    /// calls `report` with the answer whenever it changes, starting with the first: wire it to a
    /// readiness flag (`appservice_tower::Readiness::condition`) so `/_matrix/mau/ready` is false
    /// while the database is gone and true again when it is back. Runs until the task is aborted.
    pub fn watch_reachability(
        &self,
        every: std::time::Duration,
        report: impl Fn(bool) + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        let store = self.clone();
        tokio::spawn(async move {
            let mut last = None;
            loop {
                let reachable =
                    tokio::time::timeout(every, store.is_reachable()).await.unwrap_or(false);
                if last != Some(reachable) {
                    if reachable {
                        tracing::info!(backend = ?store.backend(), "database reachable");
                    } else {
                        tracing::warn!(backend = ?store.backend(), "database unreachable");
                    }
                    report(reachable);
                    last = Some(reachable);
                }
                tokio::time::sleep(every).await;
            }
        })
    }

    /// The number of records kept.
    pub async fn record_count(&self) -> Result<u64, SqlError> {
        let row = sqlx::query("SELECT COUNT(*) FROM appservice_transactions")
            .fetch_one(&self.shared.pool)
            .await
            .map_err(|e| SqlError::sqlx(SqlErrorKind::Query, "counting records", e))?;
        let n: i64 = row
            .try_get(0)
            .map_err(|e| SqlError::sqlx(SqlErrorKind::Query, "counting records", e))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Deletes the records beyond [`SqlConfig::capacity`] and older than
    /// [`SqlConfig::max_age`]; returns how many. Runs by itself every
    /// [`SqlConfig::prune_every`] commits.
    pub async fn prune(&self) -> Result<u64, SqlError> {
        self.shared.prune().await
    }
}

impl Shared {
    pub(crate) fn set_open_unit(&self, tx: &OpenTx) {
        *self.open_unit.lock() = Arc::downgrade(tx);
    }

    /// Forgets `tx` as the open unit (if it is the one recorded).
    pub(crate) fn clear_open_unit(&self, tx: &OpenTx) {
        let mut open = self.open_unit.lock();
        if std::ptr::eq(open.as_ptr(), Arc::as_ptr(tx)) {
            *open = Weak::new();
        }
    }

    /// The open unit's connection if a unit is open, else a pooled one.
    pub(crate) async fn conn(&self) -> Result<Conn, SqlError> {
        let open = self.open_unit.lock().upgrade();
        if let Some(open) = open
            && let Ok(tx) =
                tokio::sync::OwnedMutexGuard::try_map(open.lock_owned().await, Option::as_mut)
        {
            return Ok(Conn::Unit(tx));
        }
        Ok(Conn::Pool(self.pooled().await?))
    }

    /// A pooled connection (a database that is down fails within `acquire_timeout`).
    async fn pooled(&self) -> Result<PoolConnection<Any>, SqlError> {
        self.pool
            .acquire()
            .await
            .map_err(|e| SqlError::sqlx(SqlErrorKind::Connect, "no connection", e))
    }

    async fn prune(&self) -> Result<u64, SqlError> {
        let query = |e| SqlError::sqlx(SqlErrorKind::Query, "pruning records", e);
        let capacity = i64::try_from(self.config.capacity).unwrap_or(i64::MAX);
        let by_count = sqlx::query(
            "DELETE FROM appservice_transactions WHERE seq < (SELECT seq FROM \
             appservice_transactions ORDER BY seq DESC LIMIT 1 OFFSET $1)",
        )
        .bind(capacity.saturating_sub(1).max(0))
        .execute(&self.pool)
        .await
        .map_err(query)?
        .rows_affected();
        let mut by_age = 0;
        if let Some(max_age) = self.config.max_age {
            let cutoff =
                now_ms().saturating_sub(i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX));
            by_age = sqlx::query("DELETE FROM appservice_transactions WHERE recorded_at < $1")
                .bind(cutoff)
                .execute(&self.pool)
                .await
                .map_err(query)?
                .rows_affected();
        }
        Ok(by_count + by_age)
    }

    /// Counts a commit; every `prune_every`-th prunes (a failure is logged: the records stay).
    pub(crate) async fn committed(&self) {
        let n = self.commits.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        if n.is_multiple_of(self.config.prune_every.max(1))
            && let Err(e) = self.prune().await
        {
            tracing::warn!(error = %e, "pruning old transaction records failed");
        }
    }
}

/// The fingerprint recorded for `txn_id` (a [`column_key`]), read through `conn`.
///
/// Boxed: sqlx's executor bounds on `&mut AnyConnection` in an unboxed future make the
/// callers' futures fail the `Send` check that `BoxFuture` asks for (a limit of the
/// compiler's higher-ranked `Send` check).
fn recorded<'a>(
    conn: &'a mut AnyConnection,
    txn_id: &'a str,
) -> BoxFuture<'a, Result<Option<Fingerprint>, SqlError>> {
    Box::pin(async move {
        let row = sqlx::query("SELECT fingerprint FROM appservice_transactions WHERE txn_id = $1")
            .bind(txn_id)
            .fetch_optional(conn)
            .await
            .map_err(|e| SqlError::sqlx(SqlErrorKind::Query, "looking up a transaction", e))?;
        let Some(row) = row else { return Ok(None) };
        let fingerprint: i64 = row
            .try_get(0)
            .map_err(|e| SqlError::sqlx(SqlErrorKind::Query, "reading a fingerprint", e))?;
        Ok(Some(Fingerprint(fingerprint as u64)))
    })
}

/// Records `txn_id` (a [`column_key`]) in `tx` unless it is recorded already; whether it was
/// new.
fn claim<'a>(
    tx: &'a mut Transaction<'static, Any>,
    txn_id: &'a str,
    fingerprint: Fingerprint,
) -> BoxFuture<'a, Result<bool, SqlError>> {
    write_record(tx, txn_id, fingerprint, false)
}

/// Records `txn_id` (a [`column_key`]) in `tx`, replacing a record of a reused ID.
pub(crate) fn insert_record<'a>(
    tx: &'a mut Transaction<'static, Any>,
    txn_id: &'a str,
    fingerprint: Fingerprint,
) -> BoxFuture<'a, Result<(), SqlError>> {
    let write = write_record(tx, txn_id, fingerprint, true);
    Box::pin(async move { write.await.map(drop) })
}

/// One `INSERT` of the record: on a recorded ID, nothing (`replace: false`) or the new
/// fingerprint (a reused ID keeps its place in the pruning order, `seq`); whether a row was
/// written. Boxed, as [`recorded`] is.
fn write_record<'a>(
    tx: &'a mut Transaction<'static, Any>,
    txn_id: &'a str,
    fingerprint: Fingerprint,
    replace: bool,
) -> BoxFuture<'a, Result<bool, SqlError>> {
    Box::pin(async move {
        let sql = if replace {
            "INSERT INTO appservice_transactions (txn_id, fingerprint, recorded_at) \
             VALUES ($1, $2, $3) ON CONFLICT (txn_id) DO UPDATE \
             SET fingerprint = excluded.fingerprint, recorded_at = excluded.recorded_at"
        } else {
            "INSERT INTO appservice_transactions (txn_id, fingerprint, recorded_at) \
             VALUES ($1, $2, $3) ON CONFLICT (txn_id) DO NOTHING"
        };
        let done = sqlx::query(sql)
            .bind(txn_id)
            .bind(fingerprint.0 as i64)
            .bind(now_ms())
            .execute(&mut **tx)
            .await
            .map_err(|e| SqlError::sqlx(SqlErrorKind::Query, "recording a transaction", e))?;
        Ok(done.rows_affected() == 1)
    })
}

/// The column value for `txn_id`: its [`key`], with `\\` and NUL escaped (`\\\\`, `\\0`):
/// PostgreSQL's `TEXT` cannot hold NUL, which a long ID's key and a percent-decoded `%00` contain.
/// Injective, so two IDs never share a row.
pub(crate) fn column_key(txn_id: &str) -> String {
    let key = key(txn_id);
    let mut out = String::with_capacity(key.len());
    for c in key.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn now_ms() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

impl TransactionStore for SqlStore {
    fn lookup<'a>(
        &'a self,
        txn_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Fingerprint>, StoreError>> {
        Box::pin(async move {
            let mut conn = self.shared.pooled().await?;
            Ok(recorded(&mut conn, &column_key(txn_id)).await?)
        })
    }

    fn record<'a>(
        &'a self,
        txn_id: &'a str,
        fingerprint: Fingerprint,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let unit = self.open(txn_id, fingerprint).await?;
            Box::new(unit).commit(fingerprint).await
        })
    }

    fn begin<'a>(
        &'a self,
        txn_id: &'a str,
        fingerprint: Fingerprint,
    ) -> BoxFuture<'a, Result<Option<Box<dyn UnitOfWork>>, StoreError>> {
        Box::pin(async move {
            Ok(Some(Box::new(self.open(txn_id, fingerprint).await?) as Box<dyn UnitOfWork>))
        })
    }

    fn offers_units(&self) -> bool {
        true
    }
}

impl SqlStore {
    /// A database transaction holding the backend's write turn, with the record as seen in it:
    /// a new ID is claimed at once (its record written with `fingerprint`, inside the
    /// transaction, so it commits or rolls back with the unit), an ID already recorded is read.
    /// One statement for a new ID, where a lookup and a later insert were two.
    ///
    /// Boxed, as [`recorded`] is.
    fn open<'a>(
        &'a self,
        txn_id: &'a str,
        fingerprint: Fingerprint,
    ) -> BoxFuture<'a, Result<SqlUnit, SqlError>> {
        let (pool, backend) = (self.shared.pool.clone(), self.shared.backend);
        let lock_timeout = self.shared.config.lock_timeout;
        let shared = Arc::clone(&self.shared);
        Box::pin(async move {
            let query = |e| SqlError::sqlx(SqlErrorKind::Query, "opening a unit of work", e);
            let mut tx = match backend {
                // IMMEDIATE: the write lock now, not at the first write (which could fail with
                // SQLITE_BUSY once another connection has written since this one's first read).
                Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await.map_err(query)?,
                Backend::Postgres => {
                    let mut tx = pool.begin().await.map_err(query)?;
                    take_turn(&mut tx, lock_timeout).await.map_err(query)?;
                    tx
                }
            };
            let txn_id = column_key(txn_id);
            if claim(&mut tx, &txn_id, fingerprint).await? {
                return Ok(SqlUnit::new(txn_id, None, Some(fingerprint), tx, shared));
            }
            let found = recorded(&mut tx, &txn_id).await?;
            Ok(SqlUnit::new(txn_id, found, None, tx, shared))
        })
    }
}

/// PostgreSQL: waits (at most `timeout`) for the replicas' turn lock, held until the
/// transaction ends (also a dead replica's: its session ends with it). Boxed, as [`recorded`] is.
fn take_turn<'a>(
    tx: &'a mut Transaction<'static, Any>,
    timeout: std::time::Duration,
) -> BoxFuture<'a, Result<(), sqlx::Error>> {
    Box::pin(async move {
        // `set_config(…, true)`: `SET LOCAL`, with a bound value.
        sqlx::query("SELECT set_config('lock_timeout', $1, true)")
            .bind(format!("{}ms", timeout.as_millis()))
            .execute(&mut **tx)
            .await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(TURN_LOCK).execute(&mut **tx).await?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::column_key;

    #[test]
    fn column_keys_hold_no_nul_and_never_collide() {
        let ids = ["a", "a\0", "a\\0", "a\\\0", "\\", "\0", &"x".repeat(300)];
        let keys: Vec<String> = ids.iter().map(|id| column_key(id)).collect();
        for (i, k) in keys.iter().enumerate() {
            assert!(!k.contains('\0'), "{k:?}");
            assert!(!keys[..i].contains(k), "{:?} collides", ids[i]);
        }
        assert_eq!(column_key("plain-1"), "plain-1");
    }
}
