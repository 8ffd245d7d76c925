//! [`Diagnostic`]: one problem found in a registration, with the path to the field.

use std::fmt;

/// How bad a [`Diagnostic`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Severity {
    /// The registration is unusable, or a homeserver would reject or misread it.
    Error,
    /// The registration works but is risky or unusual.
    Warning,
}

impl Severity {
    /// `"error"` or `"warning"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of problem a [`Diagnostic`] reports. Fixtures and tools match on [`Code::as_str`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Code {
    /// The file is not valid YAML/JSON.
    Syntax,
    /// The document is not an object.
    NotAnObject,
    /// A required key is missing.
    MissingField,
    /// A key has a value of the wrong JSON type.
    WrongType,
    /// An identifier or token is empty.
    Empty,
    /// `id` contains a character homeservers reject (`|` in Synapse).
    InvalidId,
    /// `as_token` and `hs_token` are equal.
    TokensEqual,
    /// A token contains whitespace or a character that cannot go in an `Authorization` header.
    InvalidToken,
    /// A token is short or has little entropy.
    WeakToken,
    /// `url` is neither `null` nor an `http(s)://` URL.
    InvalidUrl,
    /// `sender_localpart` is not a valid user ID localpart.
    InvalidLocalpart,
    /// `sender_localpart` uses characters only allowed in historical user IDs.
    HistoricalLocalpart,
    /// A namespace regex does not compile.
    InvalidRegex,
    /// The same regex appears twice in one namespace kind.
    DuplicateNamespace,
    /// A namespace regex matches (nearly) every ID.
    OverbroadRegex,
    /// A namespace regex is not anchored with `^…$`.
    UnanchoredRegex,
    /// A namespace regex can never match an ID of its kind (wrong sigil).
    NeverMatches,
    /// An unescaped `.` in the server-name part of a regex.
    UnescapedDot,
    /// A regex feature that Python's `re` (Synapse) reads differently from Rust's `regex`.
    RegexDialect,
    /// An exclusive namespace does not start with `_` after the sigil ([AS-REG-10](https://spec.matrix.org/v1.19/application-service-api/#registration)).
    ExclusiveWithoutUnderscore,
    /// An exclusive user namespace exists but does not cover the bot (`sender_localpart`).
    BotNotInExclusiveNamespace,
    /// `rate_limited` is absent: the spec gives no default (Synapse assumes `true`).
    RateLimitedUnset,
    /// A `protocols` entry is empty or repeated.
    InvalidProtocol,
    /// An unknown top-level key (a typo?).
    UnknownKey,
    /// A namespace regex matches different IDs on different homeservers
    /// ([`HomeserverProfile`](crate::homeserver::HomeserverProfile)).
    HomeserverDifference,
}

impl Code {
    /// The stable kebab-case name used by fixtures and `cargo xtask registration check`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Syntax => "syntax",
            Self::NotAnObject => "not-an-object",
            Self::MissingField => "missing-field",
            Self::WrongType => "wrong-type",
            Self::Empty => "empty",
            Self::InvalidId => "invalid-id",
            Self::TokensEqual => "tokens-equal",
            Self::InvalidToken => "invalid-token",
            Self::WeakToken => "weak-token",
            Self::InvalidUrl => "invalid-url",
            Self::InvalidLocalpart => "invalid-localpart",
            Self::HistoricalLocalpart => "historical-localpart",
            Self::InvalidRegex => "invalid-regex",
            Self::DuplicateNamespace => "duplicate-namespace",
            Self::OverbroadRegex => "overbroad-regex",
            Self::UnanchoredRegex => "unanchored-regex",
            Self::NeverMatches => "never-matches",
            Self::UnescapedDot => "unescaped-dot",
            Self::RegexDialect => "regex-dialect",
            Self::ExclusiveWithoutUnderscore => "exclusive-without-underscore",
            Self::BotNotInExclusiveNamespace => "bot-not-in-exclusive-namespace",
            Self::RateLimitedUnset => "rate-limited-unset",
            Self::InvalidProtocol => "invalid-protocol",
            Self::UnknownKey => "unknown-key",
            Self::HomeserverDifference => "homeserver-difference",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem found in a registration. Never contains a token's value.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// What kind of problem.
    pub code: Code,
    /// Path to the field, e.g. `namespaces.users[0].regex`; empty for the whole document.
    pub path: String,
    /// What is wrong and, where possible, how to fix it.
    pub message: String,
}

impl Diagnostic {
    /// An error.
    pub fn error(code: Code, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { severity: Severity::Error, code, path: path.into(), message: message.into() }
    }

    /// A warning.
    pub fn warning(code: Code, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { severity: Severity::Warning, code, path: path.into(), message: message.into() }
    }

    /// Whether this is an error (as opposed to a warning).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    /// `error[tokens-equal] hs_token: …`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() { "<document>" } else { &self.path };
        write!(f, "{}[{}] {}: {}", self.severity, self.code, path, self.message)
    }
}
