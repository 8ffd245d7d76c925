//! [`Interest`]: is the appservice interested in an event, per the spec's namespace rules?
//!
//! The spec (Registration; checklist [AS-TXN-12](https://spec.matrix.org/v1.19/application-service-api/#pushing-events)) pushes an event to an appservice when:
//! * `users`: a **local** user matching a namespace (or the `sender_localpart` bot) is the
//!   target of the event (Synapse: its `sender`, or the `state_key` of an `m.room.member`),
//!   or is a joined member of the room;
//! * `rooms`: the room ID matches;
//! * `aliases`: the room has a matching alias.
//!
//! The homeserver already applies these rules; an appservice re-applies them to route events
//! to handlers, to sanity-check what it receives, or when it consumes events from elsewhere.
//! Room aliases and joined members are state the appservice keeps: they come from a
//! caller-supplied [`RoomLookup`], consulted only when the cheap checks say no.

use crate::{ValidatedRegistration, transaction::EventEnvelope};

/// Why the appservice is interested in an event.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// The sender is the bot or a local user in the user namespaces.
    Sender,
    /// The event is an `m.room.member` whose `state_key` is the bot or a local namespaced user.
    MemberTarget,
    /// The room ID is in the room namespaces.
    Room,
    /// The room has this alias, which is in the alias namespaces.
    Alias(String),
    /// This bot or local namespaced user is a joined member of the room.
    JoinedMember(String),
}

/// Room state the appservice knows, for the rules that need it. Both methods default to
/// "nothing known".
pub trait RoomLookup {
    /// The aliases of a room (canonical and alternative, and any published in the directory).
    fn aliases(&self, room_id: &str) -> Vec<String> {
        let _ = room_id;
        Vec::new()
    }

    /// The joined members of a room.
    fn joined_members(&self, room_id: &str) -> Vec<String> {
        let _ = room_id;
        Vec::new()
    }
}

/// A [`RoomLookup`] that knows nothing: only the sender, member target and room ID count.
#[derive(Clone, Copy, Debug, Default)]
#[allow(clippy::exhaustive_structs)] // A unit marker.
pub struct NoLookup;

impl RoomLookup for NoLookup {}

/// The interest rules of one registration on one homeserver.
///
/// ```
/// use appservice_types::{ValidatedRegistration, interest::{Interest, NoLookup, Reason}};
/// use appservice_types::transaction::Transaction;
///
/// let reg = ValidatedRegistration::parse(
///     "id: irc\nurl: null\nas_token: a\nhs_token: b\nsender_localpart: _irc_bot\n\
///      namespaces:\n  users: [{exclusive: true, regex: '@_irc_.*'}]\n",
/// )
/// .unwrap();
/// let interest = Interest::new(&reg, "example.org");
/// assert!(interest.is_interested_in_user("@_irc_bob:example.org"));
/// assert!(interest.is_interested_in_user("@_irc_bot:example.org"));
/// // Users namespaces cover local users only (spec v1.5).
/// assert!(!interest.is_interested_in_user("@_irc_bob:elsewhere.org"));
///
/// let txn = Transaction::from_slice(br#"{"events": [{"type": "m.room.member",
///     "event_id": "$1", "room_id": "!r", "sender": "@alice:example.org",
///     "state_key": "@_irc_bob:example.org", "origin_server_ts": 1, "content": {}}]}"#).unwrap();
/// let envelope = txn.envelopes().next().unwrap().unwrap();
/// assert_eq!(interest.event(&envelope, &NoLookup), Some(Reason::MemberTarget));
/// ```
#[derive(Clone, Debug)]
pub struct Interest<'r> {
    registration: &'r ValidatedRegistration,
    server_name: String,
    bot: String,
}

impl<'r> Interest<'r> {
    /// The rules of `registration` on the homeserver `server_name`.
    pub fn new(registration: &'r ValidatedRegistration, server_name: &str) -> Self {
        let bot = format!("@{}:{server_name}", registration.sender_localpart());
        Self { registration, server_name: server_name.to_owned(), bot }
    }

    /// The bot's user ID.
    pub fn bot(&self) -> &str {
        &self.bot
    }

    /// Whether `user_id` is on this homeserver.
    pub fn is_local(&self, user_id: &str) -> bool {
        user_id.split_once(':').is_some_and(|(_, server)| server == self.server_name)
    }

    /// Whether `user_id` is the bot, or a local user in the user namespaces.
    pub fn is_interested_in_user(&self, user_id: &str) -> bool {
        user_id == self.bot
            || (self.is_local(user_id) && self.registration.users().is_match(user_id))
    }

    /// Whether `room_id` is in the room namespaces.
    pub fn is_interested_in_room(&self, room_id: &str) -> bool {
        self.registration.rooms().is_match(room_id)
    }

    /// Whether `alias` is in the alias namespaces.
    pub fn is_interested_in_alias(&self, alias: &str) -> bool {
        self.registration.aliases().is_match(alias)
    }

    /// Why the appservice is interested in this event, or `None` if it is not.
    pub fn event(&self, event: &EventEnvelope<'_>, lookup: &impl RoomLookup) -> Option<Reason> {
        if self.is_interested_in_user(&event.sender) {
            return Some(Reason::Sender);
        }
        if event.event_type == "m.room.member"
            && event.state_key.as_deref().is_some_and(|target| self.is_interested_in_user(target))
        {
            return Some(Reason::MemberTarget);
        }
        if self.is_interested_in_room(&event.room_id) {
            return Some(Reason::Room);
        }
        if !self.registration.aliases().is_empty()
            && let Some(alias) =
                lookup.aliases(&event.room_id).into_iter().find(|a| self.is_interested_in_alias(a))
        {
            return Some(Reason::Alias(alias));
        }
        lookup
            .joined_members(&event.room_id)
            .into_iter()
            .find(|m| self.is_interested_in_user(m))
            .map(Reason::JoinedMember)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transaction::Transaction;

    struct Rooms;

    impl RoomLookup for Rooms {
        fn aliases(&self, room_id: &str) -> Vec<String> {
            if room_id == "!aliased" { vec!["#_irc_chan:example.org".to_owned()] } else { vec![] }
        }

        fn joined_members(&self, room_id: &str) -> Vec<String> {
            if room_id == "!shared" {
                vec!["@alice:example.org".to_owned(), "@_irc_carol:example.org".to_owned()]
            } else {
                vec!["@alice:example.org".to_owned()]
            }
        }
    }

    fn reg() -> ValidatedRegistration {
        ValidatedRegistration::parse(
            "id: irc\nurl: null\nas_token: a\nhs_token: b\nsender_localpart: _irc_bot\n\
             namespaces:\n  users: [{exclusive: true, regex: '@_irc_.*'}]\n\
             \x20 aliases: [{exclusive: true, regex: '#_irc_.*'}]\n\
             \x20 rooms: [{exclusive: false, regex: '!bridged'}]\n",
        )
        .unwrap()
    }

    fn check(event: &str) -> Option<Reason> {
        let reg = reg();
        let interest = Interest::new(&reg, "example.org");
        let body = format!(r#"{{"events":[{event}]}}"#);
        let txn = Transaction::from_slice(body.as_bytes()).unwrap();
        let env = txn.envelopes().next().unwrap().unwrap();
        interest.event(&env, &Rooms)
    }

    fn ev(kind: &str, room: &str, sender: &str, state_key: Option<&str>) -> String {
        let sk = state_key.map(|s| format!(r#","state_key":"{s}""#)).unwrap_or_default();
        format!(
            r#"{{"type":"{kind}","event_id":"$e","room_id":"{room}","sender":"{sender}",
                "origin_server_ts":1,"content":{{}}{sk}}}"#
        )
    }

    #[test]
    fn rules() {
        assert_eq!(
            check(&ev("m.room.message", "!x", "@_irc_a:example.org", None)),
            Some(Reason::Sender)
        );
        assert_eq!(
            check(&ev("m.room.message", "!x", "@_irc_bot:example.org", None)),
            Some(Reason::Sender)
        );
        assert_eq!(
            check(&ev("m.room.member", "!x", "@alice:example.org", Some("@_irc_bot:example.org"))),
            Some(Reason::MemberTarget)
        );
        // A state_key of another event type is not a target.
        assert_eq!(
            check(&ev("m.room.topic", "!x", "@alice:example.org", Some("@_irc_a:example.org"))),
            None
        );
        assert_eq!(
            check(&ev("m.room.message", "!bridged", "@alice:example.org", None)),
            Some(Reason::Room)
        );
        // Room IDs match from the start (room version 12: no server part).
        assert_eq!(
            check(&ev("m.room.message", "!bridgedXYZ", "@alice:example.org", None)),
            Some(Reason::Room)
        );
        assert_eq!(
            check(&ev("m.room.message", "!aliased", "@alice:example.org", None)),
            Some(Reason::Alias("#_irc_chan:example.org".to_owned()))
        );
        assert_eq!(
            check(&ev("m.room.message", "!shared", "@alice:example.org", None)),
            Some(Reason::JoinedMember("@_irc_carol:example.org".to_owned()))
        );
        assert_eq!(check(&ev("m.room.message", "!x", "@alice:example.org", None)), None);
        // A remote user matching the regex is not ours.
        assert_eq!(check(&ev("m.room.message", "!x", "@_irc_a:evil.org", None)), None);
    }
}
