//! One timeline event: [`RawEvent`] (its JSON, shared with the body) and its
//! [`EventEnvelope`].

use std::{borrow::Cow, fmt, ops::Range, sync::Arc};

use ruma_common::serde::Raw;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::scan;

/// The envelope of a timeline event: what routing, interest and logging need, read without
/// parsing `content`. Strings are borrowed from the event's JSON where they have no escapes.
///
/// Required, per the `ClientEvent` schema: `type`, `event_id`, `room_id`, `sender`,
/// `origin_server_ts`. Room IDs are not assumed to have a `:server` part (room version 12).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct EventEnvelope<'a> {
    /// `type`.
    #[serde(rename = "type", borrow)]
    pub event_type: Cow<'a, str>,
    /// `event_id`.
    #[serde(borrow)]
    pub event_id: Cow<'a, str>,
    /// `room_id`.
    #[serde(borrow)]
    pub room_id: Cow<'a, str>,
    /// `sender`.
    #[serde(borrow)]
    pub sender: Cow<'a, str>,
    /// `state_key`, present (possibly empty) exactly for state events.
    #[serde(default, borrow)]
    pub state_key: Option<Cow<'a, str>>,
    /// `origin_server_ts`, milliseconds since the Unix epoch.
    pub origin_server_ts: js_int::UInt,
}

impl<'a> EventEnvelope<'a> {
    /// Reads the envelope of one event.
    pub fn parse<T>(event: &'a Raw<T>) -> Result<Self, serde_json::Error> {
        Self::from_json(event.json().get())
    }

    /// Reads the envelope of one event given as JSON text.
    pub fn from_json(json: &'a str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// The envelope at the spans the scanner found (`None` if they are not in `json`).
    pub(super) fn from_spans(json: &'a str, spans: &scan::Spans) -> Option<Self> {
        let at = |(a, b): (u32, u32)| json.get(a as usize..b as usize).map(Cow::Borrowed);
        Some(Self {
            event_type: at(spans.event_type)?,
            event_id: at(spans.event_id)?,
            room_id: at(spans.room_id)?,
            sender: at(spans.sender)?,
            state_key: match spans.state_key {
                Some(span) => Some(at(span)?),
                None => None,
            },
            origin_server_ts: js_int::UInt::new(spans.origin_server_ts)?,
        })
    }

    /// Whether this is a state event: it has a `state_key`, even an empty one ([AS-TXN-8](https://spec.matrix.org/v1.19/application-service-api/#pushing-events)).
    pub fn is_state(&self) -> bool {
        self.state_key.is_some()
    }
}

/// One timeline event of a transaction: its JSON text, read further only on demand.
///
/// The events of a parsed [`Transaction`](super::Transaction) share one copy of the body (no allocation per event)
/// and know where their envelope fields are, so [`envelope`](Self::envelope) reads no JSON in
/// the common case. Cloning is cheap (a reference count); a clone kept after the transaction
/// keeps the whole body alive, so keep a [`detached`](Self::detached) copy instead.
///
/// ```
/// use appservice_types::transaction::RawEvent;
///
/// let event = RawEvent::from_json(
///     r#"{"type":"m.room.message","event_id":"$1","room_id":"!r","sender":"@a:x",
///         "origin_server_ts":1,"content":{"msgtype":"m.text","body":"hi"}}"#,
/// )?;
/// assert_eq!(event.envelope()?.sender, "@a:x");
/// let typed: ruma_events::AnyTimelineEvent = event.deserialize()?;
/// assert_eq!(typed.event_type().to_string(), "m.room.message");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone)]
pub struct RawEvent {
    /// The text the event is part of (the whole body, or just the event).
    pub(super) body: Arc<str>,
    /// Where the event is in `body`.
    pub(super) range: Range<usize>,
    /// Where its envelope fields are, relative to the event's start, if the scanner read them.
    pub(super) envelope: Option<scan::Spans>,
}

impl RawEvent {
    /// An event from its JSON text (any JSON value; not an object means no envelope). Fails
    /// only if `json` is not JSON.
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        let raw = serde_json::from_str::<&RawValue>(json)?;
        Ok(Self::copied(raw.get()))
    }

    /// A copy of already-validated JSON.
    pub(super) fn copied(json: &str) -> Self {
        Self::in_body(Arc::from(json), 0..json.len())
    }

    /// An already-validated event at `range` of `body`.
    pub(super) fn in_body(body: Arc<str>, range: Range<usize>) -> Self {
        let envelope = body.get(range.clone()).and_then(scan::envelope_of);
        Self { body, range, envelope }
    }

    /// A copy of just this event, not sharing the transaction's body.
    pub fn detached(&self) -> Self {
        Self { body: Arc::from(self.json()), range: 0..self.range.len(), envelope: self.envelope }
    }

    /// The event's JSON text, exactly as it came.
    pub fn json(&self) -> &str {
        self.body.get(self.range.clone()).unwrap_or_default()
    }

    /// The envelope (type, IDs, sender, state key, timestamp), or why it cannot be read.
    pub fn envelope(&self) -> Result<EventEnvelope<'_>, serde_json::Error> {
        let json = self.json();
        match self.envelope.as_ref().and_then(|spans| EventEnvelope::from_spans(json, spans)) {
            Some(envelope) => Ok(envelope),
            // Escapes, a missing or repeated field, a wrong type…: serde_json reads it.
            None => EventEnvelope::from_json(json),
        }
    }

    /// Deserializes the event, e.g. into ruma's `AnyTimelineEvent` or one event type.
    pub fn deserialize<'a, T: Deserialize<'a>>(&'a self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.json())
    }

    /// A copy as ruma's lazy [`Raw`] (for ruma APIs that take one).
    pub fn to_raw<T>(&self) -> Result<Raw<T>, serde_json::Error> {
        RawValue::from_string(self.json().to_owned()).map(Raw::from_json)
    }
}

impl<T> From<&Raw<T>> for RawEvent {
    fn from(raw: &Raw<T>) -> Self {
        Self::copied(raw.json().get())
    }
}

impl<T> From<Raw<T>> for RawEvent {
    fn from(raw: Raw<T>) -> Self {
        Self::from(&raw)
    }
}

impl fmt::Debug for RawEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RawEvent").field(&self.json()).finish()
    }
}

impl PartialEq for RawEvent {
    fn eq(&self, other: &Self) -> bool {
        self.json() == other.json()
    }
}

impl Eq for RawEvent {}
