//! [`Secret`]: a token that never shows up in logs, and compares in constant time.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subtle::ConstantTimeEq;

/// A secret token (`as_token`, `hs_token`).
///
/// `Debug` and `Display` print `<redacted>`, never the value; equality is constant-time in the
/// length of the compared values (only the *lengths* may leak through timing). The value is still
/// serialized, because a registration file must contain it: treat serialized output as secret.
///
/// ```
/// use appservice_types::Secret;
///
/// let token = Secret::new("s3cr3t-token".to_owned());
/// assert_eq!(format!("{token:?}"), "Secret(<redacted>)");
/// assert!(token.ct_eq_str("s3cr3t-token"));
/// assert!(!token.ct_eq_str("s3cr3t-tokeN"));
/// ```
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a token.
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The token itself, for the few places that must send it (an `Authorization` header, a
    /// registration file). Never log what this returns.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the token is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The token's length in bytes (not secret: it is visible to any timing attacker anyway).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Compares with `other` in constant time (for equal lengths).
    pub fn ct_eq_str(&self, other: &str) -> bool {
        ct_eq(self.0.as_bytes(), other.as_bytes())
    }

    /// Compares with raw bytes (e.g. a header value) in constant time (for equal lengths).
    pub fn ct_eq_bytes(&self, other: &[u8]) -> bool {
        ct_eq(self.0.as_bytes(), other)
    }
}

/// Constant-time byte comparison: the running time depends only on the lengths.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    // `subtle` returns false for different lengths without looking at the contents.
    a.ct_eq(b).into()
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        ct_eq(self.0.as_bytes(), other.0.as_bytes())
    }
}

impl Eq for Secret {}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed() {
        let s = Secret::new("hunter2-very-secret".to_owned());
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{s}").contains("hunter2"));
        assert!(!format!("{s:#?}").contains("hunter2"));
    }

    #[test]
    fn equality() {
        assert_eq!(Secret::from("abc"), Secret::from("abc"));
        assert_ne!(Secret::from("abc"), Secret::from("abd"));
        assert_ne!(Secret::from("abc"), Secret::from("abcd"));
        assert!(!Secret::from("").ct_eq_str("x"));
        assert!(Secret::from("").ct_eq_str(""));
    }
}
