//! The fake homeserver of the black-box mode: `appservice-fake-hs` answering like a homeserver
//! would, so the suite can record every request the appservice makes (for the O items of the
//! checklist), including calling the appservice back for
//! `POST /_matrix/client/v1/appservice/{id}/ping`.

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::Instant,
};

pub(crate) use appservice_fake_hs::{FakeHomeserver, Recorded};
use appservice_fake_hs::{Reply, Respond, ping_back, ping_reply};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use serde_json::{Value, json};

/// Who the fake homeserver is.
#[derive(Clone, Debug)]
pub(crate) struct Identity {
    pub(crate) server_name: String,
    pub(crate) bot: String,
    /// The appservice to call back on a ping: its base URL and `hs_token`.
    pub(crate) appservice: Option<(String, String)>,
}

/// Starts the fake homeserver on `listen`.
pub(crate) async fn start(listen: &str, identity: Identity) -> anyhow::Result<FakeHomeserver> {
    let homeserver = Homeserver { identity, requests: AtomicUsize::new(0) };
    Ok(FakeHomeserver::start_on(listen, homeserver).await?)
}

/// The answers of a small homeserver.
struct Homeserver {
    identity: Identity,
    /// Requests answered so far (numbers created rooms and events).
    requests: AtomicUsize,
}

impl Respond for Homeserver {
    fn respond<'a>(&'a self, request: &'a Recorded) -> BoxFuture<'a, Reply> {
        Box::pin(self.answer(request))
    }
}

impl Homeserver {
    async fn answer(&self, request: &Recorded) -> Reply {
        let identity = &self.identity;
        let serial = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        let path = request.path.as_str();
        let body = request.json();
        let user_id = request.user_id().map_or_else(|| identity.bot.clone(), str::to_owned);
        let server = &identity.server_name;
        if path.ends_with("/versions") {
            return Reply::json(200, json!({"versions": ["v1.11", "v1.12", "v1.13", "v1.17"]}));
        }
        if path.ends_with("/register") {
            let username = body["username"].as_str().unwrap_or("user");
            return Reply::json(
                200,
                json!({"user_id": format!("@{username}:{server}"), "home_server": server}),
            );
        }
        if path.ends_with("/account/whoami") {
            return Reply::json(200, json!({"user_id": user_id, "is_guest": false}));
        }
        if path.ends_with("/createRoom") {
            return Reply::json(
                200,
                json!({"room_id": format!("!conformance{}:{server}", serial)}),
            );
        }
        if path.contains("/join") {
            let room = path.rsplit('/').nth(1).unwrap_or("!room").to_owned();
            return Reply::json(200, json!({"room_id": percent_decode(&room)}));
        }
        if path.contains("/send/") || path.contains("/state/") || path.contains("/redact/") {
            return Reply::json(200, json!({"event_id": format!("$conformance{}", serial)}));
        }
        if path.contains("/appservice/") && path.ends_with("/ping") {
            let started = Instant::now();
            let Some((url, hs_token)) = &identity.appservice else {
                return Reply::error(400, "M_URL_NOT_SET", "no url");
            };
            let ping_body = json!({"transaction_id": body.get("transaction_id").cloned().unwrap_or(Value::Null)});
            let result = ping_back(url, hs_token, Bytes::from(ping_body.to_string())).await;
            return ping_reply(result, started);
        }
        Reply::json(200, json!({}))
    }
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}
