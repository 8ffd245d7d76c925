//! The measured section of typed events (#14): dispatch of realistic 50-event transactions
//! through a plain `Handler` against the same handler behind an `EventRouter` whose routes are
//! for other types (nobody routes these events) and with a route for `m.room.message` (its
//! content deserialized), in process, in short interleaved blocks; and the cost of the
//! envelope's typed IDs (`room_id()`, `sender()`, `event_id()`), validated on demand.

use std::{
    hint::black_box,
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use anyhow::{Result, ensure};
use appservice_dispatch::{
    DispatchConfig, Dispatcher, Event, EventRouter, Handler, MemoryStore, RouteFuture,
    TransactionContext, ruma_events,
};
use appservice_types::{ValidatedRegistration, transaction::RawEvent};
use bytes::Bytes;
use ruma_events::{
    StaticEventContent,
    call::invite::CallInviteEventContent,
    room::{
        encrypted::RoomEncryptedEventContent, message::RoomMessageEventContent,
        name::RoomNameEventContent, redaction::RoomRedactionEventContent,
        topic::RoomTopicEventContent,
    },
    sticker::StickerEventContent,
};
use serde::de::DeserializeOwned;

use crate::{
    server::{Counting, HS_TOKEN, registration_yaml},
    workload::Rng,
};

/// Events per transaction (workload A's).
const EVENTS: usize = 50;
/// Distinct bodies the transactions cycle through.
const BODIES: usize = 64;

/// What the section measured: medians of interleaved repetitions.
#[derive(Debug)]
pub(crate) struct Routing {
    /// µs per 50-event transaction: plain handler, router without a route for these
    /// events, router with a route for `m.room.message`.
    pub(crate) us_per_txn: [f64; 3],
    /// Medians of the per-block ratios to the plain handler: unrouted, routed.
    pub(crate) ratios: [f64; 2],
    /// ns per event: the envelope; the envelope plus its three typed IDs.
    pub(crate) id_ns_per_event: [f64; 2],
}

/// A route that counts the events whose content deserialized.
fn count<'a, C: Send + 'static>(
    handler: &'a Counting,
    _txn: &'a TransactionContext<'a>,
    _event: Event<'a>,
    content: Result<C, appservice_dispatch::EventError>,
) -> RouteFuture<'a> {
    Box::pin(async move {
        if content.is_ok() {
            handler.0.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    })
}

fn route<C: StaticEventContent + DeserializeOwned + Send + 'static>(
    router: EventRouter<Counting>,
) -> EventRouter<Counting> {
    router.on::<C, _>(count::<C>)
}

/// A router with six routes, none for a type of the workload's mix.
fn other_routes() -> EventRouter<Counting> {
    let router = EventRouter::new(Counting(Arc::default()));
    let router = route::<RoomEncryptedEventContent>(router);
    let router = route::<StickerEventContent>(router);
    let router = route::<RoomRedactionEventContent>(router);
    let router = route::<RoomNameEventContent>(router);
    let router = route::<RoomTopicEventContent>(router);
    route::<CallInviteEventContent>(router)
}

/// The transactions of one timed run: fresh IDs, bodies shared.
fn requests(bodies: &[Bytes], run: usize, n: usize) -> Result<Vec<http::Request<Bytes>>> {
    let bearer = format!("Bearer {HS_TOKEN}");
    (0..n)
        .map(|i| {
            Ok(http::Request::put(format!("/_matrix/app/v1/transactions/r{run}-{i:08}"))
                .header("authorization", &bearer)
                .body(bodies[i % bodies.len()].clone())?)
        })
        .collect()
}

/// A dispatcher around `handler`, as the load test's servers have.
fn dispatcher<H: Handler>(handler: H) -> Result<Dispatcher<H>> {
    let registration = ValidatedRegistration::parse(&registration_yaml())?;
    Ok(Dispatcher::with_store(registration, handler, MemoryStore::new(), DispatchConfig::new()))
}

/// Dispatches `requests` on this thread; the wall time it took. (Not the thread's CPU time:
/// `schedstat` of a running thread advances only at scheduler ticks, too coarse for a block;
/// a block is kept shorter than a time slice instead, and the median drops the preempted ones.)
fn timed<H: Handler>(d: &Dispatcher<H>, requests: Vec<http::Request<Bytes>>) -> Result<Duration> {
    let n = requests.len();
    let start = Instant::now();
    let ok = requests
        .into_iter()
        .map(|r| futures::executor::block_on(d.dispatch(r)))
        .filter(|r| r.status() == 200)
        .count();
    let elapsed = start.elapsed();
    ensure!(ok == n, "{ok} of {n} transactions answered 200");
    Ok(elapsed)
}

/// `blocks` interleaved blocks (the order of the variants rotated each time) of `n`
/// transactions per variant, each variant on its own dispatcher; medians over the blocks.
pub(crate) fn routing(blocks: usize, n: usize) -> Result<Routing> {
    let mut rng = Rng::new(17);
    let mut serial = 0;
    let bodies: Vec<Bytes> =
        (0..BODIES).map(|_| crate::workload::body(&mut rng, &mut serial, EVENTS)).collect();
    let plain = dispatcher(Counting(Arc::default()))?;
    let unrouted = dispatcher(other_routes())?;
    let routed = dispatcher(route::<RoomMessageEventContent>(other_routes()))?;
    let mut times = [Vec::new(), Vec::new(), Vec::new()];
    let mut ratios = [Vec::new(), Vec::new()];
    for block in 0..blocks {
        let mut block_times = [Duration::ZERO; 3];
        for k in 0..3 {
            let variant = (k + block) % 3;
            let requests = requests(&bodies, block, n)?;
            block_times[variant] = match variant {
                0 => timed(&plain, requests)?,
                1 => timed(&unrouted, requests)?,
                _ => timed(&routed, requests)?,
            };
        }
        for (all, t) in times.iter_mut().zip(block_times) {
            all.push(t.as_nanos() as f64 / 1000.0 / n as f64);
        }
        ratios[0].push(block_times[1].as_secs_f64() / block_times[0].as_secs_f64());
        ratios[1].push(block_times[2].as_secs_f64() / block_times[0].as_secs_f64());
    }
    // Every handler counted every event once (the message route, each content it parsed).
    let expected = (blocks * n * EVENTS) as u64;
    let counts = [
        plain.handler().0.load(Ordering::Relaxed),
        unrouted.handler().handler().0.load(Ordering::Relaxed),
        routed.handler().handler().0.load(Ordering::Relaxed),
    ];
    ensure!(counts == [expected; 3], "counted {counts:?} events, not {expected} each");
    let [plain, unrouted, routed] = times;
    Ok(Routing {
        us_per_txn: [
            crate::median_f64(plain),
            crate::median_f64(unrouted),
            crate::median_f64(routed),
        ],
        ratios: ratios.map(crate::median_f64),
        id_ns_per_event: typed_ids(blocks.min(15), 20)?,
    })
}

/// ns per event, medians of interleaved repetitions: the envelope; the envelope and its typed
/// IDs.
fn typed_ids(reps: usize, rounds: usize) -> Result<[f64; 2]> {
    let events = crate::sections::sample_events(1000)?;
    let envelope = |e: &RawEvent| e.envelope().is_ok();
    let typed = |e: &RawEvent| {
        e.envelope()
            .is_ok_and(|v| v.room_id().is_ok() && v.sender().is_ok() && v.event_id().is_ok())
    };
    let time = |f: &dyn Fn(&RawEvent) -> bool| -> Result<f64> {
        let start = Instant::now();
        for _ in 0..rounds {
            let n = events.iter().filter(|e| black_box(f(e))).count();
            ensure!(n == events.len(), "a sample event has an invalid envelope or ID");
        }
        Ok(start.elapsed().as_nanos() as f64 / (rounds * events.len()) as f64)
    };
    let mut samples = [Vec::new(), Vec::new()];
    for _ in 0..reps {
        samples[0].push(time(&envelope)?);
        samples[1].push(time(&typed)?);
    }
    Ok(samples.map(crate::median_f64))
}

/// The section's report.
#[allow(clippy::print_stdout)] // The report is the bench's output.
pub(crate) fn print(blocks: usize, n: usize, r: &Routing) {
    println!(
        "\nEvent routing (in process, {blocks} interleaved blocks of {n} transactions of {EVENTS} \
         events per variant, medians, µs/transaction):\n  \
         plain Handler                                        {:>7.1}\n  \
         EventRouter, six routes, none for these events       {:>7.1}  ({:.3}× plain)\n  \
         EventRouter, a route for m.room.message (content)    {:>7.1}  ({:.3}× plain)\n  \
         typed IDs: envelope {:.0} ns/event, + room_id/sender/event_id {:.0} ns/event\n  \
         unrouted ≤ 1.05× plain: {}",
        r.us_per_txn[0],
        r.us_per_txn[1],
        r.ratios[0],
        r.us_per_txn[2],
        r.ratios[1],
        r.id_ns_per_event[0],
        r.id_ns_per_event[1],
        if r.ratios[0] <= 1.05 { "met" } else { "MISSED" },
    );
}

impl Routing {
    /// The figures for the driver's JSON report.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "us_per_50_event_txn": {
                "plain_handler": self.us_per_txn[0],
                "router_unrouted": self.us_per_txn[1],
                "router_routed_message": self.us_per_txn[2],
            },
            "ratio_to_plain": { "unrouted": self.ratios[0], "routed": self.ratios[1] },
            "typed_ids_ns_per_event": {
                "envelope": self.id_ns_per_event[0],
                "envelope_and_ids": self.id_ns_per_event[1],
            },
        })
    }
}
