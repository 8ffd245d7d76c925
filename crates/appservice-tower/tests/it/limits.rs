//! Body limits while streaming, slow bodies, and slow query handlers.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use appservice_conformance::handler::{HS_TOKEN, registration};
use appservice_dispatch::{
    DispatchConfig, Dispatcher, Event, Handler, HandlerError, MemoryStore, TransactionContext,
};
use appservice_tower::{Appservice, AppserviceConfig, ServeConfig};
use appservice_types::ruma_common::UserId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::Server;

#[derive(Clone, Default)]
struct SlowQueries {
    finished: Arc<AtomicBool>,
}

impl Handler for SlowQueries {
    async fn event(
        &self,
        _txn: &TransactionContext<'_>,
        _event: Event<'_>,
    ) -> Result<(), HandlerError> {
        Ok(())
    }

    async fn query_user(&self, _user_id: &UserId) -> Result<bool, HandlerError> {
        tokio::time::sleep(Duration::from_millis(600)).await;
        self.finished.store(true, Ordering::SeqCst);
        Ok(true)
    }
}

async fn server(config: AppserviceConfig, max_body: usize, handler: SlowQueries) -> Server {
    let dispatcher = Dispatcher::with_store(
        registration("http://127.0.0.1:9000"),
        handler,
        MemoryStore::new(),
        DispatchConfig::new().max_body_bytes(max_body),
    );
    Server::start(Appservice::with_config(dispatcher, config), ServeConfig::new()).await
}

/// Writes `head` and then `chunks` (ignoring write errors: the server may answer and close
/// early), and returns the raw response.
async fn raw(
    server: &Server,
    head: &str,
    chunks: impl IntoIterator<Item = Vec<u8>>,
    pause: Duration,
) -> String {
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    for chunk in chunks {
        if stream.write_all(&chunk).await.is_err() {
            break;
        }
        tokio::time::sleep(pause).await;
    }
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await;
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test]
async fn a_streamed_oversized_body_is_refused_while_reading() {
    let server = server(AppserviceConfig::new(), 64 * 1024, SlowQueries::default()).await;
    let head = format!(
        "PUT /_matrix/app/v1/transactions/1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {HS_TOKEN}\r\n\
         Transfer-Encoding: chunked\r\n\r\n"
    );
    // 1 MiB in 16 KiB chunks, far over the 64 KiB limit; no Content-Length to check up front.
    let chunk = {
        let mut c = format!("{:x}\r\n", 16 * 1024).into_bytes();
        c.extend(std::iter::repeat_n(b' ', 16 * 1024));
        c.extend(b"\r\n");
        c
    };
    let response =
        raw(&server, &head, std::iter::repeat_n(chunk, 64), Duration::from_millis(1)).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains("M_TOO_LARGE"), "{response}");
}

#[tokio::test]
async fn a_declared_oversized_body_is_refused_before_reading() {
    let server = server(AppserviceConfig::new(), 1024, SlowQueries::default()).await;
    let head = format!(
        "PUT /_matrix/app/v1/transactions/1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {HS_TOKEN}\r\n\
         Content-Length: 1000000000\r\n\r\n"
    );
    let response = raw(&server, &head, [], Duration::ZERO).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
}

#[tokio::test]
async fn an_unauthenticated_body_is_never_read() {
    let server = server(AppserviceConfig::new(), 1024, SlowQueries::default()).await;
    let head = "PUT /_matrix/app/v1/transactions/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n";
    let response = raw(&server, head, [], Duration::ZERO).await;
    assert!(response.starts_with("HTTP/1.1 401"), "{response}");
}

#[tokio::test]
async fn a_slow_body_times_out() {
    let server = server(
        AppserviceConfig::new().read_timeout(Duration::from_millis(300)),
        1024,
        SlowQueries::default(),
    )
    .await;
    let head = format!(
        "PUT /_matrix/app/v1/transactions/1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {HS_TOKEN}\r\n\
         Content-Length: 100\r\n\r\n{{\"events\""
    );
    let start = Instant::now();
    let response = raw(&server, &head, [], Duration::ZERO).await;
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_slow_query_is_answered_in_time_and_still_finishes() {
    let handler = SlowQueries::default();
    let server = server(
        AppserviceConfig::new().query_timeout(Duration::from_millis(150)),
        1024,
        handler.clone(),
    )
    .await;
    let head = format!(
        "GET /_matrix/app/v1/users/%40_test_a%3Aexample.org HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {HS_TOKEN}\r\n\
         Connection: close\r\n\r\n"
    );
    let start = Instant::now();
    let response = raw(&server, &head, [], Duration::ZERO).await;
    assert!(response.starts_with("HTTP/1.1 504"), "{response}");
    assert!(start.elapsed() < Duration::from_millis(550), "answered before the handler finished");
    assert!(!handler.finished.load(Ordering::SeqCst));
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(handler.finished.load(Ordering::SeqCst), "the handler kept running and finished");
}

#[derive(Clone)]
struct Panicky;

impl Handler for Panicky {
    async fn event(
        &self,
        _txn: &TransactionContext<'_>,
        event: Event<'_>,
    ) -> Result<(), HandlerError> {
        assert!(event.envelope.is_none_or(|e| e.event_id != "$boom"), "handler bug");
        Ok(())
    }
}

#[tokio::test]
async fn a_panicking_handler_is_a_500_and_the_next_transaction_is_served() {
    let server = Server::start(
        Appservice::new(Dispatcher::new(registration("null"), Panicky)),
        ServeConfig::new(),
    )
    .await;
    let send = |txn: &'static str, event: &'static str| {
        let body = appservice_conformance::handler::body(&[(event, "!r")]);
        let head = format!(
            "PUT /_matrix/app/v1/transactions/{txn} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {HS_TOKEN}\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let mut request = head.into_bytes();
        request.extend(body);
        request
    };
    let response = raw(&server, "", [send("1", "$boom")], Duration::ZERO).await;
    assert!(response.starts_with("HTTP/1.1 500"), "{response}");
    assert!(response.contains("M_UNKNOWN"), "{response}");
    let response = raw(&server, "", [send("2", "$fine")], Duration::ZERO).await;
    assert!(response.starts_with("HTTP/1.1 200"), "the turn was released: {response}");
}
