//! Typed access to a timeline event, on demand: the envelope's IDs as ruma's ID types,
//! [`RawEvent::content`] for one content type, [`RawEvent::deserialize_as`] for one whole ruma
//! event type, each checking the event's `type` first, and [`EventError`].
//!
//! Nothing here runs unless the handler asks: the dispatcher reads only the envelope's spans.

use std::fmt;

use ruma_common::{EventId, IdParseError, MilliSecondsSinceUnixEpoch, RoomId, UserId};
use ruma_events::{
    BooleanType, MessageLikeEventContent, OriginalMessageLikeEvent, OriginalStateEvent,
    OriginalSyncMessageLikeEvent, OriginalSyncStateEvent, RedactContent,
    RedactedMessageLikeEventContent, RedactedStateEventContent, StaticEventContent,
    StaticStateEventContent,
};
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::value::RawValue;

use super::{EventEnvelope, RawEvent};

/// Why typed access to an event failed: what went wrong is [`kind`](Self::kind), and the
/// message includes serde's or ruma's reason (it has no separate `source`).
#[derive(Debug)]
pub struct EventError {
    kind: EventErrorKind,
    detail: Detail,
}

/// What kind of [`EventError`] it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventErrorKind {
    /// The envelope cannot be read: not an object, or a required field (`type`, `event_id`,
    /// `room_id`, `sender`, `origin_server_ts`) missing or of the wrong JSON type.
    Envelope,
    /// The event's `type` is not the one the content or event type asked for is of.
    WrongType,
    /// The type matches, but the content (or the event) does not deserialize into the type
    /// asked for.
    Invalid,
    /// The type matches, the event was redacted (`unsigned.redacted_because`) and what is left
    /// of its content does not deserialize into the type asked for: ask for the redacted form
    /// (ruma's `SyncMessageLikeEvent` and friends read both).
    Redacted,
    /// An ID of the envelope is not a valid ID of its kind.
    Id,
}

#[derive(Debug)]
enum Detail {
    /// A serde failure reading the envelope (`what` empty) or a `what` event or its content.
    Json {
        what: &'static str,
        error: serde_json::Error,
    },
    WrongType {
        expected: &'static str,
        prefix: bool,
        found: Box<str>,
    },
    Id {
        field: &'static str,
        error: IdParseError,
    },
}

impl EventError {
    /// What went wrong.
    pub fn kind(&self) -> EventErrorKind {
        self.kind
    }

    fn envelope(error: serde_json::Error) -> Self {
        Self { kind: EventErrorKind::Envelope, detail: Detail::Json { what: "", error } }
    }

    fn id(field: &'static str, error: IdParseError) -> Self {
        Self { kind: EventErrorKind::Id, detail: Detail::Id { field, error } }
    }
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.kind, &self.detail) {
            (_, Detail::WrongType { expected, prefix, found }) => {
                let star = if *prefix { "*" } else { "" };
                write!(f, "the event's type is {found:?}, not {expected}{star}")
            }
            (_, Detail::Id { field, error }) => write!(f, "invalid {field}: {error}"),
            (EventErrorKind::Envelope, Detail::Json { error, .. }) => {
                write!(f, "malformed event envelope: {error}")
            }
            (EventErrorKind::Redacted, Detail::Json { what, error }) => {
                write!(f, "redacted {what} event, what is left does not deserialize: {error}")
            }
            (_, Detail::Json { what, error }) => write!(f, "invalid {what} event: {error}"),
        }
    }
}

impl std::error::Error for EventError {}

/// Whether `event_type` is of content type `C` (its full type, or a type under its prefix).
pub fn is_of_type<C: StaticEventContent>(event_type: &str) -> bool {
    if C::IsPrefix::as_bool() { event_type.starts_with(C::TYPE) } else { event_type == C::TYPE }
}

fn check_type<C: StaticEventContent>(event_type: &str) -> Result<(), EventError> {
    if is_of_type::<C>(event_type) {
        return Ok(());
    }
    Err(EventError {
        kind: EventErrorKind::WrongType,
        detail: Detail::WrongType {
            expected: C::TYPE,
            prefix: C::IsPrefix::as_bool(),
            found: event_type.into(),
        },
    })
}

/// A whole ruma event type whose `type` is known from its content type, for
/// [`RawEvent::deserialize_as`]: ruma's original and possibly-redacted message-like and state
/// events, with and without `room_id` (for example `OriginalSyncRoomMessageEvent`,
/// `SyncRoomMemberEvent`). ruma's own deserializers do not compare `type` with the content
/// type; [`RawEvent::deserialize_as`] does.
pub trait StaticEvent: DeserializeOwned {
    /// The content type, whose `TYPE` the event's `type` must be (or start with).
    type Content: StaticEventContent;
}

/// `impl StaticEvent` for each of ruma's event types given, with content `C` bound as given.
macro_rules! static_events {
    ([$($event:ty),+] $bounds:tt) => {
        $(static_events!(@one $event, $bounds);)+
    };
    (@one $event:ty, { $($bounds:tt)* }) => {
        impl<C> StaticEvent for $event
        where
            C: StaticEventContent,
            Self: DeserializeOwned,
            $($bounds)*
        {
            type Content = C;
        }
    };
}

static_events!([
    OriginalSyncMessageLikeEvent<C>, OriginalMessageLikeEvent<C>
] { C: MessageLikeEventContent });
static_events!([
    ruma_events::SyncMessageLikeEvent<C>, ruma_events::MessageLikeEvent<C>
] { C: MessageLikeEventContent + RedactContent, C::Redacted: RedactedMessageLikeEventContent });
static_events!([
    OriginalSyncStateEvent<C>, OriginalStateEvent<C>
] { C: StaticStateEventContent });
static_events!([
    ruma_events::SyncStateEvent<C>, ruma_events::StateEvent<C>
] { C: StaticStateEventContent + RedactContent, C::Redacted: RedactedStateEventContent });

/// Typed views of the envelope's strings. Each call validates the ID (a few ns; see
/// `docs/performance.md`) and borrows it: no allocation.
impl EventEnvelope<'_> {
    /// `event_id` as ruma's [`EventId`].
    pub fn event_id(&self) -> Result<&EventId, EventError> {
        <&EventId>::try_from(self.event_id.as_ref()).map_err(|e| EventError::id("event_id", e))
    }

    /// `room_id` as ruma's [`RoomId`] (room version 12 IDs have no server part).
    pub fn room_id(&self) -> Result<&RoomId, EventError> {
        <&RoomId>::try_from(self.room_id.as_ref()).map_err(|e| EventError::id("room_id", e))
    }

    /// `sender` as ruma's [`UserId`] (historical user IDs accepted, as ruma does).
    pub fn sender(&self) -> Result<&UserId, EventError> {
        <&UserId>::try_from(self.sender.as_ref()).map_err(|e| EventError::id("sender", e))
    }

    /// `origin_server_ts` as ruma's [`MilliSecondsSinceUnixEpoch`].
    pub fn origin_server_ts(&self) -> MilliSecondsSinceUnixEpoch {
        MilliSecondsSinceUnixEpoch(self.origin_server_ts)
    }

    /// Whether the event's `type` is that of content type `C` (for example
    /// `envelope.is::<RoomMessageEventContent>()`).
    pub fn is<C: StaticEventContent>(&self) -> bool {
        is_of_type::<C>(&self.event_type)
    }
}

/// Only the `content` of an event (the other fields are skipped, not read).
#[derive(Deserialize)]
struct ContentOnly<C> {
    content: C,
}

/// Typed access to an event, checking its `type` first.
impl RawEvent {
    /// The event's content as `C`, if the event's `type` is `C`'s
    /// ([`EventErrorKind::WrongType`] if not): only `content` is deserialized.
    ///
    /// ```
    /// use appservice_types::transaction::{EventErrorKind, RawEvent};
    /// use ruma_events::{reaction::ReactionEventContent, room::message::RoomMessageEventContent};
    ///
    /// let event = RawEvent::from_json(
    ///     r#"{"type":"m.room.message","event_id":"$1","room_id":"!r:x","sender":"@a:x",
    ///         "origin_server_ts":1,"content":{"msgtype":"m.text","body":"hi"}}"#,
    /// )?;
    /// let content = event.content::<RoomMessageEventContent>()?;
    /// assert_eq!(content.body(), "hi");
    /// let not_a_reaction = event.content::<ReactionEventContent>().unwrap_err();
    /// assert_eq!(not_a_reaction.kind(), EventErrorKind::WrongType);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// For a state event the content is read whatever its `state_key`; a redacted event's
    /// content is what the redaction kept, and a content type that needs more fails with
    /// [`EventErrorKind::Redacted`].
    pub fn content<C>(&self) -> Result<C, EventError>
    where
        C: StaticEventContent + DeserializeOwned,
    {
        let envelope = self.envelope().map_err(EventError::envelope)?;
        self.content_of_type(&envelope.event_type)
    }

    /// [`content`](Self::content) when the caller has read the envelope already.
    pub fn content_of_type<C>(&self, event_type: &str) -> Result<C, EventError>
    where
        C: StaticEventContent + DeserializeOwned,
    {
        check_type::<C>(event_type)?;
        serde_json::from_str::<ContentOnly<C>>(self.json())
            .map(|c| c.content)
            .map_err(|e| self.invalid(C::TYPE, e))
    }

    /// The whole event as ruma's event type `T` (for example `OriginalSyncRoomMessageEvent` or
    /// `SyncRoomMemberEvent`), if the event's `type` is `T`'s ([`EventErrorKind::WrongType`]
    /// if not). For a type decided by the event (`AnyTimelineEvent`), use
    /// [`deserialize`](Self::deserialize).
    ///
    /// ```
    /// use appservice_types::transaction::RawEvent;
    /// use ruma_events::room::member::{MembershipState, SyncRoomMemberEvent};
    ///
    /// let event = RawEvent::from_json(
    ///     r#"{"type":"m.room.member","event_id":"$1","room_id":"!r:x","sender":"@a:x",
    ///         "state_key":"@b:x","origin_server_ts":1,"content":{"membership":"invite"}}"#,
    /// )?;
    /// let member = event.deserialize_as::<SyncRoomMemberEvent>()?;
    /// assert_eq!(member.membership(), &MembershipState::Invite);
    /// assert_eq!(member.state_key(), "@b:x");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn deserialize_as<T: StaticEvent>(&self) -> Result<T, EventError> {
        let envelope = self.envelope().map_err(EventError::envelope)?;
        check_type::<T::Content>(&envelope.event_type)?;
        serde_json::from_str(self.json()).map_err(|e| self.invalid(T::Content::TYPE, e))
    }

    /// A deserialization failure of a type-checked event: [`EventErrorKind::Redacted`] if the
    /// event says it was redacted, else [`EventErrorKind::Invalid`]. Runs only on failure.
    fn invalid(&self, what: &'static str, error: serde_json::Error) -> EventError {
        #[derive(Deserialize)]
        struct Unsigned<'a> {
            #[serde(borrow)]
            redacted_because: Option<&'a RawValue>,
        }
        #[derive(Deserialize)]
        struct WithUnsigned<'a> {
            #[serde(borrow)]
            unsigned: Option<Unsigned<'a>>,
        }
        let redacted = serde_json::from_str::<WithUnsigned<'_>>(self.json())
            .is_ok_and(|e| e.unsigned.is_some_and(|u| u.redacted_because.is_some()));
        let kind = if redacted { EventErrorKind::Redacted } else { EventErrorKind::Invalid };
        EventError { kind, detail: Detail::Json { what, error } }
    }
}

#[cfg(test)]
mod tests {
    use ruma_events::{
        AnyTimelineEvent,
        reaction::ReactionEventContent,
        room::{
            member::{OriginalSyncRoomMemberEvent, RoomMemberEventContent, SyncRoomMemberEvent},
            message::{OriginalSyncRoomMessageEvent, RoomMessageEventContent},
        },
    };

    use super::*;

    fn event(json: &str) -> RawEvent {
        RawEvent::from_json(json).unwrap()
    }

    const MESSAGE: &str = r#"{"type":"m.room.message","event_id":"$e","room_id":"!r:x",
        "sender":"@a:x","origin_server_ts":7,"content":{"msgtype":"m.text","body":"hi"}}"#;
    const MEMBER: &str = r#"{"type":"m.room.member","event_id":"$m","room_id":"!r:x",
        "sender":"@a:x","state_key":"@b:x","origin_server_ts":7,"content":{"membership":"join"}}"#;

    #[test]
    fn content_of_the_right_type() {
        let content = event(MESSAGE).content::<RoomMessageEventContent>().unwrap();
        assert_eq!(content.body(), "hi");
        let member = event(MEMBER).content::<RoomMemberEventContent>().unwrap();
        assert_eq!(member.membership.as_str(), "join");
    }

    #[test]
    fn a_type_mismatch_is_an_error_not_a_misparse() {
        // A reaction's content shape would not parse anyway; a member's content parses as
        // nothing else, but the check comes first whatever the shapes.
        let e = event(MESSAGE).content::<ReactionEventContent>().unwrap_err();
        assert_eq!(e.kind(), EventErrorKind::WrongType);
        assert!(e.to_string().contains("m.room.message") && e.to_string().contains("m.reaction"));
        let e = event(MEMBER).content::<RoomMessageEventContent>().unwrap_err();
        assert_eq!(e.kind(), EventErrorKind::WrongType);
        let e = event(MESSAGE).deserialize_as::<OriginalSyncRoomMemberEvent>().unwrap_err();
        assert_eq!(e.kind(), EventErrorKind::WrongType);
    }

    #[test]
    fn malformed_content_and_envelopes() {
        let bad = MESSAGE.replace(r#""body":"hi""#, r#""body":3"#);
        let e = event(&bad).content::<RoomMessageEventContent>().unwrap_err();
        assert_eq!(e.kind(), EventErrorKind::Invalid);
        assert!(e.to_string().starts_with("invalid m.room.message event: invalid type"), "{e}");
        let e = event(r#"{"type":"m.room.message"}"#).content::<RoomMessageEventContent>();
        assert_eq!(e.unwrap_err().kind(), EventErrorKind::Envelope);
        let e = event("[1]").deserialize_as::<OriginalSyncRoomMessageEvent>().unwrap_err();
        assert_eq!(e.kind(), EventErrorKind::Envelope);
    }

    #[test]
    fn redacted_events() {
        let redacted = r#"{"type":"m.room.message","event_id":"$e","room_id":"!r:x",
            "sender":"@a:x","origin_server_ts":7,"content":{},
            "unsigned":{"redacted_because":{"type":"m.room.redaction","event_id":"$r",
            "sender":"@a:x","origin_server_ts":8,"content":{"redacts":"$e"},"redacts":"$e"}}}"#;
        let e = event(redacted).content::<RoomMessageEventContent>().unwrap_err();
        assert_eq!(e.kind(), EventErrorKind::Redacted);
        let e = event(redacted).deserialize_as::<OriginalSyncRoomMessageEvent>().unwrap_err();
        assert_eq!(e.kind(), EventErrorKind::Redacted);
        // ruma's possibly-redacted type reads it.
        let any = event(redacted)
            .deserialize_as::<ruma_events::room::message::SyncRoomMessageEvent>()
            .unwrap();
        assert!(any.as_original().is_none());
    }

    #[test]
    fn whole_events_match_what_ruma_reads() {
        let typed = event(MESSAGE).deserialize_as::<OriginalSyncRoomMessageEvent>().unwrap();
        let any = event(MESSAGE).deserialize::<AnyTimelineEvent>().unwrap();
        assert_eq!(typed.event_id, any.event_id());
        assert_eq!(typed.content.body(), "hi");
        let member = event(MEMBER).deserialize_as::<SyncRoomMemberEvent>().unwrap();
        assert_eq!(member.state_key().as_str(), "@b:x");
        // A state type needs a state key (ruma's rule): without one, the event is invalid.
        let stateless = MEMBER.replace(r#""state_key":"@b:x","#, "");
        let e = event(&stateless).deserialize_as::<SyncRoomMemberEvent>().unwrap_err();
        assert_eq!(e.kind(), EventErrorKind::Invalid);
    }

    #[test]
    fn envelope_ids_are_typed_on_demand() {
        let raw = event(MESSAGE);
        let envelope = raw.envelope().unwrap();
        assert_eq!(envelope.room_id().unwrap().as_str(), "!r:x");
        assert_eq!(envelope.sender().unwrap().localpart(), "a");
        assert_eq!(envelope.event_id().unwrap().as_str(), "$e");
        assert_eq!(envelope.origin_server_ts(), MilliSecondsSinceUnixEpoch(7u32.into()));
        assert!(envelope.is::<RoomMessageEventContent>());
        assert!(!envelope.is::<ReactionEventContent>());

        let bad = event(&MESSAGE.replace("@a:x", "a:x").replace("!r:x", "r"));
        let envelope = bad.envelope().unwrap();
        let e = envelope.sender().unwrap_err();
        assert_eq!(e.kind(), EventErrorKind::Id);
        assert!(e.to_string().starts_with("invalid sender: "), "{e}");
        assert!(envelope.room_id().unwrap_err().to_string().starts_with("invalid room_id: "));
    }

    #[test]
    fn prefix_types_match_by_prefix() {
        struct Prefixed;
        impl StaticEventContent for Prefixed {
            const TYPE: &'static str = "org.example.call.";
            type IsPrefix = ruma_events::True;
        }
        assert!(is_of_type::<Prefixed>("org.example.call.member"));
        assert!(!is_of_type::<Prefixed>("org.example.cal"));
        assert!(is_of_type::<RoomMessageEventContent>("m.room.message"));
        assert!(!is_of_type::<RoomMessageEventContent>("m.room.message.x"));
    }
}
