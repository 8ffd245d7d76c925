//! [`Client`]: the appservice's connection to its homeserver, over any tower transport. The
//! homeserver ping calls are in `ping_calls`.

use parking_lot::Mutex;
mod double_puppet;
mod ping_calls;
mod state_calls;
mod versions_calls;

pub use double_puppet::DoublePuppet;
pub use versions_calls::DeviceCreation;
pub(crate) use versions_calls::MSC4190_FEATURE;

use std::{collections::BTreeMap, fmt, future::poll_fn, sync::Arc, time::SystemTime};

use bytes::Bytes;
use futures_util::future::{BoxFuture, Shared};
use http::Method;
use http_body_util::BodyExt;
use ruma_client_api::{
    account::register::{self, LoginType},
    appservice::set_room_visibility,
    room::Visibility,
};
use ruma_common::{
    OwnedServerName, OwnedTransactionId, OwnedUserId, RoomId, UserId,
    api::{
        OutgoingRequest, SupportedVersions,
        auth_scheme::{AuthScheme, SendAccessToken},
    },
};

use crate::Transport;
use crate::{
    ClientError, Identity, Intent, InvalidArgumentKind, MemoryState, MissingConfig, RetryPolicy,
    Secret, Sleeper, StateStore, ValidatedRegistration,
    request::{PathInput, Prepared, Received, prepare},
    retry::{self, Decision, SleeperName},
};

/// The Matrix versions the client assumes the homeserver supports, for ruma's path selection
/// (v1.1 through v1.19: the spec this crate implements).
pub(crate) fn default_versions() -> SupportedVersions {
    let versions: Vec<String> = (1..=19).map(|minor| format!("v1.{minor}")).collect();
    SupportedVersions::from_parts(&versions, &BTreeMap::new())
}

/// A fresh transaction ID for `PUT /send`, `PUT /redact`: `asrs` and 128 random bits in hex.
///
/// The spec leaves the scope of transaction IDs of deviceless appservice requests open
/// (CHECKLIST ambiguity 13), so they are globally unique rather than per user.
pub fn new_transaction_id() -> OwnedTransactionId {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness: the clock and a process-wide counter are still unique per process.
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let t = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        bytes[..8].copy_from_slice(&n.to_le_bytes());
        bytes[8..].copy_from_slice(&t.as_nanos().to_le_bytes()[..8]);
    }
    let mut id = String::with_capacity(36);
    id.push_str("asrs");
    for b in bytes {
        id.push_str(&format!("{b:02x}"));
    }
    id.into()
}

/// What `POST /register` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegisterOutcome {
    /// The user was created.
    Created,
    /// The user already existed (400 `M_USER_IN_USE`, checklist [CS-REG-9](https://spec.matrix.org/v1.19/application-service-api/#server-admin-style-permissions)): for an appservice
    /// that is success.
    AlreadyExists,
}

/// The in-flight or finished registration of one user.
enum RegistrationState {
    Done,
    InFlight(Shared<BoxFuture<'static, Result<(), ClientError>>>),
}

/// Immutable settings (cloned on write by the `with_*` builders, before the client is shared).
#[derive(Clone)]
struct Config {
    homeserver: String,
    as_token: Secret,
    server_name: OwnedServerName,
    appservice_id: Option<String>,
    bot: Option<OwnedUserId>,
    versions: SupportedVersions,
    retry: RetryPolicy,
    sleeper: Option<Arc<dyn Sleeper>>,
    auto_register: bool,
    /// A double-puppeting client ([`Client::double_puppet`]): acts for real users, never
    /// registers anyone.
    double_puppet: bool,
}

/// What all clones of a client share: registrations in flight (and done, a cache of the
/// state store: a user never stops being registered), and the state store.
struct State {
    registered: Mutex<BTreeMap<OwnedUserId, RegistrationState>>,
    store: Arc<dyn StateStore>,
}

impl Default for State {
    fn default() -> Self {
        Self { registered: Mutex::default(), store: Arc::new(MemoryState::default()) }
    }
}

/// An appservice's client for the homeserver's Client-Server API.
///
/// * Every request carries the `as_token` as `Authorization: Bearer …`, never in the query
///   (checklist [CS-ID-1](https://spec.matrix.org/v1.19/application-service-api/#identity-assertion)/2).
/// * [`Client::intent`] gives a handle per virtual user ([`Intent`]) that asserts its identity
///   (`?user_id=`, and `device_id` in both spellings).
/// * Failed requests are retried according to the [`RetryPolicy`] (see [`crate::retry`] for what
///   is retried).
/// * Clones share the transport, the settings and the caches (registered users, memberships).
///
/// The transport `S` is any `tower::Service<http::Request<Bytes>>` returning
/// `http::Response<B>` for an `http_body::Body` `B`: the default [`HyperTransport`] (feature
/// `hyper`), or the same wrapped in tower middleware (tracing, metrics, rate limits), or a test
/// double. It must be
/// `Clone + Send + Sync + 'static` with a `Send` future; each request uses a clone of it.
///
/// [`HyperTransport`]: crate::HyperTransport
#[derive(Clone)]
pub struct Client<S> {
    config: Arc<Config>,
    state: Arc<State>,
    transport: S,
}

impl<S> fmt::Debug for Client<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The token is a `Secret` (redacted), but leave it out entirely all the same.
        f.debug_struct("Client")
            .field("homeserver", &self.config.homeserver)
            .field("server_name", &self.config.server_name)
            .field("appservice_id", &self.config.appservice_id)
            .field("bot", &self.config.bot)
            .field("retry", &self.config.retry)
            .field("sleeper", &self.config.sleeper.as_ref().map(|_| SleeperName))
            .field("auto_register", &self.config.auto_register)
            .finish_non_exhaustive()
    }
}

impl<S> Client<S> {
    /// A client for the homeserver at `homeserver_url` (`http://` or `https://`), whose users
    /// live on `server_name`, authenticating with `as_token`, sending through `transport`.
    ///
    /// Retries wait with [`TokioSleeper`](crate::TokioSleeper) when the `tokio` feature is on;
    /// otherwise set a [`Sleeper`] with [`Client::with_sleeper`], or the client never retries.
    pub fn new(
        homeserver_url: &str,
        as_token: Secret,
        server_name: OwnedServerName,
        transport: S,
    ) -> Result<Self, ClientError> {
        let url = url::Url::parse(homeserver_url).map_err(|e| {
            ClientError::invalid(InvalidArgumentKind::HomeserverUrl, format!("homeserver URL: {e}"))
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(ClientError::invalid(
                InvalidArgumentKind::HomeserverUrl,
                "homeserver URL: must be http:// or https:// with a host",
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(ClientError::invalid(
                InvalidArgumentKind::HomeserverUrl,
                "homeserver URL: must not have a query or fragment",
            ));
        }
        let homeserver = url.as_str().trim_end_matches('/').to_owned();
        #[cfg(feature = "tokio")]
        let sleeper: Option<Arc<dyn Sleeper>> = Some(Arc::new(crate::TokioSleeper::new()));
        #[cfg(not(feature = "tokio"))]
        let sleeper: Option<Arc<dyn Sleeper>> = None;
        Ok(Self {
            config: Arc::new(Config {
                homeserver,
                as_token,
                server_name,
                appservice_id: None,
                bot: None,
                versions: default_versions(),
                retry: RetryPolicy::default(),
                sleeper,
                auto_register: true,
                double_puppet: false,
            }),
            state: Arc::default(),
            transport,
        })
    }

    /// A client for the appservice described by `registration`: its `as_token`, its `id` (for the
    /// ping) and its `sender_localpart` (the bot user, on `server_name`).
    pub fn from_registration(
        registration: &ValidatedRegistration,
        homeserver_url: &str,
        server_name: OwnedServerName,
        transport: S,
    ) -> Result<Self, ClientError> {
        let client =
            Self::new(homeserver_url, registration.as_token().clone(), server_name, transport)?;
        client
            .with_appservice_id(registration.id())
            .with_sender_localpart(registration.sender_localpart())
    }

    fn config_mut(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// Sets the appservice `id` of the registration (needed by [`Client::ping`]).
    #[must_use]
    pub fn with_appservice_id(mut self, id: impl Into<String>) -> Self {
        self.config_mut().appservice_id = Some(id.into());
        self
    }

    /// Sets the registration's `sender_localpart`: the bot user, which [`Client::bot`] returns,
    /// which is never registered, and which invites virtual users in [`Intent::ensure_joined`].
    pub fn with_sender_localpart(mut self, localpart: &str) -> Result<Self, ClientError> {
        let bot =
            UserId::parse(format!("@{localpart}:{}", self.config.server_name)).map_err(|e| {
                ClientError::invalid(
                    InvalidArgumentKind::SenderLocalpart,
                    format!("sender_localpart: {e}"),
                )
            })?;
        self.config_mut().bot = Some(bot);
        Ok(self)
    }

    /// Sets the retry policy (default: [`RetryPolicy::default`]).
    #[must_use]
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.config_mut().retry = policy;
        self
    }

    /// Sets what retries wait with (default: [`TokioSleeper`](crate::TokioSleeper) with the
    /// `tokio` feature, else none, which disables retries).
    #[must_use]
    pub fn with_sleeper(mut self, sleeper: impl Sleeper) -> Self {
        self.config_mut().sleeper = Some(Arc::new(sleeper));
        self
    }

    /// Whether [`Intent`] methods first make sure their user is registered
    /// ([`Client::ensure_registered`], cached) — default `true`. Turn it off if the bridge
    /// registers users itself.
    #[must_use]
    pub fn with_auto_register(mut self, on: bool) -> Self {
        self.config_mut().auto_register = on;
        self
    }

    /// Sets the Matrix versions the homeserver supports (default: v1.1 to v1.19), e.g. from its
    /// `GET /_matrix/client/versions`. ruma picks each endpoint's path from them.
    #[must_use]
    pub fn with_supported_versions(mut self, versions: SupportedVersions) -> Self {
        self.config_mut().versions = versions;
        self
    }

    /// The homeserver's base URL (without a trailing `/`).
    pub fn homeserver(&self) -> &str {
        &self.config.homeserver
    }

    /// The server name of the appservice's users.
    pub fn server_name(&self) -> &ruma_common::ServerName {
        &self.config.server_name
    }

    /// The bot user (`sender_localpart`), if configured.
    pub fn bot_user_id(&self) -> Option<&UserId> {
        self.config.bot.as_deref()
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.config.retry
    }

    /// The transport.
    pub fn transport(&self) -> &S {
        &self.transport
    }
}

impl<S: Transport> Client<S> {
    /// A handle acting as the virtual user `user_id` (identity assertion, checklist [CS-ID-3](https://spec.matrix.org/v1.19/application-service-api/#identity-assertion)).
    pub fn intent(&self, user_id: OwnedUserId) -> Intent<S> {
        Intent::new(self.clone(), user_id)
    }

    /// A handle acting as the bot (`sender_localpart`), if configured. Its requests carry no
    /// `user_id`: without one the homeserver acts as the bot.
    pub fn bot(&self) -> Option<Intent<S>> {
        self.config.bot.clone().map(|bot| Intent::new(self.clone(), bot))
    }

    /// Sends any ruma request with this identity, with retries, and parses the response.
    ///
    /// `GET`, `PUT` and `DELETE` requests count as idempotent (retried on 502/503/504 and
    /// transport errors); others are retried only on 429.
    pub async fn send<R>(
        &self,
        request: R,
        identity: &Identity,
    ) -> Result<R::IncomingResponse, ClientError>
    where
        R: OutgoingRequest + Send,
        for<'a> R::Authentication: AuthScheme<Input<'a> = SendAccessToken<'a>>,
        R::PathBuilder: PathInput,
    {
        let idempotent =
            matches!(R::METHOD, Method::GET | Method::HEAD | Method::PUT | Method::DELETE);
        self.send_as(request, identity, idempotent).await?.parse()
    }

    /// Sends with an explicit idempotency, returning the raw response (status ≥ 400 included).
    pub(crate) async fn send_as<R>(
        &self,
        request: R,
        identity: &Identity,
        idempotent: bool,
    ) -> Result<Received, ClientError>
    where
        R: OutgoingRequest + Send,
        for<'a> R::Authentication: AuthScheme<Input<'a> = SendAccessToken<'a>>,
        R::PathBuilder: PathInput,
    {
        let prepared = prepare(
            request,
            &self.config.homeserver,
            &self.config.as_token,
            identity,
            &self.config.versions,
        )?;
        self.execute(&prepared, idempotent).await
    }

    /// The retry loop: the same prepared request (same bytes, same transaction ID) every time.
    async fn execute(
        &self,
        prepared: &Prepared,
        idempotent: bool,
    ) -> Result<Received, ClientError> {
        let policy = &self.config.retry;
        let mut retry = 0;
        loop {
            let outcome = self.send_once(prepared.to_request()).await;
            let decision = match &outcome {
                Err(_) => retry::decide_on_transport_error(policy, retry, idempotent),
                Ok(r) if r.status.as_u16() >= 400 => {
                    let hint = if r.status == http::StatusCode::TOO_MANY_REQUESTS {
                        r.error().retry_after()
                    } else {
                        None
                    };
                    retry::decide_on_status(policy, retry, idempotent, r.status, hint)
                }
                Ok(_) => Decision::Stop,
            };
            match (decision, &self.config.sleeper) {
                (Decision::RetryAfter(delay), Some(sleeper)) => sleeper.sleep(delay).await,
                _ => return outcome,
            }
            retry += 1;
        }
    }

    async fn send_once(&self, request: http::Request<Bytes>) -> Result<Received, ClientError> {
        let mut transport = self.transport.clone();
        poll_fn(|cx| transport.poll_ready(cx)).await.map_err(ClientError::transport)?;
        let response = transport.call(request).await.map_err(ClientError::transport)?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.map_err(ClientError::transport)?.to_bytes();
        Ok(Received { status: parts.status, headers: parts.headers, body })
    }

    /// `POST /_matrix/client/v3/register` with `{"type": "m.login.application_service",
    /// "username": localpart, "inhibit_login": true}` (checklist [CS-REG-1](https://spec.matrix.org/v1.19/application-service-api/#server-admin-style-permissions)/3/10, EX-CS-REGISTER).
    ///
    /// `M_USER_IN_USE` is [`RegisterOutcome::AlreadyExists`] ([CS-REG-9](https://spec.matrix.org/v1.19/application-service-api/#server-admin-style-permissions)); `M_EXCLUSIVE` (outside
    /// the namespace), `M_INVALID_USERNAME` and every other error are [`ClientError::Matrix`].
    pub async fn register(&self, localpart: &str) -> Result<RegisterOutcome, ClientError> {
        let mut request = register::v3::Request::new();
        request.username = Some(localpart.to_owned());
        request.login_type = Some(LoginType::ApplicationService);
        request.inhibit_login = true;
        // Registering twice is harmless (the second is M_USER_IN_USE), so retries are safe.
        let received = self.send_as(request, &Identity::none(), true).await?;
        match received.parse::<register::v3::Response>() {
            Ok(_) => Ok(RegisterOutcome::Created),
            Err(e) if e.is(&appservice_types::ErrorCode::USER_IN_USE) => {
                Ok(RegisterOutcome::AlreadyExists)
            }
            Err(e) => Err(e),
        }
    }

    /// Registers the appservice's own bot user (`sender_localpart`), as an appservice must at
    /// start-up before the bot joins or creates anything: Synapse creates the bot by itself, the
    /// Conduit family does not, and the spec does not promise it. `M_USER_IN_USE` is
    /// [`RegisterOutcome::AlreadyExists`]. Without a bot ([`Client::with_sender_localpart`]):
    /// [`ClientError::Config`].
    pub async fn register_bot(&self) -> Result<RegisterOutcome, ClientError> {
        let bot =
            self.config.bot.as_ref().ok_or(ClientError::Config(MissingConfig::SenderLocalpart))?;
        self.register(bot.localpart()).await
    }

    /// `PUT /_matrix/client/v3/directory/list/appservice/{networkId}/{roomId}` (checklist
    /// [CS-DIR-1](https://spec.matrix.org/v1.19/application-service-api/#published-room-directories)): publishes (or hides) a room in this appservice's directory for `network_id`.
    pub async fn set_room_directory_visibility(
        &self,
        network_id: &str,
        room_id: &RoomId,
        visibility: Visibility,
    ) -> Result<(), ClientError> {
        let request = set_room_visibility::v3::Request::new(
            network_id.to_owned(),
            room_id.to_owned(),
            visibility,
        );
        self.send(request, &Identity::none()).await.map(|_| ())
    }
}
