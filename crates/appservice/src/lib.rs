//! Matrix application services in one dependency: the registration, transactions handled
//! exactly once, the HTTP server, the client for the appservice's users, and the database.
//!
//! ```
//! use appservice::prelude::*;
//!
//! /// Answers `!ping` in any room the bot is in.
//! struct Pong {
//!     client: Client,
//! }
//!
//! impl Handler for Pong {
//!     async fn event(&self, _: &TransactionContext<'_>, event: Event<'_>) -> Result<(), HandlerError> {
//!         let Some(envelope) = event.envelope else { return Ok(()) };
//!         let Ok(content) = event.content::<RoomMessageEventContent>() else { return Ok(()) };
//!         if content.body() == "!ping" {
//!             let room = envelope.room_id().map_err(HandlerError::failed)?;
//!             let bot = self.client.bot().ok_or_else(|| HandlerError::failed("no bot"))?;
//!             bot.send_message(room, &RoomMessageEventContent::notice_plain("pong"))
//!                 .await
//!                 .map_err(HandlerError::failed)?;
//!         }
//!         Ok(())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let registration = ValidatedRegistration::parse(r"
//! id: pong
//! url: http://127.0.0.1:0
//! as_token: as_secret_token_value
//! hs_token: hs_secret_token_value
//! sender_localpart: _pong_bot
//! namespaces:
//!   users: [{exclusive: true, regex: '@_pong_.*:example\.org'}]
//! ")?;
//! let bridge = Builder::new(registration, "http://127.0.0.1:8008")
//!     .server_name("example.org".try_into().expect("a valid server name"))
//!     .memory_store()
//!     .register_bot(false) // no homeserver in this example
//!     .ping(None)
//!     .start()
//!     .await?;
//! let handler = Pong { client: bridge.client().clone() };
//! // Serves until the future completes (here at once; in a real bridge `shutdown_signal()`).
//! bridge.run(handler, async {}).await?;
//! # Ok(())
//! # }
//! ```
//!
//! Features: `server` (default: the HTTP server, the client and the [`Builder`]), `sqlite`
//! (default) and `postgres` (the database: transaction records together with your own writes,
//! the client's state, replicas on PostgreSQL), `fs-store` (the append-only file store),
//! `metrics` (Prometheus). The crates behind it are re-exported as modules ([`types`],
//! [`dispatch`], [`client`], [`server`], [`sql`], [`fs_store`]) for everything the prelude
//! leaves out; `docs/first-bridge.md` walks through a whole bridge.

#[cfg(feature = "server")]
mod error;
mod names;
pub mod prelude;

pub use appservice_types::BoxError;
pub use names::{derived_txn_id, escape_localpart};

#[cfg(feature = "server")]
pub use error::{Error, ErrorKind};

pub use appservice_dispatch as dispatch;
pub use appservice_types as types;

#[cfg(feature = "client")]
pub use appservice_client as client;
#[cfg(feature = "fs-store")]
pub use appservice_fs_store as fs_store;
#[cfg(feature = "sql")]
pub use appservice_sql as sql;
#[cfg(feature = "server")]
pub use appservice_tower as server;

#[cfg(feature = "client")]
pub use appservice_client::{ruma_client_api, ruma_common, ruma_events};

/// The client of the appservice's users with the default transport.
#[cfg(feature = "client")]
pub type Client = appservice_client::Client<appservice_client::HyperTransport>;

/// One user of the appservice (see [`Client::intent`]) with the default transport.
#[cfg(feature = "client")]
pub type Intent = appservice_client::Intent<appservice_client::HyperTransport>;

#[cfg(feature = "server")]
mod bridge;
#[cfg(feature = "server")]
mod builder;
#[cfg(feature = "server")]
mod registration;
#[cfg(feature = "server")]
mod signal;
#[cfg(feature = "server")]
mod startup;

#[cfg(feature = "server")]
pub use bridge::Bridge;
#[cfg(feature = "server")]
pub use builder::Builder;
#[cfg(feature = "server")]
pub use registration::{default_database_path, load_registration};
#[cfg(feature = "server")]
pub use signal::shutdown_signal;
#[cfg(feature = "server")]
pub use startup::{discover_server_name, listen_addresses};

/// The README's examples, compiled as doc tests.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
