//! [`Dispatcher`]: one request in, one response out. The transaction protocol is in
//! `transaction`, the other endpoints in `queries`, what a request's outcome looks like in
//! `report`.

use parking_lot::Mutex;
mod queries;
mod report;
mod transaction;

use std::{collections::BTreeMap, sync::Arc};

use appservice_types::{
    MatrixError, ValidatedRegistration,
    ruma_common::{RoomAliasId, UserId},
};
use bytes::Bytes;
use http::{Request, Response, header, request::Parts};

use crate::{
    DispatchConfig, Handler, MemoryStore, TransactionStore,
    auth::authenticate,
    order::{Fifo, Slot},
    route::{Matched, Route, RouteError, Router},
    store::BoundedMap,
};

use self::{
    queries::{fields, invalid_param, list, required_param},
    report::{empty, too_large},
    transaction::{Answer, Progress},
};
pub use report::{Disposition, Rejection, Report, error_response};

/// Dispatches homeserver requests to a [`Handler`]: routing, `hs_token` auth, body limits, and
/// exactly-once, in-order transaction handling with a [`TransactionStore`].
///
/// Cheap to clone (an `Arc` inside); share one per appservice. See the crate docs for the
/// guarantees and an example.
pub struct Dispatcher<H, S = MemoryStore> {
    inner: Arc<Inner<H, S>>,
}

impl<H, S> Clone for Dispatcher<H, S> {
    fn clone(&self) -> Self {
        Self { inner: Arc::clone(&self.inner) }
    }
}

impl<H, S> std::fmt::Debug for Dispatcher<H, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("registration", &self.inner.registration.id())
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

struct Inner<H, S> {
    registration: ValidatedRegistration,
    handler: H,
    store: S,
    config: DispatchConfig,
    router: Router,
    turns: Fifo,
    inflight: Mutex<BTreeMap<String, Arc<Slot<Answer>>>>,
    progress: Mutex<BoundedMap<Progress>>,
}

impl<H: Handler> Dispatcher<H, MemoryStore> {
    /// A dispatcher with the default [`DispatchConfig`] and a bounded in-memory store.
    pub fn new(registration: ValidatedRegistration, handler: H) -> Self {
        Self::with_store(registration, handler, MemoryStore::new(), DispatchConfig::default())
    }
}

impl<H: Handler, S: TransactionStore> Dispatcher<H, S> {
    /// A dispatcher with this store and configuration.
    pub fn with_store(
        registration: ValidatedRegistration,
        handler: H,
        store: S,
        config: DispatchConfig,
    ) -> Self {
        let path_prefix = config
            .path_prefix
            .clone()
            .or_else(|| {
                registration
                    .url()
                    .and_then(|u| url::Url::parse(u).ok())
                    .map(|u| u.path().to_owned())
            })
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_owned();
        let router = Router { legacy_routes: config.legacy_routes, path_prefix };
        let progress_capacity = config.progress_capacity;
        Self {
            inner: Arc::new(Inner {
                registration,
                handler,
                store,
                config,
                router,
                turns: Fifo::default(),
                inflight: Mutex::new(BTreeMap::new()),
                progress: Mutex::new(BoundedMap::new(progress_capacity)),
            }),
        }
    }

    /// The handler.
    pub fn handler(&self) -> &H {
        &self.inner.handler
    }

    /// The transaction store.
    pub fn store(&self) -> &S {
        &self.inner.store
    }

    /// The configuration.
    pub fn config(&self) -> &DispatchConfig {
        &self.inner.config
    }

    /// The registration.
    pub fn registration(&self) -> &ValidatedRegistration {
        &self.inner.registration
    }

    /// Whether `path` belongs to the Application Service API (a route, or anything under
    /// `/_matrix/app/`), as opposed to a path an embedding server serves itself.
    pub fn owns_path(&self, path: &str) -> bool {
        self.inner.router.owns(path)
    }

    /// Checks what can be checked before the body is read: the route (404/405), the `hs_token`
    /// (401/403) and a declared `Content-Length` over the limit (413). A transport calls this
    /// first, so an unauthenticated or oversized request is refused without reading its body;
    /// [`dispatch`](Self::dispatch) checks the same again.
    pub fn check_head(&self, parts: &Parts) -> Result<Matched, Rejection> {
        self.check_routed_head(parts, self.inner.router.route(&parts.method, parts.uri.path()))
    }

    /// [`check_head`](Self::check_head) with the route already looked up.
    fn check_routed_head(
        &self,
        parts: &Parts,
        routed: Result<Matched, RouteError>,
    ) -> Result<Matched, Rejection> {
        let matched = routed.map_err(|e| {
            let allow = match &e {
                RouteError::MethodNotAllowed { allow } => Some(allow.clone()),
                _ => None,
            };
            Rejection { error: e.to_matrix_error(), allow }
        })?;
        // The token check comes before the parameters and body are looked at (AS-AUTH-*).
        authenticate(&parts.headers, parts.uri.query(), self.inner.registration.hs_token())
            .map_err(|e| Rejection::from(e.to_matrix_error()))?;
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.inner.config.max_body_bytes as u64) {
            return Err(too_large(self.inner.config.max_body_bytes).into());
        }
        Ok(matched)
    }

    /// Handles one request. Never fails: every problem is a spec-shaped error response
    /// (`{"errcode", "error"}`, `Content-Type: application/json`).
    pub async fn dispatch(&self, request: Request<Bytes>) -> Response<Bytes> {
        self.dispatch_with_report(request).await.0
    }

    /// Like [`dispatch`](Self::dispatch), with a [`Report`] of what happened, for logs and
    /// metrics (never containing a token).
    pub async fn dispatch_with_report(&self, request: Request<Bytes>) -> (Response<Bytes>, Report) {
        let (parts, body) = request.into_parts();
        // Routed once: the report's route name and the checks share the match.
        let routed = self.inner.router.route(&parts.method, parts.uri.path());
        let route = routed.as_ref().ok().map(|m| m.route.name());
        let mut report = Report { route, txn_id: None, events: 0, outcome: Disposition::Rejected };
        let matched = match self.check_routed_head(&parts, routed) {
            Ok(m) => m,
            Err(rejection) => return (rejection.into_response(), report),
        };
        if body.len() > self.inner.config.max_body_bytes {
            return (error_response(&too_large(self.inner.config.max_body_bytes)), report);
        }
        let result = self.handle(matched, parts.uri.query(), body, &mut report).await;
        let response = match result {
            Ok(response) => {
                if report.outcome == Disposition::Rejected {
                    report.outcome = Disposition::Handled;
                }
                response
            }
            Err(e) => {
                report.outcome =
                    if e.status() >= 500 { Disposition::Failed } else { Disposition::Rejected };
                error_response(&e)
            }
        };
        (response, report)
    }

    async fn handle(
        &self,
        matched: Matched,
        query: Option<&str>,
        body: Bytes,
        report: &mut Report,
    ) -> Result<Response<Bytes>, MatrixError> {
        match matched.route {
            Route::Transaction { txn_id } => {
                report.txn_id = Some(txn_id.clone());
                self.transaction(txn_id, body, matched.legacy, report).await.map(|()| empty())
            }
            Route::QueryUser { user_id } => self.query_user(&user_id).await,
            Route::QueryRoomAlias { alias } => self.query_room_alias(&alias).await,
            Route::Ping => self.ping(&body).await,
            Route::ThirdPartyProtocol { protocol } => self.thirdparty_protocol(&protocol).await,
            Route::ThirdPartyUsers { protocol } => {
                let fields = fields(query);
                self.known_protocol(&protocol)?;
                list(
                    self.inner.handler.thirdparty_users(&protocol, &fields).await,
                    "No users were found",
                )
            }
            Route::ThirdPartyLocations { protocol } => {
                let fields = fields(query);
                self.known_protocol(&protocol)?;
                list(
                    self.inner.handler.thirdparty_locations(&protocol, &fields).await,
                    "No mappings were found",
                )
            }
            Route::ThirdPartyUserLookup => match required_param(query, "userid") {
                Ok(raw) => match UserId::parse(raw.as_str()) {
                    Ok(user_id) => list(
                        self.inner.handler.thirdparty_user_lookup(&user_id).await,
                        "No users were found",
                    ),
                    Err(e) => Err(invalid_param(&format!("`userid` is not a valid user ID: {e}"))),
                },
                Err(e) => Err(e),
            },
            Route::ThirdPartyLocationLookup => match required_param(query, "alias") {
                Ok(raw) => match RoomAliasId::parse(raw.as_str()) {
                    Ok(alias) => list(
                        self.inner.handler.thirdparty_location_lookup(&alias).await,
                        "No locations were found",
                    ),
                    Err(e) => {
                        Err(invalid_param(&format!("`alias` is not a valid room alias: {e}")))
                    }
                },
                Err(e) => Err(e),
            },
        }
    }
}
