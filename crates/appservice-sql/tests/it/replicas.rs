//! Two replicas (two pools, two dispatchers) on one PostgreSQL database behave as one
//! appservice: a duplicate at the other replica waits and is not handled twice, a retry
//! that lands on the other replica is acknowledged without the handler, and every
//! transaction's writes happen once.

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use appservice_conformance::handler::{body, put_txn, registration};
use appservice_dispatch::{
    DispatchConfig, Dispatcher, Event, Handler, HandlerError, TransactionContext,
};

use crate::support::{Database, Kind, RowWriter, rows};

/// [`RowWriter`], slowed down so that deliveries overlap.
#[derive(Clone, Default)]
struct Slow(RowWriter);

impl Handler for Slow {
    async fn event(
        &self,
        txn: &TransactionContext<'_>,
        event: Event<'_>,
    ) -> Result<(), HandlerError> {
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.0.event(txn, event).await
    }
}

#[tokio::test]
async fn two_replicas_on_one_database_handle_each_transaction_once() {
    let db = Database::new(Kind::Postgres).await;
    let (a, b) = (db.store().await, db.store().await);
    let (ha, hb) = (Slow::default(), Slow::default());
    let ra = Arc::new(Dispatcher::with_store(
        registration("null"),
        ha.clone(),
        a.clone(),
        DispatchConfig::default(),
    ));
    let rb = Arc::new(Dispatcher::with_store(
        registration("null"),
        hb.clone(),
        b,
        DispatchConfig::default(),
    ));

    // The same transaction at both replicas at once (a homeserver's retry after a timeout,
    // routed to the other replica): one runs the handler, the other waits for its turn, finds
    // the record and acknowledges.
    let txn = || put_txn("1", body(&[("$a", "!r"), ("$b", "!r")]));
    let (x, y) = tokio::join!(ra.dispatch(txn()), rb.dispatch(txn()));
    assert_eq!((x.status().as_u16(), y.status().as_u16()), (200, 200));
    let calls = ha.0.calls.load(Ordering::SeqCst) + hb.0.calls.load(Ordering::SeqCst);
    assert_eq!(calls, 2, "two events, handled once between the replicas");

    // Transactions alternate between the replicas (round-robin balancer); each retried once on
    // the other replica.
    for i in 2..12 {
        let events = [(format!("$e{i:02}"), "!r".to_owned())];
        let pairs: Vec<(&str, &str)> =
            events.iter().map(|(e, r)| (e.as_str(), r.as_str())).collect();
        let (first, retry) = if i % 2 == 0 { (&ra, &rb) } else { (&rb, &ra) };
        assert_eq!(first.dispatch(put_txn(&i.to_string(), body(&pairs))).await.status(), 200);
        assert_eq!(retry.dispatch(put_txn(&i.to_string(), body(&pairs))).await.status(), 200);
    }
    let mut expected: Vec<String> = vec!["$a".into(), "$b".into()];
    expected.extend((2..12).map(|i| format!("$e{i:02}")));
    assert_eq!(rows(&a).await, expected);
    let calls = ha.0.calls.load(Ordering::SeqCst) + hb.0.calls.load(Ordering::SeqCst);
    assert_eq!(calls, 2 + 10);
}
