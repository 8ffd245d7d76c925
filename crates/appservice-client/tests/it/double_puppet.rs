//! Double puppeting through a second registration (`url: null`, non-exclusive namespace): real
//! users act through its `as_token` with `?user_id=`, and nobody is registered.

use appservice_client::{Secret, SendOptions};
use ruma_common::{owned_room_id, owned_user_id};
use ruma_events::room::message::RoomMessageEventContent;
use serde_json::json;

use crate::mock::{AS_TOKEN, MockHomeserver, Scripted, Sleeps};

const DOUBLE_PUPPET_TOKEN: &str = "double_puppet_token_for_tests_9c1e";

#[tokio::test]
async fn a_real_user_acts_through_the_double_puppet_token_without_registration() {
    let server = MockHomeserver::start(vec![
        Scripted::json(200, json!({"user_id": "@alice:example.org"})),
        Scripted::json(200, json!({"event_id": "$sent"})),
    ])
    .await;
    // Auto-registration on: the double puppet must still never register.
    let client = server.client(&Sleeps::default()).with_auto_register(true);
    let double_puppets = client.double_puppet(Secret::from(DOUBLE_PUPPET_TOKEN));
    let alice = double_puppets.intent(owned_user_id!("@alice:example.org"));
    assert_eq!(alice.whoami().await.unwrap().user_id, "@alice:example.org");
    let options = SendOptions::new().txn_id("remote-42".into());
    let text = RoomMessageEventContent::text_plain("sent from the remote app");
    alice.send_message_with(&owned_room_id!("!r:example.org"), &text, options).await.unwrap();

    let recorded = server.recorded();
    let seen: Vec<_> = recorded
        .iter()
        .map(|r| {
            (
                r.path.as_str(),
                r.query.get("user_id").map(String::as_str),
                r.headers["authorization"].to_str().unwrap().to_owned(),
            )
        })
        .collect();
    let bearer = format!("Bearer {DOUBLE_PUPPET_TOKEN}");
    assert_eq!(
        seen,
        [
            ("/_matrix/client/v3/account/whoami", Some("@alice:example.org"), bearer.clone()),
            (
                "/_matrix/client/v3/rooms/!r:example.org/send/m.room.message/remote-42",
                Some("@alice:example.org"),
                bearer
            ),
        ]
    );
    // The appservice's own client is unchanged.
    assert_eq!(client.bot_user_id().map(|u| u.as_str()), Some("@_irc_bot:example.org"));
    assert!(!format!("{double_puppets:?}").contains(DOUBLE_PUPPET_TOKEN));
    assert!(!format!("{double_puppets:?}").contains(AS_TOKEN));
}
