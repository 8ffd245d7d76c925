//! A loopback mock homeserver: a real HTTP/1.1 server on 127.0.0.1 that records every request
//! and answers like a (very small) homeserver of a [`Profile`]: `/register` (with
//! `M_USER_IN_USE` the second time), joins that need an invite for virtual users, invites, sends,
//! `createRoom`, `whoami`, and the CS ping, which pings the appservice back first as Synapse does.
//!
//! Users must be registered before they act: under [`Profile::Synapse`] the bot exists from the
//! start; under [`Profile::ConduitFamily`] it does not, and everything done as the bot answers
//! `403 M_FORBIDDEN "User does not exist"` until the appservice registers it. A virtual user
//! (`?user_id=`) that was not registered is refused too (neither family registers it for the
//! appservice; Synapse would first ask the appservice, which the Conduit family never does).

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use appservice_fake_hs::{
    FakeHomeserver, Profile, Recorded, Reply, Respond, ping_back, ping_reply,
};
use futures_util::future::BoxFuture;
use serde_json::{Value, json};

use crate::{BOT, HS_TOKEN};

struct State {
    profile: Profile,
    /// Registered localparts.
    registered: BTreeSet<String>,
    /// `(room, user)` pairs that joined.
    joined: BTreeSet<(String, String)>,
    invited: BTreeSet<(String, String)>,
    whoami: Option<(u16, Value)>,
    appservice: Option<String>,
    pinged_back: Vec<u16>,
    register_delay: Duration,
    delay: Duration,
    in_flight: usize,
    max_in_flight: usize,
}

/// The mock homeserver: the shared fake homeserver answering like a (very small) homeserver;
/// its server task ends with the test's runtime.
#[derive(Clone)]
pub(crate) struct Homeserver {
    server: FakeHomeserver,
    state: Arc<Mutex<State>>,
}

impl Homeserver {
    /// Starts one answering as `profile` does.
    pub(crate) async fn start(profile: Profile) -> Self {
        let bot_localpart = BOT.trim_start_matches('@').split(':').next().unwrap_or_default();
        let state = Arc::new(Mutex::new(State {
            profile,
            registered: profile
                .creates_bot()
                .then(|| bot_localpart.to_owned())
                .into_iter()
                .collect(),
            joined: BTreeSet::new(),
            invited: BTreeSet::new(),
            whoami: None,
            appservice: None,
            pinged_back: Vec::new(),
            register_delay: Duration::ZERO,
            delay: Duration::ZERO,
            in_flight: 0,
            max_in_flight: 0,
        }));
        let server = FakeHomeserver::start(Small(Arc::clone(&state))).await.unwrap();
        Self { server, state }
    }

    /// The profile it answers as.
    pub(crate) fn profile(&self) -> Profile {
        self.state.lock().unwrap().profile
    }

    /// Whether `user` joined `room` (a join answered 200).
    pub(crate) fn joined(&self, room: &str, user: &str) -> bool {
        self.state.lock().unwrap().joined.contains(&(room.to_owned(), user.to_owned()))
    }

    pub(crate) fn url(&self) -> String {
        self.server.url()
    }

    /// All requests so far.
    pub(crate) fn recorded(&self) -> Vec<Recorded> {
        self.server.recorded()
    }

    /// The requests to (decoded) paths containing `needle`.
    pub(crate) fn requests_to(&self, needle: &str) -> Vec<Recorded> {
        self.server.requests_to(needle)
    }

    /// Forgets the recorded requests.
    pub(crate) fn clear(&self) {
        self.server.clear();
    }

    /// Answers `whoami` with this instead of the bot.
    pub(crate) fn whoami(&self, status: u16, body: Value) {
        self.state.lock().unwrap().whoami = Some((status, body));
    }

    /// The appservice's base URL, for the ping back.
    pub(crate) fn appservice(&self, url: String) {
        self.state.lock().unwrap().appservice = Some(url);
    }

    /// The statuses of the appservice's answers to our pings back.
    pub(crate) fn pinged_back(&self) -> Vec<u16> {
        self.state.lock().unwrap().pinged_back.clone()
    }

    /// Every request is answered after this delay (so concurrent requests overlap).
    pub(crate) fn delay(&self, delay: Duration) {
        self.state.lock().unwrap().delay = delay;
    }

    /// The most requests that were being answered at the same time.
    pub(crate) fn max_in_flight(&self) -> usize {
        self.state.lock().unwrap().max_in_flight
    }

    /// `/register` answers after this delay (so concurrent registrations overlap).
    pub(crate) fn register_delay(&self, delay: Duration) {
        self.state.lock().unwrap().register_delay = delay;
    }
}

fn error(status: u16, errcode: &str, message: &str) -> (u16, Value) {
    (status, json!({"errcode": errcode, "error": message}))
}

/// The answers of the small homeserver.
struct Small(Arc<Mutex<State>>);

impl Respond for Small {
    fn respond<'a>(&'a self, request: &'a Recorded) -> BoxFuture<'a, Reply> {
        Box::pin(async move {
            let delay = {
                let mut state = self.0.lock().unwrap();
                state.in_flight += 1;
                state.max_in_flight = state.max_in_flight.max(state.in_flight);
                state.delay
            };
            tokio::time::sleep(delay).await;
            let reply = answer(&self.0, request).await;
            self.0.lock().unwrap().in_flight -= 1;
            reply
        })
    }
}

/// The refusal of a request made as a user the homeserver does not know, if it is one.
fn unknown_user(state: &Mutex<State>, acting: &str, asserted: bool) -> Option<(u16, Value)> {
    let localpart = acting.trim_start_matches('@').split(':').next().unwrap_or_default();
    let state = state.lock().unwrap();
    if state.registered.contains(localpart) {
        return None;
    }
    Some(match (state.profile, asserted) {
        (Profile::Synapse, true) => error(
            403,
            "M_FORBIDDEN",
            &format!("Application service has not registered this user ({acting})"),
        ),
        _ => error(403, "M_FORBIDDEN", "User does not exist"),
    })
}

async fn answer(state: &Mutex<State>, r: &Recorded) -> Reply {
    let segments: Vec<&str> = r.decoded_path.trim_start_matches('/').split('/').collect();
    let acting = r.user_id().unwrap_or(BOT).to_owned();
    let acts = matches!(
        (r.method.as_str(), segments.as_slice()),
        ("POST", [.., "join" | "invite" | "createRoom"]) | ("PUT", [.., "send", _, _])
    );
    if acts && let Some((status, body)) = unknown_user(state, &acting, r.user_id().is_some()) {
        return Reply::json(status, body);
    }
    let (status, body) = match (r.method.as_str(), segments.as_slice()) {
        ("POST", ["_matrix", "client", "v3", "register"]) => {
            let delay = state.lock().unwrap().register_delay;
            tokio::time::sleep(delay).await;
            let username = r.json()["username"].as_str().unwrap_or_default().to_owned();
            if state.lock().unwrap().registered.insert(username.clone()) {
                (
                    200,
                    json!({"user_id": format!("@{username}:example.org"), "home_server": "example.org"}),
                )
            } else {
                error(400, "M_USER_IN_USE", "User ID already taken.")
            }
        }
        ("GET", ["_matrix", "client", "v3", "account", "whoami"]) => {
            state.lock().unwrap().whoami.clone().unwrap_or((200, json!({"user_id": BOT})))
        }
        ("POST", ["_matrix", "client", "v3", "rooms", room, "join"]) => {
            let mut state = state.lock().unwrap();
            let invited = state.invited.contains(&(room.to_string(), acting.clone()));
            if invited || acting == BOT {
                state.joined.insert((room.to_string(), acting));
                (200, json!({"room_id": room}))
            } else {
                error(403, "M_FORBIDDEN", "You are not invited to this room.")
            }
        }
        ("POST", ["_matrix", "client", "v3", "rooms", room, "invite"]) => {
            let user = r.json()["user_id"].as_str().unwrap_or_default().to_owned();
            state.lock().unwrap().invited.insert((room.to_string(), user));
            (200, json!({}))
        }
        ("PUT", ["_matrix", "client", "v3", "rooms", room, "send", _, txn]) => {
            if room.starts_with("!forbidden") {
                error(403, "M_FORBIDDEN", "You may not send here.")
            } else if room.starts_with("!broken") {
                error(500, "M_UNKNOWN", "Internal server error")
            } else {
                (200, json!({"event_id": format!("$echo-of-{txn}")}))
            }
        }
        ("POST", ["_matrix", "client", "v3", "createRoom"]) => {
            (200, json!({"room_id": "!created"}))
        }
        ("POST", ["_matrix", "client", "v1", "appservice", _, "ping"]) => {
            let appservice = state.lock().unwrap().appservice.clone();
            let Some(url) = appservice else {
                return Reply::error(502, "M_CONNECTION_FAILED", "no appservice");
            };
            let started = Instant::now();
            let result = ping_back(&url, HS_TOKEN, r.body.clone()).await;
            let answered = result.as_ref().map_or(0, |(status, _)| *status);
            state.lock().unwrap().pinged_back.push(answered);
            return ping_reply(result, started);
        }
        _ => error(404, "M_UNRECOGNIZED", "Unrecognized request"),
    };
    Reply::json(status, body)
}
