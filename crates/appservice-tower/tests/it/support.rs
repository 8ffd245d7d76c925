//! A server on 127.0.0.1:0 and a hyper client.

use std::{convert::Infallible, net::SocketAddr};

use appservice_tower::{Appservice, Body, ServeConfig, serve_with};
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use tokio::{sync::oneshot, task::JoinHandle};
use tower_service::Service;

/// A running server: its address, a shutdown trigger, and its task.
pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    pub(crate) task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    pub(crate) async fn start<I>(app: Appservice<I>, config: ServeConfig) -> Self
    where
        Appservice<I>: Service<Request<Incoming>, Response = Response<Body>, Error = Infallible>
            + Clone
            + Send
            + 'static,
        <Appservice<I> as Service<Request<Incoming>>>::Future: Send + 'static,
    {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_with(
            listener,
            app,
            async {
                rx.await.ok();
            },
            config,
        ));
        Self { addr, shutdown: Some(tx), task }
    }

    pub(crate) fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.addr)
    }

    pub(crate) fn shut_down(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            tx.send(()).ok();
        }
    }
}

pub(crate) type HttpClient =
    Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

pub(crate) fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

pub(crate) fn h2c_client() -> HttpClient {
    Client::builder(TokioExecutor::new()).http2_only(true).build_http()
}

/// Sends `request` with its path made absolute against `server`; returns status, headers, body.
pub(crate) async fn send(
    client: &HttpClient,
    server: &Server,
    request: Request<Bytes>,
) -> (u16, http::HeaderMap, Bytes) {
    let (mut parts, body) = request.into_parts();
    let pq = parts.uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default();
    parts.uri = server.url(&pq).parse().unwrap();
    let response = client.request(Request::from_parts(parts, Full::new(body))).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, body)
}

/// A one-event transaction as raw HTTP/1.1 bytes, for tests that drive a socket by hand.
pub(crate) fn raw_transaction(txn: &str) -> Vec<u8> {
    let body = appservice_conformance::handler::body(&[("$a", "!r")]);
    let mut r = format!(
        "PUT /_matrix/app/v1/transactions/{txn} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Length: {}\r\n\r\n",
        appservice_conformance::handler::HS_TOKEN,
        body.len()
    )
    .into_bytes();
    r.extend(body);
    r
}
