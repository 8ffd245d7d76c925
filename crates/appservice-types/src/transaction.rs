//! `PUT /_matrix/app/*/transactions/{txnId}`: the body of a transaction, parsed lazily.
//!
//! ruma's `push_events::v1::Request` is strict (a missing or malformed optional section fails the
//! whole body), reads only one spelling of each unstable key and drops unknown keys. A
//! homeserver retries a refused transaction forever, so one bad section would block every later
//! event for the appservice (checklist IN-3). [`Transaction`] instead:
//!
//! * keeps each event as a lazy [`RawEvent`]: one malformed event never fails the others;
//! * reads every spelling homeservers send (stable first, then unstable; see [`Transaction`]);
//! * keeps a malformed optional section, and every unknown key, in [`Transaction::extra`],
//!   noting the problem in [`Transaction::problems`], instead of failing;
//! * fails only when the body is not JSON, not an object, or has no `events` list.

use std::{borrow::Cow, collections::BTreeMap};

use ruma_common::{OneTimeKeyAlgorithm, OwnedDeviceId, OwnedUserId, serde::Raw};
use serde_json::value::RawValue;

use crate::MatrixError;

mod event;
mod parse;
mod scan;
mod typed;

pub use event::{EventEnvelope, RawEvent};
#[cfg(test)]
use parse::parse_with_serde;
use parse::{parse_top_level, raw_list, raw_of, take_section};
pub use typed::{EventError, EventErrorKind, StaticEvent, is_of_type};

pub use ruma_appservice_api::event::push_events::v1::{
    AnyAppserviceToDeviceEvent, DeviceLists, EphemeralData,
};

/// One-time-key counts: user → device → algorithm → count (MSC3202).
pub type OneTimeKeyCounts =
    BTreeMap<OwnedUserId, BTreeMap<OwnedDeviceId, BTreeMap<OneTimeKeyAlgorithm, js_int::UInt>>>;

/// Unused fallback key types: user → device → algorithms (MSC3202).
pub type UnusedFallbackKeyTypes =
    BTreeMap<OwnedUserId, BTreeMap<OwnedDeviceId, Vec<OneTimeKeyAlgorithm>>>;

/// The keys of the ephemeral list, in order of precedence: the stable key (spec v1.13), then
/// MSC2409's (sent by Synapse when only `de.sorunome.msc2409.push_ephemeral` is set).
pub const EPHEMERAL_KEYS: &[&str] = &["ephemeral", "de.sorunome.msc2409.ephemeral"];
/// The keys of the to-device list (MSC4203): the proposed stable key, then the one Synapse sends.
pub const TO_DEVICE_KEYS: &[&str] = &["to_device", "de.sorunome.msc2409.to_device"];
/// The keys of the device-list changes (MSC3202).
pub const DEVICE_LISTS_KEYS: &[&str] = &["device_lists", "org.matrix.msc3202.device_lists"];
/// The keys of the one-time-key counts (MSC3202), including the misspelling Synapse also sends.
pub const OTK_COUNT_KEYS: &[&str] = &[
    "device_one_time_keys_count",
    "org.matrix.msc3202.device_one_time_keys_count",
    "org.matrix.msc3202.device_one_time_key_counts",
];
/// The keys of the unused fallback key types (MSC3202).
pub const FALLBACK_KEYS: &[&str] =
    &["device_unused_fallback_key_types", "org.matrix.msc3202.device_unused_fallback_key_types"];

/// A section of a transaction, with the key it was read from.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Section<T> {
    /// The key it came under (one of the `*_KEYS` lists).
    pub key: &'static str,
    /// The value.
    pub value: T,
}

/// The body of `PUT /_matrix/app/v1/transactions/{txnId}`.
///
/// **Precedence.** For each section the first key present (and not `null`) of its list wins:
/// [`EPHEMERAL_KEYS`], [`TO_DEVICE_KEYS`], [`DEVICE_LISTS_KEYS`], [`OTK_COUNT_KEYS`],
/// [`FALLBACK_KEYS`]. Synapse never sends two spellings of a list that differ (it sends the OTK
/// counts under both spellings, with the same value); the spellings that lose stay in
/// [`extra`](Self::extra), so nothing is lost and a round trip is exact.
///
/// ```
/// use appservice_types::transaction::Transaction;
///
/// let body = br#"{
///   "events": [
///     {"type": "m.room.message", "event_id": "$1", "room_id": "!r", "sender": "@a:x",
///      "origin_server_ts": 1, "content": {"body": "hi"}},
///     "not an event"
///   ],
///   "de.sorunome.msc2409.ephemeral": [
///     {"type": "m.typing", "room_id": "!r", "content": {"user_ids": ["@a:x"]}}
///   ]
/// }"#;
/// let txn = Transaction::from_slice(body).unwrap();
/// assert_eq!(txn.events.len(), 2);
/// let envelopes: Vec<_> = txn.envelopes().collect();
/// assert_eq!(envelopes[0].as_ref().unwrap().event_type, "m.room.message");
/// assert!(envelopes[1].is_err()); // one malformed event does not fail the others
/// assert_eq!(txn.ephemeral.as_ref().unwrap().key, "de.sorunome.msc2409.ephemeral");
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Transaction {
    /// The timeline events, in order: each one's JSON, parsed further only on demand.
    pub events: Vec<RawEvent>,
    /// Ephemeral data (`m.typing`, `m.receipt`, `m.presence`, …).
    pub ephemeral: Option<Section<Vec<Raw<EphemeralData>>>>,
    /// To-device messages for the appservice's users (MSC4203).
    pub to_device: Option<Section<Vec<Raw<AnyAppserviceToDeviceEvent>>>>,
    /// Device-list changes (MSC3202), parsed on demand.
    pub device_lists: Option<Section<Raw<DeviceLists>>>,
    /// One-time-key counts (MSC3202), parsed on demand.
    pub device_one_time_keys_count: Option<Section<Raw<OneTimeKeyCounts>>>,
    /// Unused fallback key types (MSC3202), parsed on demand.
    pub device_unused_fallback_key_types: Option<Section<Raw<UnusedFallbackKeyTypes>>>,
    /// Every other top-level key (including losing spellings and malformed sections), as is.
    pub extra: BTreeMap<String, Box<RawValue>>,
    /// Optional sections that were present but malformed (they are kept in `extra`).
    pub problems: Vec<SectionProblem>,
}

/// An optional section that was present but not of the expected JSON shape.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SectionProblem {
    /// The key.
    pub key: String,
    /// What was wrong.
    pub message: String,
}

/// Why a transaction body was refused as a whole.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransactionError {
    /// The body is not JSON (→ 400 `M_NOT_JSON`).
    #[error("the body is not valid JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    /// The body is JSON but not an object (→ 400 `M_BAD_JSON`).
    #[error("the body must be a JSON object")]
    NotAnObject,
    /// `events` is missing (→ 400 `M_BAD_JSON`).
    #[error("the body has no `events` list")]
    MissingEvents,
    /// `events` is not a list (→ 400 `M_BAD_JSON`).
    #[error("`events` must be a list")]
    EventsNotAList,
    /// `events` has more than the limit the caller set (→ 413 `M_TOO_LARGE`).
    #[error("the transaction has more than {limit} events")]
    TooManyEvents {
        /// The limit.
        limit: usize,
    },
}

impl TransactionError {
    /// The spec-shaped error to answer with.
    pub fn to_matrix_error(&self) -> MatrixError {
        match self {
            Self::NotJson(_) => MatrixError::not_json(self.to_string()),
            Self::TooManyEvents { .. } => MatrixError::too_large(self.to_string()),
            _ => MatrixError::bad_json(self.to_string()),
        }
    }
}

impl Transaction {
    /// A transaction with these events and nothing else.
    pub fn new(events: Vec<RawEvent>) -> Self {
        Self { events, ..Self::default() }
    }

    /// Parses a body. Fails only if it is not a JSON object with an `events` list.
    ///
    /// The body is read once (a scanner that accepts only what serde_json accepts and reads it
    /// the same way, falling back to serde_json for anything unusual) and copied once; the
    /// events share that copy and know where their envelope fields are, so
    /// [`RawEvent::envelope`] reads no JSON.
    pub fn from_slice(body: &[u8]) -> Result<Self, TransactionError> {
        Self::from_slice_with_limit(body, usize::MAX)
    }

    /// Like [`from_slice`](Self::from_slice), refusing a body with more than `max_events`
    /// timeline events ([`TransactionError::TooManyEvents`]) before keeping anything per event
    /// beyond that number: what bounds the memory a transaction costs besides its body.
    pub fn from_slice_with_limit(body: &[u8], max_events: usize) -> Result<Self, TransactionError> {
        let (events, mut map) = parse_top_level(body, max_events)?;
        let mut problems = Vec::new();
        let ephemeral = take_section(&mut map, EPHEMERAL_KEYS, &mut problems, "a list");
        let to_device = take_section(&mut map, TO_DEVICE_KEYS, &mut problems, "a list");
        let device_lists = take_section(&mut map, DEVICE_LISTS_KEYS, &mut problems, "an object");
        let device_one_time_keys_count =
            take_section(&mut map, OTK_COUNT_KEYS, &mut problems, "an object");
        let device_unused_fallback_key_types =
            take_section(&mut map, FALLBACK_KEYS, &mut problems, "an object");
        Ok(Self {
            events,
            ephemeral,
            to_device,
            device_lists,
            device_one_time_keys_count,
            device_unused_fallback_key_types,
            extra: map,
            problems,
        })
    }

    /// The envelope (type, IDs, sender, state key, timestamp) of each event, in order.
    pub fn envelopes(&self) -> impl Iterator<Item = Result<EventEnvelope<'_>, serde_json::Error>> {
        self.events.iter().map(RawEvent::envelope)
    }

    /// The ephemeral data, each parsed into ruma's typed [`EphemeralData`] on demand.
    pub fn ephemeral_data(&self) -> impl Iterator<Item = Result<EphemeralData, serde_json::Error>> {
        self.ephemeral.iter().flat_map(|s| s.value.iter().map(Raw::deserialize))
    }

    /// The to-device messages, each parsed on demand.
    pub fn to_device_messages(
        &self,
    ) -> impl Iterator<Item = Result<AnyAppserviceToDeviceEvent, serde_json::Error>> {
        self.to_device.iter().flat_map(|s| s.value.iter().map(Raw::deserialize))
    }

    /// Whether the transaction carries nothing at all (Synapse re-sends emptied retries).
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
            && self.ephemeral.as_ref().is_none_or(|s| s.value.is_empty())
            && self.to_device.as_ref().is_none_or(|s| s.value.is_empty())
            && self.device_lists.is_none()
            && self.device_one_time_keys_count.is_none()
            && self.device_unused_fallback_key_types.is_none()
    }

    /// Serializes the body: sorted keys, every section under the key it was read from, and
    /// `extra` as is. `Transaction::from_slice(t.to_json().as_bytes())` gives `t` back.
    pub fn to_json(&self) -> String {
        let mut map: BTreeMap<&str, Cow<'_, RawValue>> = BTreeMap::new();
        for (k, v) in &self.extra {
            map.insert(k, Cow::Borrowed(&**v));
        }
        map.insert("events", raw_list(self.events.iter().map(RawEvent::json)));
        if let Some(s) = &self.ephemeral {
            map.insert(s.key, raw_of(&s.value));
        }
        if let Some(s) = &self.to_device {
            map.insert(s.key, raw_of(&s.value));
        }
        if let Some(s) = &self.device_lists {
            map.insert(s.key, Cow::Borrowed(s.value.json()));
        }
        if let Some(s) = &self.device_one_time_keys_count {
            map.insert(s.key, Cow::Borrowed(s.value.json()));
        }
        if let Some(s) = &self.device_unused_fallback_key_types {
            map.insert(s.key, Cow::Borrowed(s.value.json()));
        }
        // A map of already-valid raw JSON values always serializes.
        serde_json::to_string(&map).unwrap_or_default()
    }

    /// Converts to ruma's request type (lossy: unknown keys, malformed sections and every event
    /// ruma cannot read are kept only as raw values inside it, or dropped where it has no field).
    /// Each event is copied into a `Raw` of its own.
    pub fn into_ruma(
        self,
        txn_id: ruma_common::OwnedTransactionId,
    ) -> ruma_appservice_api::event::push_events::v1::Request {
        let events = self.events.iter().filter_map(|e| e.to_raw().ok()).collect();
        let mut req = ruma_appservice_api::event::push_events::v1::Request::new(txn_id, events);
        if let Some(s) = self.ephemeral {
            req.ephemeral = s.value;
        }
        if let Some(s) = self.to_device {
            req.to_device = s.value;
        }
        if let Some(Ok(v)) = self.device_lists.map(|s| s.value.deserialize()) {
            req.device_lists = v;
        }
        if let Some(Ok(v)) = self.device_one_time_keys_count.map(|s| s.value.deserialize()) {
            req.device_one_time_keys_count = v;
        }
        if let Some(Ok(v)) = self.device_unused_fallback_key_types.map(|s| s.value.deserialize()) {
            req.device_unused_fallback_key_types = v;
        }
        req
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn parse(s: &str) -> Transaction {
        Transaction::from_slice(s.as_bytes()).unwrap()
    }

    #[test]
    fn more_events_than_the_limit_are_refused_on_both_paths() {
        // The scanner's path, and serde_json's (an escaped key makes the scanner decline).
        for extra in ["", r#","\u0061":1"#] {
            let body = |n: usize| format!(r#"{{"events":[{}]{extra}}}"#, vec!["{}"; n].join(","));
            let at = Transaction::from_slice_with_limit(body(3).as_bytes(), 3).unwrap();
            assert_eq!(at.events.len(), 3, "{extra}");
            let over = Transaction::from_slice_with_limit(body(4).as_bytes(), 3);
            assert!(
                matches!(over, Err(TransactionError::TooManyEvents { limit: 3 })),
                "{extra}: {over:?}"
            );
            let error = over.err().map(|e| e.to_matrix_error()).unwrap();
            assert_eq!((error.status(), error.errcode().as_str()), (413, "M_TOO_LARGE"));
            // Still a refusal of invalid JSON first, whatever the count.
            let broken = format!("{}x", body(4));
            assert!(matches!(
                Transaction::from_slice_with_limit(broken.as_bytes(), 3),
                Err(TransactionError::NotJson(_))
            ));
        }
    }

    #[test]
    fn refusals() {
        assert!(matches!(Transaction::from_slice(b"{"), Err(TransactionError::NotJson(_))));
        assert!(matches!(Transaction::from_slice(b""), Err(TransactionError::NotJson(_))));
        assert!(matches!(Transaction::from_slice(b"[]"), Err(TransactionError::NotAnObject)));
        assert!(matches!(Transaction::from_slice(b"{}"), Err(TransactionError::MissingEvents)));
        assert!(matches!(
            Transaction::from_slice(br#"{"events": {}}"#),
            Err(TransactionError::EventsNotAList)
        ));
        let e = Transaction::from_slice(b"{").unwrap_err().to_matrix_error();
        assert_eq!((e.status(), e.errcode().as_str()), (400, "M_NOT_JSON"));
        let e = Transaction::from_slice(b"{}").unwrap_err().to_matrix_error();
        assert_eq!((e.status(), e.errcode().as_str()), (400, "M_BAD_JSON"));
    }

    #[test]
    fn one_pass_parse_classifies_like_a_full_parse() {
        let ok = |b: &[u8]| Transaction::from_slice(b).unwrap();
        let t = ok(br#"{"events":[{"type":"m.x"},1,null],"ephemeral":[],"x":{"y":1}}"#);
        let raw: Vec<&str> = t.events.iter().map(RawEvent::json).collect();
        assert_eq!(raw, [r#"{"type":"m.x"}"#, "1", "null"]);
        assert_eq!(t.extra.keys().collect::<Vec<_>>(), ["x"]);
        // An escaped key is the same key; the last duplicate wins, as in a map.
        assert_eq!(ok(br#"{"ev\u0065nts":[],"events":[{}]}"#).events.len(), 1);
        assert_eq!(ok(br#"{"events":[{"body":"\ud800"}]}"#).events.len(), 1);
        let err = |b: &[u8]| Transaction::from_slice(b).unwrap_err();
        assert!(matches!(err(br#"{"events":null}"#), TransactionError::EventsNotAList));
        assert!(matches!(err(br#"{"events":{"a":1}}"#), TransactionError::EventsNotAList));
        assert!(matches!(err(br#"{"events":"x"}"#), TransactionError::EventsNotAList));
        assert!(matches!(err(br#"{"other":1}"#), TransactionError::MissingEvents));
        assert!(matches!(err(br#"[1,2]"#), TransactionError::NotAnObject));
        assert!(matches!(err(br#"[1,"#), TransactionError::NotJson(_)));
        assert!(matches!(err(br#"{"events":[]} x"#), TransactionError::NotJson(_)));
        assert!(matches!(err(b"\xff"), TransactionError::NotJson(_)));
        // Invalid UTF-8 anywhere, even in a part nobody reads, is not JSON.
        assert!(matches!(err(b"{\"events\":[],\"x\":\"\xff\"}"), TransactionError::NotJson(_)));
    }

    #[test]
    fn stable_keys_win_and_losers_stay_in_extra() {
        let t = parse(
            r#"{"events":[],"ephemeral":[{"type":"m.typing"}],
                "de.sorunome.msc2409.ephemeral":[1,2],
                "org.matrix.msc3202.device_one_time_key_counts":{"@a:x":{}},
                "org.matrix.msc3202.device_one_time_keys_count":{"@b:x":{}}}"#,
        );
        let eph = t.ephemeral.as_ref().unwrap();
        assert_eq!((eph.key, eph.value.len()), ("ephemeral", 1));
        assert!(t.extra.contains_key("de.sorunome.msc2409.ephemeral"));
        let otk = t.device_one_time_keys_count.as_ref().unwrap();
        assert_eq!(otk.key, "org.matrix.msc3202.device_one_time_keys_count");
        assert!(t.extra.contains_key("org.matrix.msc3202.device_one_time_key_counts"));
    }

    #[test]
    fn misspelled_otk_key_alone_is_read() {
        let t = parse(
            r#"{"events":[],"org.matrix.msc3202.device_one_time_key_counts":
                {"@_irc_bob:example.org":{"DEVICEID":{"signed_curve25519":20}}}}"#,
        );
        let counts = t.device_one_time_keys_count.unwrap().value.deserialize().unwrap();
        let user: OwnedUserId = "@_irc_bob:example.org".try_into().unwrap();
        let device: OwnedDeviceId = "DEVICEID".into();
        assert_eq!(
            counts[&user][&device][&OneTimeKeyAlgorithm::SignedCurve25519],
            js_int::uint!(20)
        );
    }

    #[test]
    fn malformed_sections_are_kept_not_fatal() {
        let t = parse(
            r#"{"events":[],"ephemeral":"oops","org.matrix.msc3202.device_lists":[1],"x":null}"#,
        );
        assert!(t.ephemeral.is_none());
        assert!(t.device_lists.is_none());
        assert_eq!(t.problems.len(), 2);
        assert_eq!(t.extra.len(), 3);
        assert_eq!(Transaction::from_slice(t.to_json().as_bytes()).unwrap().extra.len(), 3);
    }

    #[test]
    fn null_falls_back_to_the_next_spelling() {
        let t = parse(r#"{"events":[],"ephemeral":null,"de.sorunome.msc2409.ephemeral":[{}]}"#);
        assert_eq!(t.ephemeral.unwrap().key, "de.sorunome.msc2409.ephemeral");
    }

    #[test]
    fn events_share_the_body_and_detach() {
        let t = parse(
            r#"{"events":[{"type":"m.x","event_id":"$1","room_id":"!r","sender":"@a:x","origin_server_ts":1},
                {"type":"m.\u0079","event_id":"$2","room_id":"!r","sender":"@a:x","origin_server_ts":2}]}"#,
        );
        assert!(Arc::ptr_eq(&t.events[0].body, &t.events[1].body));
        let second = t.events[1].detached();
        assert!(!Arc::ptr_eq(&second.body, &t.events[1].body));
        assert_eq!(second, t.events[1]);
        // Escapes: read by serde_json, owned.
        assert!(matches!(second.envelope().unwrap().event_type, Cow::Owned(ref s) if s == "m.y"));
        assert!(matches!(t.events[0].envelope().unwrap().event_type, Cow::Borrowed("m.x")));
        assert_eq!(t.events[0].detached().envelope().unwrap().origin_server_ts, js_int::uint!(1));
    }

    #[test]
    fn the_serde_json_fallback_also_shares_the_body() {
        // An escaped top-level key: the scanner declines, serde_json reads the body.
        let t = parse(r#"{"\u0065vents":[{"type":"m.x"},{"type":"m.y"}],"x":1}"#);
        assert_eq!(t.events[1].json(), r#"{"type":"m.y"}"#);
        assert!(Arc::ptr_eq(&t.events[0].body, &t.events[1].body));
        assert_eq!(t.extra.keys().collect::<Vec<_>>(), ["x"]);
    }

    #[test]
    fn envelope_of_room_v12_event() {
        let t = parse(
            r#"{"events":[{"type":"m.room.member","event_id":"$e","room_id":"!0AM4I6wXa7WaXlGazh6Asetqxr5jwdsw4MoHqnTgw9U",
                "sender":"@a:x","state_key":"","origin_server_ts":5,"content":{}}]}"#,
        );
        let env = t.envelopes().next().unwrap().unwrap();
        assert!(env.is_state());
        assert_eq!(env.room_id, "!0AM4I6wXa7WaXlGazh6Asetqxr5jwdsw4MoHqnTgw9U");
        assert!(matches!(env.event_type, Cow::Borrowed(_)));
    }

    #[test]
    fn typed_views() {
        let t = parse(
            r#"{"events":[],"ephemeral":[
                {"type":"m.typing","room_id":"!r:x","content":{"user_ids":["@a:x"]}},
                {"type":"m.receipt","room_id":"!r:x","content":{"$e":{"m.read":{"@a:x":{"ts":1}}}}},
                {"type":"m.presence","sender":"@a:x","content":{"presence":"online"}},
                {"type":"m.something_new","content":{}}],
               "de.sorunome.msc2409.to_device":[{"type":"m.test","sender":"@b:x","to_user_id":"@_a:x",
                "to_device_id":"DEV","content":{"hello":"device"}}]}"#,
        );
        let eph: Vec<_> = t.ephemeral_data().map(Result::unwrap).collect();
        assert!(matches!(eph[0], EphemeralData::Typing(_)));
        assert!(matches!(eph[1], EphemeralData::Receipt(_)));
        assert!(matches!(eph[2], EphemeralData::Presence(_)));
        assert_eq!(eph[3].data_type(), "m.something_new");
        let td: Vec<_> = t.to_device_messages().map(Result::unwrap).collect();
        assert_eq!(td[0].to_device_id.as_str(), "DEV");
    }
}
