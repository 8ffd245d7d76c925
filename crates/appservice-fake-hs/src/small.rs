//! [`SmallHomeserver`]: a fake homeserver that answers like a (very small) real one of a
//! [`Profile`], for tests of whole appservices (the echo, the webhook bridge, the library's
//! builder).
//!
//! It knows: `/register` (`M_USER_IN_USE` the second time), `whoami` (the bot), joins that need
//! an invite for everyone but the bot, invites, `createRoom` (a new room each time, its alias
//! reserved: `M_ROOM_IN_USE` the second time), alias lookups, display names, sends (answered
//! with an event ID, deduplicated by transaction ID as Synapse does, each recorded as a
//! [`Sent`](SentMessage)), and the CS ping, which pings the appservice back first as Synapse
//! does. Rooms whose ID starts with `!forbidden` refuse sends with 403, `!broken` with 500.
//!
//! Users must be registered before they act: under [`Profile::Synapse`] the bot exists from the
//! start; under [`Profile::ConduitFamily`] it does not, and everything done as the bot answers
//! `403 M_FORBIDDEN "User does not exist"` until the appservice registers it. A virtual user
//! (`?user_id=`) that was not registered is refused too.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::{Duration, Instant},
};

use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::{FakeHomeserver, Profile, Recorded, Reply, Respond, ping_back, ping_reply};

/// One message a user sent, as the homeserver recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SentMessage {
    /// The room.
    pub room_id: String,
    /// Who sent it (the asserted user, else the bot).
    pub sender: String,
    /// The event type.
    pub event_type: String,
    /// The transaction ID of the send.
    pub txn_id: String,
    /// The `ts` query parameter, if any.
    pub ts: Option<u64>,
    /// The content.
    pub content: Value,
    /// The event ID it got.
    pub event_id: String,
}

struct State {
    profile: Profile,
    bot: String,
    server_name: String,
    hs_token: String,
    registered: BTreeSet<String>,
    joined: BTreeSet<(String, String)>,
    invited: BTreeSet<(String, String)>,
    aliases: BTreeMap<String, String>,
    displaynames: BTreeMap<String, String>,
    sent: Vec<SentMessage>,
    rooms_created: usize,
    whoami: Option<(u16, Value)>,
    appservice: Option<String>,
    pinged_back: Vec<u16>,
    register_delay: Duration,
    delay: Duration,
    in_flight: usize,
    max_in_flight: usize,
}

/// The small homeserver; its server task ends with the runtime it was started on.
#[derive(Clone)]
pub struct SmallHomeserver {
    server: FakeHomeserver,
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for SmallHomeserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmallHomeserver").field("server", &self.server).finish_non_exhaustive()
    }
}

impl SmallHomeserver {
    /// Starts one answering as `profile` does, whose appservice has the bot `bot`
    /// (`@localpart:server`; the server part is the homeserver's name) and sends `hs_token`.
    pub async fn start(profile: Profile, bot: &str, hs_token: &str) -> std::io::Result<Self> {
        let (localpart, server_name) =
            bot.trim_start_matches('@').split_once(':').unwrap_or((bot, "localhost"));
        let state = Arc::new(Mutex::new(State {
            profile,
            bot: bot.to_owned(),
            server_name: server_name.to_owned(),
            hs_token: hs_token.to_owned(),
            registered: profile.creates_bot().then(|| localpart.to_owned()).into_iter().collect(),
            joined: BTreeSet::new(),
            invited: BTreeSet::new(),
            aliases: BTreeMap::new(),
            displaynames: BTreeMap::new(),
            sent: Vec::new(),
            rooms_created: 0,
            whoami: None,
            appservice: None,
            pinged_back: Vec::new(),
            register_delay: Duration::ZERO,
            delay: Duration::ZERO,
            in_flight: 0,
            max_in_flight: 0,
        }));
        let server = FakeHomeserver::start(Small(Arc::clone(&state))).await?;
        Ok(Self { server, state })
    }

    /// The profile it answers as.
    pub fn profile(&self) -> Profile {
        self.state.lock().profile
    }

    /// Its base URL.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The recording server underneath.
    pub fn server(&self) -> &FakeHomeserver {
        &self.server
    }

    /// All requests so far.
    pub fn recorded(&self) -> Vec<Recorded> {
        self.server.recorded()
    }

    /// The requests to (decoded) paths containing `needle`.
    pub fn requests_to(&self, needle: &str) -> Vec<Recorded> {
        self.server.requests_to(needle)
    }

    /// Forgets the recorded requests.
    pub fn clear(&self) {
        self.server.clear();
    }

    /// Whether `user` joined `room` (a join answered 200, or created the room).
    pub fn joined(&self, room: &str, user: &str) -> bool {
        self.state.lock().joined.contains(&(room.to_owned(), user.to_owned()))
    }

    /// Whether the localpart is registered.
    pub fn is_registered(&self, localpart: &str) -> bool {
        self.state.lock().registered.contains(localpart)
    }

    /// The room an alias (`#a:server`) points to.
    pub fn alias(&self, alias: &str) -> Option<String> {
        self.state.lock().aliases.get(alias).cloned()
    }

    /// A user's display name.
    pub fn displayname(&self, user: &str) -> Option<String> {
        self.state.lock().displaynames.get(user).cloned()
    }

    /// The messages sent so far (a send repeated with the same transaction ID counts once).
    pub fn sent(&self) -> Vec<SentMessage> {
        self.state.lock().sent.clone()
    }

    /// Answers `whoami` with this instead of the bot.
    pub fn whoami(&self, status: u16, body: Value) {
        self.state.lock().whoami = Some((status, body));
    }

    /// The appservice's base URL, for the ping back.
    pub fn appservice(&self, url: String) {
        self.state.lock().appservice = Some(url);
    }

    /// The statuses of the appservice's answers to our pings back.
    pub fn pinged_back(&self) -> Vec<u16> {
        self.state.lock().pinged_back.clone()
    }

    /// Every request is answered after this delay (so concurrent requests overlap).
    pub fn delay(&self, delay: Duration) {
        self.state.lock().delay = delay;
    }

    /// The most requests that were being answered at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.state.lock().max_in_flight
    }

    /// `/register` answers after this delay (so concurrent registrations overlap).
    pub fn register_delay(&self, delay: Duration) {
        self.state.lock().register_delay = delay;
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
                let mut state = self.0.lock();
                state.in_flight += 1;
                state.max_in_flight = state.max_in_flight.max(state.in_flight);
                state.delay
            };
            tokio::time::sleep(delay).await;
            let reply = answer(&self.0, request).await;
            self.0.lock().in_flight -= 1;
            reply
        })
    }
}

/// The refusal of a request made as a user the homeserver does not know, if it is one.
fn unknown_user(state: &State, acting: &str, asserted: bool) -> Option<(u16, Value)> {
    let localpart = acting.trim_start_matches('@').split(':').next().unwrap_or_default();
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

async fn answer(shared: &Mutex<State>, r: &Recorded) -> Reply {
    let segments: Vec<&str> = r.decoded_path.trim_start_matches('/').split('/').collect();
    let acting = r.user_id().map_or_else(|| shared.lock().bot.clone(), str::to_owned);
    let acts = matches!(
        (r.method.as_str(), segments.as_slice()),
        ("POST", [.., "join" | "invite" | "createRoom"])
            | ("PUT", [.., "send", _, _])
            | ("PUT", [.., "profile", _, "displayname"])
    );
    if acts
        && let Some((status, body)) = unknown_user(&shared.lock(), &acting, r.user_id().is_some())
    {
        return Reply::json(status, body);
    }
    let (status, body) = match (r.method.as_str(), segments.as_slice()) {
        ("POST", ["_matrix", "client", "v3", "register"]) => {
            let delay = shared.lock().register_delay;
            tokio::time::sleep(delay).await;
            let username = r.json()["username"].as_str().unwrap_or_default().to_owned();
            let mut state = shared.lock();
            if state.registered.insert(username.clone()) {
                let server = state.server_name.clone();
                (200, json!({"user_id": format!("@{username}:{server}"), "home_server": server}))
            } else {
                error(400, "M_USER_IN_USE", "User ID already taken.")
            }
        }
        ("GET", ["_matrix", "client", "v3", "account", "whoami"]) => {
            let state = shared.lock();
            state.whoami.clone().unwrap_or_else(|| (200, json!({"user_id": state.bot})))
        }
        ("POST", ["_matrix", "client", "v3", "rooms", room, "join"]) => {
            let mut state = shared.lock();
            let invited = state.invited.contains(&((*room).to_owned(), acting.clone()));
            if invited || acting == state.bot {
                state.joined.insert(((*room).to_owned(), acting));
                (200, json!({"room_id": room}))
            } else {
                error(403, "M_FORBIDDEN", "You are not invited to this room.")
            }
        }
        ("POST", ["_matrix", "client", "v3", "rooms", room, "invite"]) => {
            let user = r.json()["user_id"].as_str().unwrap_or_default().to_owned();
            shared.lock().invited.insert(((*room).to_owned(), user));
            (200, json!({}))
        }
        ("PUT", ["_matrix", "client", "v3", "rooms", room, "send", event_type, txn]) => {
            send(&mut shared.lock(), r, room, event_type, txn, acting)
        }
        ("POST", ["_matrix", "client", "v3", "createRoom"]) => {
            create_room(&mut shared.lock(), r, acting)
        }
        ("GET", ["_matrix", "client", "v3", "directory", "room", alias]) => {
            match shared.lock().aliases.get(*alias) {
                Some(room) => (200, json!({"room_id": room, "servers": []})),
                None => error(404, "M_NOT_FOUND", "Room alias not found"),
            }
        }
        ("GET", ["_matrix", "client", "v3", "profile", user, "displayname"]) => {
            match shared.lock().displaynames.get(*user) {
                Some(name) => (200, json!({"displayname": name})),
                None => error(404, "M_NOT_FOUND", "Profile was not found"),
            }
        }
        ("PUT", ["_matrix", "client", "v3", "profile", user, "displayname"]) => {
            let name = r.json()["displayname"].as_str().unwrap_or_default().to_owned();
            shared.lock().displaynames.insert((*user).to_owned(), name);
            (200, json!({}))
        }
        ("POST", ["_matrix", "client", "v1", "appservice", _, "ping"]) => {
            let (appservice, hs_token) = {
                let state = shared.lock();
                (state.appservice.clone(), state.hs_token.clone())
            };
            let Some(url) = appservice else {
                return Reply::error(502, "M_CONNECTION_FAILED", "no appservice");
            };
            let started = Instant::now();
            let result = ping_back(&url, &hs_token, r.body.clone()).await;
            let answered = result.as_ref().map_or(0, |(status, _)| *status);
            shared.lock().pinged_back.push(answered);
            return ping_reply(result, started);
        }
        _ => error(404, "M_UNRECOGNIZED", "Unrecognized request"),
    };
    Reply::json(status, body)
}

/// A send: refused in the scripted rooms, else recorded once per (sender, transaction ID).
fn send(
    state: &mut State,
    r: &Recorded,
    room: &str,
    event_type: &str,
    txn: &str,
    sender: String,
) -> (u16, Value) {
    if room.starts_with("!forbidden") {
        return error(403, "M_FORBIDDEN", "You may not send here.");
    }
    if room.starts_with("!broken") {
        return error(500, "M_UNKNOWN", "Internal server error");
    }
    let event_id = format!("$echo-of-{txn}");
    let repeated = state.sent.iter().any(|m| m.sender == sender && m.txn_id == txn);
    if !repeated {
        state.sent.push(SentMessage {
            room_id: room.to_owned(),
            sender,
            event_type: event_type.to_owned(),
            txn_id: txn.to_owned(),
            ts: r.query.get("ts").and_then(|ts| ts.parse().ok()),
            content: r.json(),
            event_id: event_id.clone(),
        });
    }
    (200, json!({"event_id": event_id}))
}

/// `createRoom`: a new room (`!created` first, then `!created-N`), its alias reserved, the
/// creator joined.
fn create_room(state: &mut State, r: &Recorded, creator: String) -> (u16, Value) {
    let body = r.json();
    let room = match state.rooms_created {
        0 => format!("!created:{}", state.server_name),
        n => format!("!created-{n}:{}", state.server_name),
    };
    if let Some(name) = body["room_alias_name"].as_str() {
        let alias = format!("#{name}:{}", state.server_name);
        if state.aliases.contains_key(&alias) {
            return error(400, "M_ROOM_IN_USE", "Room alias already taken");
        }
        state.aliases.insert(alias, room.clone());
    }
    state.rooms_created += 1;
    state.joined.insert((room.clone(), creator));
    (200, json!({"room_id": room}))
}
