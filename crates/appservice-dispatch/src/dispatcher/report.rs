//! What a request's outcome looks like: the response builders and the public report types.

use appservice_types::MatrixError;
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

pub(super) fn too_large(limit: usize) -> MatrixError {
    MatrixError::too_large(format!("The body is larger than {limit} bytes"))
}

pub(super) fn json_ok<T: serde::Serialize>(value: &T) -> Result<Response<Bytes>, MatrixError> {
    let body = serde_json::to_vec(value).map_err(|e| {
        tracing::error!(error = %e, "serializing a handler's answer failed");
        MatrixError::unknown("The answer could not be serialized")
    })?;
    Ok(json_response(StatusCode::OK, Bytes::from(body)))
}

/// `200 {}`: Synapse counts an empty 200 body as a failure, so success always has a body.
pub(super) fn empty() -> Response<Bytes> {
    json_response(StatusCode::OK, Bytes::from_static(b"{}"))
}

pub(super) fn json_response(status: StatusCode, body: Bytes) -> Response<Bytes> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// What [`Dispatcher::dispatch_with_report`](crate::Dispatcher::dispatch_with_report) did with a request.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// The route's name ([`Route::name`](crate::route::Route::name)), if the request had one.
    pub route: Option<&'static str>,
    /// The transaction ID, for a transaction.
    pub txn_id: Option<String>,
    /// The number of timeline events, for a parsed transaction.
    pub events: usize,
    /// The outcome.
    pub outcome: Disposition,
}

impl Report {
    /// A report of a request on `route` with this outcome (for transports that answer
    /// themselves, e.g. when a handler panicked).
    pub fn new(route: Option<&'static str>, outcome: Disposition) -> Self {
        Self { route, txn_id: None, events: 0, outcome }
    }
}

/// The outcome in a [`Report`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Disposition {
    /// Refused with a 4xx (route, auth, body, parameters, or "not found").
    Rejected,
    /// Handled (for a transaction: the handler ran and the store recorded it).
    Handled,
    /// A transaction already completed, or completed by a concurrent delivery: acknowledged
    /// without running the handler.
    Duplicate,
    /// The handler or the store failed (5xx); a transaction will be retried.
    Failed,
}

/// A request refused before its body is read (by [`Dispatcher::check_head`](crate::Dispatcher::check_head)).
#[derive(Clone, Debug)]
pub struct Rejection {
    pub(super) error: MatrixError,
    pub(super) allow: Option<http::Method>,
}

impl Rejection {
    /// The spec error.
    pub fn error(&self) -> &MatrixError {
        &self.error
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.error.status()
    }

    /// The response: the error body, and `Allow` for a 405.
    pub fn into_response(self) -> Response<Bytes> {
        let mut response = error_response(&self.error);
        if let Some(value) = self.allow.and_then(|m| HeaderValue::from_str(m.as_str()).ok()) {
            response.headers_mut().insert(header::ALLOW, value);
        }
        response
    }
}

impl From<MatrixError> for Rejection {
    fn from(error: MatrixError) -> Self {
        Self { error, allow: None }
    }
}

/// The response for a spec error.
pub fn error_response(error: &MatrixError) -> Response<Bytes> {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(status, Bytes::from(error.body_json()))
}
