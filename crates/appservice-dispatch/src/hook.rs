//! [`EventHook`] and [`Hooked`]: something that runs before the handler sees each event (state
//! tracking, metrics, filters), composed with any [`Handler`] without writing a forwarder.

use std::future::Future;

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

impl<H: Handler, K: EventHook> crate::handler::Wraps for Hooked<H, K> {
    type Inner = H;
    fn inner(&self) -> &H {
        &self.handler
    }

    fn before_ping(&self, transaction_id: Option<&str>) {
        self.hook.ping_received(transaction_id);
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

    crate::handler::forward_all_but_event!();
}
