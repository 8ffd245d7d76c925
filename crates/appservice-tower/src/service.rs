//! [`AppserviceLayer`] and [`Appservice`]: the dispatcher as a `tower::Service`.

use std::{
    convert::Infallible,
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use appservice_dispatch::{Dispatcher, Handler, TransactionStore, error_response};
use appservice_types::MatrixError;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tokio_util::task::TaskTracker;
use tower_layer::Layer;
use tower_service::Service;

use crate::{AppserviceConfig, Body, BoxError, config::Readiness, core::Core};

/// Wraps a service so that Application Service API requests go to a [`Dispatcher`] and
/// everything else to the wrapped service (your own routes).
///
/// Which requests are the appservice's: everything under `/_matrix/app/`, the legacy paths the
/// dispatcher serves (`/transactions/…`, `/users/…`, `/rooms/…`, unless turned off), and the
/// configured health and metrics paths.
#[derive(Clone)]
pub struct AppserviceLayer {
    core: Arc<Core>,
}

impl fmt::Debug for AppserviceLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppserviceLayer").field("config", &self.core.config).finish_non_exhaustive()
    }
}

impl AppserviceLayer {
    /// A layer with the default [`AppserviceConfig`].
    pub fn new<H: Handler, S: TransactionStore>(dispatcher: Dispatcher<H, S>) -> Self {
        Self::with_config(dispatcher, AppserviceConfig::default())
    }

    /// A layer with this configuration.
    pub fn with_config<H: Handler, S: TransactionStore>(
        dispatcher: Dispatcher<H, S>,
        config: AppserviceConfig,
    ) -> Self {
        Self {
            core: Arc::new(Core {
                dispatcher: Box::new(dispatcher),
                budget: crate::budget::BodyBudget::new(config.body_budget),
                config,
                readiness: Readiness::new(true),
                tasks: TaskTracker::new(),
                #[cfg(feature = "metrics")]
                prometheus: None,
            }),
        }
    }

    /// Serves this Prometheus handle's exposition at [`AppserviceConfig::metrics_path`].
    ///
    /// # Panics
    ///
    /// If the layer was already cloned: call it right after constructing the layer.
    #[cfg(feature = "metrics")]
    #[must_use]
    pub fn with_prometheus(self, handle: metrics_exporter_prometheus::PrometheusHandle) -> Self {
        let core = match Arc::try_unwrap(self.core) {
            Ok(mut core) => {
                core.prometheus = Some(handle);
                core
            }
            Err(_) => panic!("with_prometheus must be called before the layer is cloned"),
        };
        Self { core: Arc::new(core) }
    }

    /// The readiness flag reported by the `ready` health endpoint.
    pub fn readiness(&self) -> &Readiness {
        &self.core.readiness
    }
}

impl<I> Layer<I> for AppserviceLayer {
    type Service = Appservice<I>;

    fn layer(&self, inner: I) -> Appservice<I> {
        Appservice { inner, core: Arc::clone(&self.core), inner_error: None }
    }
}

/// The dispatcher as a `tower::Service<http::Request<B>>` for any `http_body::Body`.
///
/// `Error = Infallible`: every failure is a spec-shaped HTTP response. Requests that are not the
/// appservice's go to the inner service (by default [`NotFound`]).
pub struct Appservice<I = NotFound> {
    inner: I,
    core: Arc<Core>,
    inner_error: Option<BoxError>,
}

impl<I: Clone> Clone for Appservice<I> {
    fn clone(&self) -> Self {
        // A readiness error belongs to the clone that saw it.
        Self { inner: self.inner.clone(), core: Arc::clone(&self.core), inner_error: None }
    }
}

impl<I: fmt::Debug> fmt::Debug for Appservice<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Appservice")
            .field("inner", &self.inner)
            .field("config", &self.core.config)
            .finish_non_exhaustive()
    }
}

impl Appservice<NotFound> {
    /// A standalone service: everything that is not the appservice's gets 404 `M_UNRECOGNIZED`.
    pub fn new<H: Handler, S: TransactionStore>(dispatcher: Dispatcher<H, S>) -> Self {
        AppserviceLayer::new(dispatcher).layer(NotFound)
    }

    /// A standalone service with this configuration.
    pub fn with_config<H: Handler, S: TransactionStore>(
        dispatcher: Dispatcher<H, S>,
        config: AppserviceConfig,
    ) -> Self {
        AppserviceLayer::with_config(dispatcher, config).layer(NotFound)
    }
}

impl<I> Appservice<I> {
    /// The inner service.
    pub fn get_ref(&self) -> &I {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut I {
        &mut self.inner
    }

    /// Gives the inner service back.
    pub fn into_inner(self) -> I {
        self.inner
    }

    /// The readiness flag reported by the `ready` health endpoint.
    pub fn readiness(&self) -> &Readiness {
        &self.core.readiness
    }

    /// Waits until every dispatch in flight has finished, for at most `timeout`. Returns whether
    /// they all finished. [`serve`](crate::serve) calls it on shutdown.
    pub async fn drain(&self, timeout: std::time::Duration) -> bool {
        self.core.drain(timeout).await
    }

    pub(crate) fn core(&self) -> Arc<Core> {
        Arc::clone(&self.core)
    }

    fn builtin(&self, path: &str) -> Option<Response<Bytes>> {
        if let Some(health) = &self.core.config.health {
            if path == health.live {
                return Some(json(StatusCode::OK, "{}"));
            }
            if path == health.ready {
                return Some(if self.core.readiness.get() {
                    json(StatusCode::OK, "{}")
                } else {
                    error_response(&MatrixError::new(
                        503,
                        appservice_types::ErrorCode::UNKNOWN,
                        "Not ready",
                    ))
                });
            }
        }
        #[cfg(feature = "metrics")]
        if let (Some(metrics_path), Some(handle)) =
            (&self.core.config.metrics_path, &self.core.prometheus)
            && path == metrics_path
        {
            let mut response = Response::new(Bytes::from(handle.render()));
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            return Some(response);
        }
        None
    }
}

fn json(status: StatusCode, body: &'static str) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from_static(body.as_bytes()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    response
}

fn boxed(response: Response<Bytes>) -> Response<Body> {
    response.map(|b| Full::new(b).map_err(|never| match never {}).boxed_unsync())
}

impl<I, B, IB> Service<Request<B>> for Appservice<I>
where
    I: Service<Request<B>, Response = Response<IB>> + Clone + Send + 'static,
    I::Error: Into<BoxError>,
    I::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
    IB: http_body::Body<Data = Bytes> + Send + 'static,
    IB::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        if self.inner_error.is_some() {
            return Poll::Ready(Ok(()));
        }
        match self.inner.poll_ready(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            Poll::Ready(Err(e)) => {
                // Held, and answered as a 500 on the next call that would have used it.
                self.inner_error = Some(e.into());
                Poll::Ready(Ok(()))
            }
        }
    }

    fn call(&mut self, request: Request<B>) -> ResponseFuture {
        let path = request.uri().path();
        if let Some(response) = self.builtin(path) {
            return ResponseFuture::ready(boxed(response));
        }
        if self.core.dispatcher.owns_path(path) {
            let core = Arc::clone(&self.core);
            return ResponseFuture::new(async move {
                let Ok(response) = core.respond(request).await;
                boxed(response)
            });
        }
        if let Some(e) = self.inner_error.take() {
            tracing::error!(error = %e, "the inner service failed");
            return ResponseFuture::ready(boxed(error_response(&MatrixError::unknown(
                "Internal error",
            ))));
        }
        // The clone that was polled ready handles the call (tower's usual pattern).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::new(async move {
            match inner.call(request).await {
                Ok(response) => response.map(|b| b.map_err(Into::into).boxed_unsync()),
                Err(e) => {
                    let e: BoxError = e.into();
                    tracing::error!(error = %e, "the inner service failed");
                    boxed(error_response(&MatrixError::unknown("Internal error")))
                }
            }
        })
    }
}

/// The future of [`Appservice`]'s responses.
pub struct ResponseFuture {
    inner: Pin<Box<dyn Future<Output = Response<Body>> + Send>>,
}

impl ResponseFuture {
    fn new(future: impl Future<Output = Response<Body>> + Send + 'static) -> Self {
        Self { inner: Box::pin(future) }
    }

    fn ready(response: Response<Body>) -> Self {
        Self::new(std::future::ready(response))
    }
}

impl fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl Future for ResponseFuture {
    type Output = Result<Response<Body>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx).map(Ok)
    }
}

/// The default inner service: 404 `M_UNRECOGNIZED` for everything.
#[derive(Clone, Copy, Debug, Default)]
#[allow(clippy::exhaustive_structs)] // A unit service.
pub struct NotFound;

impl<B> Service<Request<B>> for NotFound {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<Full<Bytes>>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: Request<B>) -> Self::Future {
        let response = error_response(&MatrixError::unrecognized_endpoint("Unrecognized request"));
        std::future::ready(Ok(response.map(Full::new)))
    }
}
