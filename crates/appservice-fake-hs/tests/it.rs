//! The fake homeserver over real loopback HTTP.

#![allow(clippy::unwrap_used)] // Test code: a panic is the failure report.

use std::time::Instant;

use appservice_fake_hs::{FakeHomeserver, Recorded, Reply, Respond, ping_back, ping_reply};
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
