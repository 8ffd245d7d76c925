//! A whole run: from a registration file to serving, the ping, exactly once across a restart,
//! a router beside the appservice, and the drain at shutdown.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use appservice::prelude::*;
use serde_json::json;
use tokio::sync::oneshot;

use crate::{HS_TOKEN, call, free_port, message, registration_yaml};

/// Counts events and pings; each event takes `delay`.
#[derive(Clone, Default)]
struct Counter {
    events: Arc<AtomicUsize>,
    pings: Arc<AtomicUsize>,
    delay: Duration,
}

impl Handler for Counter {
    async fn event(&self, _: &TransactionContext<'_>, _: Event<'_>) -> Result<(), HandlerError> {
        tokio::time::sleep(self.delay).await;
        self.events.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    async fn ping(&self, _: Option<&str>) -> Result<(), HandlerError> {
        self.pings.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// Waits until `condition` holds, for at most 10 s.
async fn eventually(what: &str, condition: impl Fn() -> bool) {
    for _ in 0..200 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}

#[tokio::test]
async fn from_a_file_it_serves_pings_and_remembers_transactions_across_a_restart() {
    let homeserver = crate::homeserver(false).await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{}", free_port());
    let path = dir.path().join("facade.yaml");
    std::fs::write(&path, registration_yaml(&url)).unwrap();
    homeserver.appservice(url.clone());
    let body = json!({"events": [message("$one")]}).to_string();
    let txn = format!("{url}/_matrix/app/v1/transactions/1");

    for run in 0..2 {
        let bridge = Builder::from_file(&path, homeserver.url()).unwrap().start().await.unwrap();
        assert_eq!(bridge.server_name().as_str(), "example.org", "from whoami");
        assert!(dir.path().join("facade.db").exists(), "SQLite beside the registration");
        let handler = Counter::default();
        let (stop, stopped) = oneshot::channel::<()>();
        let running = tokio::spawn(bridge.run(handler.clone(), async move {
            let _ = stopped.await;
        }));
        // The start-up ping reached the homeserver, which pinged us back.
        eventually("the ping back", || handler.pings.load(Ordering::SeqCst) == 1).await;
        assert_eq!(call("GET", &format!("{url}/_matrix/mau/ready"), None, "").await.0, 200);

        assert_eq!(call("PUT", &txn, Some(HS_TOKEN), &body).await.0, 200);
        assert_eq!(call("PUT", &txn, Some(HS_TOKEN), &body).await.0, 200);
        // Handled once in the first run; the retry after the restart is answered from the
        // database without the handler.
        let expected = if run == 0 { 1 } else { 0 };
        assert_eq!(handler.events.load(Ordering::SeqCst), expected, "run {run}");

        stop.send(()).unwrap();
        running.await.unwrap().unwrap();
    }
    let registers = homeserver.requests_to("/_matrix/client/v3/register");
    assert_eq!(registers.len(), 2, "the bot is registered at each start");
    assert!(registers[0].body.starts_with(b"{"), "a JSON body");
    assert_eq!(registers[0].json()["username"], "_facade_bot");
    assert_eq!(registers[0].json()["inhibit_login"], true);
}

#[tokio::test]
async fn a_router_is_served_beside_the_appservice_and_shutdown_drains() {
    let homeserver = crate::homeserver(false).await;
    let registration = ValidatedRegistration::parse(&registration_yaml("null")).unwrap();
    let bridge = Builder::new(registration, homeserver.url())
        .server_name("example.org".try_into().unwrap())
        .memory_store()
        .listen("127.0.0.1:0".parse().unwrap())
        .register_bot(false)
        .start()
        .await
        .unwrap();
    let url = format!("http://{}", bridge.local_addr().unwrap());
    homeserver.appservice(url.clone());
    let handler = Counter { delay: Duration::from_millis(500), ..Counter::default() };
    let routes = axum::Router::new().route("/hello", axum::routing::get(|| async { "hi" }));
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(bridge.run_with(handler.clone(), routes, async move {
        let _ = stopped.await;
    }));

    assert_eq!(call("GET", &format!("{url}/hello"), None, "").await, (200, "hi".to_owned()));
    let unauthorized = call("POST", &format!("{url}/_matrix/app/v1/ping"), None, "{}").await;
    assert_eq!(unauthorized.0, 401, "the appservice's paths are the appservice's");
    assert!(unauthorized.1.contains("M_MISSING_TOKEN"), "{}", unauthorized.1);

    // A transaction in flight when shutdown begins is finished, recorded and answered.
    let body = json!({"events": [message("$slow")]}).to_string();
    let txn = format!("{url}/_matrix/app/v1/transactions/slow");
    let in_flight = tokio::spawn(async move { call("PUT", &txn, Some(HS_TOKEN), &body).await });
    tokio::time::sleep(Duration::from_millis(150)).await;
    stop.send(()).unwrap();
    assert_eq!(in_flight.await.unwrap().0, 200);
    assert_eq!(handler.events.load(Ordering::SeqCst), 1);
    running.await.unwrap().unwrap();
}
