//! A loopback mock homeserver: a real HTTP/1.1 server on 127.0.0.1 that records every request
//! and answers like a (very small) homeserver: `/register` (with `M_USER_IN_USE` the second
//! time), joins that need an invite for virtual users, invites, sends, `createRoom`, `whoami`,
//! and the CS ping, which pings the appservice back first as Synapse does.

use std::{
    collections::{BTreeMap, BTreeSet},
    convert::Infallible,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use appservice_client::HyperTransport;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower::ServiceExt as _;

use crate::{BOT, HS_TOKEN};

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub(crate) struct Recorded {
    pub(crate) method: String,
    /// The path, percent-decoded.
    pub(crate) path: String,
    pub(crate) query: BTreeMap<String, String>,
    pub(crate) headers: http::HeaderMap,
    pub(crate) body: Bytes,
}

impl Recorded {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }

    /// The asserted user (`?user_id=`), if any.
    pub(crate) fn user_id(&self) -> Option<&str> {
        self.query.get("user_id").map(String::as_str)
    }
}

#[derive(Default)]
struct State {
    recorded: Vec<Recorded>,
    registered: BTreeSet<String>,
    invited: BTreeSet<(String, String)>,
    whoami: Option<(u16, Value)>,
    appservice: Option<String>,
    pinged_back: Vec<u16>,
    register_delay: Duration,
    delay: Duration,
    in_flight: usize,
    max_in_flight: usize,
}

/// The mock homeserver; its server task ends with the test's runtime.
#[derive(Clone)]
pub(crate) struct Homeserver {
    pub(crate) addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl Homeserver {
    pub(crate) async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let server_state = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let state = server_state.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(state.clone(), req));
                    let _ =
                        http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Self { addr, state }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// All requests so far.
    pub(crate) fn recorded(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().recorded.clone()
    }

    /// The requests to paths containing `needle`.
    pub(crate) fn requests_to(&self, needle: &str) -> Vec<Recorded> {
        self.recorded().into_iter().filter(|r| r.path.contains(needle)).collect()
    }

    /// Forgets the recorded requests.
    pub(crate) fn clear(&self) {
        self.state.lock().unwrap().recorded.clear();
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

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

fn error(status: u16, errcode: &str, message: &str) -> (u16, Value) {
    (status, json!({"errcode": errcode, "error": message}))
}

async fn handle(
    state: Arc<Mutex<State>>,
    request: http::Request<Incoming>,
) -> Result<http::Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let recorded = Recorded {
        method: parts.method.to_string(),
        path: decode(parts.uri.path()),
        query: url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect(),
        headers: parts.headers.clone(),
        body,
    };
    let delay = {
        let mut state = state.lock().unwrap();
        state.recorded.push(recorded.clone());
        state.in_flight += 1;
        state.max_in_flight = state.max_in_flight.max(state.in_flight);
        state.delay
    };
    tokio::time::sleep(delay).await;
    let (status, body) = answer(&state, &recorded).await;
    state.lock().unwrap().in_flight -= 1;
    let mut response = http::Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
    response
        .headers_mut()
        .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    Ok(response)
}

async fn answer(state: &Mutex<State>, r: &Recorded) -> (u16, Value) {
    let segments: Vec<&str> = r.path.trim_start_matches('/').split('/').collect();
    let acting = r.user_id().unwrap_or(BOT).to_owned();
    match (r.method.as_str(), segments.as_slice()) {
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
            let invited = state.lock().unwrap().invited.contains(&(room.to_string(), acting));
            if invited || r.user_id().is_none() {
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
            match appservice {
                Some(url) => {
                    let (status, body) = ping_back(&url, r.body.clone()).await;
                    let answered = if status == 200 {
                        200
                    } else {
                        body["status"].as_u64().unwrap_or(0) as u16
                    };
                    state.lock().unwrap().pinged_back.push(answered);
                    (status, body)
                }
                None => error(502, "M_CONNECTION_FAILED", "no appservice"),
            }
        }
        _ => error(404, "M_UNRECOGNIZED", "Unrecognized request"),
    }
}

/// Synapse's side of the CS ping: `POST /_matrix/app/v1/ping` to the appservice with the same
/// `transaction_id`, and `duration_ms` if it answered 200.
async fn ping_back(appservice: &str, body: Bytes) -> (u16, Value) {
    let request = http::Request::post(format!("{appservice}/_matrix/app/v1/ping"))
        .header("authorization", format!("Bearer {HS_TOKEN}"))
        .header("content-type", "application/json")
        .body(body)
        .unwrap();
    let transport = HyperTransport::new().unwrap();
    match transport.oneshot(request).await {
        Ok(response) if response.status() == 200 => (200, json!({"duration_ms": 7})),
        Ok(response) => (
            502,
            json!({"errcode": "M_BAD_STATUS", "error": "bad status", "status": response.status().as_u16()}),
        ),
        Err(e) => error(502, "M_CONNECTION_FAILED", &e.to_string()),
    }
}
