//! The builder against a fake homeserver over real sockets: start-up order, the database beside
//! the registration, serving, the ping, composing with a router, draining, and start-up errors.

#![allow(clippy::unwrap_used)] // Test code: a panic is the failure report.

mod errors;
mod run;

/// The homeserver-to-appservice token of every test registration.
pub(crate) const HS_TOKEN: &str = "hs_token_of_the_facade_tests";
/// The appservice's token of every test registration.
pub(crate) const AS_TOKEN: &str = "as_token_of_the_facade_tests";

/// A registration for the appservice at `url` (or `null`).
pub(crate) fn registration_yaml(url: &str) -> String {
    format!(
        "id: facade\nurl: {url}\nas_token: {AS_TOKEN}\nhs_token: {HS_TOKEN}\n\
         sender_localpart: _facade_bot\nnamespaces:\n  users:\n    - exclusive: true\n      \
         regex: '^@_facade_.*:example\\.org$'\n"
    )
}

/// A small homeserver whose bot is the test registration's; its `whoami` fails with
/// `whoami_fails`.
pub(crate) async fn homeserver(whoami_fails: bool) -> appservice_fake_hs::SmallHomeserver {
    let homeserver = appservice_fake_hs::SmallHomeserver::start(
        appservice_fake_hs::Profile::Synapse,
        "@_facade_bot:example.org",
        HS_TOKEN,
    )
    .await
    .unwrap();
    if whoami_fails {
        homeserver.whoami(
            401,
            serde_json::json!({"errcode": "M_UNKNOWN_TOKEN", "error": "Unrecognised access token"}),
        );
    }
    homeserver
}

/// A port nobody listens on right now.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Sends a request; the status and body.
pub(crate) async fn call(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String) {
    let (status, body) = appservice_fake_hs::call(method, url, token, body).await.unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// One `m.room.message` event.
pub(crate) fn message(event_id: &str) -> serde_json::Value {
    serde_json::json!({
        "type": "m.room.message", "event_id": event_id, "room_id": "!room:example.org",
        "sender": "@alice:example.org", "origin_server_ts": 1,
        "content": {"msgtype": "m.text", "body": "hello"},
    })
}
