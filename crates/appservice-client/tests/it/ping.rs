//! The appservice ping: typed errors (checklist [CS-PING-4](https://spec.matrix.org/v1.19/application-service-api/#pinging-1)..6), start-up retries ([AS-PING-6](https://spec.matrix.org/v1.19/application-service-api/#pinging)), and
//! confirmation through our own ping handler ([AS-PING-5](https://spec.matrix.org/v1.19/application-service-api/#pinging)).

use std::time::Duration;

use appservice_client::{PingError, PingTracker, RetryPolicy};
use serde_json::json;

use crate::mock::{MockHomeserver, Scripted, Sleeps};

#[tokio::test]
async fn ping_until_ready_retries_transient_failures() {
    let server = MockHomeserver::start(vec![
        Scripted::json(502, json!({"errcode": "M_CONNECTION_FAILED", "error": "Connection refused"})),
        Scripted::json(504, json!({"errcode": "M_CONNECTION_TIMEOUT", "error": "Timeout"})),
        Scripted::json(502, json!({"errcode": "M_BAD_STATUS", "error": "HTTP 503", "status": 503, "body": "starting"})),
        Scripted::json(200, json!({"duration_ms": 7})),
    ])
    .await;
    let sleeps = Sleeps::default();
    let client = server.client(&sleeps);
    let policy = RetryPolicy::default().jitter(false).base_delay(Duration::from_secs(1));
    let d = client.ping_until_ready(&policy, None).await.unwrap();
    assert_eq!(d, Duration::from_millis(7));
    assert_eq!(sleeps.millis(), [1000, 2000, 4000]);
    let recorded = server.recorded();
    assert_eq!(recorded.len(), 4);
    assert!(recorded.iter().all(|r| r.path == "/_matrix/client/v1/appservice/irc/ping"));
    // Each attempt has its own transaction ID.
    let ids: std::collections::BTreeSet<_> =
        recorded.iter().map(|r| r.json()["transaction_id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), 4);
}

#[tokio::test]
async fn ping_until_ready_stops_on_configuration_errors() {
    let server = MockHomeserver::start(vec![Scripted::json(
        400,
        json!({"errcode": "M_URL_NOT_SET", "error": "Application service doesn't have a URL configured"}),
    )])
    .await;
    let sleeps = Sleeps::default();
    let err =
        server.client(&sleeps).ping_until_ready(&RetryPolicy::default(), None).await.unwrap_err();
    assert!(matches!(err, PingError::UrlNotSet { .. }), "{err:?}");
    assert!(!err.is_transient());
    assert!(sleeps.millis().is_empty());

    let server = MockHomeserver::start(vec![Scripted::json(
        403,
        json!({"errcode": "M_FORBIDDEN", "error": "Mismatching application service ID in path"}),
    )])
    .await;
    let err =
        server.client(&sleeps).ping_until_ready(&RetryPolicy::default(), None).await.unwrap_err();
    assert!(matches!(&err, PingError::Client(e) if e.status().unwrap().as_u16() == 403), "{err:?}");
}

#[tokio::test]
async fn ping_and_confirm_correlates_the_transaction_id() {
    let server = MockHomeserver::start(vec![
        Scripted::json(200, json!({"duration_ms": 3})),
        Scripted::json(200, json!({"duration_ms": 3})),
    ])
    .await;
    let sleeps = Sleeps::default();
    let client = server.client(&sleeps);
    let tracker = PingTracker::new();

    // Nobody recorded our ID: the homeserver pinged someone else.
    let err = client.ping_and_confirm(&tracker).await.unwrap_err();
    let PingError::NotConfirmed { transaction_id } = &err else { panic!("{err:?}") };
    assert_eq!(server.recorded()[0].json()["transaction_id"], json!(transaction_id));
    assert!(!err.is_transient());

    // Play the homeserver: before answering the CS ping it pings our appservice, whose
    // `/_matrix/app/v1/ping` handler records the transaction ID (as `Handler::ping` would).
    let handler_tracker = tracker.clone();
    server.on_request(move |r| handler_tracker.record(r.json()["transaction_id"].as_str()));
    assert_eq!(client.ping_and_confirm(&tracker).await.unwrap(), Duration::from_millis(3));

    // And at start-up: a failure first, then a confirmed ping.
    let server = MockHomeserver::start(vec![
        Scripted::json(502, json!({"errcode": "M_CONNECTION_FAILED", "error": "refused"})),
        Scripted::json(200, json!({"duration_ms": 4})),
    ])
    .await;
    let handler_tracker = tracker.clone();
    server.on_request(move |r| handler_tracker.record(r.json()["transaction_id"].as_str()));
    let client = server.client(&sleeps);
    let policy = RetryPolicy::default().jitter(false);
    let d = client.ping_until_ready(&policy, Some(&tracker)).await.unwrap();
    assert_eq!(d, Duration::from_millis(4));
    assert_eq!(sleeps.millis(), [500]);
}
