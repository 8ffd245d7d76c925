//! The deterministic names the echo derives: virtual user localparts and send transaction IDs,
//! on the library's injective escapes ([`appservice::escape_localpart`],
//! [`appservice::derived_txn_id`]), so two senders never share a virtual user and two events
//! never share a transaction ID.

pub use appservice::escape_localpart;

/// The prefix of every user and alias this appservice owns (`@_echo_…`, `#_echo_…`).
pub const PREFIX: &str = "_echo_";

/// The localpart of the virtual user that echoes for a sender with this localpart:
/// `_echo_` + [`escape_localpart`].
pub fn virtual_localpart(sender_localpart: &str) -> String {
    format!("{PREFIX}{}", escape_localpart(sender_localpart))
}

/// The transaction ID of the echo of the event `event_id`: `echo-` and the escaped event ID, so
/// a redelivered event (a homeserver retry, or a crash before the transaction store recorded
/// it) sends with the same transaction ID and the homeserver deduplicates the send.
///
/// ```
/// use echo_appservice::echo_txn_id;
///
/// assert_eq!(echo_txn_id("$abc:example.org"), "echo-.24abc.3aexample.2eorg");
/// ```
pub fn echo_txn_id(event_id: &str) -> String {
    appservice::derived_txn_id("echo-", event_id)
}
