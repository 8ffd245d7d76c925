//! Start-up steps that ask the outside world: the listen address from the registration's `url`,
//! the server name from the homeserver.

use std::net::SocketAddr;

use appservice_client::{
    Client, HyperTransport, Identity, ruma_client_api::account::whoami,
    ruma_common::OwnedServerName,
};
use appservice_types::ValidatedRegistration;

use crate::{Error, ErrorKind};

/// The addresses of the host and port of the registration's `url`: where the homeserver sends
/// requests, so where to listen.
pub async fn listen_addresses(
    registration: &ValidatedRegistration,
) -> Result<Vec<SocketAddr>, Error> {
    let fail = |message: String| Error::new(ErrorKind::Listen, message);
    let Some(url) = registration.url() else {
        return Err(fail(
            "the registration has no url (url: null): nothing to listen on; set one, or give \
             the listen address explicitly"
                .to_owned(),
        ));
    };
    let parsed = url::Url::parse(url).map_err(|e| {
        Error::with_source(ErrorKind::Listen, format!("the registration's url {url:?}"), e)
    })?;
    let port = parsed
        .port_or_known_default()
        .ok_or_else(|| fail(format!("the registration's url {url:?} has no port")))?;
    let host = match parsed.host() {
        Some(url::Host::Domain(domain)) => domain.to_owned(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        None => return Err(fail(format!("the registration's url {url:?} has no host"))),
    };
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| {
            Error::with_source(
                ErrorKind::Listen,
                format!("cannot resolve the host of the registration's url {url:?}"),
                e,
            )
        })?
        .collect();
    if addresses.is_empty() {
        return Err(fail(format!("the host of the registration's url {url:?} has no address")));
    }
    Ok(addresses)
}

/// The homeserver's server name: the server part of the bot's user ID, from `whoami` with the
/// registration's `as_token`.
pub async fn discover_server_name(
    homeserver: &str,
    registration: &ValidatedRegistration,
) -> Result<OwnedServerName, Error> {
    // The client needs a server name for its users; `whoami` of the bot asserts no user, so the
    // placeholder is never used.
    let placeholder = OwnedServerName::try_from("localhost")
        .map_err(|e| Error::with_source(ErrorKind::ServerName, "placeholder server name", e))?;
    let transport = HyperTransport::new()
        .map_err(|e| Error::with_source(ErrorKind::Client, "cannot build the HTTP client", e))?;
    let client = Client::new(homeserver, registration.as_token().clone(), placeholder, transport)
        .map_err(|e| Error::with_source(ErrorKind::Client, "invalid homeserver URL", e))?;
    let answer = client.send(whoami::v3::Request::new(), &Identity::none()).await.map_err(|e| {
        Error::with_source(
            ErrorKind::ServerName,
            "cannot find the server name (asked the homeserver with whoami; give the server \
             name explicitly instead)",
            e,
        )
    })?;
    let server_name = answer.user_id.server_name().to_owned();
    tracing::info!(%server_name, bot = %answer.user_id, "server name from whoami");
    Ok(server_name)
}
