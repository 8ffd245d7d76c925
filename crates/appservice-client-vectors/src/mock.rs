//! The mock homeserver of the client vectors and tests: the shared fake homeserver
//! (`appservice-fake-hs`) answering from a script.

use std::{collections::VecDeque, sync::Arc, time::Duration};

use appservice_client::{Client, HyperTransport, RetryPolicy, Secret};
use appservice_fake_hs::{FakeHomeserver, Respond};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use ruma_common::owned_server_name;
use serde_json::Value;

/// The token every test client uses.
pub const AS_TOKEN: &str = "as_token_for_tests_only_3f9a";

pub use appservice_fake_hs::Recorded;
/// One scripted answer.
pub use appservice_fake_hs::Reply as Scripted;

/// A scripted answer from a fixture's `{status, body | body_text, headers}`.
pub fn scripted_from_fixture(v: &Value) -> Result<Scripted, String> {
    let status = v["status"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .ok_or("a response needs a `status`")?;
    let body = match (&v["body"], &v["body_text"]) {
        (Value::Null, Value::String(t)) => Bytes::from(t.clone()),
        (Value::Null, Value::Null) => Bytes::new(),
        (b, _) => Bytes::from(b.to_string()),
    };
    let mut scripted = Scripted::new(status, body);
    for (name, value) in v["headers"].as_object().into_iter().flatten() {
        let value = value.as_str().ok_or_else(|| format!("header {name}: not a string"))?;
        scripted = scripted.header(name, value);
    }
    Ok(scripted)
}

/// Called with each request before it is answered.
type Hook = Arc<dyn Fn(&Recorded) + Send + Sync>;

#[derive(Default)]
struct State {
    hook: Option<Hook>,
    script: VecDeque<Scripted>,
    fallback: Option<Scripted>,
    delay: Duration,
}

/// Answers from the script, in order, then the fallback, then 500 `M_UNKNOWN`.
struct Script(Arc<Mutex<State>>);

impl Respond for Script {
    fn respond<'a>(&'a self, request: &'a Recorded) -> BoxFuture<'a, Scripted> {
        let (answer, delay) = {
            let mut state = self.0.lock();
            if let Some(hook) = &state.hook {
                hook(request);
            }
            let answer = state.script.pop_front().or_else(|| state.fallback.clone());
            let answer = answer
                .unwrap_or_else(|| Scripted::error(500, "M_UNKNOWN", "mock script exhausted"));
            (answer, state.delay)
        };
        Box::pin(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            answer
        })
    }
}

/// The mock homeserver: the shared fake homeserver answering from a script.
#[derive(Clone)]
pub struct MockHomeserver {
    server: FakeHomeserver,
    state: Arc<Mutex<State>>,
}

impl MockHomeserver {
    /// Starts a server answering `script` in order, then 500 `M_UNKNOWN`.
    pub async fn try_start(script: Vec<Scripted>) -> std::io::Result<Self> {
        let state = Arc::new(Mutex::new(State { script: script.into(), ..State::default() }));
        let server = FakeHomeserver::start(Script(Arc::clone(&state))).await?;
        Ok(Self { server, state })
    }

    /// [`try_start`](Self::try_start) for tests: panics if no loopback port can be bound.
    #[allow(clippy::expect_used)]
    pub async fn start(script: Vec<Scripted>) -> Self {
        Self::try_start(script).await.expect("bind a loopback port for the mock homeserver")
    }

    /// Answers this once the script is exhausted (instead of 500).
    pub fn fallback(&self, response: Scripted) -> &Self {
        self.state.lock().fallback = Some(response);
        self
    }

    /// Runs `hook` on each request before answering it (e.g. to play the homeserver's ping of
    /// the appservice, which happens before the homeserver answers the CS ping).
    pub fn on_request(&self, hook: impl Fn(&Recorded) + Send + Sync + 'static) -> &Self {
        self.state.lock().hook = Some(Arc::new(hook));
        self
    }

    /// Waits this long before answering each request (to make concurrent requests overlap).
    pub fn delay(&self, delay: Duration) -> &Self {
        self.state.lock().delay = delay;
        self
    }

    /// The server's loopback address.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.server.addr()
    }

    /// The server's base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Every request the server received, in order.
    pub fn recorded(&self) -> Vec<Recorded> {
        self.server.recorded()
    }

    /// A client for this server: bot `@_irc_bot:example.org`, appservice `irc`, retries without
    /// jitter, auto-registration off, waits recorded in `sleeps` instead of slept.
    #[allow(clippy::expect_used)] // Our own loopback URL and a constant localpart.
    pub fn client(&self, sleeps: &Sleeps) -> Client<HyperTransport> {
        Client::with_hyper(&self.url(), Secret::from(AS_TOKEN), owned_server_name!("example.org"))
            .expect("a loopback URL is a valid homeserver URL")
            .with_appservice_id("irc")
            .with_sender_localpart("_irc_bot")
            .expect("_irc_bot is a valid localpart")
            .with_retry_policy(RetryPolicy::default().jitter(false))
            .with_sleeper(sleeps.sleeper())
            .with_auto_register(false)
    }
}

/// The delays the client asked to wait, in order (the "sleeper" returns at once).
#[derive(Clone, Default)]
pub struct Sleeps(Arc<Mutex<Vec<Duration>>>);

impl Sleeps {
    /// A [`Sleeper`](appservice_client::Sleeper) that records the delay and returns at once.
    pub fn sleeper(&self) -> impl appservice_client::Sleeper {
        let sleeps = self.0.clone();
        move |d: Duration| {
            sleeps.lock().push(d);
            std::future::ready(())
        }
    }

    /// The recorded delays, in milliseconds.
    pub fn millis(&self) -> Vec<u128> {
        self.0.lock().iter().map(Duration::as_millis).collect()
    }
}
