//! Types and validation for the [Matrix Application Service API] (spec v1.19).
//!
//! This crate is usable on its own, for example to lint a registration file: it has no async
//! runtime, HTTP server or `tower` dependency (checked by `cargo xtask deps`). It builds on
//! ruma — identifiers, events and the endpoint types are ruma's, re-exported where ruma models
//! them correctly — and adds what ruma lacks:
//!
//! * [`Registration`]: YAML/JSON parsing that keeps unknown keys and the unstable flags
//!   homeservers read (`de.sorunome.msc2409.push_ephemeral`, `org.matrix.msc3202`,
//!   `io.element.msc4190`), reporting every structural problem at once;
//! * [`Registration::check`] and [`ValidatedRegistration`]: every error and lint warning, with
//!   the path to the field (tokens, URL, localpart, regexes, Python-vs-Rust regex dialect…);
//! * [`NamespaceMatcher`]: namespace matching with Synapse's semantics (a regex matches at the
//!   *start* of the ID, like Python's `re.match`), and [`interest`] rules on top;
//! * [`transaction::Transaction`]: a lazy, lenient transaction body (stable and unstable keys,
//!   one malformed event never fails the others, unknown keys kept);
//! * typed events on demand: [`RawEvent::content`](transaction::RawEvent::content) as one of
//!   ruma's content types, [`deserialize_as`](transaction::RawEvent::deserialize_as) one of its
//!   event types (both check the event's `type` first), the envelope's IDs as ruma's ID types;
//! * [`MatrixError`]: the spec's `{"errcode", "error"}` error with its HTTP status;
//! * [`Secret`]: tokens that never appear in `Debug`/`Display`, compared in constant time;
//! * `generate` (feature `generate`): new registrations with fresh tokens, written to files
//!   of mode 0600.
//!
//! # Example: validate a registration and match user IDs
//!
//! ```
//! use appservice_types::{CheckOptions, Registration, ValidatedRegistration};
//!
//! let yaml = r#"
//! id: irc
//! url: "http://127.0.0.1:9000"
//! as_token: "kT8vN3kLp0RtY7wX2mB5cH9jD4fG6sA1eU0iO8yT3rW5qE7z"
//! hs_token: "Pq2bV9nM4xC7zL1kJ6hG3fD8sA5wE0rT2yU9iO4pQ7mN1bV"
//! sender_localpart: _irc_bot
//! rate_limited: false
//! namespaces:
//!   users:
//!     - exclusive: true
//!       regex: '^@_irc_.*:example\.org$'
//! "#;
//!
//! // Every problem at once, for tools: errors and warnings with field paths.
//! let registration = Registration::parse(yaml)?;
//! for diagnostic in registration.check(&CheckOptions::new().server_name("example.org")) {
//!     println!("{diagnostic}"); // e.g. `warning[weak-token] as_token: …`
//! }
//!
//! // Parse, don't validate: the rest of the stack takes a `ValidatedRegistration`.
//! let registration = ValidatedRegistration::try_from(registration)?;
//! assert!(registration.users().is_exclusive_match("@_irc_alice:example.org"));
//! assert!(!registration.users().is_match("@alice:example.org"));
//! // Tokens never leak through Debug.
//! assert!(!format!("{registration:?}").contains("kT8vN3"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Example: typed access to an event
//!
//! The transaction parse reads only each event's envelope; ruma's types are applied when asked,
//! and asking for the wrong type is an error, not a misparse.
//!
//! ```
//! use appservice_types::{
//!     ruma_events::room::message::{MessageType, RoomMessageEventContent},
//!     transaction::{EventErrorKind, Transaction},
//! };
//!
//! let body = br#"{"events": [
//!     {"type": "m.room.message", "event_id": "$1", "room_id": "!r:x", "sender": "@a:x",
//!      "origin_server_ts": 1700000000000, "content": {"msgtype": "m.text", "body": "hi"}},
//!     {"type": "m.room.member", "event_id": "$2", "room_id": "!r:x", "sender": "@a:x",
//!      "state_key": "@a:x", "origin_server_ts": 1, "content": {"membership": "join"}}
//! ]}"#;
//! let txn = Transaction::from_slice(body)?;
//! let (message, member) = (&txn.events[0], &txn.events[1]);
//!
//! let envelope = message.envelope()?;
//! assert_eq!(envelope.sender()?.localpart(), "a"); // a borrowed `&UserId`
//! assert_eq!(envelope.origin_server_ts().as_secs(), 1_700_000_000u32.into());
//! let content = message.content::<RoomMessageEventContent>()?;
//! assert!(matches!(content.msgtype, MessageType::Text(_)));
//!
//! let wrong = member.content::<RoomMessageEventContent>().unwrap_err();
//! assert_eq!(wrong.kind(), EventErrorKind::WrongType);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [Matrix Application Service API]: https://spec.matrix.org/v1.19/application-service-api/

pub mod check;
pub mod diagnostic;
pub mod ephemeral;
pub mod error;
#[cfg(feature = "generate")]
pub mod generate;
pub mod homeserver;
pub mod interest;
pub mod namespace;
pub mod ping;
pub mod query;
mod regex_dialect;
pub mod registration;
pub mod secret;
pub mod thirdparty;
pub mod transaction;
pub mod validated;

pub use check::CheckOptions;
pub use diagnostic::{Code, Diagnostic, Severity};
pub use error::{ErrorBody, ErrorCode, MatrixError};
pub use homeserver::HomeserverProfile;
pub use namespace::NamespaceMatcher;
pub use registration::{
    Namespace, NamespaceKind, Namespaces, ParseError, Registration, RegistrationInit,
};
pub use secret::Secret;
pub use validated::{InvalidRegistration, ValidatedRegistration};

/// A boxed error: the one type every crate of the workspace uses for an error it carries
/// without knowing its type (a handler's failure, a transport's, a store's cause).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// ruma's identifier, time and serde types this crate's API uses (`ruma_common`), its events
/// (`ruma_events`, for typed access to a [`RawEvent`](transaction::RawEvent)) and the integer
/// type of timestamps (`js_int::UInt`), so users need no ruma dependency of their own.
pub use {js_int, ruma_common, ruma_common::serde::Raw, ruma_events};
