//! [`SqlState`]: the client's [`StateStore`] and the bridge's key-value mappings, in the
//! database of a [`SqlStore`](crate::SqlStore).

mod queries;

use appservice_client::ruma_common::{RoomId, UserId};
use appservice_client::{BoxError, Profile, StateStore};
use appservice_dispatch::BoxFuture;
use sqlx::{AnyPool, pool::PoolConnection};

pub(crate) use queries::{kv_get, kv_keys_of, kv_remove, kv_set, set_membership};

use crate::{SqlError, SqlErrorKind, store::now_ms};

/// Our users' registrations, memberships and profiles, and a key-value table for the bridge's
/// mappings (remote channel ↔ room, remote user ↔ puppet…), in the appservice's database.
///
/// Give it to the client (`Client::with_state_store(Arc::new(store.state()))`) so registrations
/// and joins survive restarts and are shared by replicas; put [`TrackMembership`](crate::TrackMembership)
/// before the handler so memberships changed by others (kicks, bans, leaves) reach it. Write
/// mappings inside a transaction's unit with [`SqlUnit`](crate::SqlUnit)'s methods of the same
/// names, so they commit with it.
#[derive(Clone, Debug)]
pub struct SqlState {
    pool: AnyPool,
}

impl SqlState {
    pub(crate) fn new(pool: AnyPool) -> Self {
        Self { pool }
    }

    async fn conn(&self) -> Result<PoolConnection<sqlx::Any>, SqlError> {
        self.pool
            .acquire()
            .await
            .map_err(|e| SqlError::sqlx(SqlErrorKind::Connect, "no connection", e))
    }

    /// The value of `key` in `namespace`.
    pub async fn get(&self, namespace: &str, key: &str) -> Result<Option<String>, SqlError> {
        kv_get(&mut *self.conn().await?, namespace, key).await
    }

    /// The keys of `namespace` whose value is `value` (a reverse lookup), sorted.
    pub async fn keys_of(&self, namespace: &str, value: &str) -> Result<Vec<String>, SqlError> {
        kv_keys_of(&mut *self.conn().await?, namespace, value).await
    }

    /// Sets `key` in `namespace` to `value`.
    pub async fn set(&self, namespace: &str, key: &str, value: &str) -> Result<(), SqlError> {
        kv_set(&mut *self.conn().await?, namespace, key, value).await
    }

    /// Removes `key` from `namespace`; whether it was there.
    pub async fn remove(&self, namespace: &str, key: &str) -> Result<bool, SqlError> {
        kv_remove(&mut *self.conn().await?, namespace, key).await
    }

    /// Records `membership` for `user_id` in `room_id`.
    pub async fn record_membership(
        &self,
        room_id: &str,
        user_id: &str,
        membership: &str,
    ) -> Result<(), SqlError> {
        set_membership(&mut *self.conn().await?, room_id, user_id, membership).await
    }

    /// The membership recorded for `user_id` in `room_id` (`join`, `leave`, `ban`, `invite`…).
    pub async fn membership(
        &self,
        room_id: &str,
        user_id: &str,
    ) -> Result<Option<String>, SqlError> {
        queries::membership(&mut *self.conn().await?, room_id, user_id).await
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
            async move { queries::is_registered(&mut *self.conn().await?, user_id.as_str()).await },
        )
    }

    fn set_registered<'a>(&'a self, user_id: &'a UserId) -> BoxFuture<'a, Result<(), BoxError>> {
        boxed(async move {
            queries::set_registered(&mut *self.conn().await?, user_id.as_str(), now_ms()).await
        })
    }

    fn is_joined<'a>(
        &'a self,
        room_id: &'a RoomId,
        user_id: &'a UserId,
    ) -> BoxFuture<'a, Result<bool, BoxError>> {
        boxed(async move {
            let found = self.membership(room_id.as_str(), user_id.as_str()).await?;
            Ok(found.as_deref() == Some("join"))
        })
    }

    fn set_joined<'a>(
        &'a self,
        room_id: &'a RoomId,
        user_id: &'a UserId,
        joined: bool,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        let membership = if joined { "join" } else { "leave" };
        boxed(async move {
            set_membership(&mut *self.conn().await?, room_id.as_str(), user_id.as_str(), membership)
                .await
        })
    }

    fn profile<'a>(&'a self, user_id: &'a UserId) -> BoxFuture<'a, Result<Profile, BoxError>> {
        boxed(async move { queries::profile(&mut *self.conn().await?, user_id.as_str()).await })
    }

    fn set_profile<'a>(
        &'a self,
        user_id: &'a UserId,
        profile: &'a Profile,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        boxed(async move {
            queries::set_profile(
                &mut *self.conn().await?,
                user_id.as_str(),
                profile.displayname.as_deref(),
                profile.avatar_url.as_deref(),
            )
            .await
        })
    }
}
