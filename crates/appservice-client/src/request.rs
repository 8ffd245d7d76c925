//! Turning a ruma request into bytes on the wire, and bytes back into a ruma response.
//!
//! ruma builds the path, body and its own query parameters (including `ts` on
//! `PUT /rooms/{roomId}/send/…` and `PUT /rooms/{roomId}/state/…`, checklist [CS-TS-1](https://spec.matrix.org/v1.19/application-service-api/#timestamp-massaging)/2). We add
//! what ruma does not:
//!
//! * the `as_token` as `Authorization: Bearer …` on *every* request, whatever the endpoint's
//!   auth scheme says, and never as `?access_token=` ([CS-ID-1](https://spec.matrix.org/v1.19/application-service-api/#identity-assertion)/2, IN-6);
//! * identity assertion with **both** `device_id` (v1.17, MSC4326) and the unstable
//!   `org.matrix.msc3202.device_id` that homeservers older than v1.17 read ([CS-ID-3](https://spec.matrix.org/v1.19/application-service-api/#identity-assertion)/5, MSC-4326-1).
//!   ruma's `AppserviceUserIdentity` only writes `device_id`, so we write all three parameters
//!   ourselves, percent-encoded (IN-5).

use std::{borrow::Cow, time::SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use ruma_common::{
    OwnedDeviceId, OwnedUserId,
    api::{
        IncomingResponse, OutgoingRequest, OutgoingRequestExt, SupportedVersions,
        auth_scheme::{AuthScheme, SendAccessToken},
        path_builder::{PathBuilder, SinglePath, VersionHistory},
    },
};

use crate::{ClientError, InvalidArgumentKind, Secret, retry};

/// The identity a request asserts (AS §Identity assertion): a virtual user, and optionally one of
/// its devices. Empty means "the `sender_localpart` user".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Identity {
    /// `?user_id=`: the virtual user to act as.
    pub user_id: Option<OwnedUserId>,
    /// `?device_id=` and `?org.matrix.msc3202.device_id=`: the device to act as.
    pub device_id: Option<OwnedDeviceId>,
}

impl Identity {
    /// No assertion: the request acts as the `sender_localpart` user.
    pub fn none() -> Self {
        Self::default()
    }

    /// Act as `user_id`.
    pub fn user(user_id: OwnedUserId) -> Self {
        Self { user_id: Some(user_id), device_id: None }
    }

    /// Also act as this device of the user.
    #[must_use]
    pub fn with_device(mut self, device_id: OwnedDeviceId) -> Self {
        self.device_id = Some(device_id);
        self
    }

    /// The query parameters, in the order they are sent.
    fn query_pairs(&self) -> Vec<(&'static str, &str)> {
        let mut pairs = Vec::new();
        if let Some(user_id) = &self.user_id {
            pairs.push(("user_id", user_id.as_str()));
        }
        if let Some(device_id) = &self.device_id {
            pairs.push(("device_id", device_id.as_str()));
            pairs.push(("org.matrix.msc3202.device_id", device_id.as_str()));
        }
        pairs
    }
}

/// How a ruma endpoint's path is chosen. Implemented for both of ruma's path builders; you never
/// implement it.
pub trait PathInput: PathBuilder + sealed::Sealed {
    /// The path builder's input for a homeserver that supports `versions`.
    #[doc(hidden)]
    fn input(versions: &SupportedVersions) -> Self::Input<'_>;
}

impl PathInput for VersionHistory {
    fn input(versions: &SupportedVersions) -> Self::Input<'_> {
        Cow::Borrowed(versions)
    }
}

impl PathInput for SinglePath {
    fn input(_: &SupportedVersions) -> Self::Input<'_> {}
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for ruma_common::api::path_builder::VersionHistory {}
    impl Sealed for ruma_common::api::path_builder::SinglePath {}
}

/// A request ready to be sent, as many times as the retry policy wants: the same bytes (and so
/// the same transaction ID) every time.
#[derive(Clone)]
pub(crate) struct Prepared {
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Prepared {
    /// A fresh `http::Request` (they are not `Clone`).
    pub(crate) fn to_request(&self) -> http::Request<Bytes> {
        let mut request = http::Request::new(self.body.clone());
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        request
    }
}

/// Builds the wire form of `request`.
pub(crate) fn prepare<R>(
    request: R,
    homeserver: &str,
    as_token: &Secret,
    identity: &Identity,
    versions: &SupportedVersions,
) -> Result<Prepared, ClientError>
where
    R: OutgoingRequest,
    for<'a> R::Authentication: AuthScheme<Input<'a> = SendAccessToken<'a>>,
    R::PathBuilder: PathInput,
{
    let http_request: http::Request<Vec<u8>> = request
        .try_into_http_request(
            homeserver,
            SendAccessToken::Always(as_token.expose()),
            R::PathBuilder::input(versions),
        )
        .map_err(ClientError::build)?;
    let (mut parts, body) = http_request.into_parts();

    // Always the header, whatever ruma did (CS-ID-2): set it ourselves, marked sensitive so that
    // HTTP/2 never puts it in the HPACK table and `Debug` of the header map hides it.
    let mut auth =
        HeaderValue::try_from(format!("Bearer {}", as_token.expose())).map_err(|_| {
            ClientError::invalid(
                InvalidArgumentKind::AsToken,
                "the as_token is not a valid header value",
            )
        })?;
    auth.set_sensitive(true);
    parts.headers.insert(header::AUTHORIZATION, auth);

    let uri = add_query(&parts.uri, &identity.query_pairs())?;
    Ok(Prepared { method: parts.method, uri, headers: parts.headers, body: Bytes::from(body) })
}

/// Appends percent-encoded `pairs` to the query of `uri`.
fn add_query(uri: &Uri, pairs: &[(&str, &str)]) -> Result<Uri, ClientError> {
    if pairs.is_empty() {
        return Ok(uri.clone());
    }
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        serializer.append_pair(k, v);
    }
    let extra = serializer.finish();
    let path_and_query = match uri.path_and_query() {
        Some(pq) => match pq.query() {
            Some(q) if !q.is_empty() => format!("{}?{q}&{extra}", pq.path()),
            _ => format!("{}?{extra}", pq.path()),
        },
        None => format!("/?{extra}"),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query.try_into().map_err(ClientError::build)?);
    Uri::from_parts(parts).map_err(ClientError::build)
}

/// A response with its body read.
#[derive(Debug)]
pub(crate) struct Received {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Received {
    /// The error for an error status, with the retry hint (`Retry-After` wins over
    /// `retry_after_ms`).
    pub(crate) fn error(&self) -> ClientError {
        let header = retry::retry_after_header(&self.headers, SystemTime::now());
        ClientError::from_response(self.status, &self.body, header)
    }

    /// The endpoint's response, or the typed error.
    pub(crate) fn parse<T: IncomingResponse>(self) -> Result<T, ClientError> {
        if self.status.as_u16() >= 400 {
            return Err(self.error());
        }
        let mut response = http::Response::new(self.body.as_ref());
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers.clone();
        T::try_from_http_response_inner(response).map_err(ClientError::deserialize)
    }
}

#[cfg(test)]
mod tests {
    use ruma_client_api::account::whoami;
    use ruma_common::{owned_device_id, owned_user_id};

    use super::*;

    fn versions() -> SupportedVersions {
        crate::client::default_versions()
    }

    #[test]
    fn identity_both_device_spellings_percent_encoded() {
        let identity = Identity::user(owned_user_id!("@_irc_user:example.org"))
            .with_device(owned_device_id!("ABC123"));
        let p = prepare(
            whoami::v3::Request::new(),
            "https://hs.example/",
            &Secret::from("tok"),
            &identity,
            &versions(),
        )
        .unwrap();
        assert_eq!(
            p.uri.to_string(),
            "https://hs.example/_matrix/client/v3/account/whoami?user_id=%40_irc_user%3Aexample.org&device_id=ABC123&org.matrix.msc3202.device_id=ABC123"
        );
        assert_eq!(p.headers[header::AUTHORIZATION], "Bearer tok");
        assert!(p.headers[header::AUTHORIZATION].is_sensitive());
        assert!(!p.uri.to_string().contains("access_token"));
    }

    #[test]
    fn no_identity_no_query() {
        let p = prepare(
            whoami::v3::Request::new(),
            "http://hs",
            &Secret::from("tok"),
            &Identity::none(),
            &versions(),
        )
        .unwrap();
        assert_eq!(p.uri.to_string(), "http://hs/_matrix/client/v3/account/whoami");
    }

    #[test]
    fn appends_to_an_existing_query() {
        let uri: Uri = "http://hs/p?ts=1".parse().unwrap();
        let got = add_query(&uri, &[("user_id", "@a b:x")]).unwrap();
        assert_eq!(got.to_string(), "http://hs/p?ts=1&user_id=%40a+b%3Ax");
    }
}
