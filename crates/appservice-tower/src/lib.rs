//! The Matrix application service dispatcher as a `tower::Service`, and a ready server.
//!
//! A thin adapter over `appservice-dispatch`'s public API (rustls-util's "solely uses other parts
//! of the public API"):
//!
//! * [`Appservice`] is a `tower::Service<http::Request<B>>` for any `http_body::Body`, with
//!   `Error = Infallible`: every failure is a spec-shaped response. It checks the route and the
//!   `hs_token` before reading the body, streams the body with the size limit enforced while
//!   reading (a 1 GB body is refused after the limit, never buffered) and a read timeout, finishes
//!   every dispatch even when its connection drops (the rest continues as a task of its own, so
//!   the transaction is recorded and the retry acknowledged, not handled twice), and bounds user and alias
//!   queries with a timeout (Synapse blocks event delivery while it waits for one).
//! * [`AppserviceLayer`] puts the appservice in front of your own service: requests for the
//!   Application Service API go to the dispatcher, the rest to your service.
//! * [`serve`] is a ready HTTP/1.1 + h2c server on hyper-util with graceful shutdown.
//! * Optional health endpoints, `tracing` spans per request and transaction (route, txn id,
//!   event count, outcome, duration; never a token), and metrics (feature `metrics`).
//!
//! # Serving it
//!
//! ```
//! use appservice_dispatch::{Dispatcher, Event, Handler, HandlerError, TransactionContext};
//! use appservice_tower::{Appservice, serve};
//! use appservice_types::ValidatedRegistration;
//!
//! struct Bridge;
//!
//! impl Handler for Bridge {
//!     async fn event(&self, _txn: &TransactionContext<'_>, _event: Event<'_>) -> Result<(), HandlerError> {
//!         Ok(())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let registration = ValidatedRegistration::parse(
//!     "id: bridge\nurl: http://127.0.0.1:0\nas_token: a_secret\nhs_token: h_secret\n\
//!      sender_localpart: bot\nnamespaces: {}",
//! )?;
//! let app = Appservice::new(Dispatcher::new(registration, Bridge));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! // Serve until Ctrl-C, e.g. `serve(listener, app, async { tokio::signal::ctrl_c().await.ok(); })`;
//! // here: until the first request has been answered.
//! let addr = listener.local_addr()?;
//! let (done, shutdown) = tokio::sync::oneshot::channel::<()>();
//! let server = tokio::spawn(serve(listener, app, async { shutdown.await.ok(); }));
//! let mut stream = tokio::net::TcpStream::connect(addr).await?;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! stream.write_all(b"PUT /_matrix/app/v1/transactions/1 HTTP/1.1\r\nHost: x\r\n\
//!     Authorization: Bearer h_secret\r\nContent-Length: 13\r\nConnection: close\r\n\r\n{\"events\":[]}").await?;
//! let mut response = String::new();
//! stream.read_to_string(&mut response).await?;
//! assert!(response.starts_with("HTTP/1.1 200 OK"));
//! assert!(response.ends_with("{}"));
//! done.send(()).ok();
//! server.await??;
//! # Ok(())
//! # }
//! ```
//!
//! # With your own hyper-util setup
//!
//! Wrap it in `TowerToHyperService` and hand it to hyper-util's `auto::Builder`, which speaks
//! HTTP/1.1 and h2c (HTTP/2 with prior knowledge) on the same port, as [`serve`] does:
//!
//! ```
//! # use appservice_dispatch::{Dispatcher, Event, Handler, HandlerError, TransactionContext};
//! # use appservice_types::ValidatedRegistration;
//! # struct Bridge;
//! # impl Handler for Bridge {
//! #     async fn event(&self, _txn: &TransactionContext<'_>, _event: Event<'_>) -> Result<(), HandlerError> { Ok(()) }
//! # }
//! use appservice_tower::Appservice;
//! use hyper_util::{rt::{TokioExecutor, TokioIo}, server::conn::auto, service::TowerToHyperService};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let registration = ValidatedRegistration::parse(
//! #     "id: b\nurl: null\nas_token: a_secret\nhs_token: h_secret\nsender_localpart: bot\nnamespaces: {}",
//! # )?;
//! let app = Appservice::new(Dispatcher::new(registration, Bridge));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//! tokio::spawn(async move {
//!     while let Ok((stream, _)) = listener.accept().await {
//!         let service = TowerToHyperService::new(app.clone());
//!         tokio::spawn(async move {
//!             let _ = auto::Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(stream), service).await;
//!         });
//!     }
//! });
//! # use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! # let mut stream = tokio::net::TcpStream::connect(addr).await?;
//! # stream.write_all(b"POST /_matrix/app/v1/ping HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer h_secret\r\n\
//! #     Content-Length: 2\r\nConnection: close\r\n\r\n{}").await?;
//! # let mut response = String::new();
//! # stream.read_to_string(&mut response).await?;
//! # assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
//! # Ok(())
//! # }
//! ```
//!
//! # Inside an axum router
//!
//! ```
//! use appservice_dispatch::{Dispatcher, Event, Handler, HandlerError, TransactionContext};
//! use appservice_tower::Appservice;
//! use appservice_types::ValidatedRegistration;
//! use axum::{Router, routing::get};
//! use tower::ServiceExt;
//!
//! # struct Bridge;
//! # impl Handler for Bridge {
//! #     async fn event(&self, _txn: &TransactionContext<'_>, _event: Event<'_>) -> Result<(), HandlerError> { Ok(()) }
//! # }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let registration = ValidatedRegistration::parse(
//! #     "id: b\nurl: null\nas_token: a_secret\nhs_token: h_secret\nsender_localpart: bot\nnamespaces: {}",
//! # )?;
//! let appservice = Appservice::new(Dispatcher::new(registration, Bridge));
//! let app = Router::new()
//!     .route("/status", get(|| async { "fine" }))
//!     // The appservice keeps the full path: use `route_service`, not `nest_service`.
//!     .route_service("/_matrix/app/{*rest}", appservice);
//!
//! let request = http::Request::put("/_matrix/app/v1/transactions/1")
//!     .header("authorization", "Bearer h_secret")
//!     .body(axum::body::Body::from(r#"{"events": []}"#))?;
//! assert_eq!(app.clone().oneshot(request).await?.status(), 200);
//! let request = http::Request::get("/status").body(axum::body::Body::empty())?;
//! assert_eq!(app.oneshot(request).await?.status(), 200);
//! # Ok(())
//! # }
//! ```
//!
//! Or as a layer in front of the whole router (the legacy paths `/transactions/…`, `/users/…`
//! and `/rooms/…` then reach the appservice too): `router.layer(AppserviceLayer::new(dispatcher))`.
mod budget;
mod config;
mod connections;
mod core;
#[cfg(feature = "metrics")]
pub mod metrics;
mod serve;
mod service;

pub use config::{
    AppserviceConfig, DEFAULT_BODY_BUDGET, DEFAULT_QUERY_TIMEOUT, DEFAULT_READ_TIMEOUT,
    HealthPaths, Readiness, ReadinessCondition,
};
pub use serve::{ServeConfig, serve, serve_with};
pub use service::{Appservice, AppserviceLayer, NotFound, ResponseFuture};

pub use appservice_types::BoxError;

/// The response body of [`Appservice`].
pub type Body = http_body_util::combinators::UnsyncBoxBody<bytes::Bytes, BoxError>;

pub(crate) type BoxFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
