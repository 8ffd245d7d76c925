//! `POST /_matrix/app/v1/ping`: the homeserver checks that it can reach the appservice.
//!
//! ruma's [`send_ping`] models the endpoint. [`PingBody`] is the body as homeservers really send
//! it: `transaction_id` is optional, and Synapse sends `{"transaction_id": null}` when the CS ping
//! had none ([AS-PING-3](https://spec.matrix.org/v1.19/application-service-api/#pinging)), which must be accepted.

use serde::{Deserialize, Serialize};

pub use ruma_appservice_api::ping::send_ping;

/// The body of `POST /_matrix/app/v1/ping`.
///
/// ```
/// use appservice_types::ping::PingBody;
///
/// let body: PingBody = serde_json::from_str(r#"{"transaction_id": null}"#).unwrap();
/// assert_eq!(body.transaction_id, None);
/// let body: PingBody = serde_json::from_str(r#"{"transaction_id": "meow"}"#).unwrap();
/// assert_eq!(body.transaction_id.as_deref(), Some("meow"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PingBody {
    /// The `transaction_id` of the CS ping that caused this one, copied verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
}

impl PingBody {
    /// A ping body with this transaction ID.
    pub fn new(transaction_id: Option<String>) -> Self {
        Self { transaction_id }
    }
}
