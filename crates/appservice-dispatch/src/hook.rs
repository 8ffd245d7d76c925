//! [`EventHook`] and [`Hooked`]: something that runs before the handler sees each event (state
//! tracking, metrics, filters), composed with any [`Handler`] without writing a forwarder.

use std::{collections::BTreeMap, future::Future};

use appservice_types::{
    ruma_common::{RoomAliasId, UserId},
    thirdparty::{Location, Protocol, User},
};

use crate::{Event, Handler, HandlerError, TransactionContext};

/// Runs before the handler for each event of a transaction, in the same attempt (with the same
/// [unit of work](crate::UnitOfWork), if the store has units). An error fails the transaction
/// as a handler error does.
pub trait EventHook: Send + Sync + 'static {
    /// Called with each event before the handler's [`Handler::event`].
    fn before_event(
        &self,
        txn: &TransactionContext<'_>,
        event: Event<'_>,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;

    /// Called when the homeserver pings the appservice, before the handler's
    /// [`Handler::ping`] (for example to confirm a ping the appservice asked for). Default:
    /// nothing.
    fn ping_received(&self, transaction_id: Option<&str>) {
        let _ = transaction_id;
    }
}

/// Two hooks, the first one first.
impl<A: EventHook, B: EventHook> EventHook for (A, B) {
    async fn before_event(
        &self,
        txn: &TransactionContext<'_>,
        event: Event<'_>,
    ) -> Result<(), HandlerError> {
        self.0.before_event(txn, event).await?;
        self.1.before_event(txn, event).await
    }

    fn ping_received(&self, transaction_id: Option<&str>) {
        self.0.ping_received(transaction_id);
        self.1.ping_received(transaction_id);
    }
}

/// No hook: every event passes.
impl<K: EventHook> EventHook for Option<K> {
    async fn before_event(
        &self,
        txn: &TransactionContext<'_>,
        event: Event<'_>,
    ) -> Result<(), HandlerError> {
        match self {
            Some(hook) => hook.before_event(txn, event).await,
            None => Ok(()),
        }
    }

    fn ping_received(&self, transaction_id: Option<&str>) {
        if let Some(hook) = self {
            hook.ping_received(transaction_id);
        }
    }
}

/// A [`Handler`] whose events pass through an [`EventHook`] first; every other request goes to
/// the handler unchanged.
#[derive(Clone, Debug)]
pub struct Hooked<H, K> {
    handler: H,
    hook: K,
}

impl<H, K> Hooked<H, K> {
    /// `handler`, with `hook` before each event.
    pub fn new(handler: H, hook: K) -> Self {
        Self { handler, hook }
    }

    /// The handler.
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// The hook.
    pub fn hook(&self) -> &K {
        &self.hook
    }
}

impl<H: Handler, K: EventHook> Handler for Hooked<H, K> {
    async fn event(
        &self,
        txn: &TransactionContext<'_>,
        event: Event<'_>,
    ) -> Result<(), HandlerError> {
        self.hook.before_event(txn, event).await?;
        self.handler.event(txn, event).await
    }

    fn ephemeral_and_device_data(
        &self,
        txn: &TransactionContext<'_>,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        self.handler.ephemeral_and_device_data(txn)
    }

    fn query_user(
        &self,
        user_id: &UserId,
    ) -> impl Future<Output = Result<bool, HandlerError>> + Send {
        self.handler.query_user(user_id)
    }

    fn query_room_alias(
        &self,
        alias: &RoomAliasId,
    ) -> impl Future<Output = Result<bool, HandlerError>> + Send {
        self.handler.query_room_alias(alias)
    }

    fn ping(
        &self,
        transaction_id: Option<&str>,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        self.hook.ping_received(transaction_id);
        self.handler.ping(transaction_id)
    }

    fn thirdparty_protocol(
        &self,
        protocol: &str,
    ) -> impl Future<Output = Result<Option<Protocol>, HandlerError>> + Send {
        self.handler.thirdparty_protocol(protocol)
    }

    fn thirdparty_users(
        &self,
        protocol: &str,
        fields: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<Vec<User>, HandlerError>> + Send {
        self.handler.thirdparty_users(protocol, fields)
    }

    fn thirdparty_locations(
        &self,
        protocol: &str,
        fields: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<Vec<Location>, HandlerError>> + Send {
        self.handler.thirdparty_locations(protocol, fields)
    }

    fn thirdparty_user_lookup(
        &self,
        user_id: &UserId,
    ) -> impl Future<Output = Result<Vec<User>, HandlerError>> + Send {
        self.handler.thirdparty_user_lookup(user_id)
    }

    fn thirdparty_location_lookup(
        &self,
        alias: &RoomAliasId,
    ) -> impl Future<Output = Result<Vec<Location>, HandlerError>> + Send {
        self.handler.thirdparty_location_lookup(alias)
    }
}
