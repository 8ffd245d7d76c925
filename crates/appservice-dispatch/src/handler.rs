//! [`Handler`]: what the appservice does with each request, as async methods.
//!
//! Only [`Handler::event`] is required. Every other method has a default that gives the spec's
//! answer for "nothing here": queries and third-party lookups answer 404 `M_NOT_FOUND` (nothing
//! ever answers "exists" by default), ping answers 200 `{}`, ephemeral data is ignored. No
//! request can hang because a method was not provided.

use std::{collections::BTreeMap, future::Future};

use appservice_types::{
    MatrixError,
    ruma_common::{RoomAliasId, UserId},
    ruma_events::StaticEventContent,
    thirdparty::{Location, Protocol, User},
    transaction::{EventEnvelope, EventError, RawEvent, StaticEvent, Transaction},
};
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::UnitOfWork;

pub use appservice_types::BoxError;

/// Why a handler failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandlerError {
    /// Answer with this error (status and errcode chosen by the handler).
    #[error("{0}")]
    Matrix(MatrixError),
    /// Something went wrong: 500 `M_UNKNOWN`. For a transaction, the homeserver retries it.
    #[error("{0}")]
    Failed(BoxError),
}

impl HandlerError {
    /// A failure with this cause.
    pub fn failed(error: impl Into<BoxError>) -> Self {
        Self::Failed(error.into())
    }
}

impl From<MatrixError> for HandlerError {
    fn from(e: MatrixError) -> Self {
        Self::Matrix(e)
    }
}

/// The transaction an event or ephemeral batch belongs to.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct TransactionContext<'a> {
    /// The transaction ID, decoded.
    pub txn_id: &'a str,
    /// The parsed body: typed access to every section (see [`Transaction`]).
    pub transaction: &'a Transaction,
    /// The raw body, for anything else.
    pub body: &'a Bytes,
    /// Whether it came by a legacy path (`/transactions/…`).
    pub legacy: bool,
    /// The store's unit of work for this attempt, if the store offers them: see
    /// [`unit`](Self::unit).
    pub(crate) unit: Option<&'a dyn UnitOfWork>,
}

impl<'a> TransactionContext<'a> {
    /// The store's [unit of work](UnitOfWork) for this attempt, as the store's concrete type
    /// `U` (for example `appservice_sql::SqlUnit`), or `None` if the store offers no units or
    /// is of another type. What the handler writes through it is committed together with the
    /// transaction's record, or rolled back if any handler call of the transaction fails.
    pub fn unit<U: UnitOfWork>(&self) -> Option<&'a U> {
        let unit: &'a dyn std::any::Any = self.unit?;
        unit.downcast_ref::<U>()
    }
}

/// One timeline event, as the handler receives it.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Event<'a> {
    /// Its position in the transaction's `events`.
    pub index: usize,
    /// The event's JSON, parsed further only on demand ([`RawEvent::deserialize`]).
    pub raw: &'a RawEvent,
    /// Its envelope (type, IDs, sender, state key), or `None` if the event is malformed: it still
    /// reaches the handler, which decides what to do with it.
    pub envelope: Option<&'a EventEnvelope<'a>>,
}

/// Typed access on demand (see [`RawEvent::content`] and [`RawEvent::deserialize_as`]); the
/// envelope's IDs are typed by [`EventEnvelope::room_id`] and its siblings.
impl Event<'_> {
    /// The event's content as `C` if the event's `type` is `C`'s (else
    /// [`EventErrorKind::WrongType`](crate::EventErrorKind::WrongType)): only `content` is
    /// deserialized, and the type is the envelope's, already read.
    pub fn content<C>(&self) -> Result<C, EventError>
    where
        C: StaticEventContent + DeserializeOwned,
    {
        match self.envelope {
            Some(envelope) => self.raw.content_of_type(&envelope.event_type),
            None => self.raw.content(),
        }
    }

    /// The whole event as ruma's event type `T` (for example `OriginalSyncRoomMessageEvent`),
    /// if the event's `type` is `T`'s.
    pub fn deserialize_as<T: StaticEvent>(&self) -> Result<T, EventError> {
        self.raw.deserialize_as()
    }
}

/// What the appservice does with each request.
///
/// ```
/// use appservice_dispatch::{Event, Handler, HandlerError, TransactionContext};
///
/// struct Bridge;
///
/// impl Handler for Bridge {
///     async fn event(&self, _txn: &TransactionContext<'_>, event: Event<'_>) -> Result<(), HandlerError> {
///         if let Some(envelope) = event.envelope {
///             println!("{} in {}", envelope.event_type, envelope.room_id);
///         }
///         Ok(())
///     }
/// }
/// ```
pub trait Handler: Send + Sync + 'static {
    /// Handles one timeline event. Called in order: one transaction at a time, and within it in
    /// array order (per room, in [`RoomConcurrency::PerRoom`](crate::RoomConcurrency) mode).
    /// An error fails the transaction: the homeserver retries it.
    fn event(
        &self,
        txn: &TransactionContext<'_>,
        event: Event<'_>,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;

    /// Handles everything of a transaction but its timeline: to-device messages, device lists,
    /// one-time-key counts, fallback key types and ephemeral events (see
    /// [`Transaction`]'s accessors). Called before the transaction's events (keys before the
    /// ciphertexts that need them), once per transaction. Default: ignore.
    fn ephemeral_and_device_data(
        &self,
        txn: &TransactionContext<'_>,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = txn;
        async { Ok(()) }
    }

    /// Does `user_id` (in our user namespaces) exist? Create it before answering `true`
    /// ([AS-QRY-2](https://spec.matrix.org/v1.19/application-service-api/#querying)). Default: `false` (404).
    fn query_user(
        &self,
        user_id: &UserId,
    ) -> impl Future<Output = Result<bool, HandlerError>> + Send {
        let _ = user_id;
        async { Ok(false) }
    }

    /// Does `alias` (in our alias namespaces) exist? Create the room and alias before answering
    /// `true` ([AS-QRY-6](https://spec.matrix.org/v1.19/application-service-api/#querying)). Default: `false` (404).
    fn query_room_alias(
        &self,
        alias: &RoomAliasId,
    ) -> impl Future<Output = Result<bool, HandlerError>> + Send {
        let _ = alias;
        async { Ok(false) }
    }

    /// The homeserver pinged us, passing on the `transaction_id` of the Client-Server ping that
    /// caused it (absent or `null` when there was none). Default: 200 `{}`.
    fn ping(
        &self,
        transaction_id: Option<&str>,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = transaction_id;
        async { Ok(()) }
    }

    /// Metadata of a protocol listed in the registration's `protocols`. Default: `None` (404).
    fn thirdparty_protocol(
        &self,
        protocol: &str,
    ) -> impl Future<Output = Result<Option<Protocol>, HandlerError>> + Send {
        let _ = protocol;
        async { Ok(None) }
    }

    /// Third-party users matching `fields` (one per query parameter). Empty means 404.
    fn thirdparty_users(
        &self,
        protocol: &str,
        fields: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<Vec<User>, HandlerError>> + Send {
        let _ = (protocol, fields);
        async { Ok(Vec::new()) }
    }

    /// Portal rooms matching `fields` (one per query parameter). Empty means 404.
    fn thirdparty_locations(
        &self,
        protocol: &str,
        fields: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<Vec<Location>, HandlerError>> + Send {
        let _ = (protocol, fields);
        async { Ok(Vec::new()) }
    }

    /// The third-party users behind a Matrix user ID. Empty means 404.
    fn thirdparty_user_lookup(
        &self,
        user_id: &UserId,
    ) -> impl Future<Output = Result<Vec<User>, HandlerError>> + Send {
        let _ = user_id;
        async { Ok(Vec::new()) }
    }

    /// The third-party locations behind a room alias. Empty means 404.
    fn thirdparty_location_lookup(
        &self,
        alias: &RoomAliasId,
    ) -> impl Future<Output = Result<Vec<Location>, HandlerError>> + Send {
        let _ = alias;
        async { Ok(Vec::new()) }
    }
}

/// A handler that wraps another and passes it every request but (possibly) the events: the
/// [`forward_all_but_event`] macro's way to reach the inner handler.
pub(crate) trait Wraps {
    /// The handler that gets the requests.
    type Inner: Handler;
    /// The handler that gets the requests.
    fn inner(&self) -> &Self::Inner;
    /// Runs before a ping is passed on (a hook's [`ping_received`](crate::EventHook::ping_received)).
    fn before_ping(&self, transaction_id: Option<&str>) {
        let _ = transaction_id;
    }
}

/// The [`Handler`] methods other than `event`, each passing its call to [`Wraps::inner`]: one
/// forwarder for every wrapper (`Arc`, [`Hooked`](crate::Hooked),
/// [`EventRouter`](crate::EventRouter)).
macro_rules! forward_all_but_event {
    () => {
        fn ephemeral_and_device_data(
            &self,
            txn: &$crate::TransactionContext<'_>,
        ) -> impl ::std::future::Future<Output = Result<(), $crate::HandlerError>> + Send {
            $crate::handler::Wraps::inner(self).ephemeral_and_device_data(txn)
        }

        fn query_user(
            &self,
            user_id: &::appservice_types::ruma_common::UserId,
        ) -> impl ::std::future::Future<Output = Result<bool, $crate::HandlerError>> + Send {
            $crate::handler::Wraps::inner(self).query_user(user_id)
        }

        fn query_room_alias(
            &self,
            alias: &::appservice_types::ruma_common::RoomAliasId,
        ) -> impl ::std::future::Future<Output = Result<bool, $crate::HandlerError>> + Send {
            $crate::handler::Wraps::inner(self).query_room_alias(alias)
        }

        fn ping(
            &self,
            transaction_id: Option<&str>,
        ) -> impl ::std::future::Future<Output = Result<(), $crate::HandlerError>> + Send {
            $crate::handler::Wraps::before_ping(self, transaction_id);
            $crate::handler::Wraps::inner(self).ping(transaction_id)
        }

        fn thirdparty_protocol(
            &self,
            protocol: &str,
        ) -> impl ::std::future::Future<
            Output = Result<Option<::appservice_types::thirdparty::Protocol>, $crate::HandlerError>,
        > + Send {
            $crate::handler::Wraps::inner(self).thirdparty_protocol(protocol)
        }

        fn thirdparty_users(
            &self,
            protocol: &str,
            fields: &::std::collections::BTreeMap<String, String>,
        ) -> impl ::std::future::Future<
            Output = Result<Vec<::appservice_types::thirdparty::User>, $crate::HandlerError>,
        > + Send {
            $crate::handler::Wraps::inner(self).thirdparty_users(protocol, fields)
        }

        fn thirdparty_locations(
            &self,
            protocol: &str,
            fields: &::std::collections::BTreeMap<String, String>,
        ) -> impl ::std::future::Future<
            Output = Result<Vec<::appservice_types::thirdparty::Location>, $crate::HandlerError>,
        > + Send {
            $crate::handler::Wraps::inner(self).thirdparty_locations(protocol, fields)
        }

        fn thirdparty_user_lookup(
            &self,
            user_id: &::appservice_types::ruma_common::UserId,
        ) -> impl ::std::future::Future<
            Output = Result<Vec<::appservice_types::thirdparty::User>, $crate::HandlerError>,
        > + Send {
            $crate::handler::Wraps::inner(self).thirdparty_user_lookup(user_id)
        }

        fn thirdparty_location_lookup(
            &self,
            alias: &::appservice_types::ruma_common::RoomAliasId,
        ) -> impl ::std::future::Future<
            Output = Result<Vec<::appservice_types::thirdparty::Location>, $crate::HandlerError>,
        > + Send {
            $crate::handler::Wraps::inner(self).thirdparty_location_lookup(alias)
        }
    };
}
pub(crate) use forward_all_but_event;

impl<H: Handler> Wraps for std::sync::Arc<H> {
    type Inner = H;
    fn inner(&self) -> &H {
        self
    }
}

impl<H: Handler> Handler for std::sync::Arc<H> {
    fn event(
        &self,
        txn: &TransactionContext<'_>,
        event: Event<'_>,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (**self).event(txn, event)
    }

    forward_all_but_event!();
}
