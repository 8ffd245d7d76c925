//! The echo's behaviour, request by request, against the mock homeserver, under every
//! homeserver profile.

use std::time::Duration;

use serde_json::json;

use appservice_fake_hs::Profile;

use crate::{BOT, Echo, for_each_profile, invite, message, mock::Homeserver};

pub(crate) const ROOM: &str = "!0AM4I6wXa7WaXlGazh6Asetqxr5jwdsw4MoHqnTgw9U";

/// What the mock saw, as `METHOD path?user_id` lines (whoami and pings left out).
pub(crate) fn trace(homeserver: &Homeserver) -> Vec<String> {
    homeserver
        .recorded()
        .iter()
        .map(|r| match r.user_id() {
            Some(user) => format!("{} {} as {user}", r.method, r.decoded_path),
            None => format!("{} {}", r.method, r.decoded_path),
        })
        .collect()
}

#[tokio::test]
async fn the_bot_joins_rooms_it_is_invited_to() {
    for_each_profile(|profile| async move {
        let homeserver = Homeserver::start(profile).await;
        let echo = Echo::start(&homeserver).await;
        let events = vec![
            invite("$i1", ROOM, "@alice:example.org", BOT),
            // Someone else's invite is none of the bot's business.
            invite("$i2", "!other", "@alice:example.org", "@carol:example.org"),
        ];
        assert_eq!(echo.transaction(1, events).await, 200);
        assert_eq!(trace(&homeserver), [format!("POST /_matrix/client/v3/rooms/{ROOM}/join")]);
        let join = &homeserver.recorded()[0];
        assert_eq!(join.headers["authorization"], format!("Bearer {}", crate::AS_TOKEN));
        assert!(!join.query.contains_key("access_token"));
    })
    .await;
}

#[tokio::test]
async fn echo_registers_joins_and_sends_a_notice_with_ts_and_a_derived_txn_id() {
    for_each_profile(|profile| async move {
        let homeserver = Homeserver::start(profile).await;
        let echo = Echo::start(&homeserver).await;
        let event =
            message("$ev1:example.org", ROOM, "@alice:example.org", "!echo hello", 1_600_000_000_123);
        assert_eq!(echo.transaction(1, vec![event]).await, 200);

        let alice = "@_echo_alice:example.org";
        assert_eq!(
            trace(&homeserver),
            [
                "POST /_matrix/client/v3/register".to_owned(),
                // Not invited yet: 403, so the bot invites and the user joins again.
                format!("POST /_matrix/client/v3/rooms/{ROOM}/join as {alice}"),
                format!("POST /_matrix/client/v3/rooms/{ROOM}/invite"),
                format!("POST /_matrix/client/v3/rooms/{ROOM}/join as {alice}"),
                format!(
                    "PUT /_matrix/client/v3/rooms/{ROOM}/send/m.room.message/echo-.24ev1.3aexample.2eorg as {alice}"
                ),
            ]
        );
        let recorded = homeserver.recorded();
        assert_eq!(
            recorded[0].json(),
            json!({"type": "m.login.application_service", "username": "_echo_alice", "inhibit_login": true})
        );
        assert_eq!(recorded[2].json(), json!({"user_id": alice}));
        let send = &recorded[4];
        assert_eq!(send.query.get("ts").map(String::as_str), Some("1600000000123"));
        assert_eq!(send.json(), json!({"msgtype": "m.notice", "body": "hello"}));
    })
    .await;
}

#[tokio::test]
async fn a_redelivered_event_is_sent_with_the_same_txn_id() {
    for_each_profile(|profile| async move {
        let homeserver = Homeserver::start(profile).await;
        let echo = Echo::start(&homeserver).await;
        let event = message("$ev1", ROOM, "@alice:example.org", "!echo once", 1_600_000_000_000);
        assert_eq!(echo.transaction(1, vec![event.clone()]).await, 200);

        // The same transaction again: recorded in the store, so the handler does not run.
        assert_eq!(echo.transaction(1, vec![event.clone()]).await, 200);
        assert_eq!(homeserver.requests_to("/send/").len(), 1);

        // A restart with the same store: the recorded transaction is still not handled again.
        let store = echo.stop();
        let echo = Echo::start_with(&homeserver, store, 0).await;
        assert_eq!(echo.transaction(1, vec![event.clone()]).await, 200);
        assert_eq!(homeserver.requests_to("/send/").len(), 1);

        // The event in the homeserver's next transaction (it lost track of it, or we crashed
        // before the store recorded it).
        assert_eq!(echo.transaction(2, vec![event]).await, 200);
        let sends = homeserver.requests_to("/send/");
        match profile {
            // A new ID: handled again, with the same send transaction ID, which the homeserver
            // deduplicates.
            Profile::Synapse => {
                assert_eq!(sends.len(), 2);
                assert_eq!(sends[0].decoded_path, sends[1].decoded_path);
            }
            // The ID is the hash of the events: the same transaction, already recorded.
            Profile::ConduitFamily => {
                assert_eq!(
                    echo.txn_id(2, &json!([{"event_id": "$ev1"}])),
                    echo.txn_id(1, &json!([{"event_id": "$ev1"}]))
                );
                assert_eq!(sends.len(), 1);
            }
        }
        assert!(
            sends[0].decoded_path.ends_with("/send/m.room.message/echo-.24ev1"),
            "{}",
            sends[0].decoded_path
        );

        // Another event: another transaction ID.
        let other = message("$ev2", ROOM, "@alice:example.org", "!echo twice", 1_600_000_000_001);
        assert_eq!(echo.transaction(3, vec![other]).await, 200);
        let sends = homeserver.requests_to("/send/");
        let last = &sends[sends.len() - 1];
        assert!(last.decoded_path.ends_with("/echo-.24ev2"), "{}", last.decoded_path);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_echoes_from_one_sender_register_the_user_once() {
    for_each_profile(|profile| async move {
        let homeserver = Homeserver::start(profile).await;
        homeserver.register_delay(Duration::from_millis(100));
        homeserver.delay(Duration::from_millis(20));
        let echo = Echo::start(&homeserver).await;
        // One message from bob in each room of `rooms`.
        let in_rooms = |rooms: std::ops::Range<usize>| -> Vec<_> {
            rooms
                .map(|i| {
                    let (id, room) = (format!("$e{i}"), format!("!room{i}"));
                    message(&id, &room, "@bob:example.org", &format!("!echo {i}"), 1)
                })
                .collect()
        };
        // Ten rooms: the dispatcher handles rooms concurrently, so the ten echoes race; and a
        // second transaction, concurrently, in ten more rooms.
        let (a, b) = tokio::join!(
            echo.transaction(1, in_rooms(0..10)),
            echo.transaction(2, in_rooms(10..20))
        );
        assert_eq!((a, b), (200, 200));
        assert_eq!(homeserver.requests_to("/register").len(), 1, "{:#?}", trace(&homeserver));
        let sends = homeserver.requests_to("/send/");
        assert_eq!(sends.len(), 20);
        assert!(sends.iter().all(|s| s.user_id() == Some("@_echo_bob:example.org")));
        // The echoes of different rooms really ran at the same time.
        assert!(homeserver.max_in_flight() > 1, "the echoes ran one after the other");
    })
    .await;
}

#[tokio::test]
async fn our_own_users_notices_and_other_messages_are_not_echoed() {
    for_each_profile(|profile| async move {
        let homeserver = Homeserver::start(profile).await;
        let echo = Echo::start(&homeserver).await;
        let mut notice = message("$n", ROOM, "@alice:example.org", "!echo hi", 1);
        notice["content"]["msgtype"] = json!("m.notice");
        let events = vec![
            message("$a", ROOM, "@_echo_alice:example.org", "!echo loop", 1),
            message("$b", ROOM, BOT, "!echo loop", 1),
            notice,
            message("$c", ROOM, "@alice:example.org", "hello", 1),
            message("$d", ROOM, "@alice:example.org", "!echo", 1),
            message("$e", ROOM, "@alice:example.org", "!echo ", 1),
            json!({"type": "m.room.message", "event_id": "$f", "room_id": ROOM, "sender": "@alice:example.org",
                   "origin_server_ts": 1, "content": {"body": 42}}),
            json!({"not": "an event"}),
        ];
        assert_eq!(echo.transaction(1, events).await, 200);
        assert_eq!(trace(&homeserver), Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn senders_are_mapped_to_valid_distinct_virtual_users() {
    for_each_profile(|profile| async move {
        let homeserver = Homeserver::start(profile).await;
        let echo = Echo::start(&homeserver).await;
        let events = vec![
            message("$1", ROOM, "@Alice:example.org", "!echo upper", 1),
            message("$2", ROOM, "@alice:other.example", "!echo remote", 1),
        ];
        assert_eq!(echo.transaction(1, events).await, 200);
        let users: Vec<_> = homeserver
            .requests_to("/send/")
            .iter()
            .map(|s| s.user_id().unwrap().to_owned())
            .collect();
        assert_eq!(users, ["@_echo__alice:example.org", "@_echo_alice:example.org"]);
    })
    .await;
}

#[tokio::test]
async fn a_failed_event_fails_the_transaction_and_the_retry_echoes_once() {
    for_each_profile(|profile| async move {
        let homeserver = Homeserver::start(profile).await;
        let echo = Echo::start_with(&homeserver, tempfile::tempdir().unwrap(), 1).await;
        let event = message("$ev", ROOM, "@alice:example.org", "!echo retried", 1);
        assert_eq!(echo.transaction(7, vec![event.clone()]).await, 500);
        assert!(homeserver.recorded().is_empty());
        assert_eq!(echo.transaction(7, vec![event]).await, 200);
        assert_eq!(homeserver.requests_to("/send/").len(), 1);
    })
    .await;
}

#[tokio::test]
async fn a_permanent_refusal_skips_the_event_and_a_transient_failure_fails_it() {
    for_each_profile(|profile| async move {
        let homeserver = Homeserver::start(profile).await;
        let echo = Echo::start(&homeserver).await;
        // The mock refuses sends in `!forbidden…` rooms with 403 M_FORBIDDEN: retrying cannot help,
        // so the event is skipped and the transaction acknowledged (else it would block the others).
        let refused = message("$r", "!forbidden", "@alice:example.org", "!echo no", 1);
        assert_eq!(echo.transaction(1, vec![refused]).await, 200);
        // `!broken…` rooms answer 500: the transaction fails, and the homeserver will retry it.
        let broken = message("$b", "!broken", "@alice:example.org", "!echo later", 1);
        assert_eq!(echo.transaction(2, vec![broken]).await, 500);
        assert_eq!(homeserver.requests_to("/send/").len(), 2);
    })
    .await;
}

#[tokio::test]
async fn user_queries_register_our_users_only() {
    for_each_profile(|profile| async move {
        let homeserver = Homeserver::start(profile).await;
        let echo = Echo::start(&homeserver).await;
        let (status, body) =
            echo.request("GET", "/_matrix/app/v1/users/%40_echo_x%3Aexample.org", None).await;
        assert_eq!((status, body), (200, json!({})));
        assert_eq!(trace(&homeserver), ["POST /_matrix/client/v3/register"]);
        assert_eq!(homeserver.recorded()[0].json()["username"], "_echo_x");

        homeserver.clear();
        let (status, body) =
            echo.request("GET", "/_matrix/app/v1/users/@other:example.org", None).await;
        assert_eq!(status, 404);
        assert_eq!(body["errcode"], "M_NOT_FOUND");
        let (status, _) =
            echo.request("GET", "/_matrix/app/v1/users/@_echo_x:other.example", None).await;
        assert_eq!(status, 404, "users of other servers are not ours");
        assert!(homeserver.recorded().is_empty(), "no Client-Server call");
    })
    .await;
}

#[tokio::test]
async fn alias_queries_create_a_public_room() {
    for_each_profile(|profile| async move {
        let homeserver = Homeserver::start(profile).await;
        let echo = Echo::start(&homeserver).await;
        let (status, body) =
            echo.request("GET", "/_matrix/app/v1/rooms/%23_echo_lobby%3Aexample.org", None).await;
        assert_eq!((status, body), (200, json!({})));
        assert_eq!(trace(&homeserver), ["POST /_matrix/client/v3/createRoom"]);
        let create = homeserver.recorded()[0].json();
        assert_eq!(create["room_alias_name"], "_echo_lobby");
        assert_eq!(create["preset"], "public_chat");
        assert_eq!(create["visibility"], "public");

        homeserver.clear();
        for alias in
            ["%23lobby%3Aexample.org", "%23_echo_%3Aexample.org", "%23_echo_x%3Aother.example"]
        {
            let (status, _) =
                echo.request("GET", &format!("/_matrix/app/v1/rooms/{alias}"), None).await;
            assert_eq!(status, 404, "{alias}");
        }
        assert!(homeserver.recorded().is_empty());
    })
    .await;
}

#[tokio::test]
async fn ephemeral_data_pings_and_health() {
    for_each_profile(|profile| async move {
        let homeserver = Homeserver::start(profile).await;
        let echo = Echo::start(&homeserver).await;
        let body = json!({
            "events": [],
            "ephemeral": [
                {"type": "m.typing", "room_id": ROOM, "content": {"user_ids": ["@bob:example.org"]}},
                {"type": "m.receipt", "room_id": ROOM,
                 "content": {"$e": {"m.read": {"@bob:example.org": {"ts": 1}}}}},
                {"type": "m.presence", "sender": "@bob:example.org", "content": {"presence": "online"}},
            ],
        });
        // Only Synapse sends an ephemeral-only transaction; the Conduit family would send none
        // (`transaction_body` leaves the sections out: `{"events": []}`), and the echo accepts
        // either.
        assert_eq!(echo.transaction_body(1, body).await, 200);

        let (status, _) =
            echo.request("POST", "/_matrix/app/v1/ping", Some(json!({"transaction_id": "p1"}))).await;
        assert_eq!(status, 200);
        assert!(echo.handler.ping_tracker().take("p1"));

        for path in ["/_matrix/mau/live", "/_matrix/mau/ready"] {
            assert_eq!(echo.request("GET", path, None).await.0, 200, "{path}");
        }
        assert!(homeserver.recorded().is_empty());
    })
    .await;
}
