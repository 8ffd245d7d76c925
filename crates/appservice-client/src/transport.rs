//! [`HyperTransport`]: the default transport (feature `hyper`).
//!
//! hyper-util's pooled legacy client: HTTP/1.1 for `http://`, and for `https://` rustls (the
//! `ring` provider, which builds without cmake, and the Mozilla roots of `webpki-roots`) with ALPN
//! offering HTTP/2 and HTTP/1.1. Connections are kept alive and reused per host. Requests time
//! out (60 s by default) with `tokio::time`.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::{
    client::legacy::{Client as HyperClient, connect::HttpConnector},
    rt::TokioExecutor,
};
use tower_service::Service;

use crate::{BoxError, Client, ClientError, Secret};

/// The default transport: a `tower::Service<http::Request<Bytes>>` over hyper-util's pooled
/// client, with TLS (rustls) for `https://` homeservers and HTTP/2 where the server offers it.
///
/// Each request must produce its response head within the request timeout (default 60 s, like
/// Synapse's own appservice client); a timeout is a transport error, so idempotent requests are
/// retried. It needs a tokio runtime when requests are sent (not to build it).
#[derive(Clone, Debug)]
pub struct HyperTransport {
    client: HyperClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Option<Duration>,
}

/// The default request timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

impl HyperTransport {
    /// A transport with the default settings: 60 s request timeout, idle pooled connections
    /// closed after 90 s.
    pub fn new() -> Result<Self, BoxError> {
        Self::with_pool_idle_timeout(Duration::from_secs(90))
    }

    /// A transport whose idle pooled connections are closed after `idle`.
    pub fn with_pool_idle_timeout(idle: Duration) -> Result<Self, BoxError> {
        let connector = HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())?
            .https_or_http()
            .enable_all_versions()
            .build();
        let client =
            HyperClient::builder(TokioExecutor::new()).pool_idle_timeout(idle).build(connector);
        Ok(Self { client, timeout: Some(DEFAULT_TIMEOUT) })
    }

    /// Sets the time a request may take until the response head arrives (`None`: no limit;
    /// uploads of large files over slow links may need more than the default).
    #[must_use]
    pub fn with_request_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }
}

/// The error of a request that did not get its response head in time.
#[derive(Debug, thiserror::Error)]
#[error("request timed out after {0:?}")]
struct TimedOut(Duration);

impl Service<http::Request<Bytes>> for HyperTransport {
    type Response = http::Response<hyper::body::Incoming>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // The pool has no back-pressure; the client is always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Bytes>) -> Self::Future {
        let response = self.client.request(request.map(Full::new));
        let timeout = self.timeout;
        Box::pin(async move {
            match timeout {
                Some(limit) => match tokio::time::timeout(limit, response).await {
                    Ok(result) => result.map_err(BoxError::from),
                    Err(_) => Err(Box::new(TimedOut(limit)) as BoxError),
                },
                None => response.await.map_err(BoxError::from),
            }
        })
    }
}

impl Client<HyperTransport> {
    /// A client over a fresh [`HyperTransport`].
    pub fn with_hyper(
        homeserver_url: &str,
        as_token: Secret,
        server_name: ruma_common::OwnedServerName,
    ) -> Result<Self, ClientError> {
        let transport = HyperTransport::new().map_err(ClientError::build)?;
        Self::new(homeserver_url, as_token, server_name, transport)
    }
}
