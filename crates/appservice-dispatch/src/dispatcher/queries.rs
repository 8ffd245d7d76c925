//! The endpoints other than transactions: user and alias queries, ping, third-party lookups.

use std::collections::BTreeMap;

use appservice_types::{
    ErrorCode, MatrixError,
    ping::PingBody,
    ruma_common::{RoomAliasId, UserId},
};
use bytes::Bytes;
use http::Response;

use super::{
    Dispatcher,
    report::{empty, json_ok},
    transaction::handler_failure,
};
use crate::{Handler, HandlerError, TransactionStore};

impl<H: Handler, S: TransactionStore> Dispatcher<H, S> {
    pub(super) async fn query_user(&self, raw: &str) -> Result<Response<Bytes>, MatrixError> {
        let user_id =
            UserId::parse(raw).map_err(|e| invalid_param(&format!("Not a valid user ID: {e}")))?;
        // The homeserver only asks about our namespaces (AS-QRY-1); never create anything else.
        if !self.inner.registration.users().is_match(user_id.as_str()) {
            return Err(MatrixError::not_found(
                "The user is not in this application service's namespaces",
            ));
        }
        match self.inner.handler.query_user(&user_id).await {
            Ok(true) => Ok(empty()),
            Ok(false) => Err(MatrixError::not_found("No such user")),
            Err(e) => Err(handler_failure(raw, "query_user", e)),
        }
    }

    pub(super) async fn query_room_alias(&self, raw: &str) -> Result<Response<Bytes>, MatrixError> {
        let alias = RoomAliasId::parse(raw)
            .map_err(|e| invalid_param(&format!("Not a valid room alias: {e}")))?;
        if !self.inner.registration.aliases().is_match(alias.as_str()) {
            return Err(MatrixError::not_found(
                "The alias is not in this application service's namespaces",
            ));
        }
        match self.inner.handler.query_room_alias(&alias).await {
            Ok(true) => Ok(empty()),
            Ok(false) => Err(MatrixError::not_found("No such room alias")),
            Err(e) => Err(handler_failure(raw, "query_room_alias", e)),
        }
    }

    pub(super) async fn ping(&self, body: &Bytes) -> Result<Response<Bytes>, MatrixError> {
        let value: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| MatrixError::not_json(format!("The body is not valid JSON: {e}")))?;
        if !value.is_object() {
            return Err(MatrixError::bad_json("The body must be a JSON object"));
        }
        let ping: PingBody = serde_json::from_value(value)
            .map_err(|_| MatrixError::bad_json("`transaction_id` must be a string or null"))?;
        match self.inner.handler.ping(ping.transaction_id.as_deref()).await {
            Ok(()) => Ok(empty()),
            Err(e) => Err(handler_failure("ping", "ping", e)),
        }
    }

    pub(super) async fn thirdparty_protocol(
        &self,
        protocol: &str,
    ) -> Result<Response<Bytes>, MatrixError> {
        self.known_protocol(protocol)?;
        match self.inner.handler.thirdparty_protocol(protocol).await {
            Ok(Some(p)) => json_ok(&p),
            Ok(None) => Err(MatrixError::not_found("No protocol was found with the given path")),
            Err(e) => Err(handler_failure(protocol, "thirdparty_protocol", e)),
        }
    }

    /// The homeserver only asks about protocols the registration lists ([AS-3P-11](https://spec.matrix.org/v1.19/application-service-api/#third-party-networks)).
    pub(super) fn known_protocol(&self, protocol: &str) -> Result<(), MatrixError> {
        let listed = self
            .inner
            .registration
            .registration()
            .protocols
            .as_ref()
            .is_some_and(|p| p.iter().any(|x| x == protocol));
        if listed { Ok(()) } else { Err(MatrixError::not_found("Unknown protocol")) }
    }
}

pub(super) fn invalid_param(message: &str) -> MatrixError {
    MatrixError::new(400, ErrorCode::INVALID_PARAM, message)
}

pub(super) fn required_param(query: Option<&str>, name: &str) -> Result<String, MatrixError> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| {
            MatrixError::new(
                400,
                ErrorCode::MISSING_PARAM,
                format!("Missing query parameter `{name}`"),
            )
        })
}

/// Third-party fields: every query parameter but a legacy `access_token` ([AS-3P-9](https://spec.matrix.org/v1.19/application-service-api/#third-party-networks)).
pub(super) fn fields(query: Option<&str>) -> BTreeMap<String, String> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .filter(|(k, _)| k != "access_token")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub(super) fn list<T: serde::Serialize>(
    result: Result<Vec<T>, HandlerError>,
    not_found: &str,
) -> Result<Response<Bytes>, MatrixError> {
    match result {
        Ok(items) if items.is_empty() => Err(MatrixError::not_found(not_found)),
        Ok(items) => json_ok(&items),
        Err(e) => Err(handler_failure("thirdparty", "lookup", e)),
    }
}
