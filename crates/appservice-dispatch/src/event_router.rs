//! [`EventRouter`]: per-type routes for timeline events, in front of a [`Handler`] that gets
//! everything else.
//!
//! mautrix-go's `EventProcessor` keeps handlers per `event.Type` and matrix-rust-sdk's
//! `add_event_handler` picks handlers by the event type they take; here a route is registered by
//! ruma's content type ([`StaticEventContent`]), gets the content deserialized (or the typed
//! error), and an event nobody routes costs one look-up of its type string (no parse, no
//! allocation) on its way to the wrapped handler.

use std::fmt;

use appservice_types::{ruma_events::StaticEventContent, transaction::EventError};
use serde::de::DeserializeOwned;

use crate::{
    BoxFuture, Event, Handler, HandlerError, TransactionContext,
    handler::{Wraps, forward_all_but_event},
};

/// What a route returns: a boxed future borrowing the handler, the context and the event.
pub type RouteFuture<'a> = BoxFuture<'a, Result<(), HandlerError>>;

/// A route as stored: the content parse and the user's closure behind one call.
type Call<H> = Box<
    dyn for<'a> Fn(&'a H, &'a TransactionContext<'a>, Event<'a>) -> RouteFuture<'a> + Send + Sync,
>;

struct Route<H> {
    event_type: &'static str,
    call: Call<H>,
}

/// A [`Handler`] that sends each timeline event of a routed type to its route, with the
/// content deserialized as the route's type, and everything else (events of other types,
/// malformed events, queries, pings, ephemeral data) to the handler it wraps. It plugs into a
/// [`Dispatcher`](crate::Dispatcher) like any handler.
///
/// A route gets the wrapped handler (the bridge's state), the transaction, the event (its
/// envelope with typed IDs, its raw JSON) and its content as `Result<C, EventError>`: content
/// that does not deserialize as `C` reaches the route as
/// [`EventErrorKind::Invalid`](crate::EventErrorKind::Invalid) (or `Redacted`), and the route
/// decides whether that skips the event or fails the transaction.
///
/// Routes are looked up by the event's `type`: an exact type first, then prefix types
/// (`C::IsPrefix`) in the order they were added. Registering a type again replaces its route.
/// The look-up compares the type string with each route's, which for the handful of types a
/// bridge routes is cheaper than hashing it.
///
/// ```
/// use appservice_dispatch::{
///     Dispatcher, Event, EventRouter, Handler, HandlerError, TransactionContext,
///     ruma_events::room::{member::RoomMemberEventContent, message::RoomMessageEventContent},
/// };
/// use appservice_types::ValidatedRegistration;
///
/// /// The bridge: its state, and what it does with unrouted events and every other request.
/// struct Bridge;
///
/// impl Handler for Bridge {
///     async fn event(&self, _: &TransactionContext<'_>, _: Event<'_>) -> Result<(), HandlerError> {
///         Ok(()) // every type nobody routes
///     }
/// }
///
/// impl Bridge {
///     async fn on_message(
///         &self,
///         event: Event<'_>,
///         content: RoomMessageEventContent,
///     ) -> Result<(), HandlerError> {
///         let Some(envelope) = event.envelope else { return Ok(()) };
///         let (Ok(room_id), Ok(sender)) = (envelope.room_id(), envelope.sender()) else {
///             return Ok(()); // invalid IDs: skip the event
///         };
///         println!("{sender} in {room_id}: {}", content.body());
///         Ok(())
///     }
/// }
///
/// let router = EventRouter::new(Bridge)
///     .on::<RoomMessageEventContent, _>(|bridge, _txn, event, content| {
///         Box::pin(async move {
///             match content {
///                 Ok(content) => bridge.on_message(event, content).await,
///                 Err(_malformed) => Ok(()), // skip it
///             }
///         })
///     })
///     .on::<RoomMemberEventContent, _>(|_bridge, _txn, event, content| {
///         Box::pin(async move {
///             let content = content.map_err(HandlerError::failed)?; // or fail the transaction
///             let state_key = event.envelope.and_then(|e| e.state_key.as_deref());
///             println!("{state_key:?} is now {}", content.membership);
///             Ok(())
///         })
///     });
///
/// let registration = ValidatedRegistration::parse(
///     "id: b\nurl: null\nas_token: a_secret\nhs_token: h_secret\nsender_localpart: b\nnamespaces: {}",
/// )?;
/// let dispatcher = Dispatcher::new(registration, router);
/// let body = br#"{"events": [{"type": "m.room.message", "event_id": "$1", "room_id": "!r:x",
///     "sender": "@a:x", "origin_server_ts": 1, "content": {"msgtype": "m.text", "body": "hi"}}]}"#;
/// let request = http::Request::put("/_matrix/app/v1/transactions/1")
///     .header("Authorization", "Bearer h_secret")
///     .body(bytes::Bytes::from_static(body))?;
/// let response = futures::executor::block_on(dispatcher.dispatch(request));
/// assert_eq!(response.status(), 200);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct EventRouter<H> {
    handler: H,
    /// Routes by full type.
    exact: Vec<Route<H>>,
    /// Routes by type prefix, in the order they were added.
    prefixes: Vec<Route<H>>,
}

impl<H: Handler> EventRouter<H> {
    /// A router with no routes in front of `handler`, which gets every request nobody routes
    /// and is the state each route receives.
    pub fn new(handler: H) -> Self {
        Self { handler, exact: Vec::new(), prefixes: Vec::new() }
    }

    /// Routes events of content type `C` (its `TYPE`, or every type under it for a prefix type)
    /// to `route`, which gets the wrapped handler, the transaction, the event and its content.
    /// Write the route as `|handler, txn, event, content| Box::pin(async move { … })`.
    #[must_use]
    pub fn on<C, F>(mut self, route: F) -> Self
    where
        C: StaticEventContent + DeserializeOwned + Send + 'static,
        F: for<'a> Fn(
                &'a H,
                &'a TransactionContext<'a>,
                Event<'a>,
                Result<C, EventError>,
            ) -> RouteFuture<'a>
            + Send
            + Sync
            + 'static,
    {
        let prefix = <C::IsPrefix as appservice_types::ruma_events::BooleanType>::as_bool();
        let routes = if prefix { &mut self.prefixes } else { &mut self.exact };
        routes.retain(|r| r.event_type != C::TYPE);
        let call: Call<H> = Box::new(move |handler, txn, event| {
            let content = event.content::<C>();
            route(handler, txn, event, content)
        });
        routes.push(Route { event_type: C::TYPE, call });
        self
    }

    /// The wrapped handler.
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// The route for `event_type`: an exact one, else the first prefix that matches.
    fn route(&self, event_type: &str) -> Option<&Route<H>> {
        self.exact
            .iter()
            .find(|r| r.event_type == event_type)
            .or_else(|| self.prefixes.iter().find(|r| event_type.starts_with(r.event_type)))
    }
}

impl<H: fmt::Debug> fmt::Debug for EventRouter<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exact = self.exact.iter().map(|r| r.event_type.to_owned());
        let prefixes = self.prefixes.iter().map(|r| format!("{}*", r.event_type));
        let types: Vec<_> = exact.chain(prefixes).collect();
        f.debug_struct("EventRouter")
            .field("handler", &self.handler)
            .field("routes", &types)
            .finish()
    }
}

impl<H: Handler> Wraps for EventRouter<H> {
    type Inner = H;
    fn inner(&self) -> &H {
        &self.handler
    }
}

impl<H: Handler> Handler for EventRouter<H> {
    async fn event(
        &self,
        txn: &TransactionContext<'_>,
        event: Event<'_>,
    ) -> Result<(), HandlerError> {
        match event.envelope.and_then(|e| self.route(&e.event_type)) {
            Some(route) => (route.call)(&self.handler, txn, event).await,
            None => self.handler.event(txn, event).await,
        }
    }

    forward_all_but_event!();
}

#[cfg(test)]
mod tests;
