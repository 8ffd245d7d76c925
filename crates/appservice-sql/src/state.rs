//! [`SqlState`]: the client's [`StateStore`] and the bridge's key-value mappings, in the
//! database of a [`SqlStore`](crate::SqlStore).

mod queries;

use appservice_client::ruma_common::{RoomId, UserId};
use appservice_client::{BoxError, Profile, StateStore};
use appservice_dispatch::BoxFuture;
use std::sync::Arc;

pub(crate) use queries::{kv_get, kv_keys_of, kv_remove, kv_set, set_membership};

use crate::{
    SqlError,
    store::{Conn, Shared, now_ms},
};

/// Our users' registrations, memberships and profiles, and a key-value table for the bridge's
/// mappings (remote channel ↔ room, remote user ↔ puppet…), in the appservice's database.
///
/// Give it to the client (`Client::with_state_store(Arc::new(store.state()))`) so registrations
/// and joins survive restarts and are shared by replicas; put [`TrackMembership`](crate::TrackMembership)
/// before the handler so memberships changed by others (kicks, bans, leaves) reach it. Write
/// mappings inside a transaction's unit with [`SqlUnit`](crate::SqlUnit)'s methods of the same
/// names, so they commit with it.
///
/// While a transaction's [`SqlUnit`](crate::SqlUnit) is open, its statements run in that unit
/// (see there why); otherwise on a pooled connection.
#[derive(Clone, Debug)]
pub struct SqlState {
    shared: Arc<Shared>,
}

impl SqlState {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    async fn conn(&self) -> Result<Conn, SqlError> {
        self.shared.conn().await
    }

    /// The value of `key` in `namespace`.
    pub async fn get(&self, namespace: &str, key: &str) -> Result<Option<String>, SqlError> {
        kv_get(self.conn().await?.get(), namespace, key).await
    }

    /// The keys of `namespace` whose value is `value` (a reverse lookup), sorted.
    pub async fn keys_of(&self, namespace: &str, value: &str) -> Result<Vec<String>, SqlError> {
        kv_keys_of(self.conn().await?.get(), namespace, value).await
    }

    /// Sets `key` in `namespace` to `value`.
    pub async fn set(&self, namespace: &str, key: &str, value: &str) -> Result<(), SqlError> {
        kv_set(self.conn().await?.get(), namespace, key, value).await
    }

    /// Removes `key` from `namespace`; whether it was there.
    pub async fn remove(&self, namespace: &str, key: &str) -> Result<bool, SqlError> {
        kv_remove(self.conn().await?.get(), namespace, key).await
    }

    /// Records `membership` for `user_id` in `room_id`.
    pub async fn record_membership(
        &self,
        room_id: &str,
        user_id: &str,
        membership: &str,
    ) -> Result<(), SqlError> {
        set_membership(self.conn().await?.get(), room_id, user_id, membership).await
    }

    /// The membership recorded for `user_id` in `room_id` (`join`, `leave`, `ban`, `invite`…).
    pub async fn membership(
        &self,
        room_id: &str,
        user_id: &str,
    ) -> Result<Option<String>, SqlError> {
        queries::membership(self.conn().await?.get(), room_id, user_id).await
    }

    /// Whether `user_id`'s recorded membership in `room_id` is `expected`.
    async fn membership_is(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        expected: &str,
    ) -> Result<bool, SqlError> {
        let found = self.membership(room_id.as_str(), user_id.as_str()).await?;
        Ok(found.as_deref() == Some(expected))
    }
}

fn boxed<'a, T: Send + 'a>(
    future: impl Future<Output = Result<T, SqlError>> + Send + 'a,
) -> BoxFuture<'a, Result<T, BoxError>> {
    Box::pin(async move { future.await.map_err(BoxError::from) })
}

impl StateStore for SqlState {
    fn is_registered<'a>(&'a self, user_id: &'a UserId) -> BoxFuture<'a, Result<bool, BoxError>> {
        boxed(
            async move { queries::is_registered(self.conn().await?.get(), user_id.as_str()).await },
        )
    }

    fn set_registered<'a>(&'a self, user_id: &'a UserId) -> BoxFuture<'a, Result<(), BoxError>> {
        boxed(async move {
            queries::set_registered(self.conn().await?.get(), user_id.as_str(), now_ms()).await
        })
    }

    fn is_joined<'a>(
        &'a self,
        room_id: &'a RoomId,
        user_id: &'a UserId,
    ) -> BoxFuture<'a, Result<bool, BoxError>> {
        boxed(self.membership_is(room_id, user_id, "join"))
    }

    fn set_joined<'a>(
        &'a self,
        room_id: &'a RoomId,
        user_id: &'a UserId,
        joined: bool,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        let membership = if joined { "join" } else { "leave" };
        boxed(async move {
            set_membership(self.conn().await?.get(), room_id.as_str(), user_id.as_str(), membership)
                .await
        })
    }

    fn forget_registered<'a>(&'a self, user_id: &'a UserId) -> BoxFuture<'a, Result<(), BoxError>> {
        boxed(async move {
            queries::forget_registered(self.conn().await?.get(), user_id.as_str()).await
        })
    }

    fn is_invited<'a>(
        &'a self,
        room_id: &'a RoomId,
        user_id: &'a UserId,
    ) -> BoxFuture<'a, Result<bool, BoxError>> {
        boxed(self.membership_is(room_id, user_id, "invite"))
    }

    fn set_invited<'a>(
        &'a self,
        room_id: &'a RoomId,
        user_id: &'a UserId,
        invited: bool,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        boxed(async move {
            let mut conn = self.conn().await?;
            queries::set_invited(conn.get(), room_id.as_str(), user_id.as_str(), invited).await
        })
    }

    fn profile<'a>(&'a self, user_id: &'a UserId) -> BoxFuture<'a, Result<Profile, BoxError>> {
        boxed(async move { queries::profile(self.conn().await?.get(), user_id.as_str()).await })
    }

    fn set_profile<'a>(
        &'a self,
        user_id: &'a UserId,
        profile: &'a Profile,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        boxed(async move {
            queries::set_profile(
                self.conn().await?.get(),
                user_id.as_str(),
                profile.displayname.as_deref(),
                profile.avatar_url.as_deref(),
            )
            .await
        })
    }
}
