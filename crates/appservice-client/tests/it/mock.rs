//! A loopback mock homeserver: a real HTTP/1.1 server on 127.0.0.1 that records every request
//! and answers from a script.

use std::{
    collections::{BTreeMap, VecDeque},
    convert::Infallible,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use appservice_client::{Client, HyperTransport, RetryPolicy, Secret};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use ruma_common::owned_server_name;
use serde_json::Value;
use tokio::net::TcpListener;

/// The token every test client uses.
pub(crate) const AS_TOKEN: &str = "as_token_for_tests_only_3f9a";

/// One scripted answer.
#[derive(Clone, Debug)]
pub(crate) struct Scripted {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Bytes,
}

impl Scripted {
    pub(crate) fn json(status: u16, body: Value) -> Self {
        Self { status, headers: Vec::new(), body: Bytes::from(body.to_string()) }
    }

    pub(crate) fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// From a fixture's `{status, body | body_text, headers}`.
    pub(crate) fn from_fixture(v: &Value) -> Self {
        let status = v["status"].as_u64().expect("response status") as u16;
        let body = match (&v["body"], &v["body_text"]) {
            (Value::Null, Value::String(t)) => Bytes::from(t.clone()),
            (Value::Null, Value::Null) => Bytes::new(),
            (b, _) => Bytes::from(b.to_string()),
        };
        let headers = v["headers"]
            .as_object()
            .map(|h| h.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned())).collect())
            .unwrap_or_default();
        Self { status, headers, body }
    }
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub(crate) struct Recorded {
    pub(crate) method: String,
    /// The path as sent (percent-encoded).
    pub(crate) path: String,
    /// The raw query string, if any.
    pub(crate) raw_query: Option<String>,
    pub(crate) headers: http::HeaderMap,
    pub(crate) body: Bytes,
}

impl Recorded {
    /// The decoded query parameters.
    pub(crate) fn query(&self) -> BTreeMap<String, String> {
        let q = self.raw_query.as_deref().unwrap_or("");
        url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

/// Called with each request before it is answered.
type Hook = Arc<dyn Fn(&Recorded) + Send + Sync>;

#[derive(Default)]
struct State {
    hook: Option<Hook>,
    script: VecDeque<Scripted>,
    fallback: Option<Scripted>,
    delay: Duration,
    recorded: Vec<Recorded>,
}

/// The mock homeserver; the server task ends with the test's runtime.
#[derive(Clone)]
pub(crate) struct MockHomeserver {
    pub(crate) addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl MockHomeserver {
    /// Starts a server answering `script` in order, then 500 `M_UNKNOWN`.
    pub(crate) async fn start(script: Vec<Scripted>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State { script: script.into(), ..State::default() }));
        let server_state = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let state = server_state.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(state.clone(), req));
                    let _ =
                        http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Self { addr, state }
    }

    /// Answers this once the script is exhausted (instead of 500).
    pub(crate) fn fallback(&self, response: Scripted) -> &Self {
        self.state.lock().unwrap().fallback = Some(response);
        self
    }

    /// Runs `hook` on each request before answering it (e.g. to play the homeserver's ping of
    /// the appservice, which happens before the homeserver answers the CS ping).
    pub(crate) fn on_request(&self, hook: impl Fn(&Recorded) + Send + Sync + 'static) -> &Self {
        self.state.lock().unwrap().hook = Some(Arc::new(hook));
        self
    }

    /// Waits this long before answering each request (to make concurrent requests overlap).
    pub(crate) fn delay(&self, delay: Duration) -> &Self {
        self.state.lock().unwrap().delay = delay;
        self
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn recorded(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().recorded.clone()
    }

    /// A client for this server: bot `@_irc_bot:example.org`, appservice `irc`, retries without
    /// jitter, auto-registration off, waits recorded in `sleeps` instead of slept.
    pub(crate) fn client(&self, sleeps: &Sleeps) -> Client<HyperTransport> {
        Client::with_hyper(&self.url(), Secret::from(AS_TOKEN), owned_server_name!("example.org"))
            .unwrap()
            .with_appservice_id("irc")
            .with_sender_localpart("_irc_bot")
            .unwrap()
            .with_retry_policy(RetryPolicy::default().jitter(false))
            .with_sleeper(sleeps.sleeper())
            .with_auto_register(false)
    }
}

async fn handle(
    state: Arc<Mutex<State>>,
    request: http::Request<Incoming>,
) -> Result<http::Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let (answer, delay) = {
        let mut state = state.lock().unwrap();
        let recorded = Recorded {
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
            raw_query: parts.uri.query().map(str::to_owned),
            headers: parts.headers.clone(),
            body,
        };
        if let Some(hook) = &state.hook {
            hook(&recorded);
        }
        state.recorded.push(recorded);
        let answer =
            state.script.pop_front().or_else(|| state.fallback.clone()).unwrap_or_else(|| {
                Scripted::json(
                    500,
                    serde_json::json!({"errcode": "M_UNKNOWN", "error": "mock script exhausted"}),
                )
            });
        (answer, state.delay)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut response = http::Response::new(Full::new(answer.body));
    *response.status_mut() = http::StatusCode::from_u16(answer.status).unwrap();
    response
        .headers_mut()
        .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    for (k, v) in answer.headers {
        response.headers_mut().insert(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            http::HeaderValue::from_str(&v).unwrap(),
        );
    }
    Ok(response)
}

/// The delays the client asked to wait, in order (the "sleeper" returns at once).
#[derive(Clone, Default)]
pub(crate) struct Sleeps(Arc<Mutex<Vec<Duration>>>);

impl Sleeps {
    pub(crate) fn sleeper(&self) -> impl appservice_client::Sleeper {
        let sleeps = self.0.clone();
        move |d: Duration| {
            sleeps.lock().unwrap().push(d);
            std::future::ready(())
        }
    }

    pub(crate) fn millis(&self) -> Vec<u128> {
        self.0.lock().unwrap().iter().map(Duration::as_millis).collect()
    }
}
