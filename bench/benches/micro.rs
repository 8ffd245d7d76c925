//! Criterion micro benchmarks of appservice-rs (`cargo bench -p appservice-bench`); see
//! `docs/performance.md`. Each group compares ours with a baseline measured in the same run.

#![allow(missing_docs)] // criterion's macros generate undocumented public functions.

#[allow(dead_code, unreachable_pub)] // Shared with the load generator; not all of it is used here.
#[path = "../src/workload.rs"]
mod workload;

use std::{
    hint::black_box,
    sync::atomic::{AtomicU64, Ordering},
    task::{Context, Poll},
    time::Duration,
};

use appservice_client::{Client, Identity, ruma_client_api::message::send_message_event};
use appservice_dispatch::{
    DispatchConfig, Dispatcher, Event, Fingerprint, Handler, HandlerError, MemoryStore,
    TransactionContext, TransactionStore as _,
};
use appservice_fs_store::FileStore;
use appservice_types::{
    NamespaceMatcher, Secret, ValidatedRegistration,
    transaction::{RawEvent, Transaction},
};
use bytes::Bytes;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use futures::executor::block_on;
use ruma_events::{
    AnyTimelineEvent,
    room::message::{OriginalRoomMessageEvent, RoomMessageEventContent},
};
use serde_json::value::RawValue;
use workload::{Rng, event};

const HS_TOKEN: &str = "bench_hs_token_0123456789abcdef";

/// A registration with `n` user namespaces (bridge-style patterns, all different).
fn registration(n: usize) -> String {
    let mut yaml = format!(
        "id: bench\nurl: http://127.0.0.1:9000\nas_token: bench_as_token_0123456789abcdef\n\
         hs_token: {HS_TOKEN}\nsender_localpart: benchbot\nrate_limited: false\nnamespaces:\n  users:\n"
    );
    for i in 0..n {
        let regex = match i % 4 {
            0 => format!("@bridge{i}_.*:example\\.org"),
            1 => format!("@_net{i}_[0-9]+:example\\.org"),
            2 => format!("@(tg|wa){i}_[a-z0-9]+:bridge\\.example\\.com"),
            _ => format!("@irc{i}_.+:example\\.org"),
        };
        yaml.push_str(&format!("    - exclusive: true\n      regex: '{regex}'\n"));
    }
    yaml.push_str(
        "  aliases:\n    - exclusive: true\n      regex: '#bridge_.*:example\\.org'\n  rooms: []\n",
    );
    yaml
}

/// User IDs to match: a realistic mix, mostly *not* ours (the common case for senders).
fn user_ids(n: usize) -> Vec<String> {
    let mut rng = Rng::new(3);
    (0..200)
        .map(|i| match i % 5 {
            0 => format!("@bridge{}_alice{i}:example.org", rng.below(n as u64)),
            1 => format!("@_net{}_{}:example.org", rng.below(n as u64), rng.below(1_000_000)),
            _ => format!("@user{}:example.org", rng.below(10_000)),
        })
        .collect()
}

fn registration_validation(c: &mut Criterion) {
    let yaml = registration(20);
    let mut group = c.benchmark_group("registration");
    group.bench_function("validate (20 namespaces)", |b| {
        b.iter(|| ValidatedRegistration::parse(black_box(&yaml)).map(|r| r.id().len()))
    });
    group.finish();
}

fn namespace_matching(c: &mut Criterion) {
    let mut group = c.benchmark_group("namespace");
    for n in [1, 20, 200] {
        let validated = ValidatedRegistration::parse(&registration(n)).expect("valid registration");
        let matcher: &NamespaceMatcher = validated.users();
        // The baseline: one regex per namespace, start-anchored like Python's `re.match`.
        let loop_regexes: Vec<regex::Regex> = matcher
            .namespaces()
            .iter()
            .map(|ns| regex::Regex::new(&format!(r"\A(?:{})", ns.regex)).expect("valid regex"))
            .collect();
        let ids = user_ids(n);
        let hits = ids.iter().filter(|id| matcher.is_match(id)).count();
        assert_eq!(
            hits,
            ids.iter().filter(|id| loop_regexes.iter().any(|r| r.is_match(id))).count()
        );
        group.throughput(Throughput::Elements(ids.len() as u64));
        group.bench_function(format!("NamespaceMatcher/{n}"), |b| {
            b.iter(|| ids.iter().filter(|id| matcher.is_match(black_box(id))).count())
        });
        group.bench_function(format!("loop of regexes/{n}"), |b| {
            b.iter(|| {
                ids.iter()
                    .filter(|id| loop_regexes.iter().any(|r| r.is_match(black_box(id))))
                    .count()
            })
        });
    }
    group.finish();
}

fn body(n: usize) -> Bytes {
    let mut rng = Rng::new(11);
    let mut serial = 0;
    workload::body(&mut rng, &mut serial, n)
}

fn transaction_parsing(c: &mut Criterion) {
    let body = body(50);
    let mut group = c.benchmark_group("transaction parse (50 events)");
    group.throughput(Throughput::Elements(50));
    group.bench_function("Transaction + envelopes (ours, lazy)", |b| {
        b.iter(|| {
            let txn = Transaction::from_slice(black_box(&body)).expect("valid");
            txn.envelopes().filter(Result::is_ok).count()
        })
    });
    group.bench_function("parse floor: Vec<Box<RawValue>>", |b| {
        #[derive(serde::Deserialize)]
        struct Floor {
            events: Vec<Box<RawValue>>,
        }
        b.iter(|| serde_json::from_slice::<Floor>(black_box(&body)).map(|f| f.events.len()))
    });
    group.bench_function("serde_json::Value", |b| {
        b.iter(|| {
            serde_json::from_slice::<serde_json::Value>(black_box(&body))
                .map(|v| v["events"].as_array().map(Vec::len))
        })
    });
    group.finish();
}

fn typed_access(c: &mut Criterion) {
    let mut rng = Rng::new(42);
    let events: Vec<RawEvent> =
        (0..1000).map(|i| RawEvent::from_json(&event(&mut rng, i)).expect("valid JSON")).collect();
    let mut group = c.benchmark_group("typed access (1000 events)");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("envelope only", |b| {
        b.iter(|| events.iter().filter(|e| e.envelope().is_ok()).count())
    });
    group.bench_function("envelope + typed m.room.message", |b| {
        b.iter(|| {
            events
                .iter()
                .filter(|e| match e.envelope() {
                    Ok(env) if env.event_type == "m.room.message" => {
                        e.deserialize::<OriginalRoomMessageEvent>().is_ok()
                    }
                    Ok(_) => true,
                    Err(_) => false,
                })
                .count()
        })
    });
    group.bench_function("ruma AnyTimelineEvent", |b| {
        b.iter(|| events.iter().filter(|e| e.deserialize::<AnyTimelineEvent>().is_ok()).count())
    });
    group.finish();
}

struct Counting(AtomicU64);

impl Handler for Counting {
    async fn event(
        &self,
        _txn: &TransactionContext<'_>,
        event: Event<'_>,
    ) -> Result<(), HandlerError> {
        if event.envelope.is_some() {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

fn dispatcher_routing_auth(c: &mut Criterion) {
    let validated = ValidatedRegistration::parse(&registration(20)).expect("valid registration");
    let dispatcher = Dispatcher::with_store(
        validated,
        Counting(AtomicU64::new(0)),
        MemoryStore::new(),
        DispatchConfig::new(),
    );
    let one = body(1);
    let fifty = body(50);
    let bearer = format!("Bearer {HS_TOKEN}");
    let mut serial = 0u64;
    let mut group = c.benchmark_group("dispatcher");
    for (name, body) in [("transaction (1 event)", &one), ("transaction (50 events)", &fifty)] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    serial += 1;
                    http::Request::put(format!("/_matrix/app/v1/transactions/t{serial}"))
                        .header("authorization", &bearer)
                        .body(body.clone())
                        .expect("valid request")
                },
                |request| block_on(dispatcher.dispatch(request)).status(),
                BatchSize::SmallInput,
            )
        });
    }
    group.bench_function("duplicate transaction (dedupe)", |b| {
        let request = || {
            http::Request::put("/_matrix/app/v1/transactions/dup")
                .header("authorization", &bearer)
                .body(one.clone())
                .expect("valid request")
        };
        assert_eq!(block_on(dispatcher.dispatch(request())).status(), 200);
        b.iter_batched(
            request,
            |r| block_on(dispatcher.dispatch(r)).status(),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("wrong token (auth, 403)", |b| {
        b.iter_batched(
            || {
                http::Request::put("/_matrix/app/v1/transactions/x")
                    .header("authorization", "Bearer wrong_token_0123456789abcdefgh")
                    .body(one.clone())
                    .expect("valid request")
            },
            |r| block_on(dispatcher.dispatch(r)).status(),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("user query (route, auth, namespace, handler)", |b| {
        b.iter_batched(
            || {
                http::Request::get("/_matrix/app/v1/users/%40bridge0_alice%3Aexample.org")
                    .header("authorization", &bearer)
                    .body(Bytes::new())
                    .expect("valid request")
            },
            |r| block_on(dispatcher.dispatch(r)).status(),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn stores(c: &mut Criterion) {
    let mut group = c.benchmark_group("store");
    let memory = MemoryStore::new();
    let mut i = 0u64;
    group.bench_function("MemoryStore record", |b| {
        b.iter_batched(
            || {
                i += 1;
                format!("txn-{i:012}")
            },
            |id| block_on(memory.record(&id, Fingerprint(7))),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("MemoryStore lookup (hit)", |b| {
        let id = format!("txn-{:012}", i.max(1));
        b.iter(|| block_on(memory.lookup(black_box(&id))))
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let file = FileStore::open(dir.path().join("store")).expect("open store");
    group.sample_size(20).measurement_time(Duration::from_secs(3));
    group.bench_function("FileStore record (append + fsync)", |b| {
        b.iter_batched(
            || {
                i += 1;
                format!("txn-{i:012}")
            },
            |id| block_on(file.record(&id, Fingerprint(7))),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("FileStore lookup (hit)", |b| {
        let id = format!("txn-{i:012}");
        b.iter(|| block_on(file.lookup(black_box(&id))))
    });
    group.finish();
}

/// A transport that answers every request at once, for measuring the client's own work.
#[derive(Clone)]
struct Answer;

impl tower_service::Service<http::Request<Bytes>> for Answer {
    type Response = http::Response<http_body_util::Full<Bytes>>;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Bytes>) -> Self::Future {
        black_box(request);
        let body = Bytes::from_static(br#"{"event_id":"$abc:example.org"}"#);
        std::future::ready(Ok(http::Response::new(http_body_util::Full::new(body))))
    }
}

fn client_requests(c: &mut Criterion) {
    let client = Client::new(
        "http://hs.example.org",
        Secret::new("bench_as_token_0123456789abcdef".to_owned()),
        "example.org".try_into().expect("server name"),
        Answer,
    )
    .expect("client");
    let user = ruma_common::OwnedUserId::try_from("@bridge0_alice:example.org").expect("user ID");
    let identity = Identity::user(user);
    let room = ruma_common::OwnedRoomId::try_from("!room1:example.org").expect("room ID");
    let content = RoomMessageEventContent::text_plain("hello from the bridge");
    let mut group = c.benchmark_group("client");
    group.bench_function("send_message_event (build, identity assertion, parse answer)", |b| {
        b.iter(|| {
            let request =
                send_message_event::v3::Request::new(room.clone(), "txn1".into(), &content)
                    .expect("request");
            block_on(client.send(request, &identity)).map(|r| r.event_id)
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = registration_validation, namespace_matching, transaction_parsing, typed_access,
        dispatcher_routing_auth, stores, client_requests
}
criterion_main!(benches);
