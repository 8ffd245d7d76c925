//! The Client-Server API as an application service speaks it (Matrix spec v1.19, AS §Client-Server
//! API extensions), over any tower transport.
//!
//! * **Identity assertion** (checklist CS-ID-*): [`Client::intent`] gives an [`Intent`] per
//!   virtual user; its requests carry `?user_id=`, and with [`Intent::with_device`] both
//!   `device_id` (v1.17) and `org.matrix.msc3202.device_id` (older homeservers).
//! * **`ts`** (CS-TS-*): [`SendOptions::ts`] on `PUT /send` and `PUT /state`, and nowhere else.
//! * **Registration and login** (CS-REG-*, CS-LOGIN-*): [`Client::register`] with
//!   `m.login.application_service` and `inhibit_login: true`; [`Client::ensure_registered`] is
//!   single-flight and cached, and `M_USER_IN_USE` counts as success; [`Intent::login`] and
//!   v1.17 device creation ([`Intent::create_device`]); at start-up,
//!   [`Client::with_discovered_versions`] then [`Intent::ensure_device`] picks the one the
//!   homeserver supports (the Matrix Authentication Service has no `/login`).
//! * **Double puppeting**: [`Client::double_puppet`] acts for real users through a second
//!   registration's `as_token` (`url: null`, non-exclusive namespace), never registering them.
//! * **Ping** (CS-PING-*, [AS-PING-5](https://spec.matrix.org/v1.19/application-service-api/#pinging)/6): [`Client::ping`] with typed [`PingError`]s,
//!   [`Client::ping_until_ready`] for start-up, and [`Client::ping_and_confirm`] with a
//!   [`PingTracker`] fed by our own `/_matrix/app/v1/ping` handler.
//! * **Room directory** ([CS-DIR-1](https://spec.matrix.org/v1.19/application-service-api/#published-room-directories)): [`Client::set_room_directory_visibility`].
//! * **Everyday calls**: send, state, redact, join (ID or alias), invite, leave, kick, ban,
//!   create room, state, joined members, display name, avatar, upload and (authenticated)
//!   download, typing, read receipts, whoami, aliases, room name/topic/avatar, power levels,
//!   unban, notices and emotes; [`Intent::ensure_joined`] falls back to an invite from the bot,
//!   [`Intent::ensure_invited`] invites once; [`BridgeRoom`] builds the bridge's `createRoom`
//!   for any room version (12: creators have unlimited power, room IDs have no server part).
//! * **Caches**: registrations and memberships live in a [`StateStore`]; the bridge corrects
//!   them with [`Client::forget_registration`], [`Client::mark_membership`] and
//!   [`Client::forget_membership`].
//! * **Failures**: typed [`ClientError`]s (`errcode`, `error`, status, retry hint — never the
//!   token), and a [`RetryPolicy`]: 429 after `Retry-After` or `retry_after_ms`, 502/503/504 and
//!   transport errors with backoff and jitter for idempotent requests only (see [`retry`]).
//!
//! Requests and responses are ruma's (`ruma-client-api`); [`Client::send`] sends any of them with
//! the appservice's authentication and an [`Identity`].
//!
//! # Transports and runtimes
//!
//! [`Client`] is generic over `S: `[`Transport`]: any `tower::Service<http::Request<Bytes>>`
//! returning an `http::Response` of any `http_body::Body`, so tower middleware (timeouts, tracing, rate
//! limits) can wrap the transport. The default [`HyperTransport`] (feature `hyper`, on by
//! default) is hyper-util's pooled client with rustls; it needs tokio. The core itself uses no
//! runtime: its locks are runtime-agnostic, and retries wait through a [`Sleeper`]
//! ([`TokioSleeper`] with the `tokio` feature, or your own).
//!
//! # Example
//!
//! A transport is any tower service; here a stand-in homeserver answers in-process.
//!
//! ```
//! use appservice_client::{Client, Secret, SendOptions};
//! use bytes::Bytes;
//! use ruma_common::{owned_room_id, owned_server_name, owned_user_id};
//! use ruma_events::room::message::RoomMessageEventContent;
//!
//! // A stand-in homeserver: checks the appservice's request and answers.
//! let homeserver = tower::service_fn(|request: http::Request<Bytes>| async move {
//!     let body = match request.uri().path() {
//!         "/_matrix/client/v3/register" => r#"{"user_id": "@_irc_alice:example.org"}"#,
//!         path if path.contains("/send/m.room.message/") => {
//!             assert_eq!(request.headers()["authorization"], "Bearer as-token");
//!             assert_eq!(
//!                 request.uri().query(),
//!                 Some("ts=1600000000000&user_id=%40_irc_alice%3Aexample.org")
//!             );
//!             r#"{"event_id": "$sent"}"#
//!         }
//!         _ => unreachable!(),
//!     };
//!     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(
//!         Bytes::from(body),
//!     )))
//! });
//!
//! let client = Client::new(
//!     "https://matrix.example.org",
//!     Secret::from("as-token"),
//!     owned_server_name!("example.org"),
//!     homeserver,
//! )?;
//! let alice = client.intent(owned_user_id!("@_irc_alice:example.org"));
//! let content = RoomMessageEventContent::text_plain("Hello from IRC");
//! let options = SendOptions::new().ts(ruma_common::MilliSecondsSinceUnixEpoch(
//!     1_600_000_000_000u64.try_into()?,
//! ));
//! # let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! # runtime.block_on(async {
//! // Alice is registered first (once, cached), then the message is sent as her.
//! let event_id = alice.send_message_with(&owned_room_id!("!room:example.org"), &content, options).await?;
//! assert_eq!(event_id, "$sent");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod bound;
mod client;
mod error;
mod intent;
mod ping;
mod request;
pub mod retry;
mod state;
#[cfg(feature = "hyper")]
mod transport;

pub use appservice_types::{ErrorCode, Secret, ValidatedRegistration};
pub use bound::Transport;
pub use client::{Client, DeviceCreation, DoublePuppet, RegisterOutcome, new_transaction_id};
pub use error::{
    BoxError, ClientError, InvalidArgument, InvalidArgumentKind, MissingConfig, PingError,
    SharedError, TransportFailure,
};
pub use intent::{
    BridgeRoom, DeviceCreationUnsupported, DeviceError, DeviceSetup, Intent, SendOptions,
};
pub use ping::PingTracker;
pub use request::{Identity, PathInput};
#[cfg(feature = "tokio")]
pub use retry::TokioSleeper;
pub use retry::{RetryPolicy, Sleeper};
pub use state::{BoxFuture, MemoryState, Profile, StateStore};
#[cfg(feature = "hyper")]
pub use transport::HyperTransport;

/// The ruma crates this API uses, for convenience.
pub use {ruma_client_api, ruma_common, ruma_events};
