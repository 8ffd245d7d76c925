//! [`Dispatcher`]: one request in, one response out.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use appservice_types::{
    ErrorCode, MatrixError, ValidatedRegistration,
    ping::PingBody,
    ruma_common::{RoomAliasId, UserId},
    transaction::{EventEnvelope, Transaction},
};
use bytes::Bytes;
use futures_util::future::join_all;
use http::{HeaderValue, Request, Response, StatusCode, header, request::Parts};

use crate::{
    Config, Event, Handler, HandlerError, MemoryStore, RoomConcurrency, TransactionContext,
    TransactionStore,
    auth::authenticate,
    order::{Fifo, Outcome, Slot},
    route::{Matched, Route, RouteError, Router},
    store::{BoundedMap, Fingerprint},
    sync::lock,
};

/// The answer to a transaction, shared with duplicates that arrived while it was handled.
type Answer = Result<(), MatrixError>;

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
    config: Config,
    router: Router,
    turns: Fifo,
    inflight: Mutex<BTreeMap<String, Arc<Slot<Answer>>>>,
    progress: Mutex<BoundedMap<Progress>>,
}

/// What a failed attempt of a transaction already did, so its retry does not do it again.
#[derive(Debug)]
struct Progress {
    fingerprint: Fingerprint,
    ephemeral_done: bool,
    events_done: EventsDone,
}

/// Which events of a transaction a failed attempt already handled, by index. Empty (no
/// allocation) until an attempt fails after handling some: the happy path never touches it.
#[derive(Debug, Default)]
struct EventsDone(Vec<bool>);

impl EventsDone {
    fn contains(&self, i: usize) -> bool {
        self.0.get(i).copied().unwrap_or(false)
    }

    /// Marks the events in `handled` as done (`len`: the transaction's event count).
    fn extend(&mut self, len: usize, handled: impl IntoIterator<Item = usize>) {
        let mut handled = handled.into_iter().peekable();
        if handled.peek().is_none() {
            return;
        }
        if self.0.len() < len {
            self.0.resize(len, false);
        }
        for i in handled {
            if let Some(done) = self.0.get_mut(i) {
                *done = true;
            }
        }
    }
}

impl<H: Handler> Dispatcher<H, MemoryStore> {
    /// A dispatcher with the default [`Config`] and a bounded in-memory store.
    pub fn new(registration: ValidatedRegistration, handler: H) -> Self {
        Self::with_store(registration, handler, MemoryStore::new(), Config::default())
    }
}

impl<H: Handler, S: TransactionStore> Dispatcher<H, S> {
    /// A dispatcher with this store and configuration.
    pub fn with_store(
        registration: ValidatedRegistration,
        handler: H,
        store: S,
        config: Config,
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
    pub fn config(&self) -> &Config {
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

    async fn transaction(
        &self,
        txn_id: String,
        body: Bytes,
        legacy: bool,
        report: &mut Report,
    ) -> Answer {
        let transaction = Transaction::from_slice_with_limit(&body, self.inner.config.max_events)
            .map_err(|e| e.to_matrix_error())?;
        report.events = transaction.events.len();
        let envelopes: Vec<Option<EventEnvelope<'_>>> =
            transaction.events.iter().map(|raw| raw.envelope().ok()).collect();
        let fingerprint = fingerprint(&transaction, &envelopes);
        if self.completed(&txn_id, fingerprint).await? {
            report.outcome = Disposition::Duplicate;
            return Ok(());
        }
        loop {
            let (slot, leader) = {
                let mut inflight = lock(&self.inner.inflight);
                match inflight.get(&txn_id) {
                    Some(slot) => (Arc::clone(slot), false),
                    None => {
                        let slot = Slot::new();
                        inflight.insert(txn_id.clone(), Arc::clone(&slot));
                        (slot, true)
                    }
                }
            };
            if !leader {
                // A duplicate delivery while the first is being handled: share its outcome.
                tracing::debug!(
                    txn_id,
                    "duplicate delivery of an in-flight transaction: waiting for it"
                );
                match slot.wait().await {
                    Outcome::Done(answer) => {
                        report.outcome = Disposition::Duplicate;
                        return answer;
                    }
                    Outcome::Abandoned => continue,
                }
            }
            let guard = LeaderGuard { inner: &self.inner, txn_id: &txn_id, slot };
            let ctx = TransactionContext {
                txn_id: &txn_id,
                transaction: &transaction,
                body: &body,
                legacy,
            };
            let answer = self.lead(&ctx, &envelopes, fingerprint).await;
            guard.finish(answer.clone());
            return answer;
        }
    }

    /// Whether `txn_id` was completed with these events (a retry to acknowledge again).
    async fn completed(
        &self,
        txn_id: &str,
        fingerprint: Fingerprints<'_>,
    ) -> Result<bool, MatrixError> {
        match self.inner.store.lookup(txn_id).await {
            Ok(Some(fp)) if fingerprint.matches(fp) => {
                tracing::debug!(txn_id, "transaction already completed: acknowledging again");
                Ok(true)
            }
            Ok(Some(_)) => {
                tracing::warn!(
                    txn_id,
                    "a completed transaction ID came again with other events (homeserver reset?): handling it as new"
                );
                Ok(false)
            }
            Ok(None) => Ok(false),
            Err(e) => {
                tracing::error!(txn_id, error = %e, "transaction store lookup failed");
                Err(MatrixError::unknown("The transaction store failed; retry later"))
            }
        }
    }

    /// Runs the transaction in its turn: ephemeral data, then events, then the store.
    async fn lead(
        &self,
        ctx: &TransactionContext<'_>,
        envelopes: &[Option<EventEnvelope<'_>>],
        fingerprint: Fingerprints<'_>,
    ) -> Answer {
        let mut turn = self.inner.turns.ticket();
        turn.wait().await;
        // Completed while this delivery waited for its turn (by an earlier, already finished leader).
        if self.completed(ctx.txn_id, fingerprint).await? {
            return Ok(());
        }
        let (mut ephemeral_done, mut events_done) =
            self.take_progress(ctx.txn_id, fingerprint.current);
        if !ephemeral_done && has_ephemeral(ctx.transaction) {
            if let Err(e) = self.inner.handler.ephemeral(ctx).await {
                self.save_progress(ctx.txn_id, fingerprint.current, false, events_done);
                return Err(handler_failure(ctx.txn_id, "ephemeral", e));
            }
            ephemeral_done = true;
        }
        let failure = self.run_events(ctx, envelopes, &mut events_done).await;
        if let Some(e) = failure {
            self.save_progress(ctx.txn_id, fingerprint.current, ephemeral_done, events_done);
            return Err(e);
        }
        if let Err(e) = self.inner.store.record(ctx.txn_id, fingerprint.current).await {
            tracing::error!(txn_id = ctx.txn_id, error = %e, "recording a completed transaction failed");
            // Everything was handled: the retry only has to record it.
            self.save_progress(ctx.txn_id, fingerprint.current, true, events_done);
            return Err(MatrixError::unknown("The transaction store failed; retry later"));
        }
        Ok(())
    }

    /// Hands the events not yet handled to the handler; returns the first failure.
    async fn run_events(
        &self,
        ctx: &TransactionContext<'_>,
        envelopes: &[Option<EventEnvelope<'_>>],
        done: &mut EventsDone,
    ) -> Option<MatrixError> {
        let len = ctx.transaction.events.len();
        match self.inner.config.room_concurrency {
            // The default: one sequence, awaited directly (no collections, no `join_all`).
            RoomConcurrency::Sequential => {
                let pending = (0..len).filter(|&i| !done.contains(i));
                let result = self.run_sequence(ctx, envelopes, pending).await;
                result.err().map(|(failed, e)| {
                    // Every event before the failed one is done now (marking one twice is harmless).
                    done.extend(len, 0..failed);
                    e
                })
            }
            RoomConcurrency::PerRoom => {
                let mut by_room: BTreeMap<Option<&str>, Vec<usize>> = BTreeMap::new();
                for i in (0..len).filter(|&i| !done.contains(i)) {
                    let room = envelopes[i].as_ref().map(|e| e.room_id.as_ref());
                    by_room.entry(room).or_default().push(i);
                }
                let rooms: Vec<Vec<usize>> = by_room.into_values().collect();
                let results = join_all(
                    rooms
                        .iter()
                        .map(|room| self.run_sequence(ctx, envelopes, room.iter().copied())),
                )
                .await;
                let mut failure = None;
                for (room, result) in rooms.iter().zip(results) {
                    let handled = room.iter().copied();
                    match result {
                        Ok(()) => done.extend(len, handled),
                        Err((failed, e)) => {
                            done.extend(len, handled.take_while(|&i| i != failed));
                            failure = failure.or(Some(e));
                        }
                    }
                }
                failure
            }
        }
    }

    /// Hands the events of `sequence` to the handler, in order, until the first failure; then
    /// returns the failed event's index and the error.
    async fn run_sequence(
        &self,
        ctx: &TransactionContext<'_>,
        envelopes: &[Option<EventEnvelope<'_>>],
        sequence: impl Iterator<Item = usize>,
    ) -> Result<(), (usize, MatrixError)> {
        for i in sequence {
            let event = Event {
                index: i,
                raw: &ctx.transaction.events[i],
                envelope: envelopes[i].as_ref(),
            };
            if let Err(e) = self.inner.handler.event(ctx, event).await {
                return Err((i, handler_failure(ctx.txn_id, "event", e)));
            }
        }
        Ok(())
    }

    fn take_progress(&self, txn_id: &str, fingerprint: Fingerprint) -> (bool, EventsDone) {
        match lock(&self.inner.progress).remove(txn_id) {
            Some(p) if p.fingerprint == fingerprint => (p.ephemeral_done, p.events_done),
            _ => (false, EventsDone::default()),
        }
    }

    fn save_progress(
        &self,
        txn_id: &str,
        fingerprint: Fingerprint,
        ephemeral_done: bool,
        events_done: EventsDone,
    ) {
        lock(&self.inner.progress)
            .insert(txn_id, Progress { fingerprint, ephemeral_done, events_done });
    }

    async fn query_user(&self, raw: &str) -> Result<Response<Bytes>, MatrixError> {
        let user_id =
            UserId::parse(raw).map_err(|e| invalid_param(&format!("Not a valid user ID: {e}")))?;
        // The homeserver only asks about our namespaces (AS-QRY-1); never create anything else.
        if !self.inner.registration.users().is_match(user_id.as_str()) {
            return Err(MatrixError::not_found(
                "The user is not in this application service's namespaces",
            ));
        }
        match self.inner.handler.query_user(&user_id).await {
            Ok(true) => Ok(empty()),
            Ok(false) => Err(MatrixError::not_found("No such user")),
            Err(e) => Err(handler_failure(raw, "query_user", e)),
        }
    }

    async fn query_room_alias(&self, raw: &str) -> Result<Response<Bytes>, MatrixError> {
        let alias = RoomAliasId::parse(raw)
            .map_err(|e| invalid_param(&format!("Not a valid room alias: {e}")))?;
        if !self.inner.registration.aliases().is_match(alias.as_str()) {
            return Err(MatrixError::not_found(
                "The alias is not in this application service's namespaces",
            ));
        }
        match self.inner.handler.query_room_alias(&alias).await {
            Ok(true) => Ok(empty()),
            Ok(false) => Err(MatrixError::not_found("No such room alias")),
            Err(e) => Err(handler_failure(raw, "query_room_alias", e)),
        }
    }

    async fn ping(&self, body: &Bytes) -> Result<Response<Bytes>, MatrixError> {
        let value: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| MatrixError::not_json(format!("The body is not valid JSON: {e}")))?;
        if !value.is_object() {
            return Err(MatrixError::bad_json("The body must be a JSON object"));
        }
        let ping: PingBody = serde_json::from_value(value)
            .map_err(|_| MatrixError::bad_json("`transaction_id` must be a string or null"))?;
        match self.inner.handler.ping(ping.transaction_id.as_deref()).await {
            Ok(()) => Ok(empty()),
            Err(e) => Err(handler_failure("ping", "ping", e)),
        }
    }

    async fn thirdparty_protocol(&self, protocol: &str) -> Result<Response<Bytes>, MatrixError> {
        self.known_protocol(protocol)?;
        match self.inner.handler.thirdparty_protocol(protocol).await {
            Ok(Some(p)) => json_ok(&p),
            Ok(None) => Err(MatrixError::not_found("No protocol was found with the given path")),
            Err(e) => Err(handler_failure(protocol, "thirdparty_protocol", e)),
        }
    }

    /// The homeserver only asks about protocols the registration lists (AS-3P-11).
    fn known_protocol(&self, protocol: &str) -> Result<(), MatrixError> {
        let listed = self
            .inner
            .registration
            .registration()
            .protocols
            .as_ref()
            .is_some_and(|p| p.iter().any(|x| x == protocol));
        if listed { Ok(()) } else { Err(MatrixError::not_found("Unknown protocol")) }
    }
}

/// Publishes the leader's outcome to waiting duplicates, also when the leader is dropped.
struct LeaderGuard<'a, H, S> {
    inner: &'a Inner<H, S>,
    txn_id: &'a str,
    slot: Arc<Slot<Answer>>,
}

impl<H, S> LeaderGuard<'_, H, S> {
    fn finish(self, answer: Answer) {
        self.slot.finish(Outcome::Done(answer));
        // Drop removes the entry.
    }
}

impl<H, S> Drop for LeaderGuard<'_, H, S> {
    fn drop(&mut self) {
        lock(&self.inner.inflight).remove(self.txn_id);
        // No-op when `finish` already published the outcome.
        self.slot.finish(Outcome::Abandoned);
    }
}

/// A digest of the event IDs, in order; an event without a readable ID counts by position only
/// (its JSON may differ between attempts, e.g. `unsigned.age`).
fn fingerprint<'a>(
    transaction: &'a Transaction,
    envelopes: &'a [Option<EventEnvelope<'a>>],
) -> Fingerprints<'a> {
    debug_assert_eq!(envelopes.len(), transaction.events.len());
    Fingerprints { current: Fingerprint::of(event_ids(envelopes)), envelopes }
}

/// The parts a fingerprint digests: each event's ID, or `\0` for an event without one.
fn event_ids<'a>(envelopes: &'a [Option<EventEnvelope<'a>>]) -> impl Iterator<Item = &'a [u8]> {
    const NO_ID: &[u8] = b"\0";
    envelopes.iter().map(|envelope| match envelope {
        Some(e) => e.event_id.as_bytes(),
        None => NO_ID,
    })
}

/// A transaction's fingerprint, and what it needs to recognise a record of an older version.
#[derive(Clone, Copy)]
struct Fingerprints<'a> {
    /// The fingerprint this version records ([`Fingerprint::of`]).
    current: Fingerprint,
    envelopes: &'a [Option<EventEnvelope<'a>>],
}

impl Fingerprints<'_> {
    /// Whether a store's `recorded` fingerprint is this transaction's: the current one, or the
    /// FNV-1a one that version 0.1.0 recorded (computed only when the current one differs,
    /// so only for a retry across the upgrade or a reused ID).
    fn matches(&self, recorded: Fingerprint) -> bool {
        recorded == self.current || recorded == Fingerprint::of_fnv1a(event_ids(self.envelopes))
    }
}

fn has_ephemeral(t: &Transaction) -> bool {
    t.ephemeral.as_ref().is_some_and(|s| !s.value.is_empty())
        || t.to_device.as_ref().is_some_and(|s| !s.value.is_empty())
        || t.device_lists.is_some()
        || t.device_one_time_keys_count.is_some()
        || t.device_unused_fallback_key_types.is_some()
}

fn handler_failure(what: &str, method: &str, e: HandlerError) -> MatrixError {
    match e {
        HandlerError::Matrix(m) => m,
        HandlerError::Failed(e) => {
            tracing::warn!(target: "appservice_dispatch", %what, method, error = %e, "handler failed");
            MatrixError::unknown("The request could not be handled; retry later")
        }
    }
}

fn too_large(limit: usize) -> MatrixError {
    MatrixError::too_large(format!("The body is larger than {limit} bytes"))
}

fn invalid_param(message: &str) -> MatrixError {
    MatrixError::new(400, ErrorCode::INVALID_PARAM, message)
}

fn required_param(query: Option<&str>, name: &str) -> Result<String, MatrixError> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| {
            MatrixError::new(
                400,
                ErrorCode::MISSING_PARAM,
                format!("Missing query parameter `{name}`"),
            )
        })
}

/// Third-party fields: every query parameter but a legacy `access_token` (AS-3P-9).
fn fields(query: Option<&str>) -> BTreeMap<String, String> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .filter(|(k, _)| k != "access_token")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn list<T: serde::Serialize>(
    result: Result<Vec<T>, HandlerError>,
    not_found: &str,
) -> Result<Response<Bytes>, MatrixError> {
    match result {
        Ok(items) if items.is_empty() => Err(MatrixError::not_found(not_found)),
        Ok(items) => json_ok(&items),
        Err(e) => Err(handler_failure("thirdparty", "lookup", e)),
    }
}

fn json_ok<T: serde::Serialize>(value: &T) -> Result<Response<Bytes>, MatrixError> {
    let body = serde_json::to_vec(value).map_err(|e| {
        tracing::error!(error = %e, "serializing a handler's answer failed");
        MatrixError::unknown("The answer could not be serialized")
    })?;
    Ok(json_response(StatusCode::OK, Bytes::from(body)))
}

/// `200 {}`: Synapse counts an empty 200 body as a failure, so success always has a body.
fn empty() -> Response<Bytes> {
    json_response(StatusCode::OK, Bytes::from_static(b"{}"))
}

fn json_response(status: StatusCode, body: Bytes) -> Response<Bytes> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// What [`Dispatcher::dispatch_with_report`] did with a request.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// The route's name ([`Route::name`]), if the request had one.
    pub route: Option<&'static str>,
    /// The transaction ID, for a transaction.
    pub txn_id: Option<String>,
    /// The number of timeline events, for a parsed transaction.
    pub events: usize,
    /// The outcome.
    pub outcome: Disposition,
}

impl Report {
    /// A report of a request on `route` with this outcome (for transports that answer
    /// themselves, e.g. when a handler panicked).
    pub fn new(route: Option<&'static str>, outcome: Disposition) -> Self {
        Self { route, txn_id: None, events: 0, outcome }
    }
}

/// The outcome in a [`Report`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Disposition {
    /// Refused with a 4xx (route, auth, body, parameters, or "not found").
    Rejected,
    /// Handled (for a transaction: the handler ran and the store recorded it).
    Handled,
    /// A transaction already completed, or completed by a concurrent delivery: acknowledged
    /// without running the handler.
    Duplicate,
    /// The handler or the store failed (5xx); a transaction will be retried.
    Failed,
}

/// A request refused before its body is read (by [`Dispatcher::check_head`]).
#[derive(Clone, Debug)]
pub struct Rejection {
    error: MatrixError,
    allow: Option<http::Method>,
}

impl Rejection {
    /// The spec error.
    pub fn error(&self) -> &MatrixError {
        &self.error
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.error.status()
    }

    /// The response: the error body, and `Allow` for a 405.
    pub fn into_response(self) -> Response<Bytes> {
        let mut response = error_response(&self.error);
        if let Some(value) = self.allow.and_then(|m| HeaderValue::from_str(m.as_str()).ok()) {
            response.headers_mut().insert(header::ALLOW, value);
        }
        response
    }
}

impl From<MatrixError> for Rejection {
    fn from(error: MatrixError) -> Self {
        Self { error, allow: None }
    }
}

/// The response for a spec error.
pub fn error_response(error: &MatrixError) -> Response<Bytes> {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(status, Bytes::from(error.body_json()))
}
