//! Integration tests of `echo-appservice`: its dispatcher and handler, driven in-process through
//! `appservice_tower::Appservice` (and, for `run`, over a real loopback socket), against a
//! loopback mock homeserver. No other network.
//!
//! Every test runs once per homeserver [`Profile`] ([`for_each_profile`]): the mock answers as
//! that homeserver family does, and the transactions the tests send carry its authentication
//! and transaction IDs, so a regression that only one family would see fails here.

#![allow(clippy::unwrap_used)] // Test code: a panic is the failure report.

mod cli;
mod delivery;
mod echo;
mod mock;
mod profiles;
mod run;

use std::{future::Future, panic::AssertUnwindSafe, sync::Arc};

use appservice_client::{Client, HyperTransport, ruma_common::OwnedServerName};
use appservice_fake_hs::Profile;
use appservice_fs_store::FileStore;
use appservice_tower::Appservice;
use appservice_types::ValidatedRegistration;
use bytes::Bytes;
use echo_appservice::EchoHandler;
use futures_util::FutureExt as _;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::mock::Homeserver;

pub(crate) const AS_TOKEN: &str = "as_kT8vN3kLp0RtY7wX2mB5cH9jD4fG6sA1eU0iO8yT3rW5qE7zLx4Pq2bV9nM4";
pub(crate) const HS_TOKEN: &str = "hs_Pq2bV9nM4xC7zL1kJ6hG3fD8sA5wE0rT2yU9iO4pQ7mN1bVkT8vN3kLp0R";
pub(crate) const BOT: &str = "@_echo_bot:example.org";

/// A registration like `cargo xtask registration generate --server-name example.org --prefix
/// _echo_` writes for the echo.
pub(crate) fn registration_yaml(url: &str) -> String {
    format!(
        "id: echo\nurl: \"{url}\"\nas_token: \"{AS_TOKEN}\"\nhs_token: \"{HS_TOKEN}\"\n\
         sender_localpart: _echo_bot\nrate_limited: false\nnamespaces:\n  users:\n    \
         - exclusive: true\n      regex: '^@_echo_.*:example\\.org$'\n  aliases:\n    \
         - exclusive: true\n      regex: '(?i)^#_echo_.*:example\\.org$'\n  rooms: []\n"
    )
}

/// Runs `test` once per homeserver profile, Synapse first; a failure says under which.
pub(crate) async fn for_each_profile<F, Fut>(test: F)
where
    F: Fn(Profile) -> Fut,
    Fut: Future<Output = ()>,
{
    for profile in Profile::ALL {
        if let Err(panic) = AssertUnwindSafe(test(profile)).catch_unwind().await {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            panic!("under the {profile} homeserver profile: {message}");
        }
    }
}

/// The echo's service over a fresh file store, acting against `homeserver`; it talks to us as
/// the homeserver's profile does.
pub(crate) struct Echo {
    pub(crate) app: Appservice,
    pub(crate) handler: Arc<EchoHandler>,
    pub(crate) store: tempfile::TempDir,
    pub(crate) profile: Profile,
}

impl Echo {
    /// Started as `run` starts it: the bot registered first (the Conduit family does not create
    /// it); a mock that had seen nothing forgets those requests, so a test's trace starts with
    /// its own (a restart's registration stays in the record).
    pub(crate) async fn start(homeserver: &Homeserver) -> Self {
        Self::start_with(homeserver, tempfile::tempdir().unwrap(), 0).await
    }

    /// With the store in `store` (e.g. the directory of a previous run) and the first
    /// `fail_first` event calls failing; the bot registered as in [`Echo::start`].
    pub(crate) async fn start_with(
        homeserver: &Homeserver,
        store: tempfile::TempDir,
        fail_first: usize,
    ) -> Self {
        let echo = Self::without_registering_the_bot(homeserver, store, fail_first);
        let fresh = homeserver.recorded().is_empty();
        let client = Client::from_registration(
            &ValidatedRegistration::parse(&registration_yaml("http://127.0.0.1:8009")).unwrap(),
            &homeserver.url(),
            OwnedServerName::try_from("example.org").unwrap(),
            HyperTransport::new().unwrap(),
        )
        .unwrap();
        client.register_bot().await.unwrap();
        if fresh {
            homeserver.clear();
        }
        echo
    }

    /// Without the start-up's bot registration.
    pub(crate) fn without_registering_the_bot(
        homeserver: &Homeserver,
        store: tempfile::TempDir,
        fail_first: usize,
    ) -> Self {
        let registration =
            ValidatedRegistration::parse(&registration_yaml("http://127.0.0.1:8009")).unwrap();
        let client = Client::from_registration(
            &registration,
            &homeserver.url(),
            OwnedServerName::try_from("example.org").unwrap(),
            HyperTransport::new().unwrap(),
        )
        .unwrap();
        let handler = Arc::new(
            EchoHandler::new(client, registration.clone()).unwrap().fail_first_events(fail_first),
        );
        let file_store = FileStore::open(store.path()).unwrap();
        let app = echo_appservice::appservice(registration, handler.clone(), file_store);
        Self { app, handler, store, profile: homeserver.profile() }
    }

    /// Stops this instance (releases the store) and gives its store directory back.
    pub(crate) fn stop(self) -> tempfile::TempDir {
        self.store
    }

    /// Sends a request with the `hs_token` as the profile sends it, returns the status and the
    /// JSON body.
    pub(crate) async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let request = self
            .profile
            .authorize(http::Request::builder().method(method), path, HS_TOKEN)
            .body(Full::new(body.map(|b| Bytes::from(b.to_string())).unwrap_or_default()))
            .unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, json)
    }

    /// The homeserver's `n`-th transaction (from 1) with these events, as the profile sends it;
    /// the status.
    pub(crate) async fn transaction(&self, n: u64, events: Vec<Value>) -> u16 {
        self.transaction_body(n, json!({"events": events})).await
    }

    /// The `n`-th transaction with `body` (its `events` and other sections), as the profile
    /// sends it (its ID, its authentication, without the sections it never sends); the status.
    pub(crate) async fn transaction_body(&self, n: u64, body: Value) -> u16 {
        let path = format!("/_matrix/app/v1/transactions/{}", self.txn_id(n, &body["events"]));
        self.request("PUT", &path, Some(self.profile.body(body))).await.0
    }

    /// The ID of the `n`-th transaction of `events` under the profile.
    pub(crate) fn txn_id(&self, n: u64, events: &Value) -> String {
        let ids: Vec<&str> = events
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| e["event_id"].as_str().unwrap_or_default())
            .collect();
        self.profile.txn_id(n, &ids)
    }
}

/// An `m.room.message` event.
pub(crate) fn message(event_id: &str, room: &str, sender: &str, body: &str, ts: u64) -> Value {
    json!({
        "type": "m.room.message",
        "event_id": event_id,
        "room_id": room,
        "sender": sender,
        "origin_server_ts": ts,
        "content": {"msgtype": "m.text", "body": body},
    })
}

/// An `m.room.member` invite of `target` by `sender`.
pub(crate) fn invite(event_id: &str, room: &str, sender: &str, target: &str) -> Value {
    json!({
        "type": "m.room.member",
        "event_id": event_id,
        "room_id": room,
        "sender": sender,
        "state_key": target,
        "origin_server_ts": 1_600_000_000_000u64,
        "content": {"membership": "invite"},
    })
}
