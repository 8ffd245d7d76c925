//! `EventRouter` behind a real `Dispatcher`: routed and unrouted events of one transaction reach
//! their places in order; a route's failure fails the transaction (500, not recorded), and the
//! homeserver's retry hands the handler only what the failed attempt did not finish.

use std::sync::{Arc, Mutex};

use appservice_conformance::handler::{put_txn, registration};
use appservice_dispatch::{
    Dispatcher, Event, EventRouter, Handler, HandlerError, TransactionContext,
    ruma_events::room::message::RoomMessageEventContent,
};
use futures::executor::block_on;
use serde_json::json;

#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Handler for Log {
    async fn event(
        &self,
        _: &TransactionContext<'_>,
        event: Event<'_>,
    ) -> Result<(), HandlerError> {
        let id = event.envelope.map(|e| e.event_id.to_string()).unwrap_or_default();
        self.0.lock().unwrap().push(format!("handler {id}"));
        Ok(())
    }
}

fn router(log: Log) -> EventRouter<Log> {
    EventRouter::new(log).on::<RoomMessageEventContent, _>(|log, txn, event, content| {
        Box::pin(async move {
            let envelope = event.envelope.ok_or_else(|| HandlerError::failed("no envelope"))?;
            let content = content.map_err(HandlerError::failed)?;
            let event_id = envelope.event_id().map_err(HandlerError::failed)?;
            let line = format!("{} message {event_id} {}", txn.txn_id, content.body());
            log.0.lock().unwrap().push(line);
            Ok(())
        })
    })
}

fn event(id: &str, event_type: &str, content: serde_json::Value) -> serde_json::Value {
    json!({"type": event_type, "event_id": id, "room_id": "!r:example.org",
           "sender": "@alice:example.org", "origin_server_ts": 1, "content": content})
}

fn body(events: &[serde_json::Value]) -> Vec<u8> {
    serde_json::to_vec(&json!({ "events": events })).unwrap()
}

#[test]
fn routed_and_unrouted_events_reach_their_places_and_failures_fail_the_transaction() {
    let log = Log::default();
    let d = Dispatcher::new(registration("null"), router(log.clone()));
    let text = json!({"msgtype": "m.text", "body": "hi"});
    let ok =
        body(&[event("$1", "m.room.message", text.clone()), event("$2", "m.reaction", json!({}))]);
    assert_eq!(block_on(d.dispatch(put_txn("1", ok))).status(), 200);
    assert_eq!(*log.0.lock().unwrap(), ["1 message $1 hi", "handler $2"]);
    log.0.lock().unwrap().clear();

    // Malformed content reaches the route as an error; this route fails the transaction.
    let bad = body(&[
        event("$3", "m.room.message", text.clone()),
        event("$4", "m.room.message", json!({"msgtype": "m.text"})),
    ]);
    assert_eq!(block_on(d.dispatch(put_txn("2", bad.clone()))).status(), 500);
    assert_eq!(*log.0.lock().unwrap(), ["2 message $3 hi"]);
    // The retry skips what succeeded and fails again on the same event.
    assert_eq!(block_on(d.dispatch(put_txn("2", bad))).status(), 500);
    assert_eq!(log.0.lock().unwrap().len(), 1);
}
