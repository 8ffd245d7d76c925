//! What the homeserver supports: `GET /_matrix/client/versions`, and what follows from it for
//! creating devices (v1.17 / MSC4190 `PUT /devices/{deviceId}`, or the legacy appservice login).

use ruma_client_api::discovery::get_supported_versions;
use ruma_common::api::{FeatureFlag, MatrixVersion, SupportedVersions};

use super::Client;
use crate::{ClientError, Identity, Transport};

/// The unstable flag under which homeservers (Synapse) advertise MSC4190 device management for
/// appservices before v1.17.
pub(crate) const MSC4190_FEATURE: &str = "io.element.msc4190";

/// How the homeserver lets an appservice create a device for one of its users, as far as
/// its `GET /_matrix/client/versions` tells (see [`Client::device_creation`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeviceCreation {
    /// `PUT /_matrix/client/v3/devices/{deviceId}` with identity assertion: the server
    /// advertises Matrix v1.17 or the unstable `io.element.msc4190` feature. Homeservers with
    /// the Matrix Authentication Service (no `/login`) need this.
    Put,
    /// `POST /_matrix/client/v3/login` with `m.login.application_service`: older servers.
    Login,
}

impl DeviceCreation {
    /// What `versions` (a homeserver's `/versions`) implies.
    pub fn of(versions: &SupportedVersions) -> Self {
        let put = versions.versions.iter().any(|v| *v >= MatrixVersion::V1_17)
            || versions.features.contains(&FeatureFlag::from(MSC4190_FEATURE));
        if put { Self::Put } else { Self::Login }
    }
}

impl<S> Client<S> {
    /// The Matrix versions and unstable features the client assumes the homeserver supports
    /// (v1.1 to v1.19 unless set by [`with_supported_versions`](Self::with_supported_versions)
    /// or [`with_discovered_versions`](Self::with_discovered_versions)).
    pub fn supported_versions(&self) -> &SupportedVersions {
        &self.config.versions
    }

    /// How devices are created on this homeserver, from [`supported_versions`](Self::supported_versions):
    /// call [`with_discovered_versions`](Self::with_discovered_versions) at start-up first, or the
    /// client assumes a v1.19 server ([`DeviceCreation::Put`]).
    pub fn device_creation(&self) -> DeviceCreation {
        DeviceCreation::of(&self.config.versions)
    }
}

impl<S: Transport> Client<S> {
    /// `GET /_matrix/client/versions`: the versions and enabled unstable features the
    /// homeserver advertises (as the appservice: features may differ per user).
    pub async fn fetch_supported_versions(&self) -> Result<SupportedVersions, ClientError> {
        let response = self.send(get_supported_versions::Request::new(), &Identity::none()).await?;
        Ok(SupportedVersions::from_parts(&response.versions, &response.unstable_features))
    }

    /// The same client using what the homeserver advertises
    /// ([`fetch_supported_versions`](Self::fetch_supported_versions)) for its paths and for
    /// [`device_creation`](Self::device_creation). Call it at start-up, before sharing the client.
    pub async fn with_discovered_versions(self) -> Result<Self, ClientError> {
        let versions = self.fetch_supported_versions().await?;
        Ok(self.with_supported_versions(versions))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn versions(list: &[&str], features: &[&str]) -> SupportedVersions {
        let list: Vec<String> = list.iter().map(|s| (*s).to_owned()).collect();
        let features: BTreeMap<String, bool> =
            features.iter().map(|f| ((*f).to_owned(), true)).collect();
        SupportedVersions::from_parts(&list, &features)
    }

    #[test]
    fn v1_17_or_the_msc4190_flag_means_put() {
        assert_eq!(DeviceCreation::of(&versions(&["v1.16", "v1.17"], &[])), DeviceCreation::Put);
        assert_eq!(DeviceCreation::of(&versions(&["v1.19"], &[])), DeviceCreation::Put);
        assert_eq!(
            DeviceCreation::of(&versions(&["v1.11"], &[MSC4190_FEATURE])),
            DeviceCreation::Put
        );
    }

    #[test]
    fn older_servers_and_disabled_flags_mean_login() {
        assert_eq!(DeviceCreation::of(&versions(&["r0.6.1", "v1.16"], &[])), DeviceCreation::Login);
        let disabled = SupportedVersions::from_parts(
            &["v1.12".to_owned()],
            &BTreeMap::from([(MSC4190_FEATURE.to_owned(), false)]),
        );
        assert_eq!(DeviceCreation::of(&disabled), DeviceCreation::Login);
    }
}
