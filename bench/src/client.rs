//! The client benchmark (`appservice-bench client [--quick]`, and a section of the driver's
//! report): N sends by M puppets against a minimal loopback responder, through our
//! `Intent::send_message_with` and through a bare hyper-util client sending the same requests
//! (same path, query, headers and body), interleaved in one run. Client CPU per request is the
//! on-CPU time of the client's thread (`/proc/thread-self/schedstat`, ns): the client runs on a
//! current-thread runtime, so its connection tasks run there too, while the responder runs on a
//! thread of its own and is not counted. The responder counts the TCP connections it accepted,
//! which shows the pooled connections being reused.

use std::{
    convert::Infallible,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use anyhow::{Context as _, Result, ensure};
use appservice_client::{
    Client, HyperTransport, Intent, Secret, SendOptions,
    ruma_common::{OwnedRoomId, OwnedUserId, ServerName},
};
use bytes::Bytes;
use futures::StreamExt as _;
use http_body_util::{BodyExt as _, Full};
use hyper::{Request, Response, body::Incoming, service::service_fn};
use hyper_util::{
    client::legacy::{Client as HyperClient, connect::HttpConnector},
    rt::{TokioExecutor, TokioIo},
};
use ruma_events::room::message::RoomMessageEventContent;

use crate::median_f64;

const TOKEN: &str = "bench_as_token_0123456789abcdef";
const ROOM: &str = "!bench:example.org";

/// The sizes of one run.
#[derive(Clone, Copy, Debug)]
struct Size {
    sends: usize,
    puppets: usize,
    in_flight: usize,
    reps: usize,
}

impl Size {
    fn new(quick: bool) -> Self {
        if quick {
            Self { sends: 3000, puppets: 20, in_flight: 8, reps: 3 }
        } else {
            Self { sends: 20_000, puppets: 100, in_flight: 16, reps: 5 }
        }
    }
}

/// What the responder saw.
#[derive(Default)]
struct Seen {
    connections: AtomicUsize,
    requests: AtomicUsize,
    body_bytes: AtomicU64,
}

/// The figures of a run.
#[derive(Debug)]
pub(crate) struct Figures {
    sends: usize,
    puppets: usize,
    in_flight: usize,
    reps: usize,
    /// Median client CPU per request, µs: ours, bare.
    ours_us: f64,
    bare_us: f64,
    /// TCP connections the responder accepted over all repetitions (and the warm-up).
    ours_connections: usize,
    bare_connections: usize,
    /// Request body bytes per phase (the same for both: the same requests).
    ours_body_bytes: u64,
    bare_body_bytes: u64,
}

impl Figures {
    /// Ours ÷ bare client CPU per request.
    pub(crate) fn ratio(&self) -> f64 {
        self.ours_us / self.bare_us
    }

    /// The report's section.
    pub(crate) fn print(&self) {
        println!(
            "\nClient sends ({} sends by {} puppets per repetition, {} in flight, median of {} \
             interleaved repetitions, client thread CPU per request):\n  \
             ours: Intent::send_message_with       {:>7.1} µs  ({} TCP connections accepted in all, {} body bytes per repetition)\n  \
             bare hyper-util client, same requests {:>7.1} µs  ({} TCP connections accepted in all, {} body bytes per repetition)\n  \
             ours ÷ bare = {:.2}×  (target ≤ 1.3×: {})",
            self.sends,
            self.puppets,
            self.in_flight,
            self.reps,
            self.ours_us,
            self.ours_connections,
            self.ours_body_bytes,
            self.bare_us,
            self.bare_connections,
            self.bare_body_bytes,
            self.ratio(),
            if self.ratio() <= 1.3 { "met" } else { "MISSED" }
        );
    }
}

/// Runs the benchmark: the responder on its own thread, the clients on this one.
pub(crate) fn run(quick: bool) -> Result<Figures> {
    let size = Size::new(quick);
    let seen = Arc::new(Seen::default());
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let responder_seen = Arc::clone(&seen);
    std::thread::Builder::new()
        .name("responder".into())
        .spawn(move || respond(listener, responder_seen))?;

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(measure(size, &format!("http://{addr}"), &seen))
}

/// The responder: HTTP/1.1, `200 {"event_id": …}` to everything; counts connections, requests
/// and body bytes.
fn respond(listener: std::net::TcpListener, seen: Arc<Seen>) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        loop {
            let (stream, _) = listener.accept().await?;
            seen.connections.fetch_add(1, Ordering::Relaxed);
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let seen = Arc::clone(&seen);
                    async move {
                        let body = request.into_body().collect().await.map(|b| b.to_bytes());
                        let len = body.map_or(0, |b| b.len());
                        seen.requests.fetch_add(1, Ordering::Relaxed);
                        seen.body_bytes.fetch_add(len as u64, Ordering::Relaxed);
                        let response = Response::builder()
                            .header("content-type", "application/json")
                            .body(Full::new(Bytes::from_static(br#"{"event_id":"$bench"}"#)));
                        Ok::<_, Infallible>(response.unwrap_or_default())
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

/// On-CPU nanoseconds of the calling thread.
fn thread_cpu_ns() -> Result<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat")?;
    Ok(stat.split_whitespace().next().context("empty schedstat")?.parse()?)
}

/// One side of the comparison: sends `n` messages, `in_flight` at a time, puppet `i % M`.
trait Sender {
    async fn send(&self, puppet: usize, txn: &str, content: &RoomMessageEventContent)
    -> Result<()>;
}

struct Ours {
    puppets: Vec<Intent<HyperTransport>>,
    room: OwnedRoomId,
}

impl Sender for Ours {
    async fn send(
        &self,
        puppet: usize,
        txn: &str,
        content: &RoomMessageEventContent,
    ) -> Result<()> {
        let options = SendOptions::new().txn_id(txn.into());
        self.puppets[puppet].send_message_with(&self.room, content, options).await?;
        Ok(())
    }
}

struct Bare {
    client: HyperClient<HttpConnector, Full<Bytes>>,
    base: String,
    /// `?user_id=` of each puppet, percent-encoded as ours encodes it.
    user_queries: Vec<String>,
}

impl Sender for Bare {
    async fn send(
        &self,
        puppet: usize,
        txn: &str,
        content: &RoomMessageEventContent,
    ) -> Result<()> {
        let uri = format!(
            "{}/_matrix/client/v3/rooms/{ROOM}/send/m.room.message/{txn}?user_id={}",
            self.base, self.user_queries[puppet]
        );
        let body = serde_json::to_vec(content)?;
        let request = Request::put(uri)
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))?;
        let response = self.client.request(request).await?;
        ensure!(response.status().is_success(), "bare send: {}", response.status());
        let body = response.into_body().collect().await?.to_bytes();
        let value: serde_json::Value = serde_json::from_slice(&body)?;
        ensure!(value["event_id"].is_string(), "bare send: no event_id");
        Ok(())
    }
}

/// Sends `size.sends` messages through `sender`; returns the client thread's CPU time.
async fn phase(sender: &impl Sender, size: Size, tag: &str) -> Result<Duration> {
    let content = RoomMessageEventContent::text_plain("a message of a typical length, bridged");
    let before = thread_cpu_ns()?;
    let results: Vec<Result<()>> = futures::stream::iter(0..size.sends)
        .map(|i| {
            let content = &content;
            async move { sender.send(i % size.puppets, &format!("{tag}-{i}"), content).await }
        })
        .buffer_unordered(size.in_flight)
        .collect()
        .await;
    let cpu = Duration::from_nanos(thread_cpu_ns()?.saturating_sub(before));
    if let Some(Err(e)) = results.into_iter().find(Result::is_err) {
        return Err(e.context(format!("phase {tag}")));
    }
    Ok(cpu)
}

async fn measure(size: Size, base: &str, seen: &Seen) -> Result<Figures> {
    let server = <&ServerName>::try_from("example.org")?;
    let client = Client::with_hyper(base, Secret::from(TOKEN), server.to_owned())?;
    let users: Vec<OwnedUserId> = (0..size.puppets)
        .map(|i| OwnedUserId::try_from(format!("@_bench_puppet_{i}:example.org")))
        .collect::<Result<_, _>>()?;
    for user in &users {
        // Known to be registered, as after a bridge's first message per puppet.
        client.mark_registered(user.clone()).await;
    }
    let ours = Ours {
        puppets: users.iter().map(|u| client.intent(u.clone())).collect(),
        room: OwnedRoomId::try_from(ROOM)?,
    };
    let bare = Bare {
        client: HyperClient::builder(TokioExecutor::new()).build_http(),
        base: base.to_owned(),
        user_queries: users
            .iter()
            .map(|u| u.as_str().replace('@', "%40").replace(':', "%3A"))
            .collect(),
    };

    // Warm-up (connections, lazy initialisation), counted in the connections only.
    let warm = Size { sends: size.in_flight * 20, ..size };
    let connections = |seen: &Seen| seen.connections.load(Ordering::Relaxed);
    let bytes = |seen: &Seen| seen.body_bytes.load(Ordering::Relaxed);
    let c0 = connections(seen);
    phase(&ours, warm, "warm-ours").await?;
    let c1 = connections(seen);
    phase(&bare, warm, "warm-bare").await?;
    let (mut ours_connections, mut bare_connections) = (c1 - c0, connections(seen) - c1);

    let (mut ours_us, mut bare_us) = (Vec::new(), Vec::new());
    let (mut ours_body_bytes, mut bare_body_bytes) = (0, 0);
    for rep in 0..size.reps {
        // Interleaved, alternating which goes first.
        for first in [rep % 2 == 0, rep % 2 == 1] {
            let (c, b) = (connections(seen), bytes(seen));
            let tag = format!("r{rep}");
            if first {
                let cpu = phase(&ours, size, &format!("{tag}-ours")).await?;
                ours_us.push(cpu.as_secs_f64() * 1e6 / size.sends as f64);
                ours_connections += connections(seen) - c;
                ours_body_bytes = bytes(seen) - b;
            } else {
                let cpu = phase(&bare, size, &format!("{tag}-bare")).await?;
                bare_us.push(cpu.as_secs_f64() * 1e6 / size.sends as f64);
                bare_connections += connections(seen) - c;
                bare_body_bytes = bytes(seen) - b;
            }
        }
    }
    let expected = (size.sends * size.reps + warm.sends) * 2;
    let requests = seen.requests.load(Ordering::Relaxed);
    ensure!(requests == expected, "the responder saw {requests} requests, expected {expected}");
    Ok(Figures {
        sends: size.sends,
        puppets: size.puppets,
        in_flight: size.in_flight,
        reps: size.reps,
        ours_us: median_f64(ours_us),
        bare_us: median_f64(bare_us),
        ours_connections,
        bare_connections,
        ours_body_bytes,
        bare_body_bytes,
    })
}
