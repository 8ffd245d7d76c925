//! Concurrent and repeated deliveries: the handler runs once per event, in order, and nothing
//! deadlocks when a delivery is dropped half-way.

use std::{
    future::Future,
    pin::{Pin, pin},
    sync::{Arc, Mutex},
    task::{Context, Poll},
};

use appservice_dispatch::{Dispatcher, Event, Handler, HandlerError, TransactionContext};
use futures::{executor::block_on, future::join_all, task::noop_waker_ref};
use proptest::prelude::*;
use serde_json::{Value, json};

use appservice_conformance::handler::{body, put_txn, registration};

/// Returns `Pending` `n` times (waking itself), so other futures run in between.
struct YieldNow(u32);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 == 0 {
            return Poll::Ready(());
        }
        self.0 -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// A handler that yields inside every event and can fail given events a number of times.
#[derive(Clone, Default)]
struct Slow {
    calls: Arc<Mutex<Vec<(String, String)>>>,
    fail: Arc<Mutex<Vec<(String, u32)>>>,
}

impl Handler for Slow {
    async fn event(
        &self,
        txn: &TransactionContext<'_>,
        event: Event<'_>,
    ) -> Result<(), HandlerError> {
        let id = event.envelope.unwrap().event_id.to_string();
        self.calls.lock().unwrap().push((txn.txn_id.to_owned(), id.clone()));
        YieldNow(3).await;
        let mut fail = self.fail.lock().unwrap();
        if let Some((_, n)) = fail.iter_mut().find(|(e, n)| *e == id && *n > 0) {
            *n -= 1;
            return Err(HandlerError::failed("scripted"));
        }
        Ok(())
    }
}

fn status_and_body(r: &http::Response<bytes::Bytes>) -> (u16, Value) {
    (r.status().as_u16(), serde_json::from_slice(r.body()).unwrap())
}

#[test]
fn concurrent_duplicates_run_the_handler_once() {
    let handler = Slow::default();
    let d = Dispatcher::new(registration("null"), handler.clone());
    let deliveries = (0..10).map(|_| d.dispatch(put_txn("1", body(&[("$a", "!r"), ("$b", "!r")]))));
    let responses = block_on(join_all(deliveries));
    for r in &responses {
        assert_eq!(status_and_body(r), (200, json!({})));
    }
    assert_eq!(
        *handler.calls.lock().unwrap(),
        vec![("1".into(), "$a".into()), ("1".into(), "$b".into())]
    );
}

#[test]
fn duplicates_share_the_failure_of_the_first_delivery() {
    let handler = Slow::default();
    handler.fail.lock().unwrap().push(("$a".into(), 1));
    let d = Dispatcher::new(registration("null"), handler.clone());
    let responses =
        block_on(join_all((0..4).map(|_| d.dispatch(put_txn("1", body(&[("$a", "!r")]))))));
    for r in &responses {
        assert_eq!(r.status(), 500);
    }
    assert_eq!(
        handler.calls.lock().unwrap().len(),
        1,
        "the handler ran once for all four deliveries"
    );
    let retry = block_on(d.dispatch(put_txn("1", body(&[("$a", "!r")]))));
    assert_eq!(retry.status(), 200);
    assert_eq!(handler.calls.lock().unwrap().len(), 2);
}

#[test]
fn transactions_run_one_at_a_time_in_arrival_order() {
    let handler = Slow::default();
    let d = Dispatcher::new(registration("null"), handler.clone());
    let ids: Vec<String> = (0..6).map(|i| i.to_string()).collect();
    let deliveries = ids.iter().map(|id| {
        let events = [(format!("${id}a"), "!r".to_owned()), (format!("${id}b"), "!r".to_owned())];
        let events: Vec<(&str, &str)> =
            events.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        d.dispatch(put_txn(id, body(&events)))
    });
    block_on(join_all(deliveries));
    let calls = handler.calls.lock().unwrap().clone();
    let expected: Vec<(String, String)> = ids
        .iter()
        .flat_map(|id| [(id.clone(), format!("${id}a")), (id.clone(), format!("${id}b"))])
        .collect();
    assert_eq!(calls, expected, "no interleaving between transactions, arrival order kept");
}

/// Polls a future until the handler has been entered, then drops it.
fn start_and_drop<F: Future>(f: F, handler: &Slow, calls_before: usize) {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(noop_waker_ref());
    for _ in 0..100 {
        assert!(f.as_mut().poll(&mut cx).is_pending(), "finished before it could be dropped");
        if handler.calls.lock().unwrap().len() > calls_before {
            return;
        }
    }
    panic!("never reached the handler");
}

#[test]
fn a_dropped_delivery_neither_deadlocks_nor_counts_as_done() {
    let handler = Slow::default();
    let d = Dispatcher::new(registration("null"), handler.clone());
    start_and_drop(d.dispatch(put_txn("1", body(&[("$a", "!r")]))), &handler, 0);
    // The turn was released: another transaction runs.
    assert_eq!(block_on(d.dispatch(put_txn("2", body(&[("$b", "!r")])))).status(), 200);
    // The dropped one was not recorded: its retry runs the handler again (at-least-once).
    assert_eq!(block_on(d.dispatch(put_txn("1", body(&[("$a", "!r")])))).status(), 200);
    let ids: Vec<String> = handler.calls.lock().unwrap().iter().map(|(_, e)| e.clone()).collect();
    assert_eq!(ids, ["$a", "$b", "$a"]);
}

#[test]
fn a_waiting_duplicate_takes_over_when_the_first_delivery_is_dropped() {
    let handler = Slow::default();
    let d = Dispatcher::new(registration("null"), handler.clone());
    let mut first = Box::pin(d.dispatch(put_txn("1", body(&[("$a", "!r")]))));
    let mut second = Box::pin(d.dispatch(put_txn("1", body(&[("$a", "!r")]))));
    let mut cx = Context::from_waker(noop_waker_ref());
    assert!(first.as_mut().poll(&mut cx).is_pending());
    assert!(second.as_mut().poll(&mut cx).is_pending(), "the duplicate waits for the first");
    drop(first);
    let response = block_on(second);
    assert_eq!(response.status(), 200);
    assert_eq!(block_on(d.dispatch(put_txn("1", body(&[("$a", "!r")])))).status(), 200);
    assert_eq!(
        handler.calls.lock().unwrap().len(),
        2,
        "once in the dropped delivery, once in the take-over"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any interleaving of duplicate deliveries of a few transactions: every event is handled
    /// exactly once, every delivery answers 200.
    #[test]
    fn duplicates_in_any_order_are_handled_once(deliveries in prop::collection::vec(0u8..4, 1..16)) {
        let handler = Slow::default();
        let d = Dispatcher::new(registration("null"), handler.clone());
        let bodies: Vec<Vec<u8>> = (0..4).map(|t| {
            let a = format!("${t}a");
            let b = format!("${t}b");
            body(&[(a.as_str(), "!r"), (b.as_str(), "!s")])
        }).collect();
        let responses = block_on(join_all(deliveries.iter().map(|t| d.dispatch(put_txn(&t.to_string(), bodies[usize::from(*t)].clone())))));
        prop_assert!(responses.iter().all(|r| r.status() == 200));
        let mut calls = handler.calls.lock().unwrap().clone();
        let mut distinct: Vec<u8> = deliveries.clone();
        distinct.sort_unstable();
        distinct.dedup();
        prop_assert_eq!(calls.len(), distinct.len() * 2);
        calls.sort();
        calls.dedup();
        prop_assert_eq!(calls.len(), distinct.len() * 2, "an event was handled twice");
    }

    /// A failure at event `k`: the first attempt handles 0..=k, the retry k..n, and then never again.
    #[test]
    fn failure_then_retry_redelivers_once(n in 1usize..8, k in 0usize..8) {
        let k = k % n;
        let handler = Slow::default();
        handler.fail.lock().unwrap().push((format!("${k}"), 1));
        let d = Dispatcher::new(registration("null"), handler.clone());
        let ids: Vec<String> = (0..n).map(|i| format!("${i}")).collect();
        let events: Vec<(&str, &str)> = ids.iter().map(|i| (i.as_str(), "!r")).collect();
        let attempt = || {
            let before = handler.calls.lock().unwrap().len();
            let r = block_on(d.dispatch(put_txn("t", body(&events))));
            let calls: Vec<String> = handler.calls.lock().unwrap()[before..].iter().map(|(_, e)| e.clone()).collect();
            (r.status().as_u16(), calls)
        };
        prop_assert_eq!(attempt(), (500, ids[..=k].to_vec()));
        prop_assert_eq!(attempt(), (200, ids[k..].to_vec()));
        prop_assert_eq!(attempt(), (200, Vec::<String>::new()));
    }

    /// Per-room concurrency: a failure at event `k` stops only its room; the retry handles
    /// exactly the events no attempt handled (`k` and the rest of its room), then never again.
    #[test]
    fn per_room_failure_then_retry_redelivers_once(
        rooms in proptest::collection::vec(0u8..3, 1..8),
        k in 0usize..8,
    ) {
        let n = rooms.len();
        let k = k % n;
        let handler = Slow::default();
        handler.fail.lock().unwrap().push((format!("${k}"), 1));
        let config = appservice_dispatch::DispatchConfig::new()
            .room_concurrency(appservice_dispatch::RoomConcurrency::PerRoom);
        let d = Dispatcher::with_store(
            registration("null"),
            handler.clone(),
            appservice_dispatch::MemoryStore::new(),
            config,
        );
        let ids: Vec<String> = (0..n).map(|i| format!("${i}")).collect();
        let room_ids: Vec<String> = rooms.iter().map(|r| format!("!r{r}")).collect();
        let events: Vec<(&str, &str)> =
            ids.iter().zip(&room_ids).map(|(i, r)| (i.as_str(), r.as_str())).collect();
        let attempt = || {
            let before = handler.calls.lock().unwrap().len();
            let r = block_on(d.dispatch(put_txn("t", body(&events))));
            let mut calls: Vec<String> = handler.calls.lock().unwrap()[before..].iter().map(|(_, e)| e.clone()).collect();
            calls.sort();
            (r.status().as_u16(), calls)
        };
        // The failed room stops at `k`; every other room runs to its end.
        let first: Vec<usize> = (0..n).filter(|&i| rooms[i] != rooms[k] || i <= k).collect();
        let retried: Vec<usize> = (0..n).filter(|&i| rooms[i] == rooms[k] && i >= k).collect();
        let sorted = |is: Vec<usize>| {
            let mut v: Vec<String> = is.into_iter().map(|i| ids[i].clone()).collect();
            v.sort();
            v
        };
        prop_assert_eq!(attempt(), (500, sorted(first)));
        prop_assert_eq!(attempt(), (200, sorted(retried)));
        prop_assert_eq!(attempt(), (200, Vec::<String>::new()));
    }
}

#[test]
fn reports_say_what_happened() {
    use appservice_dispatch::Disposition;
    let handler = Slow::default();
    handler.fail.lock().unwrap().push(("$b".into(), 1));
    let d = Dispatcher::new(registration("null"), handler);
    let run = |id: &str, events: &[(&str, &str)]| {
        block_on(d.dispatch_with_report(put_txn(id, body(events)))).1
    };
    let r = run("1", &[("$a", "!r")]);
    assert_eq!(
        (r.route, r.txn_id.as_deref(), r.events, r.outcome),
        (Some("transaction"), Some("1"), 1, Disposition::Handled)
    );
    assert_eq!(run("1", &[("$a", "!r")]).outcome, Disposition::Duplicate);
    assert_eq!(run("2", &[("$b", "!r")]).outcome, Disposition::Failed);
    let bad = block_on(d.dispatch_with_report(
        http::Request::put("/_matrix/app/v1/transactions/3").body(bytes::Bytes::new()).unwrap(),
    ))
    .1;
    assert_eq!((bad.route, bad.outcome), (Some("transaction"), Disposition::Rejected));
    assert!(
        d.owns_path("/_matrix/app/v1/nope") && d.owns_path("/users/x") && !d.owns_path("/metrics")
    );
}
