//! [`StateStore`]: what the client knows about its own users — who is registered, who is in
//! which room, which profile we set — kept in memory ([`MemoryState`], the default) or in a
//! database (`appservice_sql::SqlState`), so it survives restarts and is shared by replicas.

use std::collections::{BTreeMap, BTreeSet};

use parking_lot::Mutex;
use ruma_common::{OwnedRoomId, OwnedUserId, RoomId, UserId};

pub use futures_util::future::BoxFuture;

use crate::BoxError;

/// A profile we set for one of our users. `None`: never set by us.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Profile {
    /// The display name.
    pub displayname: Option<String>,
    /// The avatar, an `mxc://` URI.
    pub avatar_url: Option<String>,
}

/// Where a [`Client`](crate::Client) keeps what it learnt about its users.
///
/// The client reads it before asking the homeserver (`ensure_registered`, `ensure_joined`,
/// `ensure_displayname`) and writes it after the homeserver said yes. Incoming membership events
/// (kicks, bans, leaves by others) must reach it too: `appservice_sql::TrackMembership` does
/// that for transactions. A failing store is logged and treated as "not known": the client then
/// asks the homeserver, which is always correct, only slower.
pub trait StateStore: Send + Sync + 'static {
    /// Whether `user_id` is known to be registered.
    fn is_registered<'a>(&'a self, user_id: &'a UserId) -> BoxFuture<'a, Result<bool, BoxError>>;
    /// Records that `user_id` is registered.
    fn set_registered<'a>(&'a self, user_id: &'a UserId) -> BoxFuture<'a, Result<(), BoxError>>;
    /// Whether `user_id` is known to be joined to `room_id`.
    fn is_joined<'a>(
        &'a self,
        room_id: &'a RoomId,
        user_id: &'a UserId,
    ) -> BoxFuture<'a, Result<bool, BoxError>>;
    /// Records `user_id`'s membership in `room_id`: `joined`, or not (left, kicked, banned).
    fn set_joined<'a>(
        &'a self,
        room_id: &'a RoomId,
        user_id: &'a UserId,
        joined: bool,
    ) -> BoxFuture<'a, Result<(), BoxError>>;
    /// Forgets that `user_id` is registered (the bridge knows better, e.g. the account was
    /// deactivated). The default does nothing: a store that cannot forget keeps saying
    /// "registered".
    fn forget_registered<'a>(&'a self, user_id: &'a UserId) -> BoxFuture<'a, Result<(), BoxError>> {
        let _ = user_id;
        ready(())
    }
    /// Whether `user_id` is known to be invited to `room_id` (and not joined yet). The default
    /// knows no invites.
    fn is_invited<'a>(
        &'a self,
        room_id: &'a RoomId,
        user_id: &'a UserId,
    ) -> BoxFuture<'a, Result<bool, BoxError>> {
        let _ = (room_id, user_id);
        ready(false)
    }
    /// Records that `user_id` is invited to `room_id`, or no longer (joined, refused, revoked).
    /// The default does not record it.
    fn set_invited<'a>(
        &'a self,
        room_id: &'a RoomId,
        user_id: &'a UserId,
        invited: bool,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        let _ = (room_id, user_id, invited);
        ready(())
    }
    /// The profile we set for `user_id`.
    fn profile<'a>(&'a self, user_id: &'a UserId) -> BoxFuture<'a, Result<Profile, BoxError>>;
    /// Records the profile we set for `user_id`.
    fn set_profile<'a>(
        &'a self,
        user_id: &'a UserId,
        profile: &'a Profile,
    ) -> BoxFuture<'a, Result<(), BoxError>>;
}

/// The default [`StateStore`]: in memory, per process, forgotten at exit.
#[derive(Debug, Default)]
pub struct MemoryState {
    registered: Mutex<BTreeSet<OwnedUserId>>,
    joined: Mutex<BTreeSet<(OwnedRoomId, OwnedUserId)>>,
    invited: Mutex<BTreeSet<(OwnedRoomId, OwnedUserId)>>,
    profiles: Mutex<BTreeMap<OwnedUserId, Profile>>,
}

/// Puts `key` in `set` or takes it out.
fn toggle(
    set: &mut BTreeSet<(OwnedRoomId, OwnedUserId)>,
    key: (OwnedRoomId, OwnedUserId),
    on: bool,
) {
    if on {
        set.insert(key);
    } else {
        set.remove(&key);
    }
}

fn ready<'a, T: Send + 'a>(value: T) -> BoxFuture<'a, Result<T, BoxError>> {
    Box::pin(std::future::ready(Ok(value)))
}

impl StateStore for MemoryState {
    fn is_registered<'a>(&'a self, user_id: &'a UserId) -> BoxFuture<'a, Result<bool, BoxError>> {
        ready(self.registered.lock().contains(user_id))
    }

    fn set_registered<'a>(&'a self, user_id: &'a UserId) -> BoxFuture<'a, Result<(), BoxError>> {
        self.registered.lock().insert(user_id.to_owned());
        ready(())
    }

    fn is_joined<'a>(
        &'a self,
        room_id: &'a RoomId,
        user_id: &'a UserId,
    ) -> BoxFuture<'a, Result<bool, BoxError>> {
        ready(self.joined.lock().contains(&(room_id.to_owned(), user_id.to_owned())))
    }

    fn set_joined<'a>(
        &'a self,
        room_id: &'a RoomId,
        user_id: &'a UserId,
        joined: bool,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        let key = (room_id.to_owned(), user_id.to_owned());
        // Joined or gone, the user is no longer merely invited.
        self.invited.lock().remove(&key);
        toggle(&mut self.joined.lock(), key, joined);
        ready(())
    }

    fn forget_registered<'a>(&'a self, user_id: &'a UserId) -> BoxFuture<'a, Result<(), BoxError>> {
        self.registered.lock().remove(user_id);
        ready(())
    }

    fn is_invited<'a>(
        &'a self,
        room_id: &'a RoomId,
        user_id: &'a UserId,
    ) -> BoxFuture<'a, Result<bool, BoxError>> {
        ready(self.invited.lock().contains(&(room_id.to_owned(), user_id.to_owned())))
    }

    fn set_invited<'a>(
        &'a self,
        room_id: &'a RoomId,
        user_id: &'a UserId,
        invited: bool,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        toggle(&mut self.invited.lock(), (room_id.to_owned(), user_id.to_owned()), invited);
        ready(())
    }

    fn profile<'a>(&'a self, user_id: &'a UserId) -> BoxFuture<'a, Result<Profile, BoxError>> {
        ready(self.profiles.lock().get(user_id).cloned().unwrap_or_default())
    }

    fn set_profile<'a>(
        &'a self,
        user_id: &'a UserId,
        profile: &'a Profile,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        self.profiles.lock().insert(user_id.to_owned(), profile.clone());
        ready(())
    }
}
