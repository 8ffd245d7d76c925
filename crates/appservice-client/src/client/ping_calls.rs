//! The CS ping of this appservice: [`Client::ping`], [`Client::ping_and_confirm`],
//! [`Client::ping_until_ready`].

use std::time::Duration;

use ruma_client_api::appservice::request_ping;
use ruma_common::OwnedTransactionId;

use super::{Client, new_transaction_id};
use crate::Transport;
use crate::{ClientError, Identity, MissingConfig, PingError, PingTracker, RetryPolicy};

impl<S: Transport> Client<S> {
    /// `POST /_matrix/client/v1/appservice/{appserviceId}/ping` (checklist [CS-PING-1](https://spec.matrix.org/v1.19/application-service-api/#pinging-1)..6): asks the
    /// homeserver to ping this appservice, and returns how long that took.
    ///
    /// Needs the appservice `id` ([`Client::with_appservice_id`]).
    pub async fn ping(&self, transaction_id: Option<&str>) -> Result<Duration, PingError> {
        let id = self
            .config
            .appservice_id
            .clone()
            .ok_or(ClientError::Config(MissingConfig::AppserviceId))?;
        let mut request = request_ping::v1::Request::new(id);
        request.transaction_id = transaction_id.map(OwnedTransactionId::from);
        // 502/504 from the ping are answers about the appservice (M_CONNECTION_FAILED…), not
        // about the homeserver: they are not retried here (only 429 is), but by
        // `ping_until_ready` with its own policy.
        let received = self.send_as(request, &Identity::none(), false).await?;
        match received.parse::<request_ping::v1::Response>() {
            Ok(response) => Ok(response.duration),
            Err(e) => Err(PingError::from_client(e)),
        }
    }

    /// Pings with a fresh `transaction_id` and checks that our own `/_matrix/app/v1/ping`
    /// handler recorded it in `tracker` (checklist [AS-PING-5](https://spec.matrix.org/v1.19/application-service-api/#pinging)): proof that the homeserver reaches
    /// *this* appservice. Otherwise [`PingError::NotConfirmed`].
    pub async fn ping_and_confirm(&self, tracker: &PingTracker) -> Result<Duration, PingError> {
        let transaction_id = new_transaction_id();
        let duration = self.ping(Some(transaction_id.as_str())).await?;
        if tracker.take(transaction_id.as_str()) {
            Ok(duration)
        } else {
            Err(PingError::NotConfirmed { transaction_id: transaction_id.to_string() })
        }
    }

    /// Pings at start-up until it works (checklist [AS-PING-6](https://spec.matrix.org/v1.19/application-service-api/#pinging): do not fail entirely on temporary
    /// issues, e.g. an appservice started before its homeserver): transient failures
    /// ([`PingError::is_transient`]) are retried after `policy`'s backoff; configuration errors
    /// (`M_URL_NOT_SET`, 403…) and a [`PingError::NotConfirmed`] are returned at once. With a
    /// `tracker`, each ping must also be confirmed ([`Client::ping_and_confirm`]).
    pub async fn ping_until_ready(
        &self,
        policy: &RetryPolicy,
        tracker: Option<&PingTracker>,
    ) -> Result<Duration, PingError> {
        let mut retry = 0;
        loop {
            let result = match tracker {
                Some(tracker) => self.ping_and_confirm(tracker).await,
                None => self.ping(Some(new_transaction_id().as_str())).await,
            };
            match (&result, &self.config.sleeper) {
                (Err(e), Some(sleeper)) if e.is_transient() && retry < policy.max_retries => {
                    sleeper.sleep(policy.backoff_with_jitter(retry)).await;
                }
                _ => return result,
            }
            retry += 1;
        }
    }
}
