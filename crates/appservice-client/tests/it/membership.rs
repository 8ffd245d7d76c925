//! `ensure_joined`: join, else invite through the bot and join again; memberships cached.

use appservice_client::StateStore;
use ruma_common::{owned_room_id, owned_user_id};
use serde_json::json;

use crate::mock::{MockHomeserver, Scripted, Sleeps};

#[tokio::test]
async fn ensure_joined_invites_through_the_bot_and_caches() {
    let server = MockHomeserver::start(vec![
        Scripted::json(
            403,
            json!({"errcode": "M_FORBIDDEN", "error": "You are not invited to this room."}),
        ),
        Scripted::json(200, json!({})),
        Scripted::json(200, json!({"room_id": "!r:example.org"})),
    ])
    .await;
    let client = server.client(&Sleeps::default());
    let alice = client.intent(owned_user_id!("@_irc_alice:example.org"));
    let room = owned_room_id!("!r:example.org");
    alice.ensure_joined(&room).await.unwrap();
    alice.ensure_joined(&room).await.unwrap();
    let r = server.recorded();
    let calls: Vec<_> = r
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str(), r.query.get("user_id").cloned()))
        .collect();
    assert_eq!(
        calls,
        [
            (
                "POST",
                "/_matrix/client/v3/rooms/!r:example.org/join",
                Some("@_irc_alice:example.org".to_owned())
            ),
            ("POST", "/_matrix/client/v3/rooms/!r:example.org/invite", None),
            (
                "POST",
                "/_matrix/client/v3/rooms/!r:example.org/join",
                Some("@_irc_alice:example.org".to_owned())
            ),
        ]
    );
    assert_eq!(r[1].json(), json!({"user_id": "@_irc_alice:example.org"}));

    // Leaving forgets the membership.
    server.fallback(Scripted::json(200, json!({"room_id": "!r:example.org"})));
    alice.leave(&room, None).await.unwrap();
    alice.ensure_joined(&room).await.unwrap();
    assert_eq!(server.recorded().len(), 5);
}

#[tokio::test]
async fn ensure_joined_returns_other_errors() {
    let server = MockHomeserver::start(vec![Scripted::json(
        404,
        json!({"errcode": "M_NOT_FOUND", "error": "No such room"}),
    )])
    .await;
    let client = server.client(&Sleeps::default());
    let alice = client.intent(owned_user_id!("@_irc_alice:example.org"));
    let err = alice.ensure_joined(&owned_room_id!("!r:example.org")).await.unwrap_err();
    assert!(err.is(&appservice_client::ErrorCode::NOT_FOUND));
    assert_eq!(server.recorded().len(), 1);
}

#[tokio::test]
async fn a_forbidden_send_forgets_the_membership_so_the_next_ensure_joined_joins_again() {
    // A puppet kicked while the appservice did not see it: the cached join is wrong.
    let forbidden = json!({"errcode": "M_FORBIDDEN", "error": "User not in room"});
    let server = MockHomeserver::start(vec![
        Scripted::json(200, json!({"room_id": "!r:example.org"})),
        Scripted::json(403, forbidden),
        Scripted::json(200, json!({"room_id": "!r:example.org"})),
        Scripted::json(200, json!({"event_id": "$sent"})),
    ])
    .await;
    let client = server.client(&Sleeps::default());
    let alice = client.intent(owned_user_id!("@_irc_alice:example.org"));
    let room = owned_room_id!("!r:example.org");
    let text = ruma_events::room::message::RoomMessageEventContent::text_plain("hi");
    alice.ensure_joined(&room).await.unwrap();
    let e = alice.send_message(&room, &text).await.unwrap_err();
    assert!(e.is(&appservice_types::ErrorCode::FORBIDDEN));
    alice.ensure_joined(&room).await.unwrap();
    alice.send_message(&room, &text).await.unwrap();
    let paths: Vec<String> = server.recorded().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths.iter().filter(|p| p.ends_with("/join")).count(), 2, "{paths:?}");
}

#[tokio::test]
async fn the_state_store_decides_what_is_known_and_profiles_are_set_once() {
    let server = MockHomeserver::start(vec![]).await;
    server.fallback(Scripted::json(200, json!({})));
    let store = std::sync::Arc::new(appservice_client::MemoryState::default());
    let alice_id = owned_user_id!("@_irc_alice:example.org");
    let room = owned_room_id!("!r:example.org");
    // Known from an earlier run (a persistent store): no /register, no /join.
    store.set_registered(&alice_id).await.unwrap();
    store.set_joined(&room, &alice_id, true).await.unwrap();
    let client = server.client(&Sleeps::default()).with_state_store(store.clone());
    let alice = client.intent(alice_id.clone());
    alice.ensure_registered().await.unwrap();
    alice.ensure_joined(&room).await.unwrap();
    assert!(server.recorded().is_empty());

    alice.ensure_displayname("Alice").await.unwrap();
    alice.ensure_displayname("Alice").await.unwrap();
    alice.ensure_displayname("Alice B").await.unwrap();
    let puts = server.recorded().iter().filter(|r| r.path.ends_with("/displayname")).count();
    assert_eq!(puts, 2);
    assert_eq!(store.profile(&alice_id).await.unwrap().displayname.as_deref(), Some("Alice B"));
}

#[tokio::test]
async fn room_ids_without_a_server_part_work_everywhere() {
    // Room version 12: the room ID is the create event's hash, with no `:server`.
    let room_id = "!Zm9vYmFyYmF6cXV4cXV1eHh5enp5MTIzNDU2Nzg";
    let server = MockHomeserver::start(vec![
        Scripted::json(200, json!({"room_id": room_id})),
        Scripted::json(200, json!({"room_id": room_id})),
        Scripted::json(200, json!({"event_id": "$sent"})),
    ])
    .await;
    let client = server.client(&Sleeps::default());
    let bot = client.bot().unwrap();
    let room = appservice_client::BridgeRoom::new()
        .room_version(ruma_common::RoomVersionId::V12)
        .power_level(owned_user_id!("@_irc_alice:example.org"), 50.into());
    let created = bot.create_bridge_room(&room).await.unwrap();
    assert_eq!(created.as_str(), room_id);
    assert_eq!(created.server_name(), None);
    let alice = client.intent(owned_user_id!("@_irc_alice:example.org"));
    alice.ensure_joined(&created).await.unwrap();
    alice.ensure_joined(&created).await.unwrap();
    let text = ruma_events::room::message::RoomMessageEventContent::text_plain("hi");
    alice.send_message(&created, &text).await.unwrap();
    let paths: Vec<String> = server.recorded().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths[1], format!("/_matrix/client/v3/rooms/{room_id}/join"));
    assert!(
        paths[2].starts_with(&format!("/_matrix/client/v3/rooms/{room_id}/send/")),
        "{paths:?}"
    );
    assert_eq!(paths.len(), 3);
}
