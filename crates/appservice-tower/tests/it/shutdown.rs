//! Graceful shutdown and dropped connections: nothing acknowledged is lost, nothing
//! unacknowledged is marked done.

use std::{sync::Arc, time::Duration};

use appservice_conformance::handler::registration;
use appservice_dispatch::{
    Dispatcher, Event, Handler, HandlerError, TransactionContext, TransactionStore,
};
use appservice_tower::{Appservice, ServeConfig};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    sync::{Notify, Semaphore},
};

use crate::support::{Server, raw_transaction as request};

/// Blocks in every event until released; counts calls.
#[derive(Clone)]
struct Gate {
    entered: Arc<Notify>,
    release: Arc<Semaphore>,
    calls: Arc<std::sync::atomic::AtomicUsize>,
}

impl Gate {
    fn new() -> Self {
        Self {
            entered: Arc::new(Notify::new()),
            release: Arc::new(Semaphore::new(0)),
            calls: Arc::default(),
        }
    }
}

impl Handler for Gate {
    async fn event(
        &self,
        _txn: &TransactionContext<'_>,
        _event: Event<'_>,
    ) -> Result<(), HandlerError> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.entered.notify_one();
        self.release.acquire().await.map_err(HandlerError::failed)?.forget();
        Ok(())
    }
}

#[tokio::test]
async fn shutdown_lets_an_in_flight_transaction_finish() {
    let gate = Gate::new();
    let dispatcher = Dispatcher::new(registration("null"), gate.clone());
    let app = Appservice::new(dispatcher.clone());
    let readiness = app.readiness().clone();
    let mut server =
        Server::start(app, ServeConfig::new().shutdown_timeout(Duration::from_secs(10))).await;

    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(&request("1")).await.unwrap();
    gate.entered.notified().await;

    server.shut_down();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!server.task.is_finished(), "shutdown waits for the transaction in flight");
    assert!(!readiness.get(), "not ready while shutting down");
    assert!(tokio::net::TcpStream::connect(server.addr).await.is_err(), "no new connections");

    gate.release.add_permits(1);
    let mut response = vec![0; 1024];
    let n = stream.read(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response[..n]).into_owned();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    tokio::time::timeout(Duration::from_secs(5), server.task).await.unwrap().unwrap().unwrap();
    assert!(
        futures::executor::block_on(dispatcher.store().lookup("1")).unwrap().is_some(),
        "acknowledged and recorded"
    );
}

#[tokio::test]
async fn a_transaction_whose_connection_drops_still_completes() {
    let gate = Gate::new();
    let dispatcher = Dispatcher::new(registration("null"), gate.clone());
    let mut server = Server::start(Appservice::new(dispatcher.clone()), ServeConfig::new()).await;

    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(&request("7")).await.unwrap();
    gate.entered.notified().await;
    drop(stream); // the homeserver gave up (e.g. its 60 s timeout)
    tokio::time::sleep(Duration::from_millis(100)).await;
    gate.release.add_permits(1);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        futures::executor::block_on(dispatcher.store().lookup("7")).unwrap().is_some(),
        "recorded despite the drop"
    );

    // The homeserver's retry is acknowledged without running the handler again.
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(&request("7")).await.unwrap();
    let mut response = vec![0; 1024];
    let n = stream.read(&mut response).await.unwrap();
    assert!(String::from_utf8_lossy(&response[..n]).starts_with("HTTP/1.1 200"));
    assert_eq!(gate.calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    server.shut_down();
}

#[tokio::test]
async fn shutdown_with_a_stuck_handler_is_bounded_and_records_nothing() {
    let gate = Gate::new();
    let dispatcher = Dispatcher::new(registration("null"), gate.clone());
    let mut server = Server::start(
        Appservice::new(dispatcher.clone()),
        ServeConfig::new().shutdown_timeout(Duration::from_millis(300)),
    )
    .await;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(&request("9")).await.unwrap();
    gate.entered.notified().await;
    server.shut_down();
    tokio::time::timeout(Duration::from_secs(5), server.task).await.unwrap().unwrap().unwrap();
    assert!(
        futures::executor::block_on(dispatcher.store().lookup("9")).unwrap().is_none(),
        "not acknowledged, not recorded"
    );
}
