//! The room calls every bridge needs beyond sending: aliases, the room's name, topic and
//! avatar, power levels, unban, `ensure_invited`, notices and emotes.

use js_int::Int;
use ruma_client_api::{alias::get_alias, membership::unban_user};
use ruma_common::{MxcUri, OwnedEventId, RoomAliasId, RoomId, UserId, serde::Raw};
use ruma_events::{
    StateEventType,
    room::{
        avatar::RoomAvatarEventContent, message::RoomMessageEventContent,
        name::RoomNameEventContent, power_levels::RoomPowerLevelsEventContent,
        topic::RoomTopicEventContent,
    },
};
use serde_json::{Map, Value};

use super::{Intent, SendOptions};
use crate::{ClientError, ErrorCode, Transport};

/// Whether an invite's 403 says the user is in the room already (Synapse: "… is already in the
/// room."; other servers: "already joined").
fn already_in_room(e: &ClientError) -> bool {
    if !e.is(&ErrorCode::FORBIDDEN) {
        return false;
    }
    let ClientError::Matrix { error, .. } = e else { return false };
    let error = error.to_ascii_lowercase();
    error.contains("already in the room") || error.contains("already joined")
}

impl<S: Transport> Intent<S> {
    /// `GET /_matrix/client/v3/directory/room/{roomAlias}`: the room an alias points to, and
    /// servers that know it (for [`join`](Self::join)'s `via`).
    pub async fn resolve_alias(
        &self,
        alias: &RoomAliasId,
    ) -> Result<get_alias::v3::Response, ClientError> {
        self.ready().await?;
        self.client.send(get_alias::v3::Request::new(alias.to_owned()), &self.identity()).await
    }

    /// Sets the room's `m.room.name`.
    pub async fn set_room_name(
        &self,
        room_id: &RoomId,
        name: &str,
    ) -> Result<OwnedEventId, ClientError> {
        let content = RoomNameEventContent::new(name.to_owned());
        self.send_state(room_id, "", &content, SendOptions::new()).await
    }

    /// Sets the room's `m.room.topic` (plain text).
    pub async fn set_room_topic(
        &self,
        room_id: &RoomId,
        topic: &str,
    ) -> Result<OwnedEventId, ClientError> {
        let content = RoomTopicEventContent::new(topic.to_owned());
        self.send_state(room_id, "", &content, SendOptions::new()).await
    }

    /// Sets the room's `m.room.avatar` (`None` removes it).
    pub async fn set_room_avatar(
        &self,
        room_id: &RoomId,
        url: Option<&MxcUri>,
    ) -> Result<OwnedEventId, ClientError> {
        let mut content = RoomAvatarEventContent::new();
        content.url = url.map(ToOwned::to_owned);
        self.send_state(room_id, "", &content, SendOptions::new()).await
    }

    /// The room's `m.room.power_levels` content. In room versions 12 and later, the room's
    /// creators are not in `users`: their power is unlimited whatever the event says.
    pub async fn power_levels(
        &self,
        room_id: &RoomId,
    ) -> Result<RoomPowerLevelsEventContent, ClientError> {
        let raw = self.get_state_event(room_id, StateEventType::RoomPowerLevels, "").await?;
        serde_json::from_str(raw.get()).map_err(ClientError::deserialize)
    }

    /// Replaces the room's `m.room.power_levels` content. ruma leaves out values equal to the
    /// spec's defaults, and content read with [`power_levels`](Self::power_levels) has lost
    /// keys ruma does not know: to change one user, use
    /// [`set_user_power_level`](Self::set_user_power_level), which keeps every key.
    pub async fn set_power_levels(
        &self,
        room_id: &RoomId,
        content: &RoomPowerLevelsEventContent,
    ) -> Result<OwnedEventId, ClientError> {
        self.send_state(room_id, "", content, SendOptions::new()).await
    }

    /// Sets one user's power level: reads the power levels, changes that user's entry (removes
    /// it when `level` is the room's `users_default`) and writes the content back with every
    /// other key as it was. Nothing is sent when the entry does not change (`None`). A room
    /// creator's level cannot be set in room versions 12 and later: the homeserver refuses it.
    pub async fn set_user_power_level(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        level: Int,
    ) -> Result<Option<OwnedEventId>, ClientError> {
        let raw = self.get_state_event(room_id, StateEventType::RoomPowerLevels, "").await?;
        let mut content: Map<String, Value> =
            serde_json::from_str(raw.get()).map_err(ClientError::deserialize)?;
        let users_default = content.get("users_default").and_then(Value::as_i64).unwrap_or(0);
        let users = content.entry("users").or_insert_with(|| Value::Object(Map::new()));
        let Some(users) = users.as_object_mut() else {
            return Err(ClientError::deserialize("m.room.power_levels: `users` is not an object"));
        };
        let before = users.get(user_id.as_str()).cloned();
        if i64::from(level) == users_default {
            users.remove(user_id.as_str());
        } else {
            users.insert(user_id.as_str().to_owned(), Value::from(i64::from(level)));
        }
        if users.get(user_id.as_str()) == before.as_ref() {
            return Ok(None);
        }
        let raw = serde_json::value::to_raw_value(&content).map_err(ClientError::build)?;
        let sent = self
            .send_raw_state(
                room_id,
                StateEventType::RoomPowerLevels,
                "",
                Raw::from_json(raw),
                SendOptions::new(),
            )
            .await?;
        Ok(Some(sent))
    }

    /// `POST /_matrix/client/v3/rooms/{roomId}/unban`.
    pub async fn unban(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        reason: Option<&str>,
    ) -> Result<(), ClientError> {
        self.ready().await?;
        let mut request = unban_user::v3::Request::new(room_id.to_owned(), user_id.to_owned());
        request.reason = reason.map(str::to_owned);
        self.client.send(request, &self.identity()).await.map(|_| ())
    }

    /// Invites `user_id` unless the state store says it is invited or joined already; a 403
    /// `M_FORBIDDEN` saying the user is already in the room counts as success. The invite is
    /// recorded in the state store.
    pub async fn ensure_invited(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
    ) -> Result<(), ClientError> {
        if self.client.is_joined(room_id, user_id).await
            || self.client.is_invited(room_id, user_id).await
        {
            return Ok(());
        }
        match self.invite(room_id, user_id, None).await {
            Ok(()) => Ok(()),
            Err(e) if already_in_room(&e) => {
                self.client.set_joined(room_id, user_id, true).await;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Sends a plain-text `m.notice` (what bots send: clients do not answer notices), with a
    /// transaction ID and `ts` as in [`send_message_with`](Self::send_message_with).
    pub async fn send_notice(
        &self,
        room_id: &RoomId,
        text: &str,
        options: SendOptions,
    ) -> Result<OwnedEventId, ClientError> {
        let content = RoomMessageEventContent::notice_plain(text);
        self.send_message_with(room_id, &content, options).await
    }

    /// Sends a plain-text `m.emote` (`/me waves`), with options as
    /// [`send_notice`](Self::send_notice).
    pub async fn send_emote(
        &self,
        room_id: &RoomId,
        text: &str,
        options: SendOptions,
    ) -> Result<OwnedEventId, ClientError> {
        let content = RoomMessageEventContent::emote_plain(text);
        self.send_message_with(room_id, &content, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forbidden(message: &str) -> ClientError {
        ClientError::from_response(
            http::StatusCode::FORBIDDEN,
            serde_json::json!({"errcode": "M_FORBIDDEN", "error": message}).to_string().as_bytes(),
            None,
        )
    }

    #[test]
    fn only_the_already_in_room_refusal_counts_as_invited() {
        assert!(already_in_room(&forbidden("@_irc_alice:example.org is already in the room.")));
        assert!(already_in_room(&forbidden("User is already joined to room")));
        assert!(!already_in_room(&forbidden("You don't have permission to invite users")));
        assert!(!already_in_room(&forbidden("@_irc_alice:example.org is banned from the room")));
    }
}
