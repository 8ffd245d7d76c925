//! [`Transport`]: what the client needs of the `tower::Service` it sends requests through.

use bytes::Bytes;
use http_body::Body;
use tower_service::Service;

use crate::BoxError;

/// A transport for [`Client`](crate::Client): a cloneable `tower::Service` from
/// `http::Request<Bytes>` to an `http::Response` whose body can be read on any thread.
///
/// Implemented for every such service; nobody implements it by hand. `HyperTransport`
/// (feature `hyper`, on by default) is the default; tests pass any `tower::service_fn` of the
/// right shape.
pub trait Transport:
    Service<
        http::Request<Bytes>,
        Response = http::Response<Self::ResponseBody>,
        Error: Into<BoxError>,
        Future: Send,
    > + Clone
    + Send
    + Sync
    + 'static
{
    /// The body of the service's responses.
    type ResponseBody: Body<Data: Send, Error: Into<BoxError>> + Send + 'static;
}

impl<S, B> Transport for S
where
    S: Service<http::Request<Bytes>, Response = http::Response<B>> + Clone + Send + Sync + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type ResponseBody = B;
}
