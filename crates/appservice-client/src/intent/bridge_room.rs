//! [`BridgeRoom`]: the room a bridge creates for a remote chat (name, topic, invitees, preset,
//! direct flag, room version, power levels for the bridge's users), aware of room version 12,
//! where the creators' power is unlimited and they must not appear in the power levels.

use std::collections::BTreeMap;

use js_int::Int;
use ruma_client_api::{
    discovery::get_capabilities,
    room::create_room::{
        self, RoomPowerLevelsContentOverride,
        v3::{CreationContent, RoomPreset},
    },
};
use ruma_common::{
    OwnedRoomId, OwnedUserId, RoomVersionId, UserId, room_version_rules::AuthorizationRules,
    serde::Raw,
};

use super::Intent;
use crate::{ClientError, InvalidArgumentKind, Transport};

/// The power level of a room's creator in room versions before 12 (and of every user in the
/// `trusted_private_chat` preset's invite list).
fn creator_level() -> Int {
    Int::from(100u8)
}

/// A room as bridges create them, built into a `createRoom` request by
/// [`to_request`](Self::to_request) or created by [`Intent::create_bridge_room`].
///
/// ```
/// use appservice_client::BridgeRoom;
/// use ruma_common::{RoomVersionId, owned_user_id, user_id};
///
/// let room = BridgeRoom::new()
///     .name("#general (IRC)")
///     .invite(owned_user_id!("@alice:example.org"))
///     .power_level(owned_user_id!("@_irc_bot:example.org"), 100.into())
///     .room_version(RoomVersionId::V12);
/// // In room version 12 the creator's power is unlimited: it is not listed.
/// let request = room.to_request(user_id!("@_irc_bot:example.org"), &RoomVersionId::V12)?;
/// assert!(request.power_level_content_override.is_none());
/// # Ok::<(), appservice_client::ClientError>(())
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct BridgeRoom {
    name: Option<String>,
    topic: Option<String>,
    alias_localpart: Option<String>,
    invite: Vec<OwnedUserId>,
    preset: Option<RoomPreset>,
    is_direct: bool,
    room_version: Option<RoomVersionId>,
    power_levels: BTreeMap<OwnedUserId, Int>,
    additional_creators: Vec<OwnedUserId>,
}

impl BridgeRoom {
    /// A room with the server's defaults: no name, no invitees, the server's room version.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the room's name.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the room's topic.
    #[must_use]
    pub fn topic(mut self, topic: impl Into<String>) -> Self {
        self.topic = Some(topic.into());
        self
    }

    /// Gives the room the alias `#{localpart}:{server}` (`room_alias_name`).
    #[must_use]
    pub fn alias_localpart(mut self, localpart: impl Into<String>) -> Self {
        self.alias_localpart = Some(localpart.into());
        self
    }

    /// Invites `user_id` (repeatable).
    #[must_use]
    pub fn invite(mut self, user_id: OwnedUserId) -> Self {
        self.invite.push(user_id);
        self
    }

    /// Sets the preset (join rules, history visibility, guest access).
    #[must_use]
    pub fn preset(mut self, preset: RoomPreset) -> Self {
        self.preset = Some(preset);
        self
    }

    /// Marks the invites as a direct chat (`is_direct`).
    #[must_use]
    pub fn direct(mut self, is_direct: bool) -> Self {
        self.is_direct = is_direct;
        self
    }

    /// Pins the room version (else the server's default, asked with `GET /capabilities` when
    /// the power levels depend on it).
    #[must_use]
    pub fn room_version(mut self, version: RoomVersionId) -> Self {
        self.room_version = Some(version);
        self
    }

    /// Gives `user_id` this power level (e.g. the bridge's bot and puppets). A creator is
    /// left out in room versions whose creators have unlimited power (12 and later).
    #[must_use]
    pub fn power_level(mut self, user_id: OwnedUserId, level: Int) -> Self {
        self.power_levels.insert(user_id, level);
        self
    }

    /// Makes `user_id` an additional creator (room version 12 and later: unlimited power,
    /// `creation_content.additional_creators`). Older versions refuse it
    /// ([`ClientError::InvalidArgument`]).
    #[must_use]
    pub fn additional_creator(mut self, user_id: OwnedUserId) -> Self {
        self.additional_creators.push(user_id);
        self
    }

    /// Whether the request depends on the room version's rules (power levels or additional
    /// creators are set).
    fn depends_on_version(&self) -> bool {
        !self.power_levels.is_empty() || !self.additional_creators.is_empty()
    }

    /// The `createRoom` request for `creator` in a room of `version` (the version is pinned in
    /// the request when the power levels depend on it). A version whose rules are unknown, or
    /// additional creators in a version without them, is [`ClientError::InvalidArgument`].
    pub fn to_request(
        &self,
        creator: &UserId,
        version: &RoomVersionId,
    ) -> Result<create_room::v3::Request, ClientError> {
        let mut request = create_room::v3::Request::new();
        request.name.clone_from(&self.name);
        request.topic.clone_from(&self.topic);
        request.room_alias_name.clone_from(&self.alias_localpart);
        request.invite.clone_from(&self.invite);
        request.preset.clone_from(&self.preset);
        request.is_direct = self.is_direct;
        request.room_version = self.room_version.clone();
        if !self.depends_on_version() {
            return Ok(request);
        }
        let rules = version.rules().ok_or_else(|| {
            ClientError::invalid(
                InvalidArgumentKind::RoomVersion,
                format!("room version {version}: its rules are unknown to this client"),
            )
        })?;
        request.room_version = Some(version.clone());
        if !self.additional_creators.is_empty() {
            if !rules.authorization.additional_room_creators {
                return Err(ClientError::invalid(
                    InvalidArgumentKind::RoomVersion,
                    format!("room version {version} has no additional creators (12 and later)"),
                ));
            }
            let mut content = CreationContent::new();
            content.additional_creators.clone_from(&self.additional_creators);
            request.creation_content = Some(Raw::new(&content).map_err(ClientError::build)?);
        }
        let users = override_users(
            &self.power_levels,
            creator,
            &self.additional_creators,
            &rules.authorization,
        );
        if !users.is_empty() {
            let mut content = RoomPowerLevelsContentOverride::new();
            content.users = users;
            request.power_level_content_override =
                Some(Raw::new(&content).map_err(ClientError::build)?);
        }
        Ok(request)
    }
}

/// The `users` of `power_level_content_override`. The override replaces the server's whole
/// `users` map, so in versions before 12 the creator keeps its 100 unless given another level;
/// in versions whose creators have unlimited power (12 and later), the creator and the
/// additional creators are left out (servers refuse them there). Empty when only the creator
/// would be listed at 100 (the server's default then).
fn override_users(
    levels: &BTreeMap<OwnedUserId, Int>,
    creator: &UserId,
    additional_creators: &[OwnedUserId],
    rules: &AuthorizationRules,
) -> BTreeMap<OwnedUserId, Int> {
    let mut users = levels.clone();
    if rules.explicitly_privilege_room_creators {
        users.remove(creator);
        for c in additional_creators {
            users.remove(c);
        }
    } else {
        users.entry(creator.to_owned()).or_insert_with(creator_level);
        if users.len() == 1 && users.get(creator) == Some(&creator_level()) {
            users.clear();
        }
    }
    users
}

impl<S: Transport> Intent<S> {
    /// Creates `room` with this user as its creator ([`BridgeRoom::to_request`], then
    /// [`create_room`](Self::create_room)). When the power levels depend on the room version
    /// and none is set, the server's default version is asked first (`GET
    /// /_matrix/client/v3/capabilities`) and pinned. The returned ID may have no server part
    /// (room version 12).
    pub async fn create_bridge_room(&self, room: &BridgeRoom) -> Result<OwnedRoomId, ClientError> {
        let version = match (&room.room_version, room.depends_on_version()) {
            (Some(v), _) => v.clone(),
            (None, false) => RoomVersionId::V1, // not used: nothing depends on it
            (None, true) => {
                self.ready().await?;
                let request = get_capabilities::v3::Request::new();
                self.client
                    .send(request, &self.identity())
                    .await?
                    .capabilities
                    .room_versions
                    .default
            }
        };
        self.create_room(room.to_request(self.user_id(), &version)?).await
    }
}

#[cfg(test)]
mod tests {
    use ruma_common::{owned_user_id, user_id};

    use super::*;

    fn bridge_room() -> BridgeRoom {
        BridgeRoom::new()
            .power_level(owned_user_id!("@_irc_bot:example.org"), creator_level())
            .power_level(owned_user_id!("@_irc_alice:example.org"), Int::from(50))
    }

    fn users(request: &create_room::v3::Request) -> serde_json::Value {
        let raw = request.power_level_content_override.as_ref().map(|r| r.json().get());
        raw.map_or(serde_json::Value::Null, |r| {
            serde_json::from_str::<serde_json::Value>(r).unwrap()["users"].clone()
        })
    }

    #[test]
    fn v11_lists_the_creator_v12_does_not() {
        let bot = user_id!("@_irc_bot:example.org");
        let v11 = bridge_room().to_request(bot, &RoomVersionId::V11).unwrap();
        assert_eq!(
            users(&v11),
            serde_json::json!({"@_irc_bot:example.org": 100, "@_irc_alice:example.org": 50})
        );
        assert_eq!(v11.room_version, Some(RoomVersionId::V11));
        let v12 = bridge_room().to_request(bot, &RoomVersionId::V12).unwrap();
        assert_eq!(users(&v12), serde_json::json!({"@_irc_alice:example.org": 50}));
        assert_eq!(v12.room_version, Some(RoomVersionId::V12));
    }

    #[test]
    fn v11_keeps_the_creator_at_100_when_the_override_replaces_users() {
        let bot = user_id!("@_irc_bot:example.org");
        let room =
            BridgeRoom::new().power_level(owned_user_id!("@_irc_alice:example.org"), 50.into());
        let v10 = room.to_request(bot, &RoomVersionId::V10).unwrap();
        assert_eq!(
            users(&v10),
            serde_json::json!({"@_irc_bot:example.org": 100, "@_irc_alice:example.org": 50})
        );
        // Only the creator at 100: the server's default, no override.
        let alone = BridgeRoom::new().power_level(bot.to_owned(), 100.into());
        assert!(
            alone
                .to_request(bot, &RoomVersionId::V11)
                .unwrap()
                .power_level_content_override
                .is_none()
        );
    }

    #[test]
    fn v12_leaves_out_additional_creators_and_older_versions_refuse_them() {
        let bot = user_id!("@_irc_bot:example.org");
        let other = owned_user_id!("@_irc_admin:example.org");
        let room = bridge_room().power_level(other.clone(), 100.into()).additional_creator(other);
        let v12 = room.to_request(bot, &RoomVersionId::V12).unwrap();
        assert_eq!(users(&v12), serde_json::json!({"@_irc_alice:example.org": 50}));
        let creation: serde_json::Value =
            serde_json::from_str(v12.creation_content.unwrap().json().get()).unwrap();
        assert_eq!(creation["additional_creators"], serde_json::json!(["@_irc_admin:example.org"]));
        let e = room.to_request(bot, &RoomVersionId::V11).unwrap_err();
        assert!(
            matches!(&e, ClientError::InvalidArgument(a) if a.kind() == InvalidArgumentKind::RoomVersion),
            "{e}"
        );
    }

    #[test]
    fn without_power_levels_nothing_depends_on_the_version() {
        let room = BridgeRoom::new().name("n").topic("t").direct(true);
        let request =
            room.to_request(user_id!("@_irc_bot:example.org"), &RoomVersionId::V1).unwrap();
        assert_eq!(request.room_version, None);
        assert!(request.power_level_content_override.is_none());
        assert!(request.is_direct);
        let custom = RoomVersionId::try_from("org.example.custom").unwrap();
        assert!(bridge_room().to_request(user_id!("@_irc_bot:example.org"), &custom).is_err());
    }
}
