//! Connections that never send, send half a request head, trickle it, or sit idle after an
//! answer are closed; they cannot keep the homeserver out or delay shutdown.

use std::time::{Duration, Instant};

use appservice_conformance::handler::{Recorder, Script, registration};
use appservice_dispatch::Dispatcher;
use appservice_tower::{Appservice, ServeConfig};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::support::{Server, raw_transaction};

fn app() -> Appservice {
    Appservice::new(Dispatcher::new(registration("null"), Recorder::new(Script::default())))
}

/// Waits until the server closes `stream` (end of stream or reset); the time it took.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Result<Duration, String> {
    let start = Instant::now();
    let mut buf = vec![0; 4096];
    loop {
        match tokio::time::timeout_at((start + limit).into(), stream.read(&mut buf)).await {
            Err(_) => return Err(format!("still open after {limit:?}")),
            Ok(Ok(0) | Err(_)) => return Ok(start.elapsed()),
            Ok(Ok(_)) => {} // a response: keep reading
        }
    }
}

async fn answered(stream: &mut TcpStream, txn: &str) -> String {
    stream.write_all(&raw_transaction(txn)).await.unwrap();
    let mut buf = vec![0; 4096];
    let n = stream.read(&mut buf).await.unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test]
async fn a_connection_that_never_sends_is_closed_after_the_idle_timeout() {
    let config = ServeConfig::new().idle_timeout(Duration::from_millis(300));
    let mut server = Server::start(app(), config).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    closed_within(&mut stream, Duration::from_secs(3)).await.unwrap();
    server.shut_down();
}

#[tokio::test]
async fn a_keep_alive_connection_idle_after_an_answer_is_closed() {
    let config = ServeConfig::new().idle_timeout(Duration::from_millis(300));
    let mut server = Server::start(app(), config).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let response = answered(&mut stream, "1").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    closed_within(&mut stream, Duration::from_secs(3)).await.unwrap();
    server.shut_down();
}

#[tokio::test]
async fn a_half_sent_request_head_is_closed_after_the_header_read_timeout() {
    // The idle timeout is long: the header-read timeout must do it.
    let config = ServeConfig::new()
        .idle_timeout(Duration::from_secs(60))
        .header_read_timeout(Duration::from_millis(300));
    let mut server = Server::start(app(), config).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(b"PUT /_matrix/app/v1/transactions/1 HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    closed_within(&mut stream, Duration::from_secs(3)).await.unwrap();
    server.shut_down();
}

#[tokio::test]
async fn a_trickled_request_head_is_closed_after_the_header_read_timeout() {
    let config = ServeConfig::new()
        .idle_timeout(Duration::from_secs(60))
        .header_read_timeout(Duration::from_millis(500));
    let mut server = Server::start(app(), config).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let head =
        b"PUT /_matrix/app/v1/transactions/1 HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaa";
    let start = Instant::now();
    let mut closed = false;
    for byte in head {
        // One byte every 100 ms: each arrives well within any per-read timeout.
        if stream.write_all(&[*byte]).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        if start.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    if !closed {
        closed_within(&mut stream, Duration::from_millis(200)).await.unwrap();
    }
    assert!(start.elapsed() < Duration::from_secs(3), "closed only after {:?}", start.elapsed());
    server.shut_down();
}

#[tokio::test]
async fn an_http2_connection_without_streams_is_closed_after_the_idle_timeout() {
    let config = ServeConfig::new().idle_timeout(Duration::from_millis(300));
    let mut server = Server::start(app(), config).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await.unwrap();
    // An empty SETTINGS frame and the acknowledgement of the server's: the connection is up,
    // with no stream.
    stream.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await.unwrap();
    stream.write_all(&[0, 0, 0, 4, 1, 0, 0, 0, 0]).await.unwrap();
    closed_within(&mut stream, Duration::from_secs(3)).await.unwrap();
    server.shut_down();
}

#[tokio::test]
async fn shutdown_does_not_wait_for_a_half_sent_request() {
    // Every timeout long: only shutdown's handling of idle connections can end it quickly.
    let mut server = Server::start(app(), ServeConfig::new()).await;
    let mut half = TcpStream::connect(server.addr).await.unwrap();
    half.write_all(b"PUT /_matrix/app/v1/transactions/1 HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    let mut kept_alive = TcpStream::connect(server.addr).await.unwrap();
    assert!(answered(&mut kept_alive, "2").await.starts_with("HTTP/1.1 200"));
    tokio::time::sleep(Duration::from_millis(100)).await; // all three accepted
    let start = Instant::now();
    server.shut_down();
    tokio::time::timeout(Duration::from_secs(5), server.task)
        .await
        .unwrap_or_else(|_| panic!("shutdown still waiting after 5 s"))
        .unwrap()
        .unwrap();
    assert!(start.elapsed() < Duration::from_secs(2), "shutdown took {:?}", start.elapsed());
    for stream in [&mut half, &mut silent, &mut kept_alive] {
        closed_within(stream, Duration::from_secs(1)).await.unwrap();
    }
}

#[tokio::test]
async fn at_the_connection_cap_the_longest_idle_connection_makes_room() {
    let config = ServeConfig::new().max_connections(4);
    let mut server = Server::start(app(), config).await;
    let mut idle = Vec::new();
    for _ in 0..8 {
        idle.push(TcpStream::connect(server.addr).await.unwrap());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut homeserver = TcpStream::connect(server.addr).await.unwrap();
    let response =
        tokio::time::timeout(Duration::from_secs(5), answered(&mut homeserver, "3")).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    // The oldest idle connections were closed to make room.
    closed_within(&mut idle[0], Duration::from_secs(1)).await.unwrap();
    server.shut_down();
}
