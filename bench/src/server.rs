//! The servers under test, each run in a child process of its own (`appservice-bench server
//! KIND`): it binds 127.0.0.1:0, prints `PORT <n>` on stdout and serves until killed.
//! `GET /count` (unauthenticated, only in these bench servers) answers the number of events
//! counted (requests, for the HTTP floor).

#![allow(clippy::print_stdout)] // The port announcement is the protocol with the driver.

use std::{
    convert::Infallible,
    io::Write as _,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
};

use anyhow::{Context as _, Result};
use appservice_dispatch::{
    DispatchConfig, Dispatcher, Event, Handler, HandlerError, MemoryStore, TransactionContext,
};
use appservice_fs_store::FileStore;
use appservice_sql::{SqlConfig, SqlStore};
use appservice_tower::{AppserviceLayer, ServeConfig, serve_with};
use appservice_types::ValidatedRegistration;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
};
use serde_json::value::RawValue;
use tokio::net::TcpListener;
use tower_service::Service;

/// The `hs_token` of the bench registration.
pub(crate) const HS_TOKEN: &str = "bench_hs_token_0123456789abcdef";

/// The registration of our servers: a bridge with user and alias namespaces.
pub(crate) fn registration_yaml() -> String {
    format!(
        "id: bench\nurl: http://127.0.0.1:9000\nas_token: bench_as_token_0123456789abcdef\n\
         hs_token: {HS_TOKEN}\nsender_localpart: benchbot\nrate_limited: false\n\
         namespaces:\n  users:\n    - exclusive: true\n      regex: '@bridge_.*:example\\.org'\n\
         \x20 aliases:\n    - exclusive: true\n      regex: '#bridge_.*:example\\.org'\n  rooms: []\n"
    )
}

/// Which server a child runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `appservice-tower` + dispatcher + `MemoryStore`, a handler that counts events.
    OursMemory,
    /// The same with the persistent `FileStore`.
    OursFile,
    /// The same with `appservice-sql`'s `SqlStore` on SQLite (a unit of work per transaction).
    OursSqlite,
    /// The parse floor plus one `INSERT` + `COMMIT` per new transaction into SQLite (WAL,
    /// `synchronous = FULL`, as `SqlStore`).
    SqliteFloor,
    /// The same floor with the statements a unit of work needs: `BEGIN IMMEDIATE`, `INSERT`,
    /// `COMMIT` (an explicit transaction), each a round trip to sqlx's SQLite worker thread.
    SqliteTxFloor,
    /// Ours with `SqlStore` on PostgreSQL (the turn lock, a unit per transaction).
    OursPostgres,
    /// The parse floor plus one autocommit `INSERT` per new transaction into PostgreSQL.
    PostgresFloor,
    /// A bare hyper-util server: read the body, answer `{}`.
    HttpFloor,
    /// The HTTP floor plus `serde_json` into `Vec<Box<RawValue>>` and a `HashSet` dedupe.
    ParseFloor,
}

impl Kind {
    pub(crate) const ALL: [Kind; 9] = [
        Kind::OursMemory,
        Kind::OursFile,
        Kind::OursSqlite,
        Kind::OursPostgres,
        Kind::HttpFloor,
        Kind::ParseFloor,
        Kind::SqliteFloor,
        Kind::SqliteTxFloor,
        Kind::PostgresFloor,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::OursMemory => "ours-memory",
            Kind::OursFile => "ours-file",
            Kind::OursSqlite => "ours-sqlite",
            Kind::SqliteFloor => "sqlite-floor",
            Kind::SqliteTxFloor => "sqlite-txfloor",
            Kind::OursPostgres => "ours-postgres",
            Kind::PostgresFloor => "postgres-floor",
            Kind::HttpFloor => "http-floor",
            Kind::ParseFloor => "parse-floor",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether `/count` counts events of distinct transactions (else: requests).
    pub(crate) fn counts_events(self) -> bool {
        self != Kind::HttpFloor
    }

    /// Whether the server needs a PostgreSQL database (its URL as its second argument).
    pub(crate) fn needs_postgres(self) -> bool {
        matches!(self, Kind::OursPostgres | Kind::PostgresFloor)
    }

    /// Whether the server keeps data in a directory (given as its second argument).
    pub(crate) fn needs_dir(self) -> bool {
        matches!(self, Kind::OursFile | Kind::OursSqlite | Kind::SqliteFloor | Kind::SqliteTxFloor)
    }
}

/// `appservice-bench server KIND [DIR]`.
pub(crate) fn main(args: &[String]) -> Result<()> {
    let kind = args.first().and_then(|k| Kind::from_name(k)).context("server: unknown kind")?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let counter = Arc::new(AtomicU64::new(0));
        let announce = || -> Result<()> {
            let mut out = std::io::stdout().lock();
            writeln!(out, "PORT {port}")?;
            out.flush()?;
            Ok(())
        };
        match kind {
            Kind::OursSqlite | Kind::OursPostgres => {
                let target =
                    args.get(1).context("a SQL server needs a directory or database URL")?;
                let url = if kind == Kind::OursSqlite {
                    format!("sqlite://{target}/bench.db")
                } else {
                    target.clone()
                };
                let store = SqlStore::connect(&url, SqlConfig::default()).await?;
                let registration = ValidatedRegistration::parse(&registration_yaml())?;
                let handler = Counting(Arc::clone(&counter));
                let d = Dispatcher::with_store(registration, handler, store, DispatchConfig::new());
                let app =
                    tower_layer_apply(&AppserviceLayer::new(d), CountService(Arc::clone(&counter)));
                announce()?;
                serve_with(listener, app, std::future::pending(), ServeConfig::new()).await?;
                Ok(())
            }
            Kind::SqliteFloor | Kind::SqliteTxFloor => {
                let dir = args.get(1).context("sqlite-floor needs a directory")?;
                let db = sqlite_floor_pool(dir).await?;
                announce()?;
                let db = if kind == Kind::SqliteFloor {
                    FloorDb::Sqlite(db)
                } else {
                    FloorDb::SqliteTx(db)
                };
                floor(listener, true, Some(db), counter).await
            }
            Kind::PostgresFloor => {
                let url = args.get(1).context("postgres-floor needs a database URL")?;
                let pool = sqlx::PgPool::connect(url).await?;
                sqlx::query("CREATE TABLE txns (txn_id TEXT PRIMARY KEY)").execute(&pool).await?;
                announce()?;
                floor(listener, true, Some(FloorDb::Postgres(pool)), counter).await
            }
            Kind::OursMemory | Kind::OursFile => {
                let registration = ValidatedRegistration::parse(&registration_yaml())?;
                let handler = Counting(Arc::clone(&counter));
                let layer = if kind == Kind::OursMemory {
                    let d = Dispatcher::with_store(
                        registration,
                        handler,
                        MemoryStore::new(),
                        DispatchConfig::new(),
                    );
                    AppserviceLayer::new(d)
                } else {
                    let dir = args.get(1).context("ours-file needs a store directory")?;
                    let store = FileStore::open(dir)?;
                    AppserviceLayer::new(Dispatcher::with_store(
                        registration,
                        handler,
                        store,
                        DispatchConfig::new(),
                    ))
                };
                let app = tower_layer_apply(&layer, CountService(Arc::clone(&counter)));
                announce()?;
                serve_with(listener, app, std::future::pending(), ServeConfig::new()).await?;
                Ok(())
            }
            Kind::HttpFloor | Kind::ParseFloor => {
                announce()?;
                floor(listener, kind == Kind::ParseFloor, None, counter).await
            }
        }
    })
}

fn tower_layer_apply(
    layer: &AppserviceLayer,
    inner: CountService,
) -> appservice_tower::Appservice<CountService> {
    use tower_layer::Layer as _;
    layer.layer(inner)
}

/// Our handler: counts the events whose envelope (type, room, sender, event ID) parsed.
pub(crate) struct Counting(pub(crate) Arc<AtomicU64>);

impl Handler for Counting {
    async fn event(
        &self,
        _txn: &TransactionContext<'_>,
        event: Event<'_>,
    ) -> Result<(), HandlerError> {
        if event.envelope.is_some() {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// The inner service of our servers: `GET /count`.
#[derive(Clone)]
struct CountService(Arc<AtomicU64>);

impl<B> Service<Request<B>> for CountService {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        std::future::ready(Ok(count_response(request.uri().path(), &self.0)))
    }
}

fn count_response(path: &str, counter: &AtomicU64) -> Response<Full<Bytes>> {
    if path == "/count" {
        Response::new(Full::new(Bytes::from(counter.load(Ordering::SeqCst).to_string())))
    } else {
        let mut r = Response::new(Full::new(Bytes::from_static(b"{}")));
        *r.status_mut() = StatusCode::NOT_FOUND;
        r
    }
}

#[derive(serde::Deserialize)]
struct FloorBody {
    events: Vec<Box<RawValue>>,
}

/// The floors' state: the counter and, for the parse floor, the transaction IDs seen.
struct Floor {
    parse: bool,
    /// The database floors' database.
    db: Option<FloorDb>,
    counter: Arc<AtomicU64>,
    // The dedupe *is* the floor: the cheapest way to remember transaction IDs (unbounded, unlike
    // our stores, which is in the floor's favour).
    #[allow(clippy::disallowed_types)]
    // A HashSet is the point of the floor; order is never observed.
    seen: Mutex<std::collections::HashSet<String>>,
}

/// The database of a database floor.
enum FloorDb {
    Sqlite(sqlx::SqlitePool),
    /// `BEGIN IMMEDIATE`; `INSERT`; `COMMIT`.
    SqliteTx(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// The SQLite floor's database: WAL and `synchronous = FULL` (one fsync of the WAL per
/// commit), as `SqlStore` opens it, and a table of transaction IDs.
async fn sqlite_floor_pool(dir: &str) -> Result<sqlx::SqlitePool> {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
    let options = SqliteConnectOptions::new()
        .filename(std::path::Path::new(dir).join("floor.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full);
    let pool = sqlx::SqlitePool::connect_with(options).await?;
    sqlx::query("CREATE TABLE txns (txn_id TEXT PRIMARY KEY)").execute(&pool).await?;
    Ok(pool)
}

async fn floor(
    listener: TcpListener,
    parse: bool,
    db: Option<FloorDb>,
    counter: Arc<AtomicU64>,
) -> Result<()> {
    let state = Arc::new(Floor { parse, db, counter, seen: Mutex::new(Default::default()) });
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        let (stream, _) = listener.accept().await?;
        let state = Arc::clone(&state);
        let builder = builder.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let state = Arc::clone(&state);
                async move { Ok::<_, Infallible>(floor_request(&state, request).await) }
            });
            // A connection error (the client went away) ends the connection only.
            let _ = builder.serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

async fn floor_request(state: &Floor, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    if parts.method == http::Method::GET {
        return count_response(parts.uri.path(), &state.counter);
    }
    let Ok(body) = body.collect().await.map(http_body_util::Collected::to_bytes) else {
        return status(StatusCode::BAD_REQUEST);
    };
    if !state.parse {
        state.counter.fetch_add(1, Ordering::Relaxed);
        return Response::new(Full::new(Bytes::from_static(b"{}")));
    }
    let Ok(parsed) = serde_json::from_slice::<FloorBody>(&body) else {
        return status(StatusCode::BAD_REQUEST);
    };
    let txn_id = parts.uri.path().rsplit('/').next().unwrap_or_default();
    let new = state
        .seen
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(txn_id.to_owned());
    if new {
        // One INSERT + COMMIT (autocommit) per new transaction.
        let inserted = match &state.db {
            Some(FloorDb::Sqlite(db)) => sqlx::query("INSERT INTO txns (txn_id) VALUES (?)")
                .bind(txn_id)
                .execute(db)
                .await
                .map(drop),
            Some(FloorDb::SqliteTx(db)) => sqlite_tx_insert(db, txn_id).await,
            Some(FloorDb::Postgres(db)) => sqlx::query("INSERT INTO txns (txn_id) VALUES ($1)")
                .bind(txn_id)
                .execute(db)
                .await
                .map(drop),
            None => Ok(()),
        };
        if inserted.is_err() {
            return status(StatusCode::INTERNAL_SERVER_ERROR);
        }
        state.counter.fetch_add(parsed.events.len() as u64, Ordering::Relaxed);
    }
    Response::new(Full::new(Bytes::from_static(b"{}")))
}

/// One explicit transaction: `BEGIN IMMEDIATE`, the `INSERT`, `COMMIT`.
async fn sqlite_tx_insert(db: &sqlx::SqlitePool, txn_id: &str) -> Result<(), sqlx::Error> {
    let mut tx = db.begin_with("BEGIN IMMEDIATE").await?;
    sqlx::query("INSERT INTO txns (txn_id) VALUES (?)").bind(txn_id).execute(&mut *tx).await?;
    tx.commit().await
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = code;
    r
}
