//! The calls of an [`Intent`] that are about its user rather than a room's timeline: profile,
//! media, typing and read markers, devices, and login.

use std::time::Duration;

use ruma_client_api::{
    authenticated_media::get_content,
    device::update_device,
    media::create_content,
    profile::set_profile_field,
    receipt::create_receipt,
    session::login,
    typing::create_typing_event::{self, v3::Typing},
    uiaa::{MatrixUserIdentifier, UserIdentifier},
};
use ruma_common::{MxcUri, OwnedDeviceId, OwnedMxcUri, RoomId, profile::ProfileFieldValue};

use crate::Transport;
use crate::{ClientError, Identity, InvalidArgumentKind, Profile};

use super::Intent;

impl<S: Transport> Intent<S> {
    /// `PUT /_matrix/client/v3/profile/{userId}/displayname`; recorded in the state store.
    pub async fn set_displayname(&self, displayname: &str) -> Result<(), ClientError> {
        self.set_profile(ProfileFieldValue::DisplayName(displayname.to_owned())).await?;
        self.record_profile(|p| p.displayname = Some(displayname.to_owned())).await;
        Ok(())
    }

    /// `PUT /_matrix/client/v3/profile/{userId}/avatar_url`; recorded in the state store.
    pub async fn set_avatar_url(&self, avatar_url: &MxcUri) -> Result<(), ClientError> {
        self.set_profile(ProfileFieldValue::AvatarUrl(avatar_url.to_owned())).await?;
        self.record_profile(|p| p.avatar_url = Some(avatar_url.to_string())).await;
        Ok(())
    }

    /// Sets the display name unless the state store says we already set this one (a bridge
    /// calls it for every remote message without a request each time).
    pub async fn ensure_displayname(&self, displayname: &str) -> Result<(), ClientError> {
        if self.stored_profile().await.displayname.as_deref() == Some(displayname) {
            return Ok(());
        }
        self.set_displayname(displayname).await
    }

    /// Sets the avatar unless the state store says we already set this one.
    pub async fn ensure_avatar_url(&self, avatar_url: &MxcUri) -> Result<(), ClientError> {
        if self.stored_profile().await.avatar_url.as_deref() == Some(avatar_url.as_str()) {
            return Ok(());
        }
        self.set_avatar_url(avatar_url).await
    }

    /// The profile the state store holds (a failing store: none).
    async fn stored_profile(&self) -> Profile {
        match self.client.state_store().profile(&self.user_id).await {
            Ok(profile) => profile,
            Err(e) => {
                tracing::warn!(user_id = %self.user_id, error = %e, "state store: reading a profile failed");
                Profile::default()
            }
        }
    }

    async fn record_profile(&self, change: impl FnOnce(&mut Profile)) {
        let mut profile = self.stored_profile().await;
        change(&mut profile);
        if let Err(e) = self.client.state_store().set_profile(&self.user_id, &profile).await {
            tracing::warn!(user_id = %self.user_id, error = %e, "state store: recording a profile failed");
        }
    }

    async fn set_profile(&self, value: ProfileFieldValue) -> Result<(), ClientError> {
        self.ready().await?;
        let request = set_profile_field::v3::Request::new(self.user_id.clone(), value);
        self.client.send(request, &self.identity()).await.map(|_| ())
    }

    /// `POST /_matrix/media/v3/upload`: uploads `data` and returns its `mxc://` URI.
    pub async fn upload(
        &self,
        content_type: &str,
        filename: Option<&str>,
        data: Vec<u8>,
    ) -> Result<OwnedMxcUri, ClientError> {
        self.ready().await?;
        let mut request = create_content::v3::Request::new(data);
        request.content_type = Some(content_type.to_owned());
        request.filename = filename.map(str::to_owned);
        Ok(self.client.send(request, &self.identity()).await?.content_uri)
    }

    /// `GET /_matrix/client/v1/media/download/{serverName}/{mediaId}` (authenticated media,
    /// v1.11).
    pub async fn download(&self, uri: &MxcUri) -> Result<get_content::v1::Response, ClientError> {
        self.ready().await?;
        let (server_name, media_id) = uri.parts().map_err(|e| {
            ClientError::invalid(InvalidArgumentKind::MxcUri, format!("{uri}: {e}"))
        })?;
        let request = get_content::v1::Request::new(media_id.to_owned(), server_name.to_owned());
        self.client.send(request, &self.identity()).await
    }

    /// `PUT /_matrix/client/v3/rooms/{roomId}/typing/{userId}`: typing for `timeout`, or stopped
    /// with `None`.
    pub async fn typing(
        &self,
        room_id: &RoomId,
        timeout: Option<Duration>,
    ) -> Result<(), ClientError> {
        self.ready().await?;
        let state = match timeout {
            Some(t) => Typing::Yes(create_typing_event::v3::TypingInfo::new(t)),
            None => Typing::No,
        };
        let request =
            create_typing_event::v3::Request::new(self.user_id.clone(), room_id.to_owned(), state);
        self.client.send(request, &self.identity()).await.map(|_| ())
    }

    /// `POST /_matrix/client/v3/rooms/{roomId}/receipt/m.read/{eventId}`: a public read receipt.
    pub async fn mark_read(
        &self,
        room_id: &RoomId,
        event_id: &ruma_common::EventId,
    ) -> Result<(), ClientError> {
        self.ready().await?;
        let request = create_receipt::v3::Request::new(
            room_id.to_owned(),
            create_receipt::v3::ReceiptType::Read,
            event_id.to_owned(),
        );
        // Receipts are idempotent (the same receipt twice changes nothing).
        self.client
            .send_as(request, &self.identity(), true)
            .await?
            .parse::<create_receipt::v3::Response>()?;
        Ok(())
    }

    /// `PUT /_matrix/client/v3/devices/{deviceId}` as this user: creates the device if it does
    /// not exist (v1.17, MSC4190, checklist [CS-DEV-1](https://spec.matrix.org/v1.19/application-service-api/#device-management)), for bridges that need devices (e.g. for
    /// encryption). The request asserts only `user_id`: the device does not exist yet.
    pub async fn create_device(
        &self,
        device_id: OwnedDeviceId,
        display_name: Option<&str>,
    ) -> Result<(), ClientError> {
        self.ready().await?;
        let mut request = update_device::v3::Request::new(device_id);
        request.display_name = display_name.map(str::to_owned);
        let identity = Identity { device_id: None, ..self.identity() };
        self.client.send(request, &identity).await.map(|_| ())
    }

    /// `POST /_matrix/client/v3/login` with `m.login.application_service` and an `m.id.user`
    /// identifier (checklist [CS-LOGIN-1](https://spec.matrix.org/v1.19/application-service-api/#server-admin-style-permissions), EX-CS-LOGIN): a real access token for this user (rarely
    /// needed: identity assertion does the same without one). Homeservers without the legacy
    /// login API refuse it with `M_APPSERVICE_LOGIN_UNSUPPORTED` ([CS-LOGIN-2](https://spec.matrix.org/v1.19/application-service-api/#server-admin-style-permissions)/3): use
    /// [`Intent::create_device`] there.
    pub async fn login(
        &self,
        device_id: Option<OwnedDeviceId>,
        initial_device_display_name: Option<&str>,
    ) -> Result<login::v3::Response, ClientError> {
        self.ready().await?;
        let identifier =
            UserIdentifier::Matrix(MatrixUserIdentifier::new(self.user_id.to_string()));
        let info = login::v3::LoginInfo::ApplicationService(login::v3::ApplicationService::new(
            identifier,
        ));
        let mut request = login::v3::Request::new(info);
        request.device_id = device_id;
        request.initial_device_display_name = initial_device_display_name.map(str::to_owned);
        // Login is account management: no identity assertion (AS §Identity assertion).
        self.client.send(request, &Identity::none()).await
    }
}
