//! [`Intent`]: a handle acting as one virtual user (mautrix's `IntentAPI`). Room calls are
//! here; profile, media, typing, read markers, devices and login are in `account`.

mod account;
mod bridge_room;
mod device;
mod room_calls;

pub use bridge_room::BridgeRoom;
pub use device::{DeviceCreationUnsupported, DeviceError, DeviceSetup};

use std::collections::BTreeMap;

use ruma_client_api::{
    account::whoami,
    membership::{
        ban_user, invite_user, join_room_by_id, join_room_by_id_or_alias, joined_members,
        kick_user, leave_room,
    },
    message::send_message_event,
    redact::redact_event,
    room::create_room,
    state::{get_state_event_for_key, get_state_events, send_state_event},
};
use ruma_common::{
    MilliSecondsSinceUnixEpoch, OwnedDeviceId, OwnedEventId, OwnedRoomId, OwnedServerName,
    OwnedTransactionId, OwnedUserId, RoomId, RoomOrAliasId, UserId, serde::Raw,
};
use ruma_events::{
    AnyMessageLikeEventContent, AnyStateEvent, AnyStateEventContent, MessageLikeEventContent,
    MessageLikeEventType, StateEventContent, StateEventType,
};
use serde_json::value::RawValue as RawJsonValue;

use crate::Transport;
use crate::{Client, ClientError, Identity, client::new_transaction_id};

/// Options of the event-sending calls: the transaction ID and the `ts` timestamp.
///
/// ```
/// use appservice_client::SendOptions;
/// use ruma_common::MilliSecondsSinceUnixEpoch;
///
/// let options = SendOptions::new()
///     .txn_id("telegram-msg-4711".into()) // idempotent across restarts
///     .ts(MilliSecondsSinceUnixEpoch(1_600_000_000_000u64.try_into()?));
/// assert!(options.ts.is_some());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SendOptions {
    /// The transaction ID; a fresh random one ([`new_transaction_id`]) if `None`. Retries of one
    /// call always reuse the same ID, so the homeserver deduplicates them. Derive it from the
    /// remote message's ID to make the send idempotent across restarts too.
    pub txn_id: Option<OwnedTransactionId>,
    /// `?ts=`: the event's `origin_server_ts` (checklist [CS-TS-1](https://spec.matrix.org/v1.19/application-service-api/#timestamp-massaging)). Sent only on
    /// `PUT /rooms/{roomId}/send/…` and `PUT /rooms/{roomId}/state/…` ([CS-TS-2](https://spec.matrix.org/v1.19/application-service-api/#timestamp-massaging)); ignored by
    /// [`Intent::redact`].
    pub ts: Option<MilliSecondsSinceUnixEpoch>,
}

impl SendOptions {
    /// No options: a fresh transaction ID, the server's clock.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`txn_id`](Self::txn_id).
    #[must_use]
    pub fn txn_id(mut self, txn_id: OwnedTransactionId) -> Self {
        self.txn_id = Some(txn_id);
        self
    }

    /// Sets [`ts`](Self::ts).
    #[must_use]
    pub fn ts(mut self, ts: MilliSecondsSinceUnixEpoch) -> Self {
        self.ts = Some(ts);
        self
    }
}

/// A handle acting as one user of the appservice: every request asserts its identity with
/// `?user_id=` (and, with [`Intent::with_device`], `device_id` and
/// `org.matrix.msc3202.device_id`). The bot user ([`Client::bot`]) asserts no `user_id`.
///
/// **Registration is automatic:** unless turned off with
/// [`Client::with_auto_register`], every call first runs [`Client::ensure_registered`] for the
/// user (one `/register` per user for the life of the client, shared by all clones).
/// **Joining is explicit:** call [`Intent::ensure_joined`] before acting in a room the user may
/// not be in.
#[derive(Clone, Debug)]
pub struct Intent<S> {
    client: Client<S>,
    user_id: OwnedUserId,
    device_id: Option<OwnedDeviceId>,
}

impl<S> Intent<S> {
    pub(crate) fn new(client: Client<S>, user_id: OwnedUserId) -> Self {
        Self { client, user_id, device_id: None }
    }

    /// The same user acting as one of its devices (v1.17 device masquerading, checklist
    /// [CS-ID-5](https://spec.matrix.org/v1.19/application-service-api/#identity-assertion)): requests carry `device_id` and the unstable `org.matrix.msc3202.device_id`.
    #[must_use]
    pub fn with_device(mut self, device_id: OwnedDeviceId) -> Self {
        self.device_id = Some(device_id);
        self
    }

    /// The user this handle acts as.
    pub fn user_id(&self) -> &UserId {
        &self.user_id
    }

    /// The device this handle acts as, if any.
    pub fn device_id(&self) -> Option<&ruma_common::DeviceId> {
        self.device_id.as_deref()
    }

    /// The client.
    pub fn client(&self) -> &Client<S> {
        &self.client
    }

    /// The identity asserted by this handle's requests.
    pub fn identity(&self) -> Identity {
        let user_id = (!self.client.is_bot(&self.user_id)).then(|| self.user_id.clone());
        Identity { user_id, device_id: self.device_id.clone() }
    }
}

impl<S: Transport> Intent<S> {
    /// Registers the user unless it is known to exist (see [`Client::ensure_registered`]).
    pub async fn ensure_registered(&self) -> Result<(), ClientError> {
        self.client.ensure_registered(&self.user_id).await
    }

    /// Forgets that this user is registered (see [`Client::forget_registration`]).
    pub async fn forget_registration(&self) {
        self.client.forget_registration(&self.user_id).await;
    }

    /// Forgets this user's membership in `room_id` (see [`Client::forget_membership`]).
    pub async fn forget_membership(&self, room_id: &RoomId) {
        self.client.forget_membership(room_id, &self.user_id).await;
    }

    async fn ready(&self) -> Result<(), ClientError> {
        if self.client.auto_register() { self.ensure_registered().await } else { Ok(()) }
    }

    /// Makes sure the user is in `room_id`: nothing if it is known to be; else joins, and if the
    /// homeserver refuses with 403 `M_FORBIDDEN` (not invited), has the bot invite the user and
    /// joins again. Memberships are cached (and forgotten on leave, kick and ban).
    pub async fn ensure_joined(&self, room_id: &RoomId) -> Result<(), ClientError> {
        if self.client.is_joined(room_id, &self.user_id).await {
            return Ok(());
        }
        match self.join_room_id(room_id).await {
            Ok(_) => Ok(()),
            Err(e) if e.is(&appservice_types::ErrorCode::FORBIDDEN) => {
                let Some(bot) = self.client.bot().filter(|bot| bot.user_id != self.user_id) else {
                    return Err(e);
                };
                bot.invite(room_id, &self.user_id, None).await?;
                self.join_room_id(room_id).await.map(|_| ())
            }
            Err(e) => Err(e),
        }
    }

    /// `GET /_matrix/client/v3/account/whoami` (EX-IDASSERT, EX-MSC4326-WHOAMI).
    pub async fn whoami(&self) -> Result<whoami::v3::Response, ClientError> {
        self.ready().await?;
        self.client.send(whoami::v3::Request::new(), &self.identity()).await
    }

    /// `PUT /_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}` with a fresh
    /// transaction ID.
    pub async fn send_message<C>(
        &self,
        room_id: &RoomId,
        content: &C,
    ) -> Result<OwnedEventId, ClientError>
    where
        C: MessageLikeEventContent,
    {
        self.send_message_with(room_id, content, SendOptions::new()).await
    }

    /// `PUT /_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}[?ts=]`.
    pub async fn send_message_with<C>(
        &self,
        room_id: &RoomId,
        content: &C,
        options: SendOptions,
    ) -> Result<OwnedEventId, ClientError>
    where
        C: MessageLikeEventContent,
    {
        let raw = Raw::new(content).map_err(ClientError::build)?.cast_unchecked();
        self.send_raw_message(room_id, content.event_type(), raw, options).await
    }

    /// Sends a message-like event of any type, with content as raw JSON.
    pub async fn send_raw_message(
        &self,
        room_id: &RoomId,
        event_type: MessageLikeEventType,
        content: Raw<AnyMessageLikeEventContent>,
        options: SendOptions,
    ) -> Result<OwnedEventId, ClientError> {
        self.ready().await?;
        let txn_id = options.txn_id.unwrap_or_else(new_transaction_id);
        let mut request = send_message_event::v3::Request::new_raw(
            room_id.to_owned(),
            txn_id,
            event_type,
            content,
        );
        request.timestamp = options.ts;
        let sent = self.client.send(request, &self.identity()).await;
        Ok(self.forget_join_if_forbidden(room_id, sent).await?.event_id)
    }

    /// `PUT /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}[?ts=]`. The
    /// transaction ID of `options` is not used (state events have none).
    pub async fn send_state<C>(
        &self,
        room_id: &RoomId,
        state_key: &str,
        content: &C,
        options: SendOptions,
    ) -> Result<OwnedEventId, ClientError>
    where
        C: StateEventContent,
    {
        let raw = Raw::new(content).map_err(ClientError::build)?.cast_unchecked();
        self.send_raw_state(room_id, content.event_type(), state_key, raw, options).await
    }

    /// Sends a state event of any type, with content as raw JSON.
    pub async fn send_raw_state(
        &self,
        room_id: &RoomId,
        event_type: StateEventType,
        state_key: &str,
        content: Raw<AnyStateEventContent>,
        options: SendOptions,
    ) -> Result<OwnedEventId, ClientError> {
        self.ready().await?;
        let mut request = send_state_event::v3::Request::new_raw(
            room_id.to_owned(),
            event_type,
            state_key.to_owned(),
            content,
        );
        request.timestamp = options.ts;
        let sent = self.client.send(request, &self.identity()).await;
        Ok(self.forget_join_if_forbidden(room_id, sent).await?.event_id)
    }

    /// A 403 `M_FORBIDDEN` to a send means the user is not (or no longer) in the room, whatever
    /// the state store thought (a kick it has not seen yet): forget the membership, so the next
    /// [`ensure_joined`](Self::ensure_joined) joins again instead of trusting it forever.
    async fn forget_join_if_forbidden<T>(
        &self,
        room_id: &RoomId,
        sent: Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        if let Err(e) = &sent
            && e.is(&appservice_types::ErrorCode::FORBIDDEN)
        {
            self.client.set_joined(room_id, &self.user_id, false).await;
        }
        sent
    }

    /// `PUT /_matrix/client/v3/rooms/{roomId}/redact/{eventId}/{txnId}`.
    pub async fn redact(
        &self,
        room_id: &RoomId,
        event_id: &ruma_common::EventId,
        reason: Option<&str>,
        options: SendOptions,
    ) -> Result<OwnedEventId, ClientError> {
        self.ready().await?;
        let txn_id = options.txn_id.unwrap_or_else(new_transaction_id);
        let mut request =
            redact_event::v3::Request::new(room_id.to_owned(), event_id.to_owned(), txn_id);
        request.reason = reason.map(str::to_owned);
        Ok(self.client.send(request, &self.identity()).await?.event_id)
    }

    /// `POST /_matrix/client/v3/join/{roomIdOrAlias}[?via=]`: joins by room ID or alias.
    pub async fn join(
        &self,
        room: &RoomOrAliasId,
        via: &[OwnedServerName],
    ) -> Result<OwnedRoomId, ClientError> {
        self.ready().await?;
        let mut request = join_room_by_id_or_alias::v3::Request::new(room.to_owned());
        request.via = via.to_vec();
        // Joining a room one is in is a no-op: safe to retry.
        let room_id = self
            .client
            .send_as(request, &self.identity(), true)
            .await?
            .parse::<join_room_by_id_or_alias::v3::Response>()?
            .room_id;
        self.client.set_joined(&room_id, &self.user_id, true).await;
        Ok(room_id)
    }

    /// `POST /_matrix/client/v3/rooms/{roomId}/join`.
    pub async fn join_room_id(&self, room_id: &RoomId) -> Result<OwnedRoomId, ClientError> {
        self.ready().await?;
        let request = join_room_by_id::v3::Request::new(room_id.to_owned());
        let room_id = self
            .client
            .send_as(request, &self.identity(), true)
            .await?
            .parse::<join_room_by_id::v3::Response>()?
            .room_id;
        self.client.set_joined(&room_id, &self.user_id, true).await;
        Ok(room_id)
    }

    /// `POST /_matrix/client/v3/rooms/{roomId}/invite`.
    pub async fn invite(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        reason: Option<&str>,
    ) -> Result<(), ClientError> {
        self.ready().await?;
        let mut recipient = invite_user::v3::InviteUserId::new(user_id.to_owned());
        recipient.reason = reason.map(str::to_owned);
        let request = invite_user::v3::Request::new(
            room_id.to_owned(),
            invite_user::v3::InvitationRecipient::UserId(recipient),
        );
        self.client.send(request, &self.identity()).await?;
        self.client.set_invited(room_id, user_id, true).await;
        Ok(())
    }

    /// `POST /_matrix/client/v3/rooms/{roomId}/leave`.
    pub async fn leave(&self, room_id: &RoomId, reason: Option<&str>) -> Result<(), ClientError> {
        self.ready().await?;
        let mut request = leave_room::v3::Request::new(room_id.to_owned());
        request.reason = reason.map(str::to_owned);
        self.client.send(request, &self.identity()).await?;
        self.client.set_joined(room_id, &self.user_id, false).await;
        Ok(())
    }

    /// `POST /_matrix/client/v3/rooms/{roomId}/kick`.
    pub async fn kick(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        reason: Option<&str>,
    ) -> Result<(), ClientError> {
        self.ready().await?;
        let mut request = kick_user::v3::Request::new(room_id.to_owned(), user_id.to_owned());
        request.reason = reason.map(str::to_owned);
        self.client.send(request, &self.identity()).await?;
        self.client.set_joined(room_id, user_id, false).await;
        Ok(())
    }

    /// `POST /_matrix/client/v3/rooms/{roomId}/ban`.
    pub async fn ban(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        reason: Option<&str>,
    ) -> Result<(), ClientError> {
        self.ready().await?;
        let mut request = ban_user::v3::Request::new(room_id.to_owned(), user_id.to_owned());
        request.reason = reason.map(str::to_owned);
        self.client.send(request, &self.identity()).await?;
        self.client.set_joined(room_id, user_id, false).await;
        Ok(())
    }

    /// `POST /_matrix/client/v3/createRoom` (alias, preset, initial state… are fields of
    /// `request`). The creator is recorded as joined.
    pub async fn create_room(
        &self,
        request: create_room::v3::Request,
    ) -> Result<OwnedRoomId, ClientError> {
        self.ready().await?;
        let room_id = self.client.send(request, &self.identity()).await?.room_id;
        self.client.set_joined(&room_id, &self.user_id, true).await;
        Ok(room_id)
    }

    /// `GET /_matrix/client/v3/rooms/{roomId}/state`.
    pub async fn get_state(
        &self,
        room_id: &RoomId,
    ) -> Result<Vec<Raw<AnyStateEvent>>, ClientError> {
        self.ready().await?;
        let request = get_state_events::v3::Request::new(room_id.to_owned());
        Ok(self.client.send(request, &self.identity()).await?.room_state)
    }

    /// `GET /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}`: the content.
    pub async fn get_state_event(
        &self,
        room_id: &RoomId,
        event_type: StateEventType,
        state_key: &str,
    ) -> Result<Box<RawJsonValue>, ClientError> {
        self.ready().await?;
        let request = get_state_event_for_key::v3::Request::new(
            room_id.to_owned(),
            event_type,
            state_key.to_owned(),
        );
        Ok(self.client.send(request, &self.identity()).await?.event_or_content)
    }

    /// `GET /_matrix/client/v3/rooms/{roomId}/joined_members`.
    pub async fn joined_members(
        &self,
        room_id: &RoomId,
    ) -> Result<BTreeMap<OwnedUserId, joined_members::v3::RoomMember>, ClientError> {
        self.ready().await?;
        let request = joined_members::v3::Request::new(room_id.to_owned());
        Ok(self.client.send(request, &self.identity()).await?.joined)
    }
}
