//! The caches the bridge can invalidate: registrations forgotten, memberships marked from what
//! the bridge learnt (member events), invites remembered by `ensure_invited`.

use appservice_client::ruma_events::room::member::MembershipState;
use ruma_common::{owned_room_id, owned_user_id};
use serde_json::json;

use crate::mock::{MockHomeserver, Scripted, Sleeps};

fn paths(server: &MockHomeserver) -> Vec<String> {
    server.recorded().iter().map(|r| format!("{} {}", r.method, r.path)).collect()
}

#[tokio::test]
async fn a_forgotten_registration_is_registered_again() {
    let server = MockHomeserver::start(vec![]).await;
    server.fallback(Scripted::json(200, json!({"user_id": "@_irc_alice:example.org"})));
    let client = server.client(&Sleeps::default());
    let alice = owned_user_id!("@_irc_alice:example.org");
    client.ensure_registered(&alice).await.unwrap();
    client.ensure_registered(&alice).await.unwrap();
    assert_eq!(server.recorded().len(), 1);
    // E.g. the account was deactivated and the bridge wants it back.
    client.intent(alice.clone()).forget_registration().await;
    assert!(!client.is_registered(&alice).await);
    client.ensure_registered(&alice).await.unwrap();
    assert_eq!(paths(&server), ["POST /_matrix/client/v3/register"; 2]);
}

#[tokio::test]
async fn marked_memberships_decide_whether_ensure_joined_joins() {
    let server = MockHomeserver::start(vec![]).await;
    server.fallback(Scripted::json(200, json!({"room_id": "!r:example.org"})));
    let client = server.client(&Sleeps::default());
    let alice_id = owned_user_id!("@_irc_alice:example.org");
    let alice = client.intent(alice_id.clone());
    let room = owned_room_id!("!r:example.org");

    // A join seen in a transaction: nothing to do.
    client.mark_membership(&room, &alice_id, &MembershipState::Join).await;
    alice.ensure_joined(&room).await.unwrap();
    assert!(server.recorded().is_empty());

    // A kick seen in a transaction: the next ensure_joined joins.
    client.mark_membership(&room, &alice_id, &MembershipState::Leave).await;
    alice.ensure_joined(&room).await.unwrap();
    alice.ensure_joined(&room).await.unwrap();
    assert_eq!(paths(&server), ["POST /_matrix/client/v3/rooms/!r:example.org/join"]);

    // Forgotten by the bridge: joins again.
    alice.forget_membership(&room).await;
    alice.ensure_joined(&room).await.unwrap();
    assert_eq!(server.recorded().len(), 2);
}

#[tokio::test]
async fn ensure_invited_remembers_invites_and_marked_ones() {
    let server = MockHomeserver::start(vec![]).await;
    server.fallback(Scripted::json(200, json!({})));
    let client = server.client(&Sleeps::default());
    let bot = client.bot().unwrap();
    let room = owned_room_id!("!r:example.org");
    let alice = owned_user_id!("@alice:example.org");
    let carol = owned_user_id!("@carol:example.org");

    bot.ensure_invited(&room, &alice).await.unwrap();
    bot.ensure_invited(&room, &alice).await.unwrap();
    assert_eq!(server.recorded().len(), 1, "the invite is remembered");

    client.mark_membership(&room, &carol, &MembershipState::Invite).await;
    bot.ensure_invited(&room, &carol).await.unwrap();
    assert_eq!(server.recorded().len(), 1, "an invite seen in a transaction counts");

    // Carol refused (leave): she is invited again.
    client.mark_membership(&room, &carol, &MembershipState::Leave).await;
    bot.ensure_invited(&room, &carol).await.unwrap();
    assert_eq!(server.recorded().len(), 2);
    assert_eq!(server.recorded()[1].json(), json!({"user_id": "@carol:example.org"}));
}

#[tokio::test]
async fn an_invite_that_finds_the_user_in_the_room_marks_it_joined() {
    let server = MockHomeserver::start(vec![Scripted::json(
        403,
        json!({"errcode": "M_FORBIDDEN", "error": "@alice:example.org is already in the room."}),
    )])
    .await;
    let client = server.client(&Sleeps::default());
    let bot = client.bot().unwrap();
    let room = owned_room_id!("!r:example.org");
    let alice = owned_user_id!("@alice:example.org");
    bot.ensure_invited(&room, &alice).await.unwrap();
    bot.ensure_invited(&room, &alice).await.unwrap();
    assert_eq!(server.recorded().len(), 1);
}

#[tokio::test]
async fn other_refused_invites_are_errors() {
    let server = MockHomeserver::start(vec![Scripted::json(
        403,
        json!({"errcode": "M_FORBIDDEN", "error": "You don't have permission to invite users"}),
    )])
    .await;
    let client = server.client(&Sleeps::default());
    let bot = client.bot().unwrap();
    let e = bot
        .ensure_invited(&owned_room_id!("!r:example.org"), &owned_user_id!("@alice:example.org"))
        .await
        .unwrap_err();
    assert!(e.is(&appservice_client::ErrorCode::FORBIDDEN));
}
