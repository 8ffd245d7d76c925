//! Webhook posts become puppet messages; Matrix messages are collected back once.

use appservice_fake_hs::Profile;
use serde_json::{Value, json};

use crate::{BOT, HS_TOKEN, Running, WEBHOOK_TOKEN, for_each_profile};

const PUPPET: &str = "@_webhook__alice:example.org";
const ROOM: &str = "!created:example.org";

fn post(id: &str, text: &str) -> String {
    json!({"username": "Alice", "text": text, "ts": 1_700_000_000_000_u64, "id": id}).to_string()
}

fn message(event_id: &str, sender: &str, room: &str, body: &str) -> Value {
    json!({
        "type": "m.room.message", "event_id": event_id, "room_id": room, "sender": sender,
        "origin_server_ts": 1_700_000_000_500_u64,
        "content": {"msgtype": "m.text", "body": body},
    })
}

fn transaction(profile: Profile, n: u64, events: &[Value]) -> (String, String) {
    let ids: Vec<&str> = events.iter().map(|e| e["event_id"].as_str().unwrap()).collect();
    let path = format!("/_matrix/app/v1/transactions/{}", profile.txn_id(n, &ids));
    (path, json!({"events": events}).to_string())
}

#[tokio::test]
async fn a_post_appears_once_as_the_puppet_with_its_timestamp() {
    for_each_profile(|profile| async move {
        let bridge = Running::start(profile).await;
        let (status, body) =
            bridge.call("POST", "/webhook/general", Some(WEBHOOK_TOKEN), &post("m1", "hi")).await;
        assert_eq!(status, 200, "{body}");
        let event_id = body["event_id"].as_str().unwrap().to_owned();
        let hs = &bridge.homeserver;
        assert_eq!(hs.alias("#_webhook_general:example.org").as_deref(), Some(ROOM));
        assert!(hs.joined(ROOM, PUPPET), "{profile:?}: the puppet joined (invited by the bot)");
        assert!(hs.is_registered("_webhook__alice"));
        assert_eq!(hs.displayname(PUPPET).as_deref(), Some("Alice"));
        let sent = hs.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!((sent[0].sender.as_str(), sent[0].room_id.as_str()), (PUPPET, ROOM));
        assert_eq!(sent[0].content["body"], "hi");
        assert_eq!(sent[0].ts, Some(1_700_000_000_000));

        // The same post again (the sender retried): the same send, deduplicated.
        let again =
            bridge.call("POST", "/webhook/general", Some(WEBHOOK_TOKEN), &post("m1", "hi")).await;
        assert_eq!(again.1["event_id"], event_id.as_str());
        assert_eq!(hs.sent().len(), 1);
        // Another post goes to the same room.
        let other =
            bridge.call("POST", "/webhook/general", Some(WEBHOOK_TOKEN), &post("m2", "ho")).await;
        assert_eq!(other.0, 200);
        assert_eq!(hs.sent().len(), 2);
        assert_eq!(hs.requests_to("/createRoom").len(), 1, "one room per channel");
        bridge.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_channel_whose_mapping_was_lost_adopts_the_room_of_its_alias() {
    let bridge = Running::start(Profile::Synapse).await;
    bridge.call("POST", "/webhook/general", Some(WEBHOOK_TOKEN), &post("m1", "hi")).await;
    bridge.forget_channel("general").await;
    let (status, body) =
        bridge.call("POST", "/webhook/general", Some(WEBHOOK_TOKEN), &post("m2", "ho")).await;
    assert_eq!(status, 200, "{body}");
    let rooms: Vec<String> = bridge.homeserver.sent().into_iter().map(|m| m.room_id).collect();
    assert_eq!(rooms, [ROOM, ROOM], "the second post went to the alias's room");
    assert_eq!(bridge.homeserver.requests_to("/directory/room/").len(), 1);
    bridge.stop().await;
}

#[tokio::test]
async fn bad_requests_get_matrix_shaped_errors() {
    let bridge = Running::start(Profile::Synapse).await;
    let cases = [
        ("/webhook/general", None, post("x", "y"), 401, "M_MISSING_TOKEN"),
        ("/webhook/general", Some("wrong"), post("x", "y"), 403, "M_FORBIDDEN"),
        ("/webhook/general", Some(WEBHOOK_TOKEN), "{".to_owned(), 400, "M_BAD_JSON"),
        ("/webhook/Not_A_Channel", Some(WEBHOOK_TOKEN), post("x", "y"), 400, "M_INVALID_PARAM"),
    ];
    for (path, token, body, status, errcode) in cases {
        let (got, answer) = bridge.call("POST", path, token, &body).await;
        assert_eq!((got, answer["errcode"].as_str()), (status, Some(errcode)), "{path} {answer}");
    }
    assert!(bridge.homeserver.sent().is_empty());
    bridge.stop().await;
}

#[tokio::test]
async fn matrix_messages_are_collected_back_once() {
    for_each_profile(|profile| async move {
        let bridge = Running::start(profile).await;
        bridge.call("POST", "/webhook/general", Some(WEBHOOK_TOKEN), &post("m1", "hi")).await;
        let events = [
            message("$reply", "@bob:example.org", ROOM, "hello Alice"),
            message("$echo", PUPPET, ROOM, "hi"),
            message("$elsewhere", "@bob:example.org", "!other:example.org", "not bridged"),
        ];
        let (path, body) = transaction(profile, 1, &events);
        let token = Some(HS_TOKEN);
        // Delivered, then retried (the homeserver missed our answer): recorded once.
        for _ in 0..2 {
            let (status, answer) = match profile {
                Profile::Synapse => bridge.call("PUT", &path, token, &body).await,
                _ => {
                    let path = format!("{path}?access_token={HS_TOKEN}");
                    bridge.call("PUT", &path, None, &body).await
                }
            };
            assert_eq!(status, 200, "{answer}");
        }
        let (status, collected) =
            bridge.call("GET", "/webhook/general/messages", Some(WEBHOOK_TOKEN), "").await;
        assert_eq!(status, 200);
        assert_eq!(
            collected,
            json!([{"event_id": "$reply", "sender": "@bob:example.org", "text": "hello Alice",
                    "ts": 1_700_000_000_500_u64}])
        );
        let later = "/webhook/general/messages?since=1700000000500";
        assert_eq!(bridge.call("GET", later, Some(WEBHOOK_TOKEN), "").await.1, json!([]));
        assert_eq!(bridge.call("GET", "/webhook/general/messages", None, "").await.0, 401);
        bridge.stop().await;
    })
    .await;
}

#[tokio::test]
async fn joining_a_channel_alias_creates_its_room() {
    let bridge = Running::start(Profile::Synapse).await;
    let query = "/_matrix/app/v1/rooms/%23_webhook_news:example.org";
    assert_eq!(bridge.call("GET", query, Some(HS_TOKEN), "").await.0, 200);
    assert_eq!(bridge.homeserver.alias("#_webhook_news:example.org").as_deref(), Some(ROOM));
    let creator = bridge.homeserver.requests_to("/createRoom")[0].user_id().map(str::to_owned);
    assert_eq!(creator, None, "created by the bot ({BOT}) without identity assertion");
    let invalid = "/_matrix/app/v1/rooms/%23_webhook_No:example.org";
    assert_eq!(bridge.call("GET", invalid, Some(HS_TOKEN), "").await.0, 404);
    bridge.stop().await;
}
