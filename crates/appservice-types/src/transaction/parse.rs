//! Reading a body's top level: the scanner first, serde_json for anything unusual, and the
//! optional sections by their spellings.

use std::{borrow::Cow, collections::BTreeMap, fmt, sync::Arc};

use ruma_common::serde::Raw;
use serde_json::value::RawValue;

use super::{RawEvent, Section, SectionProblem, TransactionError, scan};

/// The top level of a transaction body in one pass (the serde_json fallback of the scanner):
/// `events` borrowed from the body, every other key kept raw. `events: None` = no `events` key;
/// `Some(None)` = not a list.
struct TopLevel<'de> {
    events: Option<EventList<'de>>,
    rest: BTreeMap<String, Box<RawValue>>,
}

/// Reads a [`TopLevel`], keeping at most this many events.
struct TopLevelSeed(usize);

impl<'de> serde::de::DeserializeSeed<'de> for TopLevelSeed {
    type Value = TopLevel<'de>;
    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<TopLevel<'de>, D::Error> {
        struct TopVisitor(usize);
        impl<'de> serde::de::Visitor<'de> for TopVisitor {
            type Value = TopLevel<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<TopLevel<'de>, A::Error> {
                let mut top = TopLevel { events: None, rest: BTreeMap::new() };
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    if key == "events" {
                        top.events = Some(map.next_value_seed(EventListSeed(self.0))?);
                    } else {
                        let value = map.next_value::<Box<RawValue>>()?;
                        top.rest.insert(key.into_owned(), value);
                    }
                }
                Ok(top)
            }
        }
        deserializer.deserialize_map(TopVisitor(self.0))
    }
}

/// `events`: a list of events borrowed from the body, another JSON value, or a list longer
/// than the limit (read to its end without keeping anything).
enum EventList<'de> {
    List(Vec<&'de RawValue>),
    NotAList,
    TooMany,
}

/// Reads an [`EventList`] of at most this many events.
struct EventListSeed(usize);

impl<'de> serde::de::DeserializeSeed<'de> for EventListSeed {
    type Value = EventList<'de>;
    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<EventList<'de>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for EventListSeed {
    type Value = EventList<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> Result<EventList<'de>, A::Error> {
        let mut events = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(self.0).min(1024));
        while let Some(event) = seq.next_element::<&'de RawValue>()? {
            if events.len() == self.0 {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                return Ok(EventList::TooMany);
            }
            events.push(event);
        }
        Ok(EventList::List(events))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> Result<EventList<'de>, A::Error> {
        while map.next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?.is_some() {}
        Ok(EventList::NotAList)
    }
    fn visit_bool<E>(self, _: bool) -> Result<EventList<'de>, E> {
        Ok(EventList::NotAList)
    }
    fn visit_i64<E>(self, _: i64) -> Result<EventList<'de>, E> {
        Ok(EventList::NotAList)
    }
    fn visit_u64<E>(self, _: u64) -> Result<EventList<'de>, E> {
        Ok(EventList::NotAList)
    }
    fn visit_f64<E>(self, _: f64) -> Result<EventList<'de>, E> {
        Ok(EventList::NotAList)
    }
    fn visit_str<E>(self, _: &str) -> Result<EventList<'de>, E> {
        Ok(EventList::NotAList)
    }
    fn visit_unit<E>(self) -> Result<EventList<'de>, E> {
        Ok(EventList::NotAList)
    }
}

/// The events and every other top-level key of a body.
type TopLevelParts = (Vec<RawEvent>, BTreeMap<String, Box<RawValue>>);

/// Parses a body. Fails only if it is not a JSON object with an `events` list.
pub(super) fn parse_top_level(
    body: &[u8],
    max_events: usize,
) -> Result<TopLevelParts, TransactionError> {
    // SIMD UTF-8 validation: several times faster than `std::str::from_utf8` on a body.
    let Ok(text) = simdutf8::basic::from_utf8(body) else {
        // JSON text is UTF-8 (RFC 8259, section 8.1), wherever the bad bytes are.
        let at = std::str::from_utf8(body).err().map_or(0, |e| e.valid_up_to());
        let message = format!("invalid UTF-8 at byte {at}");
        return Err(TransactionError::NotJson(serde::de::Error::custom(message)));
    };
    // One copy of the body, shared by its events.
    let shared: Arc<str> = Arc::from(text);
    let make = |e: scan::ScannedEvent| RawEvent {
        body: Arc::clone(&shared),
        range: e.range,
        envelope: e.envelope,
    };
    let Some(scanned) = scan::body(&shared, max_events, make) else {
        return parse_with_serde(&shared, max_events);
    };
    let mut rest = BTreeMap::new();
    for (key, value) in scanned.rest {
        // Both spans come from the scanner, which accepted them as a key and a JSON value;
        // capturing the value again is cheap (these sections are small) and cannot fail.
        let (Some(key), Some(value)) = (shared.get(key), shared.get(value)) else { continue };
        if let Ok(value) = serde_json::from_str::<Box<RawValue>>(value) {
            rest.insert(key.to_owned(), value);
        }
    }
    Ok((scanned.events, rest))
}

/// The fallback: serde_json decides (escaped or repeated keys, errors…). Events are still
/// borrowed from the shared copy of the body.
pub(super) fn parse_with_serde(
    shared: &Arc<str>,
    max_events: usize,
) -> Result<TopLevelParts, TransactionError> {
    let text: &str = shared;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let top = serde::de::DeserializeSeed::deserialize(TopLevelSeed(max_events), &mut deserializer);
    let Ok(top) = top.and_then(|top| deserializer.end().map(|()| top)) else {
        return Err(refusal(text));
    };
    match top.events {
        None => Err(TransactionError::MissingEvents),
        Some(EventList::NotAList) => Err(TransactionError::EventsNotAList),
        Some(EventList::TooMany) => Err(TransactionError::TooManyEvents { limit: max_events }),
        Some(EventList::List(borrowed)) => {
            let base = text.as_ptr() as usize;
            let events = borrowed
                .into_iter()
                .map(|raw| {
                    let json = raw.get();
                    // `raw` borrows from `text`: its offset locates it in the shared copy.
                    let start = (json.as_ptr() as usize).saturating_sub(base);
                    let range = start..start + json.len();
                    // (A pointer check, not a comparison of the text with itself.)
                    if text.get(range.clone()).is_some_and(|s| s.as_ptr() == json.as_ptr()) {
                        RawEvent::in_body(Arc::clone(shared), range)
                    } else {
                        RawEvent::copied(json)
                    }
                })
                .collect();
            Ok((events, top.rest))
        }
    }
}

/// Not an object, or not JSON at all: classified on the error path only.
pub(super) fn refusal(text: &str) -> TransactionError {
    match serde_json::from_str::<serde::de::IgnoredAny>(text) {
        Err(e) => TransactionError::NotJson(e),
        Ok(_) => TransactionError::NotAnObject,
    }
}

pub(super) fn raw_list<'a>(items: impl Iterator<Item = &'a str>) -> Cow<'static, RawValue> {
    let parts: Vec<&str> = items.collect();
    let json = format!("[{}]", parts.join(","));
    // Joining valid JSON values with commas inside brackets is a valid JSON array.
    Cow::Owned(RawValue::from_string(json).unwrap_or_else(|_| empty_list()))
}

pub(super) fn raw_of<T>(items: &[Raw<T>]) -> Cow<'static, RawValue> {
    raw_list(items.iter().map(|r| r.json().get()))
}

fn empty_list() -> Box<RawValue> {
    RawValue::from_string("[]".to_owned()).unwrap_or_else(|_| unreachable!("`[]` is JSON"))
}

pub(super) trait SectionValue: Sized {
    fn from_raw(raw: &RawValue) -> Option<Self>;
}

impl<T> SectionValue for Vec<Raw<T>> {
    fn from_raw(raw: &RawValue) -> Option<Self> {
        serde_json::from_str(raw.get()).ok()
    }
}

impl<T> SectionValue for Raw<T> {
    fn from_raw(raw: &RawValue) -> Option<Self> {
        raw.get().trim_start().starts_with('{').then(|| Raw::from_json(raw.to_owned()))
    }
}

pub(super) fn take_section<T: SectionValue>(
    map: &mut BTreeMap<String, Box<RawValue>>,
    keys: &'static [&'static str],
    problems: &mut Vec<SectionProblem>,
    expected: &str,
) -> Option<Section<T>> {
    for key in keys {
        let Some(raw) = map.get(*key) else { continue };
        if raw.get() == "null" {
            continue;
        }
        match T::from_raw(raw) {
            Some(value) => {
                map.remove(*key);
                return Some(Section { key, value });
            }
            None => problems.push(SectionProblem {
                key: (*key).to_owned(),
                message: format!("must be {expected}; kept unparsed"),
            }),
        }
    }
    None
}
