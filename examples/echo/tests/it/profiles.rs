//! Where the homeserver families differ toward the echo: each test names the row of the
//! profile table (`appservice_fake_hs::profile`) it guards, so a regression that only the
//! Conduit family would see fails here.

use appservice_fake_hs::Profile;
use serde_json::json;

use crate::{
    BOT, Echo, HS_TOKEN, echo::ROOM, echo::trace, for_each_profile, invite, message,
    mock::Homeserver,
};

/// Row "bot user": without its registration the bot cannot act on the Conduit family.
#[tokio::test]
async fn an_unregistered_bot_can_join_on_synapse_only() {
    for_each_profile(|profile| async move {
        let homeserver = Homeserver::start(profile).await;
        let echo = Echo::without_registering_the_bot(&homeserver, tempfile::tempdir().unwrap(), 0);
        // A refused join is permanent: the event is skipped and the transaction acknowledged.
        let events = vec![invite("$i1", ROOM, "@alice:example.org", BOT)];
        assert_eq!(echo.transaction(1, events).await, 200);
        assert_eq!(trace(&homeserver), [format!("POST /_matrix/client/v3/rooms/{ROOM}/join")]);
        match profile {
            Profile::Synapse => assert!(homeserver.joined(ROOM, BOT)),
            // 403 "User does not exist".
            Profile::ConduitFamily => assert!(!homeserver.joined(ROOM, BOT)),
        }
        // Registered as `run` does at start-up, the bot joins on both.
        let echo = Echo::start_with(&homeserver, echo.stop(), 0).await;
        assert_eq!(
            echo.transaction(2, vec![invite("$i2", "!b", "@a:example.org", BOT)]).await,
            200
        );
        assert!(homeserver.joined("!b", BOT));
    })
    .await;
}

/// Row "`hs_token`": the token in the header and in `?access_token=` at once is accepted.
#[tokio::test]
async fn the_token_in_the_header_and_the_query_is_accepted() {
    for_each_profile(|profile| async move {
        let homeserver = Homeserver::start(profile).await;
        let echo = Echo::start(&homeserver).await;
        let uri =
            Profile::ConduitFamily.authenticated_uri("/_matrix/app/v1/transactions/q1", HS_TOKEN);
        assert!(uri.ends_with(&format!("?access_token={HS_TOKEN}")), "{uri}");
        let event = message("$q", ROOM, "@alice:example.org", "!echo both", 1);
        let (status, body) = echo.request("PUT", &uri, Some(json!({"events": [event]}))).await;
        assert_eq!((status, body), (200, json!({})));
        assert_eq!(homeserver.requests_to("/send/").len(), 1, "and the echo worked");
        // A query token that is not the header's is refused (`AS-AUTH`): both are checked.
        let wrong =
            Profile::ConduitFamily.authenticated_uri("/_matrix/app/v1/transactions/q2", "x");
        assert_eq!(echo.request("PUT", &wrong, Some(json!({"events": []}))).await.0, 403);
    })
    .await;
}

/// Row "transaction IDs": a 43-character base64 ID, redelivered with the same ID (a Conduit
/// retry), is handled once.
#[tokio::test]
async fn a_base64_transaction_id_redelivered_is_handled_once() {
    for_each_profile(|profile| async move {
        let homeserver = Homeserver::start(profile).await;
        let echo = Echo::start_with(&homeserver, tempfile::tempdir().unwrap(), 0).await;
        let event = message("$b64", ROOM, "@alice:example.org", "!echo once", 1);
        let id = Profile::ConduitFamily.txn_id(1, &["$b64"]);
        assert_eq!(id.len(), 43);
        let path = format!("/_matrix/app/v1/transactions/{id}");
        for _ in 0..3 {
            let body = json!({"events": [event.clone()]});
            assert_eq!(echo.request("PUT", &path, Some(body)).await, (200, json!({})));
        }
        assert_eq!(homeserver.requests_to("/send/").len(), 1);
    })
    .await;
}

/// Row "ephemeral / to-device / MSC3202": the Conduit family sends none of those sections, and
/// the echo needs none of them.
#[tokio::test]
async fn transactions_without_ephemeral_sections_are_echoed() {
    for_each_profile(|profile| async move {
        let homeserver = Homeserver::start(profile).await;
        let echo = Echo::start(&homeserver).await;
        let body = json!({
            "events": [message("$e", ROOM, "@alice:example.org", "!echo plain", 1)],
            "ephemeral": [{"type": "m.typing", "room_id": ROOM, "content": {"user_ids": []}}],
            "de.sorunome.msc2409.to_device": [],
            "org.matrix.msc3202.device_lists": {"changed": [], "left": []},
        });
        let sent = profile.body(body.clone());
        match profile {
            Profile::Synapse => assert_eq!(sent, body),
            Profile::ConduitFamily => {
                let keys: Vec<&String> = sent.as_object().unwrap().keys().collect();
                assert_eq!(keys, ["events"]);
            }
        }
        assert_eq!(echo.transaction_body(1, body).await, 200);
        let sends = homeserver.requests_to("/send/");
        assert_eq!(sends.len(), 1);
        assert_eq!(sends[0].json()["body"], "plain");
    })
    .await;
}

/// Row "user query": the echo registers its users itself before they act, so it does not need
/// the homeserver to ask about them first (the Conduit family never asks; the mock refuses a
/// virtual user that was not registered).
#[tokio::test]
async fn virtual_users_are_registered_without_a_user_query() {
    for_each_profile(|profile| async move {
        let homeserver = Homeserver::start(profile).await;
        let echo = Echo::start(&homeserver).await;
        let event = message("$u", ROOM, "@zoe:example.org", "!echo unasked", 1);
        assert_eq!(echo.transaction(1, vec![event]).await, 200);
        let trace = trace(&homeserver);
        assert_eq!(trace[0], "POST /_matrix/client/v3/register", "{trace:#?}");
        let sends = homeserver.requests_to("/send/");
        assert_eq!(sends.len(), 1, "{trace:#?}");
        assert_eq!(sends[0].user_id(), Some("@_echo_zoe:example.org"));
    })
    .await;
}

/// Row "other users' events": the Conduit family leaks `unsigned.transaction_id` on events
/// of other senders. The echo decides "is this ours" by the sender alone (its namespace), so a
/// stranger's event that carries a transaction ID like ours is still echoed, and our own
/// user's event without one is still not.
#[tokio::test]
async fn ours_is_decided_by_the_sender_not_by_unsigned_transaction_id() {
    for_each_profile(|profile| async move {
        let homeserver = Homeserver::start(profile).await;
        let echo = Echo::start(&homeserver).await;
        let mut stranger = message("$s", ROOM, "@alice:example.org", "!echo leaked", 1);
        stranger["unsigned"] = json!({"transaction_id": "echo-.24s"});
        let ours = message("$o", ROOM, "@_echo_alice:example.org", "!echo mine", 2);
        assert_eq!(echo.transaction(1, vec![stranger, ours]).await, 200);
        let sends = homeserver.requests_to("/send/");
        assert_eq!(sends.len(), 1, "{:#?}", trace(&homeserver));
        assert_eq!(sends[0].json()["body"], "leaked");
    })
    .await;
}
