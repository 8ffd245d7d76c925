//! [`DoublePuppet`]: acting as the bridge's *real* users through a second registration (mautrix's
//! "appservice double puppeting"): `url: null`, a non-exclusive user namespace covering the
//! server's users, its own `as_token`; requests assert the real user's identity with
//! `?user_id=` and nobody is ever registered. The registration's shape is in
//! `docs/homeservers.md` ("Double puppeting").

use std::sync::Arc;

use parking_lot::Mutex;
use ruma_common::OwnedUserId;

use super::{Client, State};
use crate::{Intent, Secret, Transport};

/// A client for a double-puppeting registration: [`intent`](Self::intent) gives an [`Intent`]
/// acting as a real user (the one whose remote account the bridge mirrors), so their messages
/// sent from the remote network appear as sent by them on Matrix.
///
/// Made by [`Client::double_puppet`]: same homeserver, transport, retry policy, versions and
/// state store (memberships are facts about rooms, whichever token learnt them), but the
/// double-puppeting registration's `as_token`, no bot, and no registration ever (the users
/// exist; [`Intent::ensure_registered`] does nothing).
#[derive(Clone, Debug)]
pub struct DoublePuppet<S> {
    client: Client<S>,
}

impl<S: Clone> Client<S> {
    /// A [`DoublePuppet`] client authenticating with `as_token`, the `as_token` of the
    /// double-puppeting registration (not this appservice's).
    pub fn double_puppet(&self, as_token: Secret) -> DoublePuppet<S> {
        let mut config = (*self.config).clone();
        config.as_token = as_token;
        config.appservice_id = None;
        config.bot = None;
        config.auto_register = false;
        config.double_puppet = true;
        let state = State { registered: Mutex::default(), store: Arc::clone(&self.state.store) };
        let client = Client {
            config: Arc::new(config),
            state: Arc::new(state),
            transport: self.transport.clone(),
        };
        DoublePuppet { client }
    }
}

impl<S> DoublePuppet<S> {
    /// The underlying client (for [`Client::send`] of other requests).
    pub fn client(&self) -> &Client<S> {
        &self.client
    }
}

impl<S: Transport> DoublePuppet<S> {
    /// An [`Intent`] acting as the real user `user_id` (every request asserts `?user_id=`).
    /// The homeserver refuses a user outside the registration's namespace (403, e.g. on
    /// [`Intent::whoami`], which a bridge calls once to check the set-up).
    pub fn intent(&self, user_id: OwnedUserId) -> Intent<S> {
        self.client.intent(user_id)
    }
}
