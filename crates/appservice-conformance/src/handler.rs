//! [`Recorder`]: a scriptable handler that records every call; the test registration.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use appservice_dispatch::{Event, Handler, HandlerError, TransactionContext};
use appservice_types::{
    ValidatedRegistration,
    ruma_common::{RoomAliasId, UserId},
    thirdparty::{Location, Protocol, User},
};
use serde_json::{Value, json};

/// The `hs_token` of [`registration`].
pub const HS_TOKEN: &str = "hs_kT8vN3kLp0RtY7wX2mB5cH9jD4fG6sA1eU0iO8yT3";

/// The test registration: users `^@_test_.*:example\\.org$`, aliases `^#_test_.*:example\\.org$`
/// (both exclusive), protocol `irc`, bot `_test_bot`, with `url` as given (`null` for none).
///
/// # Panics
///
/// If `url` makes the registration invalid.
pub fn registration(url: &str) -> ValidatedRegistration {
    ValidatedRegistration::parse(&format!(
        "id: test\nurl: {url}\nas_token: as_Pq2bV9nM4xC7zL1kJ6hG3fD8sA5wE0rT2yU9iO4p\nhs_token: {HS_TOKEN}\n\
         sender_localpart: _test_bot\nrate_limited: false\nprotocols: [irc]\nnamespaces:\n  \
         users: [{{exclusive: true, regex: '^@_test_.*:example\\.org$'}}]\n  \
         aliases: [{{exclusive: true, regex: '^#_test_.*:example\\.org$'}}]\n"
    ))
    .unwrap()
}

/// What the scripted handler does.
#[derive(Debug, Default, Clone)]
#[allow(missing_docs, clippy::exhaustive_structs)] // Test data, field by field as in the fixtures.
pub struct Script {
    pub existing_users: Vec<String>,
    pub existing_aliases: Vec<String>,
    /// Event ID → how many more times handling it fails.
    pub fail_events: BTreeMap<String, u32>,
    pub fail_ephemeral: u32,
    pub protocols: BTreeMap<String, Value>,
    pub users: Vec<Value>,
    pub locations: Vec<Value>,
}

impl Script {
    /// Reads a fixture's `handler` object.
    ///
    /// # Panics
    ///
    /// On a malformed script.
    pub fn from_json(v: &Value) -> Self {
        let strings = |k: &str| -> Vec<String> {
            v[k].as_array()
                .map(|a| a.iter().map(|x| x.as_str().unwrap().to_owned()).collect())
                .unwrap_or_default()
        };
        Self {
            existing_users: strings("existing_users"),
            existing_aliases: strings("existing_aliases"),
            fail_events: v["fail_events"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, n)| (k.clone(), u32::try_from(n.as_u64().unwrap()).unwrap()))
                        .collect()
                })
                .unwrap_or_default(),
            fail_ephemeral: v["fail_ephemeral"].as_u64().map_or(0, |n| u32::try_from(n).unwrap()),
            protocols: v["protocols"]
                .as_object()
                .map(|m| m.clone().into_iter().collect())
                .unwrap_or_default(),
            users: v["users"].as_array().cloned().unwrap_or_default(),
            locations: v["locations"].as_array().cloned().unwrap_or_default(),
        }
    }
}

/// Records every call as a JSON array, e.g. `["event", "<txn>", "<event id>"]`.
#[derive(Debug, Default, Clone)]
#[allow(missing_docs, clippy::exhaustive_structs)]
pub struct Recorder {
    pub calls: Arc<Mutex<Vec<Value>>>,
    pub script: Arc<Mutex<Script>>,
}

impl Recorder {
    /// A recorder following `script`.
    pub fn new(script: Script) -> Self {
        Self { calls: Arc::default(), script: Arc::new(Mutex::new(script)) }
    }

    /// The calls recorded since the last take.
    pub fn take_calls(&self) -> Vec<Value> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }

    fn record(&self, call: Value) {
        self.calls.lock().unwrap().push(call);
    }
}

impl Handler for Recorder {
    async fn event(
        &self,
        txn: &TransactionContext<'_>,
        event: Event<'_>,
    ) -> Result<(), HandlerError> {
        let id =
            event.envelope.map_or_else(|| "<malformed>".to_owned(), |e| e.event_id.to_string());
        self.record(json!(["event", txn.txn_id, id]));
        let mut script = self.script.lock().unwrap();
        if let Some(n) = script.fail_events.get_mut(&id).filter(|n| **n > 0) {
            *n -= 1;
            return Err(HandlerError::failed(format!("scripted failure of {id}")));
        }
        Ok(())
    }

    async fn ephemeral_and_device_data(
        &self,
        txn: &TransactionContext<'_>,
    ) -> Result<(), HandlerError> {
        let kinds: Vec<String> = txn
            .transaction
            .ephemeral_data()
            .map(|e| e.map_or_else(|_| "<malformed>".to_owned(), |d| d.data_type().to_owned()))
            .collect();
        let to_device = txn.transaction.to_device.as_ref().map_or(0, |s| s.value.len());
        self.record(json!(["ephemeral", txn.txn_id, kinds, to_device]));
        let mut script = self.script.lock().unwrap();
        if script.fail_ephemeral > 0 {
            script.fail_ephemeral -= 1;
            return Err(HandlerError::failed("scripted ephemeral failure"));
        }
        Ok(())
    }

    async fn query_user(&self, user_id: &UserId) -> Result<bool, HandlerError> {
        self.record(json!(["query_user", user_id]));
        Ok(self.script.lock().unwrap().existing_users.iter().any(|u| u == user_id.as_str()))
    }

    async fn query_room_alias(&self, alias: &RoomAliasId) -> Result<bool, HandlerError> {
        self.record(json!(["query_room_alias", alias]));
        Ok(self.script.lock().unwrap().existing_aliases.iter().any(|a| a == alias.as_str()))
    }

    async fn ping(&self, transaction_id: Option<&str>) -> Result<(), HandlerError> {
        self.record(json!(["ping", transaction_id]));
        Ok(())
    }

    async fn thirdparty_protocol(&self, protocol: &str) -> Result<Option<Protocol>, HandlerError> {
        self.record(json!(["thirdparty_protocol", protocol]));
        let script = self.script.lock().unwrap();
        Ok(script.protocols.get(protocol).map(|p| serde_json::from_value(p.clone()).unwrap()))
    }

    async fn thirdparty_users(
        &self,
        protocol: &str,
        fields: &BTreeMap<String, String>,
    ) -> Result<Vec<User>, HandlerError> {
        self.record(json!(["thirdparty_users", protocol, fields]));
        Ok(self
            .script
            .lock()
            .unwrap()
            .users
            .iter()
            .map(|u| serde_json::from_value(u.clone()).unwrap())
            .collect())
    }

    async fn thirdparty_locations(
        &self,
        protocol: &str,
        fields: &BTreeMap<String, String>,
    ) -> Result<Vec<Location>, HandlerError> {
        self.record(json!(["thirdparty_locations", protocol, fields]));
        Ok(self
            .script
            .lock()
            .unwrap()
            .locations
            .iter()
            .map(|l| serde_json::from_value(l.clone()).unwrap())
            .collect())
    }

    async fn thirdparty_user_lookup(&self, user_id: &UserId) -> Result<Vec<User>, HandlerError> {
        self.record(json!(["thirdparty_user_lookup", user_id]));
        Ok(self
            .script
            .lock()
            .unwrap()
            .users
            .iter()
            .map(|u| serde_json::from_value(u.clone()).unwrap())
            .collect())
    }

    async fn thirdparty_location_lookup(
        &self,
        alias: &RoomAliasId,
    ) -> Result<Vec<Location>, HandlerError> {
        self.record(json!(["thirdparty_location_lookup", alias]));
        Ok(self
            .script
            .lock()
            .unwrap()
            .locations
            .iter()
            .map(|l| serde_json::from_value(l.clone()).unwrap())
            .collect())
    }
}

/// A transaction body with these events (each `(event_id, room_id)`).
///
/// # Panics
///
/// Never in practice (serializing JSON values).
pub fn body(events: &[(&str, &str)]) -> Vec<u8> {
    let events: Vec<Value> = events
        .iter()
        .map(|(id, room)| {
            json!({"type": "m.room.message", "event_id": id, "room_id": room, "sender": "@alice:example.org",
                   "origin_server_ts": 1, "content": {"msgtype": "m.text", "body": "hi"}})
        })
        .collect();
    serde_json::to_vec(&json!({ "events": events })).unwrap()
}

/// `PUT /_matrix/app/v1/transactions/{txn_id}` with the token.
///
/// # Panics
///
/// If `txn_id` makes an invalid URI.
pub fn put_txn(txn_id: &str, body: Vec<u8>) -> http::Request<bytes::Bytes> {
    http::Request::put(format!("/_matrix/app/v1/transactions/{txn_id}"))
        .header("authorization", format!("Bearer {HS_TOKEN}"))
        .body(bytes::Bytes::from(body))
        .unwrap()
}
