//! Single-flight `ensure_registered` (checklist [CS-REG-1](https://spec.matrix.org/v1.19/application-service-api/#server-admin-style-permissions)/9): one `/register` for 100 concurrent
//! callers; `M_USER_IN_USE` is success; errors are not cached.

use std::time::Duration;

use appservice_client::ErrorCode;
use ruma_common::owned_user_id;
use serde_json::json;

use crate::mock::{MockHomeserver, Scripted, Sleeps};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundred_concurrent_calls_make_one_request() {
    let server = MockHomeserver::start(vec![]).await;
    server
        .fallback(Scripted::json(200, json!({"user_id": "@_irc_alice:example.org"})))
        .delay(Duration::from_millis(200));
    let client = server.client(&Sleeps::default());
    let alice = owned_user_id!("@_irc_alice:example.org");
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let client = client.clone();
            let alice = alice.clone();
            tokio::spawn(async move { client.ensure_registered(&alice).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(server.recorded().len(), 1, "one /register for 100 concurrent callers");
    assert!(client.is_registered(&alice).await);
    // Cached: no more requests.
    client.ensure_registered(&alice).await.unwrap();
    client.intent(alice.clone()).ensure_registered().await.unwrap();
    assert_eq!(server.recorded().len(), 1);
    let body = server.recorded()[0].json();
    assert_eq!(
        body,
        json!({"type": "m.login.application_service", "username": "_irc_alice", "inhibit_login": true})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_callers_share_a_failure_and_it_is_not_cached() {
    let server = MockHomeserver::start(vec![Scripted::json(
        400,
        json!({"errcode": "M_EXCLUSIVE", "error": "Invalid user localpart for this application service."}),
    )])
    .await;
    server.delay(Duration::from_millis(200));
    let client = server.client(&Sleeps::default());
    let bob = owned_user_id!("@bob:example.org");
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let client = client.clone();
            let bob = bob.clone();
            tokio::spawn(async move { client.ensure_registered(&bob).await })
        })
        .collect();
    for task in tasks {
        let err = task.await.unwrap().unwrap_err();
        assert!(err.is(&ErrorCode::EXCLUSIVE), "{err}");
        assert_eq!(err.status().map(|s| s.as_u16()), Some(400));
    }
    assert_eq!(server.recorded().len(), 1, "the failure is shared by the concurrent callers");
    assert!(!client.is_registered(&bob).await);
    // Not cached: the next call asks again (and now the script says 200).
    server.fallback(Scripted::json(200, json!({"user_id": "@bob:example.org"})));
    client.ensure_registered(&bob).await.unwrap();
    assert_eq!(server.recorded().len(), 2);
}

#[tokio::test]
async fn user_in_use_is_success_and_cached() {
    let server = MockHomeserver::start(vec![Scripted::json(
        400,
        json!({"errcode": "M_USER_IN_USE", "error": "User ID already taken."}),
    )])
    .await;
    let client = server.client(&Sleeps::default());
    let alice = owned_user_id!("@_irc_alice:example.org");
    client.ensure_registered(&alice).await.unwrap();
    client.ensure_registered(&alice).await.unwrap();
    assert_eq!(server.recorded().len(), 1);
}

#[tokio::test]
async fn invalid_username_is_an_error() {
    let server = MockHomeserver::start(vec![Scripted::json(
        400,
        json!({"errcode": "M_INVALID_USERNAME", "error": "User ID may not begin with _"}),
    )])
    .await;
    let client = server.client(&Sleeps::default());
    let err = client.ensure_registered(&owned_user_id!("@_x:example.org")).await.unwrap_err();
    assert!(err.is(&ErrorCode::INVALID_USERNAME));
}

#[tokio::test]
async fn bot_and_foreign_users_are_never_registered() {
    let server = MockHomeserver::start(vec![]).await;
    let client = server.client(&Sleeps::default());
    client.ensure_registered(&owned_user_id!("@_irc_bot:example.org")).await.unwrap();
    let err = client.ensure_registered(&owned_user_id!("@_irc_x:elsewhere.org")).await.unwrap_err();
    assert!(
        matches!(&err, appservice_client::ClientError::InvalidArgument(a)
            if a.kind() == appservice_client::InvalidArgumentKind::ForeignUser),
        "{err:?}"
    );
    assert!(server.recorded().is_empty());
}

#[tokio::test]
async fn intents_register_automatically_once() {
    let server = MockHomeserver::start(vec![
        Scripted::json(200, json!({"user_id": "@_irc_alice:example.org"})),
        Scripted::json(200, json!({"user_id": "@_irc_alice:example.org", "is_guest": false})),
        Scripted::json(200, json!({"user_id": "@_irc_alice:example.org", "is_guest": false})),
    ])
    .await;
    let client = server.client(&Sleeps::default()).with_auto_register(true);
    let alice = client.intent(owned_user_id!("@_irc_alice:example.org"));
    alice.whoami().await.unwrap();
    alice.whoami().await.unwrap();
    let paths: Vec<_> = server.recorded().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        [
            "/_matrix/client/v3/register",
            "/_matrix/client/v3/account/whoami",
            "/_matrix/client/v3/account/whoami"
        ]
    );
}
