//! The retry policy against real responses (checklist [AS-GEN-6](https://spec.matrix.org/v1.19/application-service-api/#application-services)): 429 after `Retry-After` (which
//! wins) or `retry_after_ms`; 502/503/504 and connection errors only for idempotent requests;
//! the same transaction ID on every retry. Waits are recorded, not slept.

use std::time::Duration;

use appservice_client::{Client, ClientError, ErrorCode, RetryPolicy, Secret};
use ruma_common::{owned_room_id, owned_server_name, owned_user_id};
use ruma_events::room::message::RoomMessageEventContent;
use serde_json::json;

use crate::mock::{MockHomeserver, Scripted, Sleeps};

fn limited(ms: Option<u64>) -> Scripted {
    let mut body = json!({"errcode": "M_LIMIT_EXCEEDED", "error": "Too many requests"});
    if let Some(ms) = ms {
        body["retry_after_ms"] = json!(ms);
    }
    Scripted::json(429, body)
}

fn whoami_ok() -> Scripted {
    Scripted::json(200, json!({"user_id": "@_irc_alice:example.org", "is_guest": false}))
}

#[tokio::test]
async fn retry_after_header_wins_over_retry_after_ms() {
    let server =
        MockHomeserver::start(vec![limited(Some(5000)).header("Retry-After", "2"), whoami_ok()])
            .await;
    let sleeps = Sleeps::default();
    let alice = server.client(&sleeps).intent(owned_user_id!("@_irc_alice:example.org"));
    alice.whoami().await.unwrap();
    assert_eq!(sleeps.millis(), [2000]);
    assert_eq!(server.recorded().len(), 2);
}

#[tokio::test]
async fn retry_after_ms_when_there_is_no_header() {
    let server = MockHomeserver::start(vec![limited(Some(1500)), limited(None), whoami_ok()]).await;
    let sleeps = Sleeps::default();
    let alice = server.client(&sleeps).intent(owned_user_id!("@_irc_alice:example.org"));
    alice.whoami().await.unwrap();
    // The second 429 has no hint: exponential backoff (base 500 ms, retry number 1).
    assert_eq!(sleeps.millis(), [1500, 1000]);
}

#[tokio::test]
async fn rate_limits_retry_non_idempotent_requests_too() {
    let server =
        MockHomeserver::start(vec![limited(Some(100)), Scripted::json(200, json!({}))]).await;
    let sleeps = Sleeps::default();
    let bot = server.client(&sleeps).bot().unwrap();
    bot.invite(&owned_room_id!("!r:example.org"), &owned_user_id!("@_irc_a:example.org"), None)
        .await
        .unwrap();
    assert_eq!(sleeps.millis(), [100]);
    assert_eq!(server.recorded().len(), 2);
}

#[tokio::test]
async fn a_hint_beyond_the_cap_is_not_waited_for() {
    let server = MockHomeserver::start(vec![limited(None).header("Retry-After", "3600")]).await;
    let sleeps = Sleeps::default();
    let alice = server.client(&sleeps).intent(owned_user_id!("@_irc_alice:example.org"));
    let err = alice.whoami().await.unwrap_err();
    assert!(err.is(&ErrorCode::LIMIT_EXCEEDED));
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3600)));
    assert!(sleeps.millis().is_empty());
    assert!(err.to_string().contains("retry after 3600000 ms"), "{err}");
}

#[tokio::test]
async fn retries_are_bounded() {
    let server = MockHomeserver::start(vec![]).await;
    server.fallback(limited(Some(10)));
    let sleeps = Sleeps::default();
    let client = server.client(&sleeps).with_retry_policy(RetryPolicy::default().max_retries(3));
    let err = client.intent(owned_user_id!("@_irc_alice:example.org")).whoami().await.unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_millis(10)));
    assert_eq!(sleeps.millis(), [10, 10, 10]);
    assert_eq!(server.recorded().len(), 4);
}

#[tokio::test]
async fn server_errors_retry_get_with_backoff() {
    let server = MockHomeserver::start(vec![
        Scripted::json(503, json!({"errcode": "M_UNKNOWN", "error": "down"})),
        Scripted::new(502, "<html>Bad Gateway</html>"),
        whoami_ok(),
    ])
    .await;
    let sleeps = Sleeps::default();
    let alice = server.client(&sleeps).intent(owned_user_id!("@_irc_alice:example.org"));
    alice.whoami().await.unwrap();
    assert_eq!(sleeps.millis(), [500, 1000]);
}

#[tokio::test]
async fn server_errors_do_not_retry_post() {
    let server = MockHomeserver::start(vec![Scripted::new(503, "Service Unavailable")]).await;
    let sleeps = Sleeps::default();
    let bot = server.client(&sleeps).bot().unwrap();
    let err = bot
        .invite(&owned_room_id!("!r:example.org"), &owned_user_id!("@_irc_a:example.org"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::Http { status, body } if status.as_u16() == 503 && body == "Service Unavailable"),
        "{err:?}"
    );
    assert!(sleeps.millis().is_empty());
    assert_eq!(server.recorded().len(), 1);
}

#[tokio::test]
async fn retries_reuse_the_transaction_id() {
    let server = MockHomeserver::start(vec![
        Scripted::json(504, json!({"errcode": "M_UNKNOWN", "error": "timeout"})),
        Scripted::json(200, json!({"event_id": "$e"})),
    ])
    .await;
    let sleeps = Sleeps::default();
    let alice = server.client(&sleeps).intent(owned_user_id!("@_irc_alice:example.org"));
    let room = owned_room_id!("!r:example.org");
    let content = RoomMessageEventContent::text_plain("hi");
    assert_eq!(alice.send_message(&room, &content).await.unwrap(), "$e");
    let recorded = server.recorded();
    assert_eq!(recorded.len(), 2);
    assert_eq!(recorded[0].path, recorded[1].path, "same transaction ID on retry");
    assert_eq!(recorded[0].body, recorded[1].body);
    let txn = recorded[0].path.rsplit('/').next().unwrap();
    assert!(txn.starts_with("asrs") && txn.len() == 36, "{txn}");
    // A second call gets a fresh ID.
    server.fallback(Scripted::json(200, json!({"event_id": "$f"})));
    alice.send_message(&room, &content).await.unwrap();
    assert_ne!(server.recorded()[2].path, recorded[0].path);
}

#[tokio::test]
async fn connection_errors_retry_idempotent_requests_only() {
    // A port nobody listens on.
    let addr = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let sleeps = Sleeps::default();
    let client = Client::with_hyper(
        &format!("http://{addr}"),
        Secret::from("t"),
        owned_server_name!("example.org"),
    )
    .unwrap()
    .with_sender_localpart("_irc_bot")
    .unwrap()
    .with_auto_register(false)
    .with_retry_policy(RetryPolicy::default().jitter(false).max_retries(2))
    .with_sleeper(sleeps.sleeper());
    let alice = client.intent(owned_user_id!("@_irc_alice:example.org"));
    let err = alice.whoami().await.unwrap_err();
    assert!(matches!(err, ClientError::Transport(_)), "{err:?}");
    assert_eq!(sleeps.millis(), [500, 1000]);
    let err = alice.leave(&owned_room_id!("!r:example.org"), None).await.unwrap_err();
    assert!(matches!(err, ClientError::Transport(_)), "{err:?}");
    assert_eq!(sleeps.millis().len(), 2, "POST /leave is not retried");
}

#[tokio::test]
async fn retry_policy_none_never_retries() {
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = calls.clone();
    let transport = tower::service_fn(move |_req: http::Request<bytes::Bytes>| {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async {
            Ok::<_, std::convert::Infallible>(
                http::Response::builder()
                    .status(429)
                    .body(http_body_util::Full::new(bytes::Bytes::from_static(
                        br#"{"errcode":"M_LIMIT_EXCEEDED","error":"x","retry_after_ms":1}"#,
                    )))
                    .unwrap(),
            )
        }
    });
    let client = Client::new(
        "http://hs.invalid",
        Secret::from("t"),
        owned_server_name!("example.org"),
        transport,
    )
    .unwrap()
    .with_auto_register(false)
    .with_retry_policy(RetryPolicy::none());
    let err = client.intent(owned_user_id!("@_irc_alice:example.org")).whoami().await.unwrap_err();
    assert!(err.is(&ErrorCode::LIMIT_EXCEEDED));
    assert_eq!(err.retry_after(), Some(Duration::from_millis(1)));
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
}
