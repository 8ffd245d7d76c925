//! Names a bridge derives from remote ones: puppet localparts ([`escape_localpart`]) and
//! idempotent send transaction IDs ([`derived_txn_id`]). Both are injective: two different
//! inputs never give the same output.

use std::fmt::Write as _;

/// Maps any localpart (including historical ones with upper case or other characters that a new
/// user ID may not contain) to a string that is valid in a new localpart, mautrix-style (a bridge puts its
/// prefix before it):
///
/// * `a`–`z`, `0`–`9`, `.`, `-` and `/` stay as they are;
/// * `_` becomes `__`;
/// * an upper-case ASCII letter becomes `_` and the letter in lower case (`Alice` → `_alice`);
/// * every other byte of the UTF-8 encoding (including `=` and `+`) becomes `=` and two
///   lower-case hex digits (`é` → `=c3=a9`).
///
/// Plain lower-casing would merge `@Alice` and `@alice`; this escaping keeps them apart and can
/// be decoded.
///
/// ```
/// use appservice::escape_localpart;
///
/// assert_eq!(escape_localpart("alice"), "alice");
/// assert_eq!(escape_localpart("Alice"), "_alice");
/// assert_eq!(escape_localpart("a_b"), "a__b");
/// assert_eq!(escape_localpart("x=y+é"), "x=3dy=2b=c3=a9");
/// ```
pub fn escape_localpart(localpart: &str) -> String {
    let mut out = String::with_capacity(localpart.len());
    for byte in localpart.bytes() {
        match byte {
            b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'/' => out.push(char::from(byte)),
            b'_' => out.push_str("__"),
            b'A'..=b'Z' => {
                out.push('_');
                out.push(char::from(byte.to_ascii_lowercase()));
            }
            _ => push_hex(&mut out, '=', byte),
        }
    }
    out
}

/// A send transaction ID derived from a remote ID (a remote message ID, an event ID): `prefix`
/// and the ID with every byte other than `A`–`Z`, `a`–`z`, `0`–`9`, `-` and `_` written as `.`
/// and two hex digits. The same ID always gives the same transaction ID, so a message bridged
/// twice (a retry, a crash before its record) is deduplicated by the homeserver; the result is
/// URL-safe.
///
/// ```
/// use appservice::derived_txn_id;
///
/// assert_eq!(derived_txn_id("echo-", "$Ab-_9"), "echo-.24Ab-_9");
/// assert_eq!(derived_txn_id("echo-", "$abc:example.org"), "echo-.24abc.3aexample.2eorg");
/// ```
pub fn derived_txn_id(prefix: &str, remote_id: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + remote_id.len() + 6);
    out.push_str(prefix);
    for byte in remote_id.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => out.push(char::from(byte)),
            _ => push_hex(&mut out, '.', byte),
        }
    }
    out
}

/// Appends `escape` and the byte as two lower-case hex digits.
pub(crate) fn push_hex(out: &mut String, escape: char, byte: u8) {
    // Writing to a String cannot fail.
    let _ = write!(out, "{escape}{byte:02x}");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes [`escape_localpart`], to show that it is injective.
    fn unescape_localpart(s: &str) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        let mut bytes = s.bytes();
        while let Some(b) = bytes.next() {
            match b {
                b'_' => match bytes.next()? {
                    b'_' => out.push(b'_'),
                    c @ b'a'..=b'z' => out.push(c.to_ascii_uppercase()),
                    _ => return None,
                },
                b'=' => {
                    let hex = [bytes.next()?, bytes.next()?];
                    out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
                }
                b => out.push(b),
            }
        }
        Some(out)
    }

    #[test]
    fn escaped_localparts_are_valid_and_decodable() {
        for input in
            ["alice", "Alice", "ALICE", "a_b", "_", "__", "x=y", "é", "a b", "+", "1.2-3/4"]
        {
            let escaped = escape_localpart(input);
            assert!(
                escaped.bytes().all(
                    |b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'=' | b'-' | b'/')
                ),
                "{input:?} → {escaped:?}"
            );
            assert_eq!(
                unescape_localpart(&escaped).as_deref(),
                Some(input.as_bytes()),
                "{input:?}"
            );
        }
        assert_ne!(escape_localpart("Alice"), escape_localpart("alice"));
        assert_ne!(escape_localpart("_a"), escape_localpart("A"));
    }

    #[test]
    fn txn_ids_are_stable_and_distinct() {
        let echo_txn_id = |id: &str| derived_txn_id("echo-", id);
        assert_eq!(echo_txn_id("$x"), echo_txn_id("$x"));
        assert_ne!(echo_txn_id("$a.b"), echo_txn_id("$a.2eb"));
        assert_ne!(echo_txn_id("$a:b"), echo_txn_id("$a.b"));
        let id = echo_txn_id("$Ab/+=:.~");
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')));
    }
}
