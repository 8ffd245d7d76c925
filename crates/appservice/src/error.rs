//! [`Error`]: why an appservice could not start or stopped serving.

use std::fmt;

use appservice_types::BoxError;

/// Why an appservice could not start, or stopped serving. The message names what failed and
/// how to fix it; it never contains a token or a database URL (which may hold a password).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
    #[source]
    source: Option<BoxError>,
}

/// What an [`Error`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The registration file: unreadable, not a registration, or with errors.
    Registration,
    /// The server name: invalid, or `whoami` could not tell it.
    ServerName,
    /// The transaction store or database could not be opened.
    Store,
    /// The client's settings (homeserver URL, TLS).
    Client,
    /// The listen address: the registration's `url`, resolving it, or binding.
    Listen,
    /// Serving failed.
    Serve,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into(), source: None }
    }

    /// An error with a cause; the cause's message is appended to `message` ("…: cause").
    pub(crate) fn with_source(
        kind: ErrorKind,
        message: impl fmt::Display,
        source: impl Into<BoxError>,
    ) -> Self {
        let source = source.into();
        Self { kind, message: format!("{message}: {source}"), source: Some(source) }
    }

    /// What failed.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}
