//! One log line: a completed transaction's record, its encoding, and reading lines with a bound.

use std::io::BufRead;

use appservice_dispatch::store::{Fingerprint, MAX_KEY_BYTES};
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

/// Bytes escaped in a transaction ID on disk: controls, space, `%`, and non-ASCII.
const ESCAPE: &AsciiSet = &CONTROLS.add(b' ').add(b'%');

/// The longest line a record can take: its fixed fields and a percent-encoded key of at most
/// [`MAX_KEY_BYTES`] bytes (each byte at most 3 on disk). A longer line is damage.
pub(crate) const MAX_LINE: usize = 3 + 17 + 3 * MAX_KEY_BYTES + 1 + 16 + 1;

/// Reads the next line (without its newline) into `line`, keeping at most [`MAX_LINE`] bytes:
/// a longer line is consumed up to its newline without being buffered, and reported as
/// `Some(false)`. `Some(true)`: a line fits; `None`: end of the log.
pub(crate) fn read_line(
    reader: &mut impl BufRead,
    line: &mut Vec<u8>,
) -> std::io::Result<Option<bool>> {
    line.clear();
    let mut fits = true;
    let mut any = false;
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok(any.then_some(fits));
        }
        any = true;
        let (part, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (&chunk[..i], Some(i + 1)),
            None => (chunk, None),
        };
        if fits && line.len() + part.len() <= MAX_LINE {
            line.extend_from_slice(part);
        } else {
            fits = false;
            line.clear();
        }
        let used = done.unwrap_or(chunk.len());
        reader.consume(used);
        if done.is_some() {
            return Ok(Some(fits));
        }
    }
}

/// The line format a record was read from or is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// Version 0.1.0: FNV-1a fingerprint and checksum.
    V1,
    /// XXH3-64 fingerprint and checksum.
    V2,
}

impl Format {
    fn tag(self) -> &'static str {
        match self {
            Self::V1 => "v1",
            Self::V2 => "v2",
        }
    }

    fn checksum(self, body: &str) -> u64 {
        match self {
            Self::V1 => Fingerprint::of_fnv1a([body.as_bytes()]).0,
            Self::V2 => Fingerprint::of([body.as_bytes()]).0,
        }
    }
}

/// A completed transaction as the log holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) fingerprint: Fingerprint,
    pub(crate) format: Format,
}

impl Record {
    /// A record of this version.
    pub(crate) fn new(fingerprint: Fingerprint) -> Self {
        Self { fingerprint, format: Format::V2 }
    }
}

pub(crate) fn encode_line(id: &str, record: Record) -> String {
    let tag = record.format.tag();
    let body = format!("{tag} {:016x} {}", record.fingerprint.0, utf8_percent_encode(id, ESCAPE));
    let sum = record.format.checksum(&body);
    format!("{body} {sum:016x}\n")
}

pub(crate) fn decode_line(line: &[u8]) -> Option<(String, Record)> {
    let line = std::str::from_utf8(line).ok()?;
    let (body, sum) = line.rsplit_once(' ')?;
    let mut parts = body.splitn(3, ' ');
    let format = match parts.next()? {
        "v1" => Format::V1,
        "v2" => Format::V2,
        _ => return None,
    };
    if u64::from_str_radix(sum, 16).ok()? != format.checksum(body) {
        return None;
    }
    let fp = u64::from_str_radix(parts.next()?, 16).ok()?;
    let id = percent_decode_str(parts.next()?).decode_utf8().ok()?.into_owned();
    Some((id, Record { fingerprint: Fingerprint(fp), format }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_and_damage_is_detected() {
        for format in [Format::V1, Format::V2] {
            let record = Record { fingerprint: Fingerprint(42), format };
            for id in ["35", "with space", "new\nline", "100%", "ünï", ""] {
                let line = encode_line(id, record);
                assert!(line.starts_with(format.tag()));
                assert_eq!(line.matches('\n').count(), 1);
                assert_eq!(decode_line(line.trim_end().as_bytes()), Some((id.to_owned(), record)));
                let torn = &line.as_bytes()[..line.len() / 2];
                assert_eq!(decode_line(torn), None);
                let flipped = line.trim_end().replacen(" 0", " 1", 1);
                assert_eq!(decode_line(flipped.as_bytes()), None);
                // A line's checksum is that of its own format.
                let other = if format == Format::V1 { "v2" } else { "v1" };
                let retagged = line.trim_end().replacen(format.tag(), other, 1);
                assert_eq!(decode_line(retagged.as_bytes()), None);
            }
        }
    }

    #[test]
    fn an_overlong_line_is_skipped_without_buffering_it() {
        let mut log = encode_line("1", Record::new(Fingerprint(1))).into_bytes();
        log.extend(std::iter::repeat_n(b'x', 10 * MAX_LINE));
        log.push(b'\n');
        log.extend(encode_line("2", Record::new(Fingerprint(2))).into_bytes());
        log.extend(b"v2 torn");
        let mut reader = std::io::BufReader::with_capacity(64, log.as_slice());
        let mut line = Vec::new();
        let mut seen = Vec::new();
        while let Some(fits) = read_line(&mut reader, &mut line).unwrap() {
            assert!(line.capacity() <= 2 * MAX_LINE + 64, "{} bytes buffered", line.capacity());
            seen.push((fits, decode_line(&line).map(|(id, _)| id)));
        }
        assert_eq!(
            seen,
            vec![
                (true, Some("1".to_owned())),
                (false, None),
                (true, Some("2".to_owned())),
                (true, None)
            ]
        );
        let longest = encode_line(&"\u{1}".repeat(MAX_KEY_BYTES), Record::new(Fingerprint(3)));
        assert_eq!(longest.len(), MAX_LINE, "the longest record fits exactly");
    }

    #[test]
    fn v1_lines_of_older_versions_are_read() {
        // Written by version 0.1.0 (`FileStore::record("35", Fingerprint(42))`).
        let body = "v1 000000000000002a 35";
        let line = format!("{body} {:016x}", Fingerprint::of_fnv1a([body.as_bytes()]).0);
        assert_eq!(
            decode_line(line.as_bytes()),
            Some(("35".to_owned(), Record { fingerprint: Fingerprint(42), format: Format::V1 }))
        );
    }
}
