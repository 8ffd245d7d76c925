//! SQLite and PostgreSQL under a Matrix appservice: a [`TransactionStore`] whose
//! [units of work](SqlUnit) let the bridge's own writes commit together with "transaction
//! done", so a crash never handles a transaction's writes twice or loses them.
//!
//! * [`SqlStore::connect`] opens `sqlite://PATH` (the embedded default: one file, WAL,
//!   `synchronous = FULL`) or `postgres://…` (shared by replicas), on sqlx's `Any` driver, and
//!   runs this crate's embedded migrations forward (a database written by a newer version, or
//!   holding foreign tables of our names, is refused with an error naming the table).
//! * Handed to [`Dispatcher::with_store`](appservice_dispatch::Dispatcher::with_store), it
//!   opens one database transaction per appservice transaction ([`SqlUnit`]); the handler
//!   writes through [`SqlUnit::lock`]; the dispatcher commits it with the record after every
//!   handler call succeeded, or drops it (rollback) when one failed.
//! * On PostgreSQL the unit holds an advisory transaction lock: replicas sharing the database
//!   handle transactions one at a time, each sees the others' records, and a replica that dies
//!   mid-transaction releases the lock and rolls back with its session.
//! * Records are bounded by count and age ([`SqlConfig`]), pruned every few commits.
//! * A failing database answers transactions 500 (the homeserver retries), never 200;
//!   [`SqlStore::watch_reachability`] feeds a readiness check.
//! * [`SqlStore::state`] is the state store in the same database ([`SqlState`]): the client's
//!   registrations, memberships and profiles, and key-value mappings for the bridge;
//!   [`TrackMembership`] records our users' memberships from each transaction.
//!
//! ```
//! use appservice_dispatch::{
//!     DispatchConfig, Dispatcher, Event, Handler, HandlerError, TransactionContext,
//! };
//! use appservice_sql::{SqlConfig, SqlStore, SqlUnit};
//!
//! struct Bridge;
//!
//! impl Handler for Bridge {
//!     async fn event(&self, txn: &TransactionContext<'_>, event: Event<'_>) -> Result<(), HandlerError> {
//!         let unit = txn.unit::<SqlUnit>().ok_or_else(|| HandlerError::failed("no unit"))?;
//!         let id = event.envelope.map(|e| e.event_id.to_string()).unwrap_or_default();
//!         sqlx::query("INSERT INTO seen (event_id) VALUES ($1)")
//!             .bind(id)
//!             .execute(&mut *unit.lock().await.map_err(HandlerError::failed)?)
//!             .await
//!             .map_err(HandlerError::failed)?;
//!         Ok(())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let url = format!("sqlite://{}", dir.path().join("bridge.db").display());
//! let store = SqlStore::connect(&url, SqlConfig::default()).await?;
//! sqlx::query("CREATE TABLE IF NOT EXISTS seen (event_id TEXT)").execute(store.pool()).await?;
//!
//! # let registration = appservice_types::ValidatedRegistration::parse(
//! #     "id: a\nurl: null\nas_token: a\nhs_token: h\nsender_localpart: bot\nnamespaces: {}\n")?;
//! let dispatcher = Dispatcher::with_store(registration, Bridge, store.clone(), DispatchConfig::default());
//! let body = r#"{"events": [{"type": "m.room.message", "event_id": "$1", "room_id": "!r",
//!     "sender": "@a:b", "origin_server_ts": 1, "content": {}}]}"#;
//! let request = http::Request::put("/_matrix/app/v1/transactions/1")
//!     .header("authorization", "Bearer h")
//!     .body(bytes::Bytes::from(body))?;
//! assert_eq!(dispatcher.dispatch(request.clone()).await.status(), 200);
//! assert_eq!(dispatcher.dispatch(request).await.status(), 200); // a retry: not handled again
//! let (seen,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM seen").fetch_one(store.pool()).await?;
//! assert_eq!(seen, 1);
//! # Ok(())
//! # }
//! ```

mod config;
mod connect;
mod error;
mod membership;
pub mod migrate;
mod state;
mod store;
mod unit;

pub use appservice_dispatch::TransactionStore;
pub use config::SqlConfig;
pub use connect::Backend;
pub use error::{SqlError, SqlErrorKind};
pub use membership::TrackMembership;
pub use sqlx;
pub use state::SqlState;
pub use store::SqlStore;
pub use unit::SqlUnit;
