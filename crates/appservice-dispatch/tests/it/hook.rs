//! `Hooked`: the hook sees each event before the handler; a failing hook fails the transaction
//! before the handler sees the event; other requests reach the handler unchanged.

use std::sync::{Arc, Mutex};

use appservice_conformance::handler::{body, put_txn, registration};
use appservice_dispatch::{
    Dispatcher, Event, EventHook, Handler, HandlerError, Hooked, TransactionContext,
};
use futures::executor::block_on;

#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Handler for Log {
    async fn event(
        &self,
        _: &TransactionContext<'_>,
        event: Event<'_>,
    ) -> Result<(), HandlerError> {
        self.0.lock().unwrap().push(format!("handler {}", event.envelope.unwrap().event_id));
        Ok(())
    }

    async fn ping(&self, _: Option<&str>) -> Result<(), HandlerError> {
        self.0.lock().unwrap().push("ping".into());
        Ok(())
    }
}

struct Hook(Log);

impl EventHook for Hook {
    async fn before_event(
        &self,
        _: &TransactionContext<'_>,
        event: Event<'_>,
    ) -> Result<(), HandlerError> {
        let id = event.envelope.unwrap().event_id.to_string();
        self.0.0.lock().unwrap().push(format!("hook {id}"));
        if id == "$bad" {
            return Err(HandlerError::failed("hook refused"));
        }
        Ok(())
    }
}

#[test]
fn the_hook_runs_before_the_handler_and_its_failure_fails_the_transaction() {
    let log = Log::default();
    let d = Dispatcher::new(registration("null"), Hooked::new(log.clone(), Hook(log.clone())));
    assert_eq!(
        block_on(d.dispatch(put_txn("1", body(&[("$a", "!r"), ("$bad", "!r")])))).status(),
        500
    );
    assert_eq!(*log.0.lock().unwrap(), ["hook $a", "handler $a", "hook $bad"]);

    let ping = http::Request::post("/_matrix/app/v1/ping")
        .header("authorization", format!("Bearer {}", appservice_conformance::handler::HS_TOKEN))
        .body(bytes::Bytes::from_static(b"{}"))
        .unwrap();
    assert_eq!(block_on(d.dispatch(ping)).status(), 200);
    assert_eq!(log.0.lock().unwrap().last().map(String::as_str), Some("ping"));
}

/// Records pings, and each event's ID with its name.
struct Named(&'static str, Log);

impl EventHook for Named {
    async fn before_event(
        &self,
        _: &TransactionContext<'_>,
        event: Event<'_>,
    ) -> Result<(), HandlerError> {
        self.1.0.lock().unwrap().push(format!("{} {}", self.0, event.envelope.unwrap().event_id));
        Ok(())
    }

    fn ping_received(&self, transaction_id: Option<&str>) {
        self.1.0.lock().unwrap().push(format!("{} ping {transaction_id:?}", self.0));
    }
}

#[test]
fn two_hooks_run_in_order_and_both_see_pings_before_the_handler() {
    let log = Log::default();
    let hooks = (Named("first", log.clone()), Some(Named("second", log.clone())));
    let d = Dispatcher::new(registration("null"), Hooked::new(log.clone(), hooks));
    assert_eq!(block_on(d.dispatch(put_txn("1", body(&[("$a", "!r")])))).status(), 200);
    let ping = http::Request::post("/_matrix/app/v1/ping")
        .header("authorization", format!("Bearer {}", appservice_conformance::handler::HS_TOKEN))
        .body(bytes::Bytes::from_static(br#"{"transaction_id":"t1"}"#))
        .unwrap();
    assert_eq!(block_on(d.dispatch(ping)).status(), 200);
    assert_eq!(
        *log.0.lock().unwrap(),
        [
            "first $a",
            "second $a",
            "handler $a",
            "first ping Some(\"t1\")",
            "second ping Some(\"t1\")",
            "ping"
        ]
    );
}
