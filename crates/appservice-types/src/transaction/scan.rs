//! A single-pass, validating scanner for transaction bodies.
//!
//! serde_json cannot capture an event's raw JSON and read fields of it in one pass, so the
//! straightforward parse scans every event twice (once to capture it, once for its envelope)
//! and copies each into an allocation of its own. This scanner reads the body once: it checks
//! that the body is JSON exactly as serde_json does (same grammar, same whitespace, same escape
//! rules, no depth limit like serde_json's `IgnoredAny`), and notes where each event is and
//! where its envelope fields are, as byte offsets.
//!
//! It declines (returns `None`) whenever anything is unusual: invalid JSON, an escaped
//! top-level key, `events` repeated, missing or not a list. (Another repeated top-level key is
//! read as serde_json reads it into a map: the last one wins.) The caller then falls back to
//! serde_json, which decides and gives the error. So the scanner only ever *accepts* on its own,
//! and that is what the differential tests check: whenever it accepts, serde_json accepts too
//! and reads the same thing.

use std::ops::Range;

/// Where the envelope fields of one event are, as byte offsets from the start of the event.
///
/// Present only in the simple case: every required field once, no escapes in the strings
/// read, and `origin_server_ts` a plain integer in range. Otherwise serde_json reads the
/// envelope (and gives the error, if any).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Spans {
    pub(crate) event_type: (u32, u32),
    pub(crate) event_id: (u32, u32),
    pub(crate) room_id: (u32, u32),
    pub(crate) sender: (u32, u32),
    pub(crate) state_key: Option<(u32, u32)>,
    pub(crate) origin_server_ts: u64,
}

/// One event of the `events` list: its byte range in the body, and its envelope's spans.
#[derive(Debug)]
pub(crate) struct ScannedEvent {
    pub(crate) range: Range<usize>,
    pub(crate) envelope: Option<Spans>,
}

/// A scanned body: the events (as `make` made them from each [`ScannedEvent`]), and every
/// other top-level key (without its quotes) and value.
#[derive(Debug)]
pub(crate) struct Scanned<E> {
    pub(crate) events: Vec<E>,
    pub(crate) rest: Vec<(Range<usize>, Range<usize>)>,
}

/// Scans a whole transaction body. `None`: not the simple case (or more than `max_events`
/// events), let serde_json decide.
pub(crate) fn body<E>(
    text: &str,
    max_events: usize,
    mut make: impl FnMut(ScannedEvent) -> E,
) -> Option<Scanned<E>> {
    // Offsets into an event are kept as u32.
    if u32::try_from(text.len()).is_err() {
        return None;
    }
    let mut c = Cursor { b: text.as_bytes(), i: 0 };
    let mut stack = Vec::new();
    let mut events = None;
    let mut rest = Vec::new();
    c.ws();
    c.eat(b'{')?;
    c.ws();
    loop {
        c.eat(b'"')?;
        let key_start = c.i;
        if c.string()? {
            return None; // an escaped key: serde_json compares it unescaped
        }
        let key = key_start..c.i - 1;
        c.ws();
        c.eat(b':')?;
        c.ws();
        if c.b.get(key.clone()) == Some(b"events".as_slice()) {
            if events.is_some() || c.peek()? != b'[' {
                return None;
            }
            events = Some(c.events(&mut stack, max_events, &mut make)?);
        } else {
            let value_start = c.i;
            c.value(&mut stack)?;
            rest.push((key, value_start..c.i));
        }
        c.ws();
        match c.peek()? {
            b',' => {
                c.i += 1;
                c.ws();
            }
            b'}' => {
                c.i += 1;
                break;
            }
            _ => return None,
        }
    }
    c.ws();
    (c.i == c.b.len()).then_some(())?;
    Some(Scanned { events: events?, rest })
}

/// The envelope spans of one event given alone (`json` is the event, nothing around it).
pub(crate) fn envelope_of(json: &str) -> Option<Spans> {
    if u32::try_from(json.len()).is_err() {
        return None;
    }
    let mut c = Cursor { b: json.as_bytes(), i: 0 };
    if c.peek()? != b'{' {
        return None;
    }
    let spans = c.event(&mut Vec::new())?;
    (c.i == c.b.len()).then_some(spans)?
}

/// Whether `text` is one JSON value (with surrounding whitespace), as serde_json decides.
#[cfg(test)]
pub(crate) fn is_json(text: &str) -> bool {
    let mut c = Cursor { b: text.as_bytes(), i: 0 };
    c.ws();
    if c.value(&mut Vec::new()).is_none() {
        return false;
    }
    c.ws();
    c.i == c.b.len()
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// A mask whose lowest set bit marks the first byte of `x` (little-endian) that is `"`, `\`
/// or a control character. Bits above the first such byte may be spurious (borrows), never
/// below it, and no bit is set if there is none.
#[inline]
fn specials(x: u64) -> u64 {
    let has_zero = |v: u64| v.wrapping_sub(LO) & !v & HI;
    has_zero(x ^ (LO * u64::from(b'"')))
        | has_zero(x ^ (LO * u64::from(b'\\')))
        | (x.wrapping_sub(LO * 0x20) & !x & HI)
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// JSON whitespace, as serde_json reads it.
    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.i += 1;
        }
    }

    #[inline]
    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.i += 1)
    }

    /// From just after an opening quote to just after the closing one. Returns whether the
    /// string had escapes. The text is already UTF-8 (it is a `str`).
    #[inline(always)]
    fn string(&mut self) -> Option<bool> {
        let mut escaped = false;
        loop {
            while let Some(chunk) = self.b.get(self.i..self.i + 8) {
                let mut word = [0; 8];
                word.copy_from_slice(chunk);
                let found = specials(u64::from_le_bytes(word));
                if found != 0 {
                    self.i += (found.trailing_zeros() / 8) as usize;
                    break;
                }
                self.i += 8;
            }
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    return Some(escaped);
                }
                b'\\' => {
                    escaped = true;
                    self.i += 1;
                    self.escape()?;
                }
                0..=0x1f => return None,
                _ => self.i += 1,
            }
        }
    }

    /// After a backslash. Like serde_json when it skips a string, a `\u` escape needs four hex
    /// digits and nothing more (a lone surrogate is accepted).
    fn escape(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 1,
            b'u' => {
                let hex = self.b.get(self.i + 1..self.i + 5)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                self.i += 5;
            }
            _ => return None,
        }
        Some(())
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.i - start
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, checked like serde_json (no range).
    #[inline(always)]
    fn number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek()? {
            b'0' => {
                self.i += 1;
                if let Some(b'0'..=b'9') = self.peek() {
                    return None;
                }
            }
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return None;
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if self.digits() == 0 {
                return None;
            }
        }
        Some(())
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        (self.b.get(self.i..self.i + word.len())? == word).then(|| self.i += word.len())
    }

    /// An object key and its colon, at the opening quote; leaves the cursor at the value.
    fn key(&mut self) -> Option<()> {
        self.eat(b'"')?;
        self.string()?;
        self.ws();
        self.eat(b':')?;
        self.ws();
        Some(())
    }

    /// One JSON value at the cursor (whitespace before it already skipped). Iterative, with
    /// `stack` for the open containers, so any depth is fine (as with serde_json's
    /// `IgnoredAny`, which has no depth limit either).
    fn value(&mut self, stack: &mut Vec<u8>) -> Option<()> {
        let base = stack.len();
        loop {
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    self.string()?;
                }
                b'{' => {
                    self.i += 1;
                    self.ws();
                    if self.peek()? == b'}' {
                        self.i += 1;
                    } else {
                        stack.push(b'{');
                        self.key()?;
                        continue;
                    }
                }
                b'[' => {
                    self.i += 1;
                    self.ws();
                    if self.peek()? == b']' {
                        self.i += 1;
                    } else {
                        stack.push(b'[');
                        continue;
                    }
                }
                b'n' => self.literal(b"null")?,
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'-' | b'0'..=b'9' => self.number()?,
                _ => return None,
            }
            // A value is complete: close containers until one takes a next element.
            loop {
                if stack.len() == base {
                    return Some(());
                }
                let open = *stack.last()?;
                self.ws();
                match self.peek()? {
                    b',' => {
                        self.i += 1;
                        self.ws();
                        if open == b'{' {
                            self.key()?;
                        }
                        break;
                    }
                    b']' if open == b'[' => {
                        self.i += 1;
                        stack.pop();
                    }
                    b'}' if open == b'{' => {
                        self.i += 1;
                        stack.pop();
                    }
                    _ => return None,
                }
            }
        }
    }

    /// The `events` list, at its `[`.
    fn events<E>(
        &mut self,
        stack: &mut Vec<u8>,
        max_events: usize,
        make: &mut impl FnMut(ScannedEvent) -> E,
    ) -> Option<Vec<E>> {
        self.i += 1;
        self.ws();
        // Realistic events are 300 to 1000 bytes: avoid regrowing the list as it fills (but do
        // not reserve much for a huge body that may hold one huge event).
        let mut events =
            Vec::with_capacity(((self.b.len() - self.i) / 384 + 1).min(1024).min(max_events));
        if self.peek()? == b']' {
            self.i += 1;
            return Some(events);
        }
        loop {
            let start = self.i;
            let envelope = if self.peek()? == b'{' {
                self.event(stack)?
            } else {
                self.value(stack).map(|()| None)?
            };
            if events.len() == max_events {
                return None; // too many: the fallback refuses it without keeping them
            }
            events.push(make(ScannedEvent { range: start..self.i, envelope }));
            self.ws();
            match self.peek()? {
                b',' => {
                    self.i += 1;
                    self.ws();
                }
                b']' => {
                    self.i += 1;
                    return Some(events);
                }
                _ => return None,
            }
        }
    }

    /// One event object, at its `{`: the object (`None` if not JSON), and its envelope's spans
    /// (`Some(None)` if not the simple case).
    fn event(&mut self, stack: &mut Vec<u8>) -> Option<Option<Spans>> {
        let start = self.i;
        let offset = |at: usize| u32::try_from(at - start).ok();
        self.i += 1;
        self.ws();
        let mut fields = Fields::default();
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(None);
        }
        loop {
            self.eat(b'"')?;
            let key_start = self.i;
            let escaped = self.string()?;
            let key = self.b.get(key_start..self.i - 1)?;
            self.ws();
            self.eat(b':')?;
            self.ws();
            let slot = if escaped {
                // It might be an envelope key spelled with escapes.
                fields.simple = false;
                None
            } else {
                match key {
                    b"type" => Some(0),
                    b"event_id" => Some(1),
                    b"room_id" => Some(2),
                    b"sender" => Some(3),
                    b"state_key" => Some(4),
                    b"origin_server_ts" => Some(5),
                    _ => None,
                }
            };
            match slot {
                None => self.value(stack)?,
                Some(5) if matches!(self.peek()?, b'-' | b'0'..=b'9') => {
                    let value_start = self.i;
                    self.number()?;
                    fields.timestamp(self.b.get(value_start..self.i)?);
                }
                Some(slot) if slot < 5 && self.peek()? == b'"' => {
                    self.i += 1;
                    let value_start = self.i;
                    if self.string()? {
                        fields.simple = false;
                    } else {
                        match (offset(value_start), offset(self.i - 1)) {
                            (Some(a), Some(b)) => fields.set(slot, (a, b)),
                            _ => fields.simple = false,
                        }
                    }
                }
                Some(_) => {
                    // `null`, a number where a string belongs…: serde_json decides.
                    fields.simple = false;
                    self.value(stack)?;
                }
            }
            self.ws();
            match self.peek()? {
                b',' => {
                    self.i += 1;
                    self.ws();
                }
                b'}' => {
                    self.i += 1;
                    return Some(fields.finish());
                }
                _ => return None,
            }
        }
    }
}

/// The envelope fields found so far in one event.
struct Fields {
    strings: [Option<(u32, u32)>; 5],
    timestamp: Option<u64>,
    simple: bool,
}

impl Default for Fields {
    fn default() -> Self {
        Self { strings: [None; 5], timestamp: None, simple: true }
    }
}

impl Fields {
    fn set(&mut self, slot: usize, span: (u32, u32)) {
        match self.strings.get_mut(slot) {
            Some(s @ None) => *s = Some(span),
            // A repeated field is an error for serde_json.
            _ => self.simple = false,
        }
    }

    /// `origin_server_ts`, a JSON number: js_int's `UInt` takes integers up to 2^53 - 1 (16
    /// digits at most); a sign, fraction or exponent is left to serde_json.
    fn timestamp(&mut self, number: &[u8]) {
        const MAX_SAFE: u64 = (1 << 53) - 1;
        let mut value: u64 = 0;
        let plain = number.len() <= 16
            && number.iter().all(|&d| {
                value = value * 10 + u64::from(d.wrapping_sub(b'0'));
                d.is_ascii_digit()
            });
        if plain && value <= MAX_SAFE && self.timestamp.is_none() {
            self.timestamp = Some(value);
        } else {
            self.simple = false;
        }
    }

    fn finish(self) -> Option<Spans> {
        if !self.simple {
            return None;
        }
        let [Some(event_type), Some(event_id), Some(room_id), Some(sender), state_key] =
            self.strings
        else {
            return None;
        };
        Some(Spans {
            event_type,
            event_id,
            room_id,
            sender,
            state_key,
            origin_server_ts: self.timestamp?,
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::{prelude::*, sample::Index, string::string_regex};
    use serde::de::IgnoredAny;

    use super::{super::EventEnvelope, *};
    use crate::transaction::{RawEvent, parse_with_serde};

    fn serde_accepts(text: &str) -> bool {
        serde_json::from_str::<IgnoredAny>(text).is_ok()
    }

    /// Whitespace, including what JSON does not allow (form feed, vertical tab, NBSP).
    fn ws() -> impl Strategy<Value = String> {
        prop_oneof![
            12 => Just(String::new()),
            4 => string_regex("[ \n\r\t]{1,3}").expect("regex"),
            1 => prop::sample::select(vec!["\u{c}", "\u{b}", "\u{a0}"]).prop_map(str::to_owned),
        ]
    }

    fn leaf() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => prop::sample::select(vec!["null", "true", "false"]).prop_map(str::to_owned),
            1 => prop::sample::select(vec!["nul", "tru", "NaN", "-", "+1", "True"])
                .prop_map(str::to_owned),
            4 => string_regex("-?(0|[1-9][0-9]{0,17})(\\.[0-9]{1,2})?([eE][+-]?[0-9]{1,2})?")
                .expect("regex"),
            1 => string_regex("-?(0|[1-9][0-9]{0,3}|0[0-9])?(\\.[0-9]{0,2})?([eE][+-]?[0-9]{0,2})?")
                .expect("regex"),
            6 => string_regex(r#""([a-z $!@:.]|\\[nt"\\/bfr]|\\u[0-9a-fA-F]{4}|é|€|𝄞){0,14}""#)
                .expect("regex"),
            1 => string_regex(
                r#""([a-z $!@:.]|\\[nt"\\/bfrux]|\\u[0-9a-fA-Fg]{0,4}|é|€|𝄞|[\x00-\x1f]|\x7f){0,14}"?"#
            )
            .expect("regex"),
        ]
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => prop::sample::select(vec![
                "type", "event_id", "room_id", "sender", "state_key", "origin_server_ts",
                "content", "unsigned", "events", "ephemeral", "ty\\u0070e", "sender\\n", "",
            ])
            .prop_map(|k| format!("\"{k}\"")),
            1 => string_regex(r#""[a-z_]{0,10}""#).expect("regex"),
            1 => leaf(),
        ]
    }

    fn value() -> impl Strategy<Value = String> {
        leaf().prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec((ws(), inner.clone(), ws()), 0..5).prop_map(|items| {
                    let parts: Vec<String> =
                        items.into_iter().map(|(a, v, b)| format!("{a}{v}{b}")).collect();
                    format!("[{}]", parts.join(","))
                }),
                prop::collection::vec((ws(), key(), ws(), inner, ws()), 0..6).prop_map(|items| {
                    let parts: Vec<String> = items
                        .into_iter()
                        .map(|(a, k, b, v, c)| format!("{a}{k}{b}:{c}{v}"))
                        .collect();
                    format!("{{{}}}", parts.join(","))
                }),
            ]
        })
    }

    /// An event-like object: envelope fields (sometimes odd) and other keys, in any order.
    fn event() -> impl Strategy<Value = String> {
        let string = prop_oneof![
            4 => string_regex(r#""[a-z$!@:.]{0,8}""#).expect("regex"),
            1 => leaf(),
        ];
        let field = prop_oneof![
            3 => (key(), string).prop_map(|(k, v)| format!("{k}:{v}")),
            1 => prop::sample::select(vec![
                "0", "1", "1700000000000", "9007199254740991", "9007199254740992",
                "18446744073709551616", "-1", "1.5", "1e3", "null", "\"1\"",
            ])
            .prop_map(|v| format!("\"origin_server_ts\":{v}")),
            1 => (key(), value()).prop_map(|(k, v)| format!("{k}:{v}")),
        ];
        let required = Just(vec![
            r#""type":"m.room.message""#.to_owned(),
            r#""event_id":"$e""#.to_owned(),
            r#""room_id":"!r:x""#.to_owned(),
            r#""sender":"@a:x""#.to_owned(),
            r#""origin_server_ts":5"#.to_owned(),
        ]);
        (
            required,
            prop::collection::vec(field, 0..4),
            prop::bool::weighted(0.8),
            Just(()).prop_perturb(|(), mut rng| rng.random::<u64>()),
        )
            .prop_map(|(mut fields, extra, keep_required, seed)| {
                if !keep_required {
                    fields.clear();
                }
                fields.extend(extra);
                // A cheap deterministic shuffle.
                let n = fields.len();
                for i in (1..n).rev() {
                    let j = (seed.rotate_left(i as u32) as usize) % (i + 1);
                    fields.swap(i, j);
                }
                format!("{{{}}}", fields.join(","))
            })
    }

    fn bodies() -> impl Strategy<Value = String> {
        (
            ws(),
            prop::collection::vec(prop_oneof![4 => event(), 1 => value()], 0..4),
            prop::collection::vec((key(), value()), 0..3),
            any::<bool>(),
            ws(),
        )
            .prop_map(|(a, events, others, events_first, b)| {
                let events = format!("\"events\":[{}]", events.join(","));
                let mut keys: Vec<String> =
                    others.into_iter().map(|(k, v)| format!("{k}:{v}")).collect();
                if events_first {
                    keys.insert(0, events);
                } else {
                    keys.push(events);
                }
                format!("{a}{{{}}}{b}", keys.join(","))
            })
    }

    /// Up to three edits: delete, insert or replace a character.
    fn mutated(base: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
        let edit = (
            any::<Index>(),
            0..3u8,
            prop::sample::select(vec![
                '{', '}', '[', ']', ',', ':', '"', '\\', ' ', '0', '-', 'e', '.', 'u', '\u{1}', 'é',
            ]),
        );
        let edits = prop_oneof![2 => Just(Vec::new()), 1 => prop::collection::vec(edit, 1..3)];
        (base, edits).prop_map(|(s, edits)| {
            let mut chars: Vec<char> = s.chars().collect();
            for (at, kind, c) in edits {
                if chars.is_empty() {
                    chars.push(c);
                    continue;
                }
                let i = at.index(chars.len());
                match kind {
                    0 => {
                        chars.remove(i);
                    }
                    1 => chars.insert(i, c),
                    _ => chars[i] = c,
                }
            }
            chars.into_iter().collect()
        })
    }

    /// What the scanner read must be what serde_json reads.
    fn check_body(text: &str) -> Result<(), TestCaseError> {
        let Some(scanned) = body(text, usize::MAX, |e| e) else { return Ok(()) };
        prop_assert!(serde_accepts(text), "scanner accepted what serde_json refuses: {text:?}");
        let (events, rest) = parse_with_serde(&std::sync::Arc::from(text), usize::MAX)
            .map_err(|e| TestCaseError::fail(format!("serde fallback refused {text:?}: {e}")))?;
        prop_assert_eq!(scanned.events.len(), events.len());
        for (fast, slow) in scanned.events.iter().zip(&events) {
            prop_assert_eq!(text.get(fast.range.clone()), Some(slow.json()));
            let fast_envelope =
                fast.envelope.and_then(|s| EventEnvelope::from_spans(slow.json(), &s));
            if let Some(env) = fast_envelope {
                prop_assert_eq!(Some(env), EventEnvelope::from_json(slow.json()).ok());
            }
        }
        let fast_rest: BTreeMapOfStr = scanned
            .rest
            .iter()
            .map(|(k, v)| (text[k.clone()].to_owned(), text[v.clone()].to_owned()))
            .collect();
        let slow_rest: BTreeMapOfStr =
            rest.iter().map(|(k, v)| (k.clone(), v.get().to_owned())).collect();
        prop_assert_eq!(fast_rest, slow_rest);
        Ok(())
    }

    type BTreeMapOfStr = std::collections::BTreeMap<String, String>;

    /// The envelope from spans must equal serde_json's, whenever spans exist.
    fn check_event(json: &str) -> Result<(), TestCaseError> {
        if let Some(spans) = envelope_of(json) {
            prop_assert!(serde_accepts(json), "accepted invalid JSON: {json:?}");
            let fast = EventEnvelope::from_spans(json, &spans);
            prop_assert!(fast.is_some());
            prop_assert_eq!(fast, EventEnvelope::from_json(json).ok(), "{}", json);
        }
        if serde_accepts(json) {
            let event =
                RawEvent::from_json(json).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let slow = EventEnvelope::from_json(json);
            match event.envelope() {
                Ok(env) => prop_assert_eq!(Some(env), slow.ok()),
                Err(_) => prop_assert!(slow.is_err()),
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        #[test]
        fn values_are_json_exactly_when_serde_json_says_so(text in mutated(value())) {
            prop_assert_eq!(is_json(&text), serde_accepts(&text), "{:?}", text);
        }

        #[test]
        fn bodies_read_like_serde_json(text in mutated(bodies())) {
            check_body(&text)?;
        }

        #[test]
        fn envelopes_read_like_serde_json(json in mutated(event())) {
            check_event(&json)?;
        }
    }

    #[test]
    fn every_ascii_character_anywhere_like_serde_json() {
        for c in (0u8..128).map(char::from) {
            for text in [
                format!("\"a{c}b\""),
                format!("\"\\{c}\""),
                format!("\"\\u00{c}{c}\""),
                format!("{c}1"),
                format!("1{c}"),
                format!("[1,{c}2]"),
                format!("{{\"a\"{c}:1}}"),
                format!("{c}"),
                format!("t{c}ue"),
            ] {
                assert_eq!(is_json(&text), serde_accepts(&text), "{text:?}");
            }
        }
    }

    #[test]
    fn a_special_character_at_every_offset_of_a_long_string() {
        for len in 0..40 {
            for at in 0..=len {
                for special in
                    ["\u{1}", "\u{1f}", "\\", "\\n", "\"", "é", "\u{7f}", " ", "\u{2028}"]
                {
                    let text =
                        format!("[\"{}{special}{}\",1]", "a".repeat(at), "b".repeat(len - at));
                    assert_eq!(is_json(&text), serde_accepts(&text), "{text:?}");
                }
            }
        }
    }

    #[test]
    fn every_short_number_like_serde_json() {
        let alphabet = ['0', '1', '-', '+', '.', 'e', 'E'];
        let mut texts = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> = texts
                .iter()
                .flat_map(|t| alphabet.iter().map(move |c| format!("{t}{c}")))
                .collect();
            texts.extend(longer);
        }
        for text in texts {
            assert_eq!(is_json(&text), serde_accepts(&text), "{text:?}");
        }
    }

    #[test]
    fn the_simple_case_is_taken() {
        let text = r#" {"events": [ {"type":"m.room.member","state_key":"","event_id":"$e",
            "room_id":"!r","sender":"@a:x","origin_server_ts":9007199254740991,
            "content":{"a":[1,{"b":"\"}]"}]}}, 3 ], "x" : {"y":null} } "#;
        let scanned = body(text, usize::MAX, |e| e).expect("simple");
        assert_eq!(scanned.events.len(), 2);
        assert!(scanned.events[0].envelope.is_some_and(|s| s.state_key == Some((37, 37))));
        assert!(scanned.events[1].envelope.is_none());
        assert_eq!(&text[scanned.events[1].range.clone()], "3");
        assert_eq!(scanned.rest.len(), 1);
        check_body(text).expect("same as serde_json");
    }

    #[test]
    fn unusual_bodies_are_left_to_serde_json() {
        for text in [
            r#"{"ev\u0065nts":[]}"#,
            r#"{"events":[],"events":[]}"#,
            r#"{"events":{}}"#,
            r#"{"x":1}"#,
            r#"{}"#,
            r#"[]"#,
            r#"{"events":[]} x"#,
            r#"{"events":[],}"#,
            r#"{"events":[1,]}"#,
            "{\"events\":[\"\u{1}\"]}",
            r#"{"events":[01]}"#,
            r#"{"events":["\x"]}"#,
            r#"{"events":["\u12"]}"#,
            "\u{c}{\"events\":[]}",
        ] {
            assert!(body(text, usize::MAX, |e| e).is_none(), "{text}");
        }
        assert!(
            body(r#"{"events":["\ud800"]}"#, usize::MAX, |e| e).is_some(),
            "a lone surrogate is skipped"
        );
    }

    #[test]
    fn envelopes_outside_the_simple_case_are_left_to_serde_json() {
        let base = r#""event_id":"$e","room_id":"!r","sender":"@a:x""#;
        for fields in [
            r#""type":"m.x","origin_server_ts":9007199254740992"#,
            r#""type":"m.x","origin_server_ts":1.0"#,
            r#""type":"m.x","origin_server_ts":-1"#,
            r#""type":"m.\u0078","origin_server_ts":1"#,
            r#""type":"m.x","type":"m.y","origin_server_ts":1"#,
            r#""type":"m.x","origin_server_ts":1,"state_key":null"#,
            r#""typ\u0065":"m.x","origin_server_ts":1"#,
            r#""origin_server_ts":1"#,
        ] {
            let json = format!("{{{base},{fields}}}");
            assert!(envelope_of(&json).is_none(), "{json}");
            check_event(&json).expect("same as serde_json");
        }
    }
}
