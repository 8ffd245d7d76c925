//! [`TrackMembership`]: an [`EventHook`] that records our users' memberships from the
//! `m.room.member` events of each transaction, in the transaction's unit.

use appservice_dispatch::{Event, EventHook, HandlerError, TransactionContext};
use appservice_types::{ValidatedRegistration, interest::Interest};
use serde::Deserialize;

use crate::{SqlState, SqlUnit, state::set_membership};

/// Records, before the handler sees it, every `m.room.member` event whose target is one of our
/// users (the bot, or a local user in the registration's user namespaces): joins, and also the
/// leaves, kicks and bans done by others, which the client cannot learn otherwise. Written in
/// the transaction's [`SqlUnit`] (committed with it); without a unit, through the pool.
///
/// Compose it with [`Hooked`](appservice_dispatch::Hooked):
/// `Hooked::new(handler, TrackMembership::new(registration, server_name, store.state()))`.
#[derive(Clone, Debug)]
pub struct TrackMembership {
    registration: ValidatedRegistration,
    server_name: String,
    state: SqlState,
}

impl TrackMembership {
    /// Tracks the users of `registration` on the homeserver `server_name`.
    pub fn new(registration: ValidatedRegistration, server_name: &str, state: SqlState) -> Self {
        Self { registration, server_name: server_name.to_owned(), state }
    }
}

#[derive(Deserialize)]
struct Member {
    content: MemberContent,
}

#[derive(Deserialize)]
struct MemberContent {
    membership: String,
}

impl EventHook for TrackMembership {
    async fn before_event(
        &self,
        txn: &TransactionContext<'_>,
        event: Event<'_>,
    ) -> Result<(), HandlerError> {
        let Some(envelope) = event.envelope else { return Ok(()) };
        if envelope.event_type != "m.room.member" {
            return Ok(());
        }
        let Some(target) = envelope.state_key.as_deref() else { return Ok(()) };
        let interest = Interest::new(&self.registration, &self.server_name);
        if !interest.is_interested_in_user(target) {
            return Ok(());
        }
        // A malformed member event changes nothing we can trust: skip it.
        let Ok(member) = event.raw.deserialize::<Member>() else { return Ok(()) };
        let membership = member.content.membership;
        let room_id: &str = envelope.room_id.as_ref();
        let written = match txn.unit::<SqlUnit>() {
            Some(unit) => match unit.lock().await {
                Ok(mut conn) => set_membership(&mut conn, room_id, target, &membership).await,
                Err(e) => Err(e),
            },
            None => self.state.record_membership(room_id, target, &membership).await,
        };
        written.map_err(HandlerError::failed)
    }
}
