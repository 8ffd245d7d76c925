//! [`SqlError`]: what went wrong, opaque, with a [`SqlErrorKind`].

use std::fmt;

/// What kind of failure a [`SqlError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SqlErrorKind {
    /// The database URL is not one this crate can use.
    Url,
    /// The database could not be reached or opened.
    Connect,
    /// The database's schema is not one this build can use (newer, or not ours).
    Schema,
    /// A statement failed.
    Query,
}

impl fmt::Display for SqlErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Url => "database URL",
            Self::Connect => "database connection",
            Self::Schema => "database schema",
            Self::Query => "database query",
        })
    }
}

/// A database failure. Never contains the database URL (it may carry a password).
#[derive(Debug, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct SqlError {
    kind: SqlErrorKind,
    message: String,
    #[source]
    source: Option<sqlx::Error>,
}

impl SqlError {
    pub(crate) fn new(kind: SqlErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into(), source: None }
    }

    pub(crate) fn sqlx(
        kind: SqlErrorKind,
        message: impl Into<String>,
        source: sqlx::Error,
    ) -> Self {
        Self { kind, message: message.into(), source: Some(source) }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> SqlErrorKind {
        self.kind
    }

    /// What went wrong (without the cause: see [`std::error::Error::source`]).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<SqlError> for appservice_dispatch::StoreError {
    fn from(e: SqlError) -> Self {
        let message = format!("{}: {}", e.kind, e.message);
        match e.source {
            Some(source) => Self::new(message, source),
            None => Self::msg(message),
        }
    }
}
