//! [`FakeHomeserver`]: the server, its accept loop and its record of requests.

use parking_lot::Mutex;
use std::{convert::Infallible, net::SocketAddr, sync::Arc, time::Duration};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http_body_util::{BodyExt, Full};
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::{Recorded, Reply};

/// What the fake homeserver answers: a script, a small stateful homeserver, …
pub trait Respond: Send + Sync + 'static {
    /// The answer to `request` (already recorded).
    fn respond<'a>(&'a self, request: &'a Recorded) -> BoxFuture<'a, Reply>;
}

/// A running fake homeserver; its server task ends with the runtime it was started on.
#[derive(Clone)]
pub struct FakeHomeserver {
    addr: SocketAddr,
    recorded: Arc<Mutex<Vec<Recorded>>>,
}

impl std::fmt::Debug for FakeHomeserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeHomeserver").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl FakeHomeserver {
    /// Starts one on 127.0.0.1, on a free port.
    pub async fn start(respond: impl Respond) -> std::io::Result<Self> {
        Self::start_on("127.0.0.1:0", respond).await
    }

    /// Starts one listening on `listen` (`host:port`).
    pub async fn start_on(listen: &str, respond: impl Respond) -> std::io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let recorded: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        tokio::spawn(accept_loop(listener, Arc::new(respond), Arc::clone(&recorded)));
        Ok(Self { addr, recorded })
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request so far, in arrival order.
    pub fn recorded(&self) -> Vec<Recorded> {
        self.recorded.lock().clone()
    }

    /// The requests whose decoded path contains `needle`.
    pub fn requests_to(&self, needle: &str) -> Vec<Recorded> {
        self.recorded().into_iter().filter(|r| r.decoded_path.contains(needle)).collect()
    }

    /// Forgets the requests recorded so far.
    pub fn clear(&self) {
        self.recorded.lock().clear();
    }
}

/// Accepts connections until the runtime ends. A failing `accept` (e.g. out of descriptors) is
/// retried after a pause, never in a busy loop.
async fn accept_loop(
    listener: TcpListener,
    respond: Arc<dyn Respond>,
    recorded: Arc<Mutex<Vec<Recorded>>>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let (respond, recorded) = (Arc::clone(&respond), Arc::clone(&recorded));
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let (respond, recorded) = (Arc::clone(&respond), Arc::clone(&recorded));
                async move { Ok::<_, Infallible>(answer(request, &*respond, &recorded).await) }
            });
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

async fn answer(
    request: http::Request<Incoming>,
    respond: &dyn Respond,
    recorded: &Mutex<Vec<Recorded>>,
) -> http::Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let request = Recorded::new(&parts, body);
    recorded.lock().push(request.clone());
    let reply = respond.respond(&request).await;
    let mut response = http::Response::new(Full::new(reply.body));
    *response.status_mut() =
        http::StatusCode::from_u16(reply.status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    for (name, value) in reply.headers {
        if let (Ok(name), Ok(value)) =
            (http::HeaderName::from_bytes(name.as_bytes()), http::HeaderValue::from_str(&value))
        {
            headers.insert(name, value);
        }
    }
    response
}
