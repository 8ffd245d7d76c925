//! [`Intent::ensure_device`]: a device for the user the way this homeserver allows it, v1.17
//! `PUT /devices/{deviceId}` (MSC4190; the only way with the Matrix Authentication Service) or
//! the legacy `m.login.application_service` login, and a typed error when it allows neither.

use std::fmt;

use http::StatusCode;
use ruma_client_api::session::get_login_types::{self, v3::LoginType};
use ruma_common::OwnedDeviceId;

use super::Intent;
use crate::{ClientError, DeviceCreation, Identity, Secret, Transport, client::MSC4190_FEATURE};

/// How [`Intent::ensure_device`] created the device.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeviceSetup {
    /// By `PUT /_matrix/client/v3/devices/{deviceId}` (v1.17, MSC4190); no access token exists.
    Put,
    /// By `POST /_matrix/client/v3/login` (`m.login.application_service`), on a server without
    /// v1.17 device creation. The login also made an access token for the device; the
    /// appservice does not need it (identity assertion acts as the device), so keep it secret
    /// or log it out.
    Login {
        /// The access token the login returned (redacted in `Debug`).
        access_token: Secret,
    },
}

/// Why [`Intent::ensure_device`] failed.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceError {
    /// The homeserver offers no way for an appservice to create devices (see the message).
    #[error(transparent)]
    Unsupported(DeviceCreationUnsupported),
    /// A call failed for another reason (transport, rate limit, forbidden…).
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// The homeserver does not let this appservice create devices: it does not advertise v1.17
/// (or `io.element.msc4190`), or refused the `PUT`, and refused the appservice login. The
/// message says what each attempt got and what to change.
#[derive(Clone, Debug, thiserror::Error)]
#[error(
    "the homeserver cannot create devices for appservice users: {versions}, {put}; {login}. {hint}"
)]
pub struct DeviceCreationUnsupported {
    versions: String,
    put: String,
    login: String,
    hint: &'static str,
}

impl DeviceCreationUnsupported {
    /// What the login attempt got: `GET /login` without the appservice flow or answered 404,
    /// or `POST /login` answered `M_APPSERVICE_LOGIN_UNSUPPORTED` (either spelling), 404 or 405.
    pub fn login_answer(&self) -> &str {
        &self.login
    }
}

/// A 404/405 means "no such endpoint" (or, for `PUT /devices`, Synapse's "unknown device" when
/// MSC4190 is off for this registration); the appservice-login refusals mean "use the PUT".
fn is_unsupported(e: &ClientError) -> bool {
    e.errcode().is_some_and(|c| c.is_appservice_login_unsupported())
        || matches!(e.status(), Some(StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED))
}

/// `"404 M_UNRECOGNIZED"`, or the status alone.
struct Answer<'a>(&'a ClientError);

impl fmt::Display for Answer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0.status(), self.0.errcode()) {
            (Some(status), Some(code)) => write!(f, "{} {code}", status.as_u16()),
            (Some(status), None) => write!(f, "{}", status.as_u16()),
            _ => write!(f, "{}", self.0),
        }
    }
}

impl<S: Transport> Intent<S> {
    /// Creates the device `device_id` for this user (or finds it existing), the way the
    /// homeserver allows, as a bridge does at start-up (e.g. for its bot's encryption device):
    ///
    /// * a server that advertises v1.17 or `io.element.msc4190` (see
    ///   [`Client::device_creation`](crate::Client::device_creation); call
    ///   [`Client::with_discovered_versions`](crate::Client::with_discovered_versions) first):
    ///   [`create_device`](Self::create_device). If that is answered 404 (Synapse without
    ///   `io.element.msc4190: true` in the registration), the login is tried next;
    /// * older servers: [`login`](Self::login) with `m.login.application_service`, but only if
    ///   `GET /_matrix/client/v3/login` lists that flow (an appservice must not use `/login` on
    ///   a server without the legacy login API, checklist [CS-LOGIN-2](https://spec.matrix.org/v1.19/application-service-api/#server-admin-style-permissions));
    /// * neither works: [`DeviceError::Unsupported`], whose message names every answer.
    pub async fn ensure_device(
        &self,
        device_id: OwnedDeviceId,
        display_name: Option<&str>,
    ) -> Result<DeviceSetup, DeviceError> {
        let creation = self.client.device_creation();
        let put = match creation {
            DeviceCreation::Put => {
                match self.create_device(device_id.clone(), display_name).await {
                    Ok(()) => return Ok(DeviceSetup::Put),
                    Err(e) if is_unsupported(&e) => {
                        format!("PUT /devices/{{deviceId}} was answered {}", Answer(&e))
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            DeviceCreation::Login => "so PUT /devices/{deviceId} was not tried".to_owned(),
        };
        let login = match self
            .client
            .send(get_login_types::v3::Request::new(), &Identity::none())
            .await
        {
            Ok(types)
                if types.flows.iter().any(|f| matches!(f, LoginType::ApplicationService(_))) =>
            {
                match self.login(Some(device_id), display_name).await {
                    Ok(response) => {
                        return Ok(DeviceSetup::Login {
                            access_token: response.access_token.into(),
                        });
                    }
                    Err(e) if is_unsupported(&e) => {
                        format!(
                            "POST /login with m.login.application_service was answered {}",
                            Answer(&e)
                        )
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(_) => "GET /login lists no m.login.application_service flow".to_owned(),
            Err(e) if is_unsupported(&e) => {
                format!("GET /login was answered {} (no legacy login API)", Answer(&e))
            }
            Err(e) => return Err(e.into()),
        };
        let versions = match creation {
            DeviceCreation::Put => "it advertises v1.17 device creation".to_owned(),
            DeviceCreation::Login => {
                let versions = self.client.supported_versions();
                let latest = versions.versions.iter().max().and_then(|v| v.as_str());
                format!(
                    "its /_matrix/client/versions advertises neither v1.17 nor {MSC4190_FEATURE} \
                     (latest: {})",
                    latest.unwrap_or("none")
                )
            }
        };
        let hint = match creation {
            DeviceCreation::Put => {
                "On Synapse, set `io.element.msc4190: true` in the registration."
            }
            DeviceCreation::Login => {
                "Upgrade the homeserver, or enable MSC4190 for this appservice."
            }
        };
        Err(DeviceError::Unsupported(DeviceCreationUnsupported { versions, put, login, hint }))
    }
}
