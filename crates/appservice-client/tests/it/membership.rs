//! `ensure_joined`: join, else invite through the bot and join again; memberships cached.

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
