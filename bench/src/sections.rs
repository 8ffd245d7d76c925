//! The measured sections beside the load test: typed access vs ruma's `AnyTimelineEvent`, the
//! persistent store vs an append+fsync floor, memory flatness of the bounded store.

use std::{
    hint::black_box,
    io::Write as _,
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Result, ensure};
use appservice_dispatch::{
    DispatchConfig, Dispatcher, Event, Fingerprint, Handler, HandlerError, MemoryStore,
    TransactionContext, TransactionStore as _,
};
use appservice_fs_store::FileStore;
use appservice_types::{
    ValidatedRegistration,
    transaction::{RawEvent, Transaction},
};
use bytes::Bytes;
use ruma_events::{AnyTimelineEvent, room::message::OriginalRoomMessageEvent};
use serde_json::value::RawValue;

use crate::{
    server::{HS_TOKEN, registration_yaml},
    workload::{Rng, event},
};

/// `n` realistic events (the load test's mix), as the dispatcher holds them (their envelope's
/// place already found by the transaction parse, which the transaction-parse section measures).
pub(crate) fn sample_events(n: usize) -> Result<Vec<RawEvent>> {
    let mut rng = Rng::new(42);
    (0..n as u64).map(|i| Ok(RawEvent::from_json(&event(&mut rng, i))?)).collect()
}

/// What the handler gets for every event: the envelope (type, event ID, room, sender).
pub(crate) fn envelopes(events: &[RawEvent]) -> usize {
    events.iter().filter(|e| e.envelope().is_ok()).count()
}

/// Envelope for every event, plus opt-in typed access to the common type the handler wants
/// (`m.room.message`, ruma's own `OriginalRoomMessageEvent`).
pub(crate) fn envelopes_and_typed(events: &[RawEvent]) -> usize {
    let mut n = 0;
    for e in events {
        let Ok(env) = e.envelope() else { continue };
        if env.event_type == "m.room.message" {
            if e.deserialize::<OriginalRoomMessageEvent>().is_ok() {
                n += 1;
            }
        } else {
            n += 1;
        }
    }
    n
}

/// The alternative: every event deserialized into ruma's `AnyTimelineEvent`.
pub(crate) fn ruma_any(events: &[RawEvent]) -> usize {
    events.iter().filter(|e| e.deserialize::<AnyTimelineEvent>().is_ok()).count()
}

fn time(f: impl Fn() -> usize, expect: usize, rounds: usize) -> Result<Duration> {
    let start = Instant::now();
    for _ in 0..rounds {
        ensure!(black_box(f()) == expect, "a sample event failed to parse");
    }
    Ok(start.elapsed())
}

/// Medians over `reps` interleaved repetitions: ns per event for (envelope, envelope + typed,
/// ruma `AnyTimelineEvent`).
pub(crate) fn typed_vs_ruma(reps: usize, rounds: usize) -> Result<[f64; 3]> {
    let events = sample_events(1000)?;
    let n = events.len();
    let mut samples = [Vec::new(), Vec::new(), Vec::new()];
    for _ in 0..reps {
        samples[0].push(time(|| envelopes(&events), n, rounds)?);
        samples[1].push(time(|| envelopes_and_typed(&events), n, rounds)?);
        samples[2].push(time(|| ruma_any(&events), n, rounds)?);
    }
    let per_event = |s: &mut Vec<Duration>| {
        crate::median_f64(s.iter().map(|d| d.as_nanos() as f64 / (n * rounds) as f64).collect())
    };
    Ok([per_event(&mut samples[0]), per_event(&mut samples[1]), per_event(&mut samples[2])])
}

/// Medians over `reps` interleaved repetitions, µs per 50-event body: (`Transaction::from_slice`
/// followed by the envelope of every event, as the dispatcher does; the parse floor's
/// `Vec<Box<RawValue>>`).
pub(crate) fn parse(reps: usize, rounds: usize) -> Result<[f64; 2]> {
    #[derive(serde::Deserialize)]
    struct Floor {
        events: Vec<Box<RawValue>>,
    }
    let mut rng = Rng::new(5);
    let mut serial = 0;
    let body = crate::workload::body(&mut rng, &mut serial, 50);
    let current = || -> usize {
        Transaction::from_slice(&body)
            .map(|t| t.envelopes().filter(Result::is_ok).count())
            .unwrap_or_default()
    };
    let floor = || -> usize {
        serde_json::from_slice::<Floor>(&body).map(|f| f.events.len()).unwrap_or_default()
    };
    let mut samples = [Vec::new(), Vec::new()];
    for _ in 0..reps {
        samples[0].push(time(current, 50, rounds)?);
        samples[1].push(time(floor, 50, rounds)?);
    }
    let per_body = |s: &[Duration]| {
        crate::median_f64(s.iter().map(|d| d.as_nanos() as f64 / 1000.0 / rounds as f64).collect())
    };
    Ok([per_body(&samples[0]), per_body(&samples[1])])
}

/// Medians over `reps` interleaved repetitions of `n` records each: µs per record for
/// (`FileStore::record`, append + `sync_data` floor). The directory is `base` (on the disk
/// under test).
pub(crate) fn fsync(reps: usize, n: usize, base: &std::path::Path) -> Result<[f64; 2]> {
    let mut ours = Vec::new();
    let mut floor = Vec::new();
    for rep in 0..reps {
        let dir = tempfile::tempdir_in(base)?;
        let store = FileStore::open(dir.path().join("store"))?;
        let start = Instant::now();
        for i in 0..n {
            let id = format!("r{rep}-txn-{i:08}");
            futures::executor::block_on(store.record(&id, Fingerprint(i as u64)))?;
        }
        ours.push(start.elapsed().as_nanos() as f64 / 1000.0 / n as f64);

        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.path().join("floor.log"))?;
        let start = Instant::now();
        for i in 0..n {
            // About the size of the store's line (version, ID, fingerprint, checksum).
            writeln!(file, "v1 r{rep}-txn-{i:08} {:016x} {:08x}", i as u64 * 7919, i as u32)?;
            file.sync_data()?;
        }
        floor.push(start.elapsed().as_nanos() as f64 / 1000.0 / n as f64);
    }
    Ok([crate::median_f64(ours), crate::median_f64(floor)])
}

struct Nop;

impl Handler for Nop {
    async fn event(
        &self,
        _txn: &TransactionContext<'_>,
        _event: Event<'_>,
    ) -> Result<(), HandlerError> {
        Ok(())
    }
}

/// `appservice-bench memory N`: N one-event transactions through a dispatcher with the default
/// bounded `MemoryStore` (in process, no HTTP); prints `VmHWM VmRSS` in KiB.
#[allow(clippy::print_stdout)] // The result is this mode's output, read by the driver.
pub(crate) fn memory_child(n: usize) -> Result<()> {
    let registration = ValidatedRegistration::parse(&registration_yaml())?;
    let dispatcher =
        Dispatcher::with_store(registration, Nop, MemoryStore::new(), DispatchConfig::new());
    let mut requests = MemoryRequests::new();
    for i in 0..n {
        let response = futures::executor::block_on(dispatcher.dispatch(requests.next(i)?));
        ensure!(response.status() == 200, "transaction {i} answered {}", response.status());
    }
    ensure!(dispatcher.store().len() == n.min(10_000), "the store is not bounded at 10 000");
    let (hwm, rss) = rss_kib()?;
    println!("{hwm} {rss}");
    Ok(())
}

/// The one-event transactions of the memory checks, made one at a time (none kept).
struct MemoryRequests {
    rng: Rng,
    bearer: String,
}

impl MemoryRequests {
    fn new() -> Self {
        Self { rng: Rng::new(9), bearer: format!("Bearer {HS_TOKEN}") }
    }

    /// Transaction `i`: a new ID and a new event.
    fn next(&mut self, i: usize) -> Result<http::Request<Bytes>> {
        let body = format!(r#"{{"events":[{}]}}"#, event(&mut self.rng, i as u64));
        Ok(http::Request::put(format!("/_matrix/app/v1/transactions/txn-{i:010}"))
            .header("authorization", &self.bearer)
            .body(Bytes::from(body))?)
    }
}

/// This process's peak and current RSS, in KiB.
fn rss_kib() -> Result<(u64, u64)> {
    Ok((
        crate::procstat::status_kib("self", "VmHWM")?,
        crate::procstat::status_kib("self", "VmRSS")?,
    ))
}

/// `appservice-bench memory-sqlite N DIR`: as [`memory_child`], with `SqlStore` on SQLite in
/// DIR (default bounds: 10 000 records, pruned every 100 commits); prints `VmHWM VmRSS records`.
#[allow(clippy::print_stdout)] // The result is this mode's output.
pub(crate) fn memory_sqlite(n: usize, dir: &Path) -> Result<()> {
    let dir = dir.display();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let url = format!("sqlite://{dir}/memory.db");
        let store =
            appservice_sql::SqlStore::connect(&url, appservice_sql::SqlConfig::default()).await?;
        let registration = ValidatedRegistration::parse(&registration_yaml())?;
        let dispatcher =
            Dispatcher::with_store(registration, Nop, store.clone(), DispatchConfig::new());
        let mut requests = MemoryRequests::new();
        for i in 0..n {
            let response = dispatcher.dispatch(requests.next(i)?).await;
            ensure!(response.status() == 200, "transaction {i} answered {}", response.status());
        }
        let records = store.record_count().await?;
        let (hwm, rss) = rss_kib()?;
        println!("{hwm} {rss} {records}");
        anyhow::Ok(())
    })
}

/// `appservice-bench dispatch-loop N EVENTS`: N transactions of EVENTS events each (the load
/// test's event mix, new IDs every time) through a dispatcher with the default `MemoryStore`, in
/// process with `block_on` (no HTTP, no runtime), requests built beforehand. Meant for
/// instruction counts of the dispatcher's own work: `valgrind --tool=callgrind
/// --toggle-collect='*dispatch_requests*' appservice-bench dispatch-loop 2000 50`.
#[allow(clippy::print_stdout)] // The result is this mode's output.
pub(crate) fn dispatch_loop(n: usize, events: usize) -> Result<()> {
    let registration = ValidatedRegistration::parse(&registration_yaml())?;
    let dispatcher =
        Dispatcher::with_store(registration, Nop, MemoryStore::new(), DispatchConfig::new());
    let mut rng = Rng::new(11);
    let mut serial = 0;
    let bearer = format!("Bearer {HS_TOKEN}");
    let mut requests = Vec::with_capacity(n);
    for i in 0..n {
        let body = crate::workload::body(&mut rng, &mut serial, events);
        requests.push(
            http::Request::put(format!("/_matrix/app/v1/transactions/txn-{i:010}"))
                .header("authorization", &bearer)
                .body(body)?,
        );
    }
    let ok = dispatch_requests(&dispatcher, requests);
    ensure!(ok == n, "{} of {n} transactions answered 200", ok);
    println!("{n} transactions of {events} events dispatched");
    Ok(())
}

/// `appservice-bench queue N`: N one-event transactions dispatched at once, each on a task of
/// its own on a two-worker tokio runtime (as the server runs them), so N-1 of them wait in the
/// dispatcher's turn queue; prints the process CPU time they took. The queue's cost per
/// transaction should not grow with N: compare `queue 1000` with `queue 10000`.
#[allow(clippy::print_stdout)] // The result is this mode's output.
pub(crate) fn queue(n: usize) -> Result<()> {
    let registration = ValidatedRegistration::parse(&registration_yaml())?;
    let dispatcher =
        Dispatcher::with_store(registration, Nop, MemoryStore::new(), DispatchConfig::new());
    let mut rng = Rng::new(13);
    let mut serial = 0;
    let bearer = format!("Bearer {HS_TOKEN}");
    let mut requests = Vec::with_capacity(n);
    for i in 0..n {
        let body = crate::workload::body(&mut rng, &mut serial, 1);
        requests.push(
            http::Request::put(format!("/_matrix/app/v1/transactions/q-{i:010}"))
                .header("authorization", &bearer)
                .body(body)?,
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build()?;
    let ticks = crate::procstat::clock_ticks();
    let before = crate::procstat::cpu_time(std::process::id(), ticks)?;
    let ok = runtime.block_on(async {
        let tasks: Vec<_> = requests
            .into_iter()
            .map(|r| {
                let d = dispatcher.clone();
                tokio::spawn(async move { d.dispatch(r).await.status() == 200 })
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            ok += usize::from(t.await.unwrap_or(false));
        }
        ok
    });
    let cpu = crate::procstat::cpu_time(std::process::id(), ticks)? - before;
    ensure!(ok == n, "{} of {n} transactions answered 200", ok);
    println!(
        "{n} concurrent transactions: {:.3} s CPU, {:.1} us per transaction",
        cpu.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / n as f64
    );
    Ok(())
}

/// The measured part of [`dispatch_loop`]: how many requests were answered 200.
#[inline(never)]
fn dispatch_requests(dispatcher: &Dispatcher<Nop>, requests: Vec<http::Request<Bytes>>) -> usize {
    requests
        .into_iter()
        .map(|r| futures::executor::block_on(dispatcher.dispatch(r)))
        .filter(|r| r.status() == 200)
        .count()
}
