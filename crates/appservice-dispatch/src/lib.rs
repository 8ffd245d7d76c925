//! The dispatcher for requests from a homeserver to a Matrix application service:
//! `http::Request<Bytes>` in, `http::Response<Bytes>` out.
//!
//! It does not take care of network IO: no sockets, no tasks, no timers, no files (the
//! persistent `FileStore` is in its own crate, `appservice-fs-store`). It depends on no async
//! runtime; its coordination (one transaction at a time, duplicates waiting for the first
//! delivery) uses runtime-agnostic primitives, and it builds for `wasm32-unknown-unknown`.
//! `appservice-tower` serves it over HTTP.
//!
//! # What it guarantees
//!
//! * **Routing**: every endpoint of the AS API v1.19 and, unless turned off, the legacy paths
//!   (one transaction ID is one transaction whichever path it came by). Unknown path → 404
//!   `M_UNRECOGNIZED`; known path, other method → 405 `M_UNRECOGNIZED` with `Allow`.
//! * **Auth before anything else**: `Authorization: Bearer` (any case) or `?access_token=`;
//!   both present must agree. Missing → 401 `M_MISSING_TOKEN`, wrong → 403 `M_FORBIDDEN`;
//!   compared in constant time; the body is not read and no handler or store is touched first.
//! * **Bodies**: over [`DispatchConfig::max_body_bytes`] or with more than
//!   [`DispatchConfig::max_events`] events → 413 `M_TOO_LARGE`; not JSON → 400
//!   `M_NOT_JSON`; no `events` list → 400 `M_BAD_JSON`. A malformed event does not fail the
//!   transaction: it reaches the handler with `envelope: None`.
//! * **Transactions, exactly once in effect, in order**: a transaction is acknowledged with
//!   `200 {}` only after the handler succeeded for all of it and the [`TransactionStore`]
//!   recorded it; a handler error answers 500 `M_UNKNOWN` and nothing is recorded, so the
//!   homeserver retries. A recorded transaction is acknowledged again without the handler. A
//!   duplicate that arrives while the first delivery is being handled waits for it and shares
//!   its answer. Transactions are handled one at a time, in arrival order.
//! * **Retries**: within one process, a retry does not hand the handler the events (or the
//!   ephemeral data) that a failed attempt already handled successfully. Synapse retries a
//!   failed transaction *without* its ephemeral and to-device data, so
//!   [`Handler::ephemeral_and_device_data`] runs first, on the first attempt, before the
//!   events; if it fails, that data is not
//!   redelivered by Synapse (it is by homeservers that resend whole transactions).
//!   After a restart, what the store recorded is never handled again; a transaction whose
//!   record was lost in a crash is handled again in full (see the store's contract).
//!
//! # Example
//!
//! ```
//! use appservice_dispatch::{Dispatcher, Event, Handler, HandlerError, TransactionContext};
//! use appservice_types::ValidatedRegistration;
//!
//! struct Echo;
//!
//! impl Handler for Echo {
//!     async fn event(&self, _txn: &TransactionContext<'_>, event: Event<'_>) -> Result<(), HandlerError> {
//!         if let Some(e) = event.envelope {
//!             println!("{} from {} in {}", e.event_type, e.sender, e.room_id);
//!         }
//!         Ok(())
//!     }
//! }
//!
//! let registration = ValidatedRegistration::parse(
//!     "id: echo\nurl: null\nas_token: a_secret\nhs_token: h_secret\nsender_localpart: echo\nnamespaces: {}",
//! )?;
//! let dispatcher = Dispatcher::new(registration, Echo);
//!
//! let request = http::Request::put("/_matrix/app/v1/transactions/1")
//!     .header("Authorization", "Bearer h_secret")
//!     .body(bytes::Bytes::from_static(br#"{"events": []}"#))?;
//! let response = futures::executor::block_on(dispatcher.dispatch(request));
//! assert_eq!(response.status(), 200);
//! assert_eq!(response.body().as_ref(), b"{}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

//!
//! # Typed events and per-type routing
//!
//! Each event reaches the handler as its raw JSON and its envelope (type, IDs, sender, state
//! key, timestamp as strings and integers, no parse of `content`). ruma's types are applied on
//! demand: [`Event::content`] deserializes only the content, as the ruma content type asked for
//! and only if the event is of that type; [`Event::deserialize_as`] reads a whole ruma event
//! type; [`EventEnvelope::room_id`](appservice_types::transaction::EventEnvelope::room_id) and
//! its siblings borrow the envelope's strings as ruma IDs. ruma itself is re-exported
//! ([`ruma_common`], [`ruma_events`], [`js_int`]), so a handler needs no ruma dependency.
//!
//! ```
//! use appservice_dispatch::{
//!     Event, Handler, HandlerError, TransactionContext,
//!     ruma_events::room::message::{MessageType, RoomMessageEventContent},
//! };
//!
//! struct Bridge;
//!
//! impl Handler for Bridge {
//!     async fn event(&self, _txn: &TransactionContext<'_>, event: Event<'_>) -> Result<(), HandlerError> {
//!         // Only messages; a malformed one is skipped (its error says why).
//!         let (Some(envelope), Ok(content)) = (event.envelope, event.content::<RoomMessageEventContent>())
//!         else {
//!             return Ok(());
//!         };
//!         let (Ok(room_id), Ok(sender)) = (envelope.room_id(), envelope.sender()) else {
//!             return Ok(());
//!         };
//!         if let MessageType::Text(text) = &content.msgtype {
//!             println!("{sender} in {room_id} at {:?}: {}", envelope.origin_server_ts(), text.body);
//!         }
//!         Ok(())
//!     }
//! }
//! ```
//!
//! [`EventRouter`] does the `match` on the type for you: a route per ruma content type, the
//! content deserialized (or its typed error), everything else to the handler it wraps; see its
//! example.

mod auth;
mod config;
mod dispatcher;
mod event_router;
mod handler;
pub mod hook;
mod order;
pub mod route;
pub mod store;

pub use config::{DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_EVENTS, DispatchConfig, RoomConcurrency};
pub use dispatcher::{Dispatcher, Disposition, Rejection, Report, error_response};
pub use event_router::{EventRouter, RouteFuture};
pub use handler::{BoxError, Event, Handler, HandlerError, TransactionContext};
pub use hook::{EventHook, Hooked};
pub use store::{Fingerprint, MemoryStore, StoreError, TransactionStore, UnitOfWork};

/// Typed access to events: the error, its kind, and the whole-event types
/// [`Event::deserialize_as`] takes.
pub use appservice_types::transaction::{EventError, EventErrorKind, StaticEvent};
/// ruma, re-exported so a handler needs no ruma dependency of its own: identifiers and time
/// (`ruma_common`, e.g. `ruma_common::{RoomId, MilliSecondsSinceUnixEpoch}`), events
/// (`ruma_events`, e.g. `ruma_events::room::message::RoomMessageEventContent`) and the
/// timestamp's integer (`js_int::UInt`). They are `appservice_types`' re-exports, so each
/// has one name.
pub use appservice_types::{js_int, ruma_common, ruma_events};

/// A boxed, `Send` future (for the object-safe [`TransactionStore`]).
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
