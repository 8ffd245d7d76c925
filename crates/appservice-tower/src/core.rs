//! The dispatcher with its type parameters erased, and what the service does with a request
//! for the Application Service API.

use std::{convert::Infallible, future::Future as _, task::Poll, time::Instant};

use appservice_dispatch::{
    Dispatcher, Disposition, Handler, Rejection, Report, TransactionStore, error_response,
    route::{Matched, Route},
};
use appservice_types::{ErrorCode, MatrixError};
use bytes::Bytes;
use futures_util::FutureExt as _;
use http::{Request, Response, request::Parts};
use http_body_util::{BodyExt, Limited};
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

use crate::{AppserviceConfig, BoxError, BoxFuture, budget::BodyBudget, config::Readiness};

/// The part of [`Dispatcher`] the service needs, object-safe.
pub(crate) trait ErasedDispatcher: Send + Sync + 'static {
    fn check_head(&self, parts: &Parts) -> Result<Matched, Rejection>;
    fn owns_path(&self, path: &str) -> bool;
    fn max_body_bytes(&self) -> usize;
    fn dispatch(&self, request: Request<Bytes>) -> BoxFuture<'static, (Response<Bytes>, Report)>;
}

impl<H: Handler, S: TransactionStore> ErasedDispatcher for Dispatcher<H, S> {
    fn check_head(&self, parts: &Parts) -> Result<Matched, Rejection> {
        Dispatcher::check_head(self, parts)
    }

    fn owns_path(&self, path: &str) -> bool {
        Dispatcher::owns_path(self, path)
    }

    fn max_body_bytes(&self) -> usize {
        self.config().max_body_bytes
    }

    fn dispatch(&self, request: Request<Bytes>) -> BoxFuture<'static, (Response<Bytes>, Report)> {
        let this = self.clone();
        Box::pin(async move { this.dispatch_with_report(request).await })
    }
}

/// Everything the service shares between clones.
pub(crate) struct Core {
    pub(crate) dispatcher: Box<dyn ErasedDispatcher>,
    pub(crate) budget: BodyBudget,
    pub(crate) config: AppserviceConfig,
    pub(crate) readiness: Readiness,
    pub(crate) tasks: TaskTracker,
    #[cfg(feature = "metrics")]
    pub(crate) prometheus: Option<metrics_exporter_prometheus::PrometheusHandle>,
}

impl Core {
    /// Waits (at most `timeout`) until the dispatches in flight have finished.
    pub(crate) async fn drain(&self, timeout: std::time::Duration) -> bool {
        self.tasks.close();
        let finished = tokio::time::timeout(timeout, self.tasks.wait()).await.is_ok();
        self.tasks.reopen();
        finished
    }

    /// Answers one request of the Application Service API: the head checks, the body within
    /// the budget and the read timeout, then the dispatch. Every failure is a response.
    pub(crate) async fn respond<B>(
        &self,
        request: Request<B>,
    ) -> Result<Response<Bytes>, Infallible>
    where
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let start = Instant::now();
        let (parts, body) = request.into_parts();
        // Route, token and declared length first: a refused request's body is never read.
        let matched = match self.dispatcher.check_head(&parts) {
            Ok(m) => m,
            Err(rejection) => {
                let route = self.dispatcher.owns_path(parts.uri.path()).then_some("unknown");
                let response = rejection.into_response();
                self.observe(route, None, start, &response);
                return Ok(response);
            }
        };
        let route = matched.route.name();
        let body = match self.reserve_and_read(route, body).await {
            Ok(read) => read,
            Err(response) => {
                self.observe(Some(route), None, start, &response);
                return Ok(response);
            }
        };
        let (response, report) = self.dispatch(matched, parts, body).await;
        self.observe(Some(route), report.as_ref(), start, &response);
        Ok(response)
    }

    /// Reserves the body's memory in the budget, then reads it within the read timeout. The
    /// reservation is held until the dispatch is done.
    async fn reserve_and_read<B>(
        &self,
        route: &'static str,
        body: B,
    ) -> Result<(Bytes, OwnedSemaphorePermit), Response<Bytes>>
    where
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let limit = self.dispatcher.max_body_bytes();
        let declared =
            http_body::Body::size_hint(&body).upper().and_then(|n| usize::try_from(n).ok());
        let Some(reserved) = self.budget.reserve(declared.unwrap_or(limit).min(limit)) else {
            tracing::warn!(route, "request bodies in flight are at the budget; answering 503");
            let error = MatrixError::new(
                503,
                ErrorCode::LIMIT_EXCEEDED,
                "Too many request bodies at once; retry shortly",
            )
            .with_extra("retry_after_ms", 1000.into());
            let mut response = error_response(&error);
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("1"));
            return Err(response);
        };
        // A body that has already arrived (the usual case: it came with the head) is taken
        // without arming the read timeout's timer; otherwise the rest is read within the timeout.
        let mut collect = std::pin::pin!(Limited::new(body, limit).collect());
        let first = std::future::poll_fn(|cx| Poll::Ready(collect.as_mut().poll(cx))).await;
        let read = match first {
            Poll::Ready(read) => Ok(read),
            Poll::Pending => tokio::time::timeout(self.config.read_timeout, collect).await,
        };
        let error = match read {
            Ok(Ok(collected)) => return Ok((collected.to_bytes(), reserved)),
            Ok(Err(e)) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
                MatrixError::too_large(format!("The body is larger than {limit} bytes"))
            }
            Ok(Err(_)) => {
                MatrixError::new(400, ErrorCode::UNKNOWN, "The request body could not be read")
            }
            Err(_) => {
                MatrixError::new(408, ErrorCode::UNKNOWN, "Timed out reading the request body")
            }
        };
        Err(error_response(&error))
    }

    /// Runs the dispatch: inline, moved to a task of its own if this future is dropped first,
    /// a panic caught as a 500, a query cut off at the query timeout (504).
    async fn dispatch(
        &self,
        matched: Matched,
        parts: Parts,
        (body, reserved): (Bytes, OwnedSemaphorePermit),
    ) -> (Response<Bytes>, Option<Report>) {
        let route = matched.route.name();
        let query = matches!(matched.route, Route::QueryUser { .. } | Route::QueryRoomAlias { .. });
        // One span per request; a transaction's span also names its ID (never a token: the URI,
        // which may carry `?access_token=`, is not recorded).
        let txn_id = match &matched.route {
            Route::Transaction { txn_id } => txn_id.as_str(),
            _ => "",
        };
        let span = tracing::info_span!("appservice_request", route, txn_id);
        // The dispatch runs inline, and moves to a task of its own if this future is dropped
        // first (the homeserver gave up on the connection, or a query timed out): the handler
        // still finishes and the store records the transaction, so a retry is acknowledged
        // instead of handled twice. `serve` waits for such tasks on shutdown.
        let dispatch = self.dispatcher.dispatch(Request::from_parts(parts, body));
        let dispatch = Detached {
            future: Some(Box::pin(
                async move {
                    let done = dispatch.await;
                    drop(reserved);
                    done
                }
                .instrument(span),
            )),
            tasks: self.tasks.clone(),
        };
        // A panicking handler becomes a 500, as every other failure.
        let dispatch = std::panic::AssertUnwindSafe(dispatch).catch_unwind();
        let outcome = if query {
            let Ok(done) = tokio::time::timeout(self.config.query_timeout, dispatch).await else {
                tracing::warn!(route, "the query handler did not answer in time; it keeps running");
                let error = MatrixError::new(
                    504,
                    ErrorCode::UNKNOWN,
                    "The application service did not answer in time",
                );
                return (error_response(&error), None);
            };
            done
        } else {
            dispatch.await
        };
        match outcome {
            Ok((response, report)) => (response, Some(report)),
            Err(_panic) => {
                tracing::error!(route, "the handler panicked");
                let response =
                    error_response(&MatrixError::unknown("The request could not be handled"));
                (response, Some(Report::new(Some(route), Disposition::Failed)))
            }
        }
    }

    /// Logs (never a token) and counts one request.
    fn observe(
        &self,
        route: Option<&'static str>,
        report: Option<&Report>,
        start: Instant,
        response: &Response<Bytes>,
    ) {
        let elapsed = start.elapsed();
        let status = response.status().as_u16();
        let route = route.unwrap_or("none");
        match report {
            Some(r) if r.txn_id.is_some() => tracing::info!(
                route,
                txn_id = r.txn_id.as_deref().unwrap_or_default(),
                events = r.events,
                outcome = ?r.outcome,
                status,
                duration_ms = elapsed.as_secs_f64() * 1000.0,
                "transaction"
            ),
            _ => tracing::debug!(
                route,
                status,
                duration_ms = elapsed.as_secs_f64() * 1000.0,
                "request"
            ),
        }
        #[cfg(feature = "metrics")]
        crate::metrics::record(route, report, status, elapsed);
    }
}

/// A dispatch polled inline that finishes on a task of its own if dropped before completion.
struct Detached {
    future: Option<BoxFuture<'static, (Response<Bytes>, Report)>>,
    tasks: TaskTracker,
}

impl std::future::Future for Detached {
    type Output = (Response<Bytes>, Report);

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        // Taken out while polled: a future that panics is dropped during the unwind, never
        // handed to a task and polled again.
        let Some(mut future) = self.future.take() else { return std::task::Poll::Pending };
        match future.as_mut().poll(cx) {
            std::task::Poll::Ready(done) => std::task::Poll::Ready(done),
            std::task::Poll::Pending => {
                self.future = Some(future);
                std::task::Poll::Pending
            }
        }
    }
}

impl Drop for Detached {
    fn drop(&mut self) {
        if let Some(future) = self.future.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            self.tasks.spawn_on(async move { drop(future.await) }, &runtime);
        }
    }
}
