//! [`ClientError`]: every way a call to the homeserver can fail, and [`PingError`] for the
//! appservice ping.
//!
//! No error ever contains the `as_token`: the token only lives in the `Authorization` header of
//! the outgoing request, which no error keeps (checked by `tests/it/errors.rs`).

use std::{error::Error as StdError, sync::Arc, time::Duration};

use appservice_types::ErrorCode;
use http::StatusCode;

pub use appservice_types::BoxError;

/// A shared, cloneable error source (errors are `Clone` so that concurrent callers of a
/// single-flight operation can all receive the same failure).
pub type SharedError = Arc<dyn StdError + Send + Sync + 'static>;

/// How many bytes of a non-JSON error body [`ClientError::Http`] keeps.
const BODY_SNIPPET_LEN: usize = 512;

/// An error of a Client-Server API call.
///
/// `Debug` and `Display` never contain the `as_token`.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The homeserver answered with a standard Matrix error (`{"errcode", "error"}`).
    #[error("homeserver answered {status} {errcode}: {error}{}", RetryHint(*retry_after))]
    Matrix {
        /// The HTTP status.
        status: StatusCode,
        /// The `errcode`.
        errcode: ErrorCode,
        /// The human-readable `error` (empty if the server sent none).
        error: String,
        /// The server's retry hint: the `Retry-After` header, or else `retry_after_ms`.
        retry_after: Option<Duration>,
        /// Any other keys of the error body (e.g. `status` and `body` of `M_BAD_STATUS`).
        extra: Box<serde_json::Map<String, serde_json::Value>>,
    },
    /// The homeserver (or a proxy in front of it) answered with an error status and a body that
    /// is not a Matrix error, e.g. an HTML page from a reverse proxy.
    #[error("homeserver answered {status} without a Matrix error body: {body:?}")]
    Http {
        /// The HTTP status.
        status: StatusCode,
        /// The start of the body, lossily decoded (at most 512 bytes).
        body: String,
    },
    /// The transport failed: connection refused, TLS, timeout, a broken body…
    #[error("transport error: {0}")]
    Transport(#[source] SharedError),
    /// A successful response did not have the shape of the endpoint's response.
    #[error("unexpected response body: {0}")]
    Deserialize(#[source] SharedError),
    /// The request could not be built (ruma could not serialize it, or an argument is invalid).
    #[error("cannot build the request: {0}")]
    Build(#[source] SharedError),
    /// The call needs a piece of configuration the client does not have.
    #[error("client is not configured for this call: {0}")]
    Config(MissingConfig),
    /// An argument is not acceptable, e.g. a user outside this homeserver.
    #[error("invalid argument: {0}")]
    InvalidArgument(InvalidArgument),
}

/// A transport failure ([`ClientError::Transport`]): displays the whole chain of causes,
/// `client error (Connect): tcp connect error: Connection refused (os error 111)`; the
/// original error is [`inner`](Self::inner).
#[derive(Debug)]
pub struct TransportFailure {
    message: String,
    inner: BoxError,
}

impl TransportFailure {
    fn new(inner: BoxError) -> Self {
        let mut message = inner.to_string();
        let mut cause = inner.source();
        while let Some(c) = cause {
            let text = c.to_string();
            // Wrappers often repeat their cause's text; say each thing once.
            if !message.contains(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            cause = c.source();
        }
        Self { message, inner }
    }

    /// The error the transport returned.
    pub fn inner(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.inner
    }
}

impl std::fmt::Display for TransportFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Its causes are in its message already; `inner` gives the original error.
impl StdError for TransportFailure {}

/// The configuration a call needs and the client lacks ([`ClientError::Config`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MissingConfig {
    /// The registration's `id` (`Client::with_appservice_id`), for the ping.
    #[error("the appservice id (with_appservice_id)")]
    AppserviceId,
    /// The registration's `sender_localpart` (`Client::with_sender_localpart`), for the bot.
    #[error("the bot (with_sender_localpart)")]
    SenderLocalpart,
}

/// An argument the client refused ([`ClientError::InvalidArgument`]): what kind, and a message.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{message}")]
pub struct InvalidArgument {
    kind: InvalidArgumentKind,
    message: String,
}

/// Which argument was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidArgumentKind {
    /// The homeserver URL (not http(s) with a host, or with a query or fragment).
    HomeserverUrl,
    /// The `sender_localpart` does not make a valid user ID.
    SenderLocalpart,
    /// A user on another server than the appservice's.
    ForeignUser,
    /// An `mxc://` URI without a server name or media ID.
    MxcUri,
    /// The `as_token` cannot be sent in a header.
    AsToken,
    /// A room version whose rules the client does not know, or that lacks what was asked
    /// (e.g. additional creators before room version 12).
    RoomVersion,
}

impl InvalidArgument {
    pub(crate) fn new(kind: InvalidArgumentKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }

    /// Which argument was refused.
    pub fn kind(&self) -> InvalidArgumentKind {
        self.kind
    }
}

impl ClientError {
    /// An invalid argument of this kind.
    pub(crate) fn invalid(kind: InvalidArgumentKind, message: impl Into<String>) -> Self {
        Self::InvalidArgument(InvalidArgument::new(kind, message))
    }
}

/// Displays `" (retry after …)"` when there is a hint.
struct RetryHint(Option<Duration>);

impl std::fmt::Display for RetryHint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(d) => write!(f, " (retry after {} ms)", d.as_millis()),
            None => Ok(()),
        }
    }
}

impl ClientError {
    /// The `errcode` if this is a Matrix error.
    pub fn errcode(&self) -> Option<&ErrorCode> {
        match self {
            Self::Matrix { errcode, .. } => Some(errcode),
            _ => None,
        }
    }

    /// The HTTP status if the homeserver answered.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Matrix { status, .. } | Self::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The server's retry hint, if it gave one (429 `M_LIMIT_EXCEEDED`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Matrix { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether this is a Matrix error with this `errcode`.
    pub fn is(&self, code: &ErrorCode) -> bool {
        self.errcode() == Some(code)
    }

    /// Whether a transaction that failed on this should be retried (answer the homeserver 5xx)
    /// rather than have the event skipped.
    ///
    /// Transient: the transport (connection refused or reset, timeout), a response of the wrong
    /// shape (a proxy's page), `408`, `429` (rate limited), `5xx` other than `501` (a
    /// homeserver or a proxy in trouble), and what the operator must fix and that fails every
    /// event alike (`401`: a wrong `as_token`; missing configuration): retrying keeps the
    /// events until then. Permanent: every other `4xx` (`M_FORBIDDEN`, `M_ROOM_IN_USE`,
    /// `M_EXCLUSIVE`, `M_NOT_FOUND`…: the same request gets the same answer), `501`, and
    /// requests the client refuses to build (invalid arguments). A permanent failure that
    /// fails a transaction would fail every retry and block every transaction after it: skip
    /// the event instead.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport(_) | Self::Deserialize(_) | Self::Config(_) => true,
            Self::Matrix { status, .. } | Self::Http { status, .. } => match status.as_u16() {
                401 | 408 | 429 => true,
                501 => false,
                code => code >= 500,
            },
            Self::Build(_) | Self::InvalidArgument(_) => false,
        }
    }

    /// A transport failure, its message naming every cause (hyper's own message is only
    /// "client error (Connect)"; the cause is "Connection refused").
    pub(crate) fn transport(e: impl Into<BoxError>) -> Self {
        Self::Transport(Arc::new(TransportFailure::new(e.into())))
    }

    pub(crate) fn deserialize(e: impl Into<BoxError>) -> Self {
        Self::Deserialize(Arc::from(e.into()))
    }

    pub(crate) fn build(e: impl Into<BoxError>) -> Self {
        Self::Build(Arc::from(e.into()))
    }

    /// The error for an error response (status ≥ 400). `retry_after` is the parsed
    /// `Retry-After` header, which wins over the body's `retry_after_ms`.
    pub(crate) fn from_response(
        status: StatusCode,
        body: &[u8],
        retry_after_header: Option<Duration>,
    ) -> Self {
        match appservice_types::MatrixError::from_response(status.as_u16(), body) {
            Some(e) => {
                let extra = e.body().extra.clone();
                let retry_after_ms = extra
                    .get("retry_after_ms")
                    .and_then(serde_json::Value::as_u64)
                    .map(Duration::from_millis);
                // Keep the body's hint in `extra` too; `retry_after` is the effective one.
                let retry_after = retry_after_header.or(retry_after_ms);
                Self::Matrix {
                    status,
                    errcode: e.errcode().clone(),
                    error: e.message().to_owned(),
                    retry_after,
                    extra: Box::new(extra),
                }
            }
            None => {
                let end = body.len().min(BODY_SNIPPET_LEN);
                Self::Http { status, body: String::from_utf8_lossy(&body[..end]).into_owned() }
            }
        }
    }
}

/// Why `POST /_matrix/client/v1/appservice/{appserviceId}/ping` failed (checklist CS-PING-*).
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PingError {
    /// 400 `M_URL_NOT_SET`: the registration has no `url`, so the homeserver cannot push.
    #[error("the homeserver has no URL for this appservice (M_URL_NOT_SET): {error}")]
    UrlNotSet {
        /// The homeserver's message.
        error: String,
    },
    /// 502 `M_BAD_STATUS`: the appservice answered the homeserver's ping with a non-2xx status.
    #[error(
        "the appservice answered the homeserver's ping with status {status:?} (M_BAD_STATUS): {error}"
    )]
    BadStatus {
        /// The status the appservice answered with, if the homeserver said.
        status: Option<u16>,
        /// The appservice's response body, if the homeserver said.
        body: Option<String>,
        /// The homeserver's message.
        error: String,
    },
    /// 502 `M_CONNECTION_FAILED`: the homeserver could not connect to the appservice.
    #[error("the homeserver could not connect to the appservice (M_CONNECTION_FAILED): {error}")]
    ConnectionFailed {
        /// The homeserver's message.
        error: String,
    },
    /// 504 `M_CONNECTION_TIMEOUT`: the appservice did not answer the homeserver in time.
    #[error("the appservice did not answer the homeserver in time (M_CONNECTION_TIMEOUT): {error}")]
    ConnectionTimeout {
        /// The homeserver's message.
        error: String,
    },
    /// The ping succeeded, but our own `/_matrix/app/v1/ping` handler never saw its
    /// `transaction_id`: the homeserver pinged someone else (a wrong `url` in the registration,
    /// or another instance of the appservice behind it) (checklist [AS-PING-5](https://spec.matrix.org/v1.19/application-service-api/#pinging)).
    #[error("the homeserver's ping did not reach this appservice (transaction {transaction_id})")]
    NotConfirmed {
        /// The transaction ID we sent.
        transaction_id: String,
    },
    /// Any other failure (403 `M_FORBIDDEN` for a wrong appservice ID or token, transport…).
    #[error(transparent)]
    Client(#[from] ClientError),
}

impl PingError {
    /// Classifies an error of the ping call. The unstable MSC2659 spellings
    /// (`FI.MAU.MSC2659_…`) are accepted too.
    pub(crate) fn from_client(e: ClientError) -> Self {
        let ClientError::Matrix { errcode, error, extra, .. } = &e else { return Self::Client(e) };
        let code = errcode.as_str();
        let code = code.strip_prefix("FI.MAU.MSC2659_").map_or(code, |c| c);
        let error = error.clone();
        match code {
            "M_URL_NOT_SET" | "URL_NOT_SET" => Self::UrlNotSet { error },
            "M_BAD_STATUS" | "BAD_STATUS" => Self::BadStatus {
                status: extra
                    .get("status")
                    .and_then(serde_json::Value::as_u64)
                    .and_then(|s| u16::try_from(s).ok()),
                body: extra.get("body").and_then(serde_json::Value::as_str).map(str::to_owned),
                error,
            },
            "M_CONNECTION_FAILED" | "CONNECTION_FAILED" => Self::ConnectionFailed { error },
            "M_CONNECTION_TIMEOUT" | "CONNECTION_TIMEOUT" => Self::ConnectionTimeout { error },
            _ => Self::Client(e),
        }
    }

    /// Whether waiting and pinging again may help (the homeserver or the appservice may still
    /// be starting, checklist [AS-PING-6](https://spec.matrix.org/v1.19/application-service-api/#pinging)). Configuration errors (`M_URL_NOT_SET`, 403, 401) and
    /// [`PingError::NotConfirmed`] are not transient.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::BadStatus { .. }
            | Self::ConnectionFailed { .. }
            | Self::ConnectionTimeout { .. } => true,
            Self::UrlNotSet { .. } | Self::NotConfirmed { .. } => false,
            Self::Client(e) => match e {
                ClientError::Transport(_) => true,
                ClientError::Matrix { status, .. } | ClientError::Http { status, .. } => {
                    *status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
                }
                _ => false,
            },
        }
    }
}
