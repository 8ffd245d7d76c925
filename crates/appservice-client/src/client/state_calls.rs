//! The client's knowledge of its users: the state store, and `ensure_registered`.

use std::sync::Arc;

use futures_util::future::FutureExt;
use parking_lot::Mutex;
use ruma_common::{OwnedUserId, RoomId, UserId};
use ruma_events::room::member::MembershipState;

use super::{Client, RegistrationState, State};
use crate::{BoxError, ClientError, InvalidArgumentKind, StateStore, Transport};

/// The store's answer about `user_id` in `room_id`; a failure is logged and means "not known".
fn known(answer: Result<bool, BoxError>, room_id: &RoomId, user_id: &UserId, what: &str) -> bool {
    answer.unwrap_or_else(|e| {
        tracing::warn!(%room_id, %user_id, error = %e, "state store: reading {what} failed");
        false
    })
}

/// Logs a failed write of the store (the client then asks the homeserver next time).
fn log_failed_write(done: Result<(), BoxError>, room_id: &RoomId, user_id: &UserId, what: &str) {
    if let Err(e) = done {
        tracing::warn!(%room_id, %user_id, error = %e, "state store: recording {what} failed");
    }
}

impl<S> Client<S> {
    /// Keeps what the client learns about its users in `store` (shared by the clones made
    /// after this call) instead of in memory: registrations, memberships and profiles then
    /// survive restarts, are shared by replicas, and see the memberships that incoming events
    /// change (see [`StateStore`]).
    #[must_use]
    pub fn with_state_store(mut self, store: Arc<dyn StateStore>) -> Self {
        self.state = Arc::new(State { registered: Mutex::default(), store });
        self
    }

    /// The state store (in memory unless [`with_state_store`](Self::with_state_store)).
    pub fn state_store(&self) -> &Arc<dyn StateStore> {
        &self.state.store
    }

    /// Records that `user_id` is registered (e.g. known from elsewhere), so that
    /// [`Client::ensure_registered`] does not ask the homeserver.
    pub async fn mark_registered(&self, user_id: OwnedUserId) {
        if let Err(e) = self.state.store.set_registered(&user_id).await {
            tracing::warn!(%user_id, error = %e, "state store: recording a registration failed");
        }
        self.state.registered.lock().insert(user_id, RegistrationState::Done);
    }

    /// Whether `user_id` is known to be registered (the bot always is). A failing state store
    /// counts as "not known".
    pub async fn is_registered(&self, user_id: &UserId) -> bool {
        if self.config.bot.as_deref() == Some(user_id)
            || matches!(self.state.registered.lock().get(user_id), Some(RegistrationState::Done))
        {
            return true;
        }
        match self.state.store.is_registered(user_id).await {
            Ok(known) => known,
            Err(e) => {
                tracing::warn!(%user_id, error = %e, "state store: reading a registration failed");
                false
            }
        }
    }

    pub(crate) fn is_bot(&self, user_id: &UserId) -> bool {
        self.config.bot.as_deref() == Some(user_id)
    }

    pub(crate) fn auto_register(&self) -> bool {
        self.config.auto_register
    }

    /// Whether the state store says `user_id` is in `room_id` (a failing store: no).
    pub(crate) async fn is_joined(&self, room_id: &RoomId, user_id: &UserId) -> bool {
        let answer = self.state.store.is_joined(room_id, user_id).await;
        known(answer, room_id, user_id, "a membership")
    }

    pub(crate) async fn set_joined(&self, room_id: &RoomId, user_id: &UserId, joined: bool) {
        let done = self.state.store.set_joined(room_id, user_id, joined).await;
        log_failed_write(done, room_id, user_id, "a membership");
    }

    /// Whether the state store says `user_id` is invited to `room_id` (a failing store: no).
    pub(crate) async fn is_invited(&self, room_id: &RoomId, user_id: &UserId) -> bool {
        let answer = self.state.store.is_invited(room_id, user_id).await;
        known(answer, room_id, user_id, "an invite")
    }

    pub(crate) async fn set_invited(&self, room_id: &RoomId, user_id: &UserId, invited: bool) {
        let done = self.state.store.set_invited(room_id, user_id, invited).await;
        log_failed_write(done, room_id, user_id, "an invite");
    }

    /// Forgets that `user_id` is registered, here and in the state store (see
    /// [`StateStore::forget_registered`]): the next [`ensure_registered`](Self::ensure_registered)
    /// asks the homeserver again. A registration in flight is not cancelled.
    pub async fn forget_registration(&self, user_id: &UserId) {
        {
            let mut registered = self.state.registered.lock();
            if matches!(registered.get(user_id), Some(RegistrationState::Done)) {
                registered.remove(user_id);
            }
        }
        if let Err(e) = self.state.store.forget_registered(user_id).await {
            tracing::warn!(%user_id, error = %e, "state store: forgetting a registration failed");
        }
    }

    /// Records what the bridge learnt about `user_id` in `room_id` (e.g. from an
    /// `m.room.member` event of a transaction): `join` makes [`Intent::ensure_joined`] a no-op,
    /// `invite` makes [`Intent::ensure_invited`] one, anything else (leave, ban, knock) means
    /// neither, so the next `ensure_joined` joins.
    ///
    /// [`Intent::ensure_joined`]: crate::Intent::ensure_joined
    /// [`Intent::ensure_invited`]: crate::Intent::ensure_invited
    pub async fn mark_membership(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        membership: &MembershipState,
    ) {
        match membership {
            MembershipState::Join => self.set_joined(room_id, user_id, true).await,
            MembershipState::Invite => {
                self.set_joined(room_id, user_id, false).await;
                self.set_invited(room_id, user_id, true).await;
            }
            _ => self.forget_membership(room_id, user_id).await,
        }
    }

    /// Forgets `user_id`'s membership in `room_id` (neither joined nor invited as far as the
    /// client knows): the next [`Intent::ensure_joined`](crate::Intent::ensure_joined) joins.
    pub async fn forget_membership(&self, room_id: &RoomId, user_id: &UserId) {
        self.set_joined(room_id, user_id, false).await;
        self.set_invited(room_id, user_id, false).await;
    }
}

impl<S: Transport> Client<S> {
    /// Makes sure `user_id` exists: registers it once, however many tasks ask at the same time
    /// (single flight: concurrent callers share one `/register` request and its result).
    ///
    /// Success and `M_USER_IN_USE` are cached for the life of the client; errors are not (the
    /// next call tries again). The bot user is never registered, nor anyone by a
    /// [`DoublePuppet`](crate::DoublePuppet)'s client (its users are real). A user on another server is
    /// [`ClientError::InvalidArgument`].
    pub async fn ensure_registered(&self, user_id: &UserId) -> Result<(), ClientError> {
        if self.is_bot(user_id) || self.config.double_puppet {
            return Ok(());
        }
        if user_id.server_name() != self.config.server_name {
            return Err(ClientError::invalid(
                InvalidArgumentKind::ForeignUser,
                format!("{user_id} is not on this appservice's server {}", self.config.server_name),
            ));
        }
        if self.is_registered(user_id).await {
            return Ok(());
        }
        let flight = {
            let mut registered = self.state.registered.lock();
            match registered.get(user_id) {
                Some(RegistrationState::Done) => return Ok(()),
                Some(RegistrationState::InFlight(flight)) => flight.clone(),
                None => {
                    let this = self.clone();
                    let localpart = user_id.localpart().to_owned();
                    let flight =
                        async move { this.register(&localpart).await.map(|_| ()) }.boxed().shared();
                    registered
                        .insert(user_id.to_owned(), RegistrationState::InFlight(flight.clone()));
                    flight
                }
            }
        };
        let result = flight.clone().await;
        if result.is_ok() {
            // Every waiter writes it; the store's write is idempotent.
            if let Err(e) = self.state.store.set_registered(user_id).await {
                tracing::warn!(%user_id, error = %e, "state store: recording a registration failed");
            }
        }
        let mut registered = self.state.registered.lock();
        let ours = matches!(registered.get(user_id), Some(RegistrationState::InFlight(f)) if f.ptr_eq(&flight));
        if ours {
            if result.is_ok() {
                registered.insert(user_id.to_owned(), RegistrationState::Done);
            } else {
                registered.remove(user_id);
            }
        }
        result
    }
}
