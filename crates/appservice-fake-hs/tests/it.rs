//! The fake homeserver over real loopback HTTP.

#![allow(clippy::unwrap_used)] // Test code: a panic is the failure report.

use std::time::{Duration, Instant};

use appservice_fake_hs::{
    Delivery, FakeHomeserver, Profile, Recorded, Reply, Respond, ping_back, ping_reply,
};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use http_body_util::{BodyExt, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};

/// Answers every request with this status.
struct Status(u16);

impl Respond for Status {
    fn respond<'a>(&'a self, _request: &'a Recorded) -> BoxFuture<'a, Reply> {
        let reply = Reply::json(self.0, serde_json::json!({})).header("x-fake", "yes");
        Box::pin(async move { reply })
    }
}

async fn send(request: http::Request<Full<Bytes>>) -> (u16, http::HeaderMap) {
    let client = Client::builder(TokioExecutor::new()).build_http();
    let response = client.request(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let _ = response.into_body().collect().await.unwrap();
    (status, headers)
}

#[tokio::test]
async fn requests_are_recorded_decoded_and_answered() {
    let hs = FakeHomeserver::start(Status(201)).await.unwrap();
    let url = format!(
        "{}/_matrix/client/v3/rooms/%21room%3Aexample.org/join?user_id=%40_irc_a%3Aexample.org&ts=5",
        hs.url()
    );
    let request = http::Request::post(url)
        .header("authorization", "Bearer token")
        .body(Full::new(Bytes::from_static(br#"{"reason":"hi"}"#)))
        .unwrap();
    let (status, headers) = send(request).await;
    assert_eq!(status, 201);
    assert_eq!(headers["x-fake"], "yes");
    assert_eq!(headers["content-type"], "application/json");
    let recorded = hs.recorded();
    assert_eq!(recorded.len(), 1);
    let r = &recorded[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/_matrix/client/v3/rooms/%21room%3Aexample.org/join");
    assert_eq!(r.decoded_path, "/_matrix/client/v3/rooms/!room:example.org/join");
    assert_eq!(r.user_id(), Some("@_irc_a:example.org"));
    assert_eq!(r.query["ts"], "5");
    assert_eq!(r.raw_query.as_deref(), Some("user_id=%40_irc_a%3Aexample.org&ts=5"));
    assert_eq!(r.authorization(), Some("Bearer token"));
    assert_eq!(r.json()["reason"], "hi");
    assert_eq!(hs.requests_to("!room:example.org").len(), 1);
    hs.clear();
    assert!(hs.recorded().is_empty());
}

#[tokio::test]
async fn the_ping_back_reports_what_the_appservice_answered() {
    // Another fake server plays the appservice.
    for (status, want) in [(200, 200), (403, 502)] {
        let appservice = FakeHomeserver::start(Status(status)).await.unwrap();
        let started = Instant::now();
        let result = ping_back(&appservice.url(), "hs_secret", Bytes::from_static(b"{}")).await;
        let pinged = appservice.recorded();
        assert_eq!(pinged.len(), 1);
        assert_eq!(pinged[0].path, "/_matrix/app/v1/ping");
        assert_eq!(pinged[0].authorization(), Some("Bearer hs_secret"));
        let reply = ping_reply(result, started);
        assert_eq!(reply.status, want);
        let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        if want == 200 {
            assert!(body["duration_ms"].is_u64(), "{body}");
        } else {
            assert_eq!(
                (body["errcode"].as_str(), body["status"].as_u64()),
                (Some("M_BAD_STATUS"), Some(403))
            );
        }
    }
    // Nobody listening.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let reply = ping_reply(ping_back(&url, "t", Bytes::new()).await, Instant::now());
    let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!((reply.status, body["errcode"].as_str()), (502, Some("M_CONNECTION_FAILED")));
}

/// Plays an appservice that fails its first `n` transactions with a 500.
struct FailFirst(std::sync::atomic::AtomicUsize);

impl Respond for FailFirst {
    fn respond<'a>(&'a self, _request: &'a Recorded) -> BoxFuture<'a, Reply> {
        let left = self.0.load(std::sync::atomic::Ordering::SeqCst);
        let reply = if left > 0 {
            self.0.store(left - 1, std::sync::atomic::Ordering::SeqCst);
            Reply::error(500, "M_UNKNOWN", "failing on purpose")
        } else {
            Reply::json(200, serde_json::json!({}))
        };
        Box::pin(async move { reply })
    }
}

fn event(id: &str) -> serde_json::Value {
    serde_json::json!({"event_id": id, "type": "m.room.message", "room_id": "!r", "sender": "@a:x",
                       "content": {"body": id}})
}

/// `(txn_id, attempt, event_ids, status)` of every attempt.
fn attempts(delivery: &Delivery) -> Vec<(String, u32, Vec<String>, Option<u16>)> {
    delivery.sent().into_iter().map(|s| (s.txn_id, s.attempt, s.event_ids, s.status)).collect()
}

#[tokio::test]
async fn synapse_delivers_with_counted_ids_and_retries_on_a_timer() {
    let appservice = FakeHomeserver::start(FailFirst(1.into())).await.unwrap();
    let delivery =
        Delivery::start(Profile::Synapse, &appservice.url(), "hs_t", Duration::from_millis(5));
    delivery.queue(event("$1"));
    assert!(delivery.wait_idle(Duration::from_secs(10)).await);
    let ids = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        attempts(&delivery),
        [
            ("1".to_owned(), 1, ids(&["$1"]), Some(500)),
            ("1".to_owned(), 2, ids(&["$1"]), Some(200))
        ]
    );
    let sent = delivery.sent();
    assert!(sent[1].at - sent[0].at >= Duration::from_millis(10), "2 units of backoff");
    delivery.queue(event("$2"));
    assert!(delivery.wait_idle(Duration::from_secs(10)).await);
    assert_eq!(delivery.sent()[2].txn_id, "2");
    let recorded = appservice.recorded();
    assert_eq!(recorded[0].path, "/_matrix/app/v1/transactions/1");
    assert_eq!(recorded[0].authorization(), Some("Bearer hs_t"));
    assert_eq!(recorded[0].raw_query, None);
}

#[tokio::test]
async fn conduit_retries_only_when_the_next_event_comes() {
    let appservice = FakeHomeserver::start(FailFirst(1.into())).await.unwrap();
    let delivery = Delivery::start(
        Profile::ConduitFamily,
        &appservice.url(),
        "hs_t",
        Duration::from_millis(1),
    );
    delivery.queue(event("$1"));
    assert!(delivery.wait_for(Duration::from_secs(10), |s| !s.is_empty()).await);
    // Far beyond the backoff (30 units): still no retry without a new event.
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(delivery.sent().len(), 1);
    assert!(!delivery.is_idle());
    delivery.queue(event("$2"));
    assert!(delivery.wait_idle(Duration::from_secs(10)).await);
    let first = Profile::ConduitFamily.txn_id(0, &["$1"]);
    let second = Profile::ConduitFamily.txn_id(0, &["$2"]);
    let ids = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        attempts(&delivery),
        [
            (first.clone(), 1, ids(&["$1"]), Some(500)),
            (first.clone(), 2, ids(&["$1"]), Some(200)),
            (second, 1, ids(&["$2"]), Some(200)),
        ]
    );
    let recorded = appservice.recorded();
    assert_eq!(recorded[0].path, format!("/_matrix/app/v1/transactions/{first}"));
    assert_eq!(recorded[0].authorization(), Some("Bearer hs_t"));
    assert_eq!(recorded[0].query["access_token"], "hs_t");
}

#[tokio::test]
async fn conduit_does_not_retry_on_an_event_before_the_backoff() {
    let appservice = FakeHomeserver::start(FailFirst(1.into())).await.unwrap();
    // 30 s · 1² with a 20 ms unit: 600 ms.
    let delivery = Delivery::start(
        Profile::ConduitFamily,
        &appservice.url(),
        "hs_t",
        Duration::from_millis(20),
    );
    delivery.queue(event("$1"));
    assert!(delivery.wait_for(Duration::from_secs(10), |s| !s.is_empty()).await);
    delivery.queue(event("$2"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(delivery.sent().len(), 1, "an event within the backoff does not retry");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(delivery.sent().len(), 1, "nor does the backoff running out");
    delivery.queue(event("$3"));
    assert!(delivery.wait_idle(Duration::from_secs(10)).await);
    let sent = delivery.sent();
    assert_eq!(sent.len(), 3);
    assert_eq!((sent[1].attempt, &sent[1].event_ids), (2, &vec!["$1".to_owned()]));
    // The events queued meanwhile go together, after the retried transaction.
    assert_eq!(sent[2].event_ids, ["$2", "$3"]);
}
