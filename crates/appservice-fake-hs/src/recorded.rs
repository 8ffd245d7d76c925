//! [`Recorded`]: a request as the fake homeserver saw it; [`Reply`]: what it answers.

use std::{collections::BTreeMap, time::Instant};

use bytes::Bytes;
use serde_json::Value;

/// One request as the fake homeserver received it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Recorded {
    /// When it arrived.
    pub at: Instant,
    /// The method (`GET`, `PUT`, …).
    pub method: String,
    /// The path as sent (percent-encoded).
    pub path: String,
    /// The path, percent-decoded.
    pub decoded_path: String,
    /// The query string as sent, if any.
    pub raw_query: Option<String>,
    /// The query parameters, decoded (the last of a repeated key wins).
    pub query: BTreeMap<String, String>,
    /// The headers.
    pub headers: http::HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Recorded {
    /// Records the parts of a request.
    pub(crate) fn new(parts: &http::request::Parts, body: Bytes) -> Self {
        let raw_query = parts.uri.query().map(str::to_owned);
        let query = form_urlencoded::parse(raw_query.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
        let path = parts.uri.path().to_owned();
        let decoded_path =
            percent_encoding::percent_decode_str(&path).decode_utf8_lossy().into_owned();
        Self {
            at: Instant::now(),
            method: parts.method.to_string(),
            path,
            decoded_path,
            raw_query,
            query,
            headers: parts.headers.clone(),
            body,
        }
    }

    /// The body as JSON (`null` if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The asserted user (`?user_id=`), if any.
    pub fn user_id(&self) -> Option<&str> {
        self.query.get("user_id").map(String::as_str)
    }

    /// The `Authorization` header, if it is text.
    pub fn authorization(&self) -> Option<&str> {
        self.headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok())
    }
}

/// An answer of the fake homeserver.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// Extra headers (`Content-Type: application/json` is always sent).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
}

impl Reply {
    /// A reply with a raw body.
    pub fn new(status: u16, body: impl Into<Bytes>) -> Self {
        Self { status, headers: Vec::new(), body: body.into() }
    }

    /// A JSON reply.
    pub fn json(status: u16, body: Value) -> Self {
        Self::new(status, body.to_string())
    }

    /// A Matrix error: `{"errcode", "error"}`.
    pub fn error(status: u16, errcode: &str, error: &str) -> Self {
        Self::json(status, serde_json::json!({"errcode": errcode, "error": error}))
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}
