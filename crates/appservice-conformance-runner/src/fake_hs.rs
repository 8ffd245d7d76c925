//! The fake homeserver of the black-box mode: `appservice-fake-hs` answering like a homeserver
//! would, so the suite can record every request the appservice makes (for the O items of the
//! checklist), including calling the appservice back for
//! `POST /_matrix/client/v1/appservice/{id}/ping`.
//!
//! It answers as a homeserver [`Profile`] does: under the Conduit family the bot does not exist
//! until the appservice registers it (everything done as the bot answers `403 M_FORBIDDEN "User
//! does not exist"` before), under Synapse it exists from the start (registering it again
//! answers `400 M_USER_IN_USE`).

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Instant,
};

pub(crate) use appservice_fake_hs::{FakeHomeserver, Recorded};
use appservice_fake_hs::{Profile, Reply, Respond, ping_back, ping_reply};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use serde_json::{Value, json};

/// Who the fake homeserver is.
#[derive(Clone, Debug)]
pub(crate) struct Identity {
    pub(crate) server_name: String,
    pub(crate) bot: String,
    /// The appservice to call back on a ping: its base URL and `hs_token`.
    pub(crate) appservice: Option<(String, String)>,
}

/// The profile the fake homeserver answers as, and whether its bot exists; shared with the
/// runner, which switches profiles between runs.
#[derive(Clone, Debug)]
pub(crate) struct ProfileSwitch(Arc<Mutex<(Profile, bool)>>);

impl ProfileSwitch {
    /// Answer as `profile` from now on, with the bot as that profile starts (created by Synapse,
    /// absent on the Conduit family until registered).
    pub(crate) fn set(&self, profile: Profile) {
        *self.0.lock() = (profile, profile.creates_bot());
    }
}

/// Starts the fake homeserver on `listen`, answering as `profile`.
pub(crate) async fn start(
    listen: &str,
    identity: Identity,
    profile: Profile,
) -> anyhow::Result<(FakeHomeserver, ProfileSwitch)> {
    let switch = ProfileSwitch(Arc::new(Mutex::new((profile, profile.creates_bot()))));
    let homeserver =
        Homeserver { identity, requests: AtomicUsize::new(0), profile: switch.clone() };
    Ok((FakeHomeserver::start_on(listen, homeserver).await?, switch))
}

/// The answers of a small homeserver.
struct Homeserver {
    identity: Identity,
    /// Requests answered so far (numbers created rooms and events).
    requests: AtomicUsize,
    profile: ProfileSwitch,
}

/// Whether `path` is an action a user takes in rooms (what a missing bot cannot do).
fn acts(path: &str) -> bool {
    path.ends_with("/createRoom")
        || path.contains("/join")
        || path.ends_with("/invite")
        || path.contains("/send/")
        || path.contains("/state/")
        || path.contains("/redact/")
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
        let bot_localpart =
            identity.bot.trim_start_matches('@').split(':').next().unwrap_or_default();
        if path.ends_with("/register") {
            let username = body["username"].as_str().unwrap_or("user");
            if username == bot_localpart {
                let mut switch = self.profile.0.lock();
                if switch.1 {
                    return Reply::error(400, "M_USER_IN_USE", "User ID already taken.");
                }
                switch.1 = true;
            }
            return Reply::json(
                200,
                json!({"user_id": format!("@{username}:{server}"), "home_server": server}),
            );
        }
        if user_id == identity.bot && acts(path) && !self.profile.0.lock().1 {
            return Reply::error(403, "M_FORBIDDEN", "User does not exist");
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
