//! [`Delivery`]: the homeserver's sending side: events queued for an appservice go out as
//! transactions, one in flight, authenticated, numbered and retried as a [`Profile`] does.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::{Profile, profile::RetryTrigger};

/// How long one attempt may take before it counts as failed (Synapse waits 60 s; tests are
/// faster).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

/// One attempt to deliver a transaction, as the homeserver saw it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Sent {
    /// The transaction ID.
    pub txn_id: String,
    /// Which attempt this was for the transaction (1 for the first).
    pub attempt: u32,
    /// The IDs of its events, in order.
    pub event_ids: Vec<String>,
    /// The request URI (with `?access_token=` when the profile sends it).
    pub uri: String,
    /// The body sent.
    pub body: Value,
    /// The appservice's status, or `None` when it could not be reached in time.
    pub status: Option<u16>,
    /// Whether the homeserver took it as delivered: a 2xx with a JSON body (as Synapse checks).
    pub delivered: bool,
    /// When the attempt started.
    pub at: Instant,
}

/// What the sender and the test share.
#[derive(Default)]
struct State {
    /// Events queued and not yet in a transaction.
    pending: Vec<Value>,
    /// Events queued so far (the Conduit family retries when this moves).
    arrivals: u64,
    /// Every attempt so far.
    sent: Vec<Sent>,
    /// A transaction is being sent, or waits for its retry.
    busy: bool,
}

struct Shared {
    state: Mutex<State>,
    wake: Notify,
}

/// Where the appservice is, and how to talk to it.
struct Target {
    profile: Profile,
    url: String,
    hs_token: String,
    backoff_unit: Duration,
}

/// A transaction on its way: ID and events, fixed at creation (retries resend them).
#[derive(Clone)]
struct Txn {
    id: String,
    events: Vec<Value>,
}

/// What the sender does next.
enum Next {
    /// Send this attempt of this transaction.
    Send(Txn, u32),
    /// Wait for a new event, or at most this long.
    Wait(Option<Duration>),
}

/// A transaction that failed, waiting for its retry.
struct Failed {
    txn: Txn,
    failures: u32,
    at: Instant,
}

/// Plays a homeserver delivering events to one appservice at `url` with a [`Profile`]:
/// [`queue`](Self::queue)d events go out as `PUT {url}/_matrix/app/v1/transactions/{txnId}`,
/// one transaction in flight, the events queued meanwhile together in the next one; a failed
/// transaction (same ID, same events) goes before any newer one, and is retried as the profile
/// retries ([`Profile::retry_now`]). Every attempt is recorded ([`sent`](Self::sent)). The
/// sender task stops when this is dropped.
pub struct Delivery {
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery").finish_non_exhaustive()
    }
}

impl Delivery {
    /// Starts delivering to the appservice at `url` (its base URL) with `hs_token`;
    /// `backoff_unit` stands for one second of the profile's backoff (`Duration::from_secs(1)`
    /// is the real homeserver; tests use a millisecond or a few).
    pub fn start(profile: Profile, url: &str, hs_token: &str, backoff_unit: Duration) -> Self {
        let shared = Arc::new(Shared { state: Mutex::new(State::default()), wake: Notify::new() });
        let target = Target {
            profile,
            url: url.trim_end_matches('/').to_owned(),
            hs_token: hs_token.to_owned(),
            backoff_unit,
        };
        let task = tokio::spawn(send_loop(Arc::clone(&shared), target));
        Self { shared, task }
    }

    /// Queues `event` (a client-format event with an `event_id`) for the appservice.
    pub fn queue(&self, event: Value) {
        {
            let mut state = self.shared.state.lock();
            state.pending.push(event);
            state.arrivals += 1;
        }
        self.shared.wake.notify_one();
    }

    /// Every attempt so far, in order.
    pub fn sent(&self) -> Vec<Sent> {
        self.shared.state.lock().sent.clone()
    }

    /// Nothing queued, in flight or waiting for a retry.
    pub fn is_idle(&self) -> bool {
        let state = self.shared.state.lock();
        state.pending.is_empty() && !state.busy
    }

    /// Waits until `done` holds for the attempts so far, at most `timeout`; whether it held.
    pub async fn wait_for(&self, timeout: Duration, done: impl Fn(&[Sent]) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if done(&self.shared.state.lock().sent) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits until [`is_idle`](Self::is_idle), at most `timeout`; whether it became idle.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while !self.is_idle() {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The sender: one transaction at a time, the failed one first.
async fn send_loop(shared: Arc<Shared>, target: Target) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let profile = target.profile;
    let mut created = 0u64;
    let mut seen_arrivals = 0u64;
    let mut failed: Option<Failed> = None;
    loop {
        // Registered before the state is read, so a `queue` in between still wakes us.
        let notified = shared.wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let next = {
            let mut state = shared.state.lock();
            let event_arrived = state.arrivals > seen_arrivals;
            seen_arrivals = state.arrivals;
            match &failed {
                Some(f) => {
                    let since = f.at.elapsed();
                    if profile.retry_now(f.failures, since, target.backoff_unit, event_arrived) {
                        Next::Send(f.txn.clone(), f.failures + 1)
                    } else {
                        match profile.retry_trigger() {
                            RetryTrigger::Timer => Next::Wait(Some(
                                profile
                                    .retry_backoff(f.failures, target.backoff_unit)
                                    .saturating_sub(since),
                            )),
                            RetryTrigger::NextEvent => Next::Wait(None),
                        }
                    }
                }
                None if state.pending.is_empty() => {
                    state.busy = false;
                    Next::Wait(None)
                }
                None => {
                    let events = std::mem::take(&mut state.pending);
                    state.busy = true;
                    created += 1;
                    let ids: Vec<&str> = events.iter().map(event_id).collect();
                    Next::Send(Txn { id: profile.txn_id(created, &ids), events }, 1)
                }
            }
        };
        let (txn, attempt) = match next {
            Next::Send(txn, attempt) => (txn, attempt),
            // The timer, or earlier a new event (then this looks again).
            Next::Wait(Some(timer)) => {
                let _ = tokio::time::timeout(timer, &mut notified).await;
                continue;
            }
            Next::Wait(None) => {
                notified.await;
                continue;
            }
        };
        let sent = attempt_once(&client, &target, &txn, attempt).await;
        let delivered = sent.delivered;
        shared.state.lock().sent.push(sent);
        failed = if delivered {
            None
        } else {
            Some(Failed { txn, failures: attempt, at: Instant::now() })
        };
    }
}

fn event_id(event: &Value) -> &str {
    event["event_id"].as_str().unwrap_or_default()
}

/// One `PUT` of `txn`; what happened.
async fn attempt_once(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    target: &Target,
    txn: &Txn,
    attempt: u32,
) -> Sent {
    let profile = target.profile;
    let path = format!("{}/_matrix/app/v1/transactions/{}", target.url, txn.id);
    let body = profile.body(json!({"events": txn.events}));
    let at = Instant::now();
    let request = profile
        .authorize(http::Request::builder().method(http::Method::PUT), &path, &target.hs_token)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_string())));
    let answer = async {
        let response = client.request(request.ok()?).await.ok()?;
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.ok()?.to_bytes();
        Some((status, serde_json::from_slice::<Value>(&bytes).is_ok()))
    };
    let answer = tokio::time::timeout(ATTEMPT_TIMEOUT, answer).await.ok().flatten();
    Sent {
        txn_id: txn.id.clone(),
        attempt,
        event_ids: txn.events.iter().map(|e| event_id(e).to_owned()).collect(),
        uri: profile.authenticated_uri(&path, &target.hs_token),
        body,
        status: answer.map(|(status, _)| status),
        delivered: answer.is_some_and(|(status, json)| (200..300).contains(&status) && json),
        at,
    }
}
