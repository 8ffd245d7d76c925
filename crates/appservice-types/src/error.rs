//! [`MatrixError`]: the spec's standard error response, `{"errcode", "error"}` with a status.

use std::{borrow::Cow, fmt};

use serde::{Deserialize, Serialize};

/// An error code of the Matrix spec (or a namespaced custom one), as sent in `errcode`.
///
/// The associated constants are the codes the appservice side uses; any other code can be made
/// with [`ErrorCode::custom`] (the spec asks for a vendor prefix such as
/// `COM.EXAMPLE.MYAPPSERVICE_…`; `M_` is reserved for the spec).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ErrorCode(Cow<'static, str>);

impl ErrorCode {
    /// `M_FORBIDDEN`: forbidden access, e.g. a wrong `hs_token` (403).
    pub const FORBIDDEN: Self = Self::known("M_FORBIDDEN");
    /// `M_UNAUTHORIZED`: the request was not correctly authorised.
    pub const UNAUTHORIZED: Self = Self::known("M_UNAUTHORIZED");
    /// `M_MISSING_TOKEN`: no access token was supplied (401).
    pub const MISSING_TOKEN: Self = Self::known("M_MISSING_TOKEN");
    /// `M_UNKNOWN_TOKEN`: the access token was not recognised (401).
    pub const UNKNOWN_TOKEN: Self = Self::known("M_UNKNOWN_TOKEN");
    /// `M_UNRECOGNIZED`: unknown endpoint (404) or unsupported method (405).
    pub const UNRECOGNIZED: Self = Self::known("M_UNRECOGNIZED");
    /// `M_NOT_JSON`: the body is not valid JSON.
    pub const NOT_JSON: Self = Self::known("M_NOT_JSON");
    /// `M_BAD_JSON`: valid JSON of the wrong shape.
    pub const BAD_JSON: Self = Self::known("M_BAD_JSON");
    /// `M_NOT_FOUND`: no such user, alias, protocol or mapping.
    pub const NOT_FOUND: Self = Self::known("M_NOT_FOUND");
    /// `M_TOO_LARGE`: the request or entity was too large.
    pub const TOO_LARGE: Self = Self::known("M_TOO_LARGE");
    /// `M_UNKNOWN`: an unknown error.
    pub const UNKNOWN: Self = Self::known("M_UNKNOWN");
    /// `M_LIMIT_EXCEEDED`: rate limited (429).
    pub const LIMIT_EXCEEDED: Self = Self::known("M_LIMIT_EXCEEDED");
    /// `M_INVALID_PARAM`: a parameter has a bad value.
    pub const INVALID_PARAM: Self = Self::known("M_INVALID_PARAM");
    /// `M_MISSING_PARAM`: a required parameter is missing.
    pub const MISSING_PARAM: Self = Self::known("M_MISSING_PARAM");
    /// `M_EXCLUSIVE`: the resource is reserved by (another) application service.
    pub const EXCLUSIVE: Self = Self::known("M_EXCLUSIVE");
    /// `M_USER_IN_USE`: the user ID is taken.
    pub const USER_IN_USE: Self = Self::known("M_USER_IN_USE");
    /// `M_INVALID_USERNAME`: the user ID is not valid.
    pub const INVALID_USERNAME: Self = Self::known("M_INVALID_USERNAME");
    /// `M_UNKNOWN_DEVICE`: the asserted device does not exist (v1.17).
    pub const UNKNOWN_DEVICE: Self = Self::known("M_UNKNOWN_DEVICE");
    /// `M_APPSERVICE_LOGIN_UNSUPPORTED`: the server requires `inhibit_login` (v1.17).
    pub const APPSERVICE_LOGIN_UNSUPPORTED: Self = Self::known("M_APPSERVICE_LOGIN_UNSUPPORTED");
    /// Synapse's unstable spelling of [`APPSERVICE_LOGIN_UNSUPPORTED`](Self::APPSERVICE_LOGIN_UNSUPPORTED)
    /// (MSC4190, with `io.element.msc4190: true` in the registration). Match both with
    /// [`is_appservice_login_unsupported`](Self::is_appservice_login_unsupported).
    pub const MSC4190_APPSERVICE_LOGIN_UNSUPPORTED: Self =
        Self::known("IO.ELEMENT.MSC4190.M_APPSERVICE_LOGIN_UNSUPPORTED");
    /// `M_ROOM_IN_USE`: `createRoom` with an alias that already exists (400).
    pub const ROOM_IN_USE: Self = Self::known("M_ROOM_IN_USE");
    /// `M_URL_NOT_SET`: ping of an appservice without a `url` (400).
    pub const URL_NOT_SET: Self = Self::known("M_URL_NOT_SET");
    /// `M_BAD_STATUS`: the appservice answered a ping with a non-2xx status (502).
    pub const BAD_STATUS: Self = Self::known("M_BAD_STATUS");
    /// `M_CONNECTION_FAILED`: the homeserver could not reach the appservice (502).
    pub const CONNECTION_FAILED: Self = Self::known("M_CONNECTION_FAILED");
    /// `M_CONNECTION_TIMEOUT`: the appservice did not answer in time (504).
    pub const CONNECTION_TIMEOUT: Self = Self::known("M_CONNECTION_TIMEOUT");

    const fn known(code: &'static str) -> Self {
        Self(Cow::Borrowed(code))
    }

    /// Any other code, e.g. `COM.EXAMPLE.MYAPPSERVICE_UNAUTHORIZED`.
    pub fn custom(code: impl Into<String>) -> Self {
        Self(Cow::Owned(code.into()))
    }

    /// The code as sent on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is `M_APPSERVICE_LOGIN_UNSUPPORTED` in its stable or its MSC4190 spelling:
    /// the server has no appservice login (create devices with `inhibit_login` instead).
    pub fn is_appservice_login_unsupported(&self) -> bool {
        *self == Self::APPSERVICE_LOGIN_UNSUPPORTED
            || *self == Self::MSC4190_APPSERVICE_LOGIN_UNSUPPORTED
    }

    /// Whether the code is reserved for the spec (`M_` prefix).
    pub fn is_spec_namespace(&self) -> bool {
        self.0.starts_with("M_")
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The JSON body of a standard error response: `{"errcode": "...", "error": "..."}`.
///
/// Extra keys (such as `retry_after_ms`, or `status`/`body` of `M_BAD_STATUS`) are kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ErrorBody {
    /// The error code.
    pub errcode: ErrorCode,
    /// A human-readable message. The spec requires it in the Client-Server API; we always send it.
    #[serde(default)]
    pub error: String,
    /// Any other keys of the body.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// A spec-shaped error: an HTTP status plus the standard JSON body.
///
/// ```
/// use appservice_types::{ErrorCode, MatrixError};
///
/// let err = MatrixError::forbidden("Bad hs_token");
/// assert_eq!(err.status(), 403);
/// assert_eq!(err.body_json(), r#"{"errcode":"M_FORBIDDEN","error":"Bad hs_token"}"#);
/// assert_eq!(err.errcode(), &ErrorCode::FORBIDDEN);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{status} {}: {}", body.errcode, body.error)]
pub struct MatrixError {
    status: u16,
    body: ErrorBody,
}

impl MatrixError {
    /// An error with any status and code.
    ///
    /// A status outside 400..=599 is replaced by 500: an error is never sent as a success.
    pub fn new(status: u16, errcode: ErrorCode, error: impl Into<String>) -> Self {
        let status = if (400..=599).contains(&status) { status } else { 500 };
        Self { status, body: ErrorBody { errcode, error: error.into(), extra: Default::default() } }
    }

    /// 403 `M_FORBIDDEN` (a wrong `hs_token`, checklist [AS-AUTH-2](https://spec.matrix.org/v1.19/application-service-api/#authorisation)).
    pub fn forbidden(error: impl Into<String>) -> Self {
        Self::new(403, ErrorCode::FORBIDDEN, error)
    }

    /// 401 `M_MISSING_TOKEN` (no credentials, checklist [AS-AUTH-3](https://spec.matrix.org/v1.19/application-service-api/#authorisation)).
    pub fn missing_token(error: impl Into<String>) -> Self {
        Self::new(401, ErrorCode::MISSING_TOKEN, error)
    }

    /// 404 `M_UNRECOGNIZED` (unknown endpoint, checklist [AS-ROUTE-2](https://spec.matrix.org/v1.19/application-service-api/#legacy-routes)).
    pub fn unrecognized_endpoint(error: impl Into<String>) -> Self {
        Self::new(404, ErrorCode::UNRECOGNIZED, error)
    }

    /// 405 `M_UNRECOGNIZED` (known endpoint, wrong method, checklist [AS-ROUTE-3](https://spec.matrix.org/v1.19/application-service-api/#legacy-routes)).
    pub fn method_not_allowed(error: impl Into<String>) -> Self {
        Self::new(405, ErrorCode::UNRECOGNIZED, error)
    }

    /// 400 `M_NOT_JSON`.
    pub fn not_json(error: impl Into<String>) -> Self {
        Self::new(400, ErrorCode::NOT_JSON, error)
    }

    /// 400 `M_BAD_JSON`.
    pub fn bad_json(error: impl Into<String>) -> Self {
        Self::new(400, ErrorCode::BAD_JSON, error)
    }

    /// 404 `M_NOT_FOUND`.
    pub fn not_found(error: impl Into<String>) -> Self {
        Self::new(404, ErrorCode::NOT_FOUND, error)
    }

    /// 413 `M_TOO_LARGE`.
    pub fn too_large(error: impl Into<String>) -> Self {
        Self::new(413, ErrorCode::TOO_LARGE, error)
    }

    /// 500 `M_UNKNOWN`.
    pub fn unknown(error: impl Into<String>) -> Self {
        Self::new(500, ErrorCode::UNKNOWN, error)
    }

    /// Adds an extra key to the body (e.g. `retry_after_ms`). `errcode`/`error` cannot be replaced.
    #[must_use]
    pub fn with_extra(mut self, key: impl Into<String>, value: serde_json::Value) -> Self {
        let key = key.into();
        if key != "errcode" && key != "error" {
            self.body.extra.insert(key, value);
        }
        self
    }

    /// The HTTP status (400..=599).
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The error code.
    pub fn errcode(&self) -> &ErrorCode {
        &self.body.errcode
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.body.error
    }

    /// The JSON body.
    pub fn body(&self) -> &ErrorBody {
        &self.body
    }

    /// The JSON body, serialized (compact; `Content-Type: application/json`).
    pub fn body_json(&self) -> String {
        // Serializing a struct of strings and a JSON map cannot fail; fall back to a fixed
        // body rather than panicking all the same.
        serde_json::to_string(&self.body)
            .unwrap_or_else(|_| r#"{"errcode":"M_UNKNOWN","error":"Internal error"}"#.to_owned())
    }

    /// Parses an error response of a homeserver or appservice. `None` if `body` is not an error
    /// object (for example a proxy's HTML page).
    pub fn from_response(status: u16, body: &[u8]) -> Option<Self> {
        let body: ErrorBody = serde_json::from_slice(body).ok()?;
        Some(Self { status, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_spec_shape() {
        let e = MatrixError::unrecognized_endpoint("Unrecognized request");
        let v: serde_json::Value = serde_json::from_str(&e.body_json()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"errcode": "M_UNRECOGNIZED", "error": "Unrecognized request"})
        );
        assert_eq!(e.status(), 404);
        assert_eq!(MatrixError::method_not_allowed("x").status(), 405);
    }

    #[test]
    fn never_a_success_status() {
        assert_eq!(MatrixError::new(200, ErrorCode::UNKNOWN, "x").status(), 500);
        assert_eq!(MatrixError::new(302, ErrorCode::UNKNOWN, "x").status(), 500);
    }

    #[test]
    fn extra_keys_round_trip() {
        let e = MatrixError::new(429, ErrorCode::LIMIT_EXCEEDED, "slow down")
            .with_extra("retry_after_ms", 2000.into())
            .with_extra("errcode", "M_HIJACK".into());
        let parsed = MatrixError::from_response(429, e.body_json().as_bytes()).unwrap();
        assert_eq!(parsed, e);
        assert_eq!(parsed.errcode(), &ErrorCode::LIMIT_EXCEEDED);
    }

    #[test]
    fn custom_codes() {
        let c = ErrorCode::custom("COM.EXAMPLE.MYAPPSERVICE_UNAUTHORIZED");
        assert!(!c.is_spec_namespace());
        assert!(ErrorCode::NOT_FOUND.is_spec_namespace());
        assert_eq!(ErrorCode::custom("M_NOT_FOUND"), ErrorCode::NOT_FOUND);
    }
}
