//! [`EchoHandler`]: what the echo does with each request from the homeserver.

use std::sync::atomic::{AtomicUsize, Ordering};

use appservice_client::{
    Client, ClientError, HyperTransport, Intent, MissingConfig, PingTracker, SendOptions,
    ruma_client_api::room::{
        Visibility,
        create_room::{self, v3::RoomPreset},
    },
    ruma_common::{OwnedServerName, OwnedUserId, RoomAliasId, UserId},
    ruma_events::room::{
        member::{MembershipState, RoomMemberEventContent},
        message::{MessageType, RoomMessageEventContent},
    },
};
use appservice_dispatch::{Event, Handler, HandlerError, TransactionContext};
use appservice_types::{
    ValidatedRegistration, ephemeral::EphemeralData, interest::Interest, transaction::EventEnvelope,
};

use crate::{PREFIX, echo_txn_id, virtual_localpart};

/// The command prefix of a message to echo.
const COMMAND: &str = "!echo ";

/// The echo appservice's [`Handler`].
///
/// * An invite of the bot (`sender_localpart`) → the bot joins.
/// * `!echo <text>` in an `m.room.message` (not an `m.notice`, and not from one of our own
///   users) → the virtual user `@_echo_<escaped sender localpart>:<server>`
///   ([`virtual_localpart`]) is registered (once), joins the room (invited by the bot when
///   needed) and sends `<text>` as an `m.notice`, with `ts` = the original `origin_server_ts`
///   and the transaction ID [`echo_txn_id`] of the original event ID, so a redelivered event
///   never produces a second reply (the homeserver deduplicates the send).
/// * User query for `@_echo_…:<server>` → registered, 200; anything else 404.
/// * Alias query for `#_echo_<name>:<server>` → the bot creates a public room with that alias,
///   200; anything else 404.
/// * Ping → recorded in the [`PingTracker`] (start-up confirmation).
/// * Typing, receipts and presence → logged at debug level.
///
/// Errors: a homeserver's 4xx answer (other than 401, 408 and 429) to an action for an event
/// is permanent (the room forbids it, the event is odd…): it is logged and the event is skipped,
/// because failing the transaction would make the homeserver retry it forever and hold back
/// every later transaction. Anything else (network, 5xx, rate limits, a bad `as_token`) fails
/// the transaction, and the homeserver retries it.
#[derive(Debug)]
pub struct EchoHandler {
    client: Client<HyperTransport>,
    bot: Intent<HyperTransport>,
    server_name: OwnedServerName,
    registration: ValidatedRegistration,
    pings: PingTracker,
    fail_remaining: AtomicUsize,
}

impl EchoHandler {
    /// A handler acting through `client`, which must know the bot
    /// ([`Client::from_registration`] or [`Client::with_sender_localpart`]).
    pub fn new(
        client: Client<HyperTransport>,
        registration: ValidatedRegistration,
    ) -> Result<Self, ClientError> {
        let bot = client.bot().ok_or(ClientError::Config(MissingConfig::SenderLocalpart))?;
        Ok(Self {
            server_name: client.server_name().to_owned(),
            bot,
            client,
            registration,
            pings: PingTracker::new(),
            fail_remaining: AtomicUsize::new(0),
        })
    }

    /// Test hook: the first `n` calls of [`Handler::event`] fail (a 500 for their transaction,
    /// so the homeserver retries it). `run` sets it from `ECHO_FAIL_TRANSACTIONS`. Default 0.
    #[must_use]
    pub fn fail_first_events(self, n: usize) -> Self {
        self.fail_remaining.store(n, Ordering::SeqCst);
        self
    }

    /// The tracker fed by [`Handler::ping`], for [`Client::ping_until_ready`].
    pub fn ping_tracker(&self) -> &PingTracker {
        &self.pings
    }

    /// The client.
    pub fn client(&self) -> &Client<HyperTransport> {
        &self.client
    }

    /// The virtual user that echoes for `sender`, or `None` if the escaped localpart makes an
    /// invalid user ID (too long) or one outside the registration's user namespaces.
    ///
    /// Only the localpart counts (the issue's `@_echo_<localpart of the sender>`), so
    /// `@alice:a.example` and `@alice:b.example` share `@_echo_alice`. With
    /// `sender_localpart: _echo_bot`, the sender `@bot:…` maps to the bot itself, which then
    /// echoes for it.
    pub fn virtual_user_for(&self, sender: &UserId) -> Option<OwnedUserId> {
        let localpart = virtual_localpart(sender.localpart());
        let user_id = UserId::parse(format!("@{localpart}:{}", self.server_name)).ok()?;
        self.registration.users().is_match(user_id.as_str()).then_some(user_id)
    }

    /// Whether `sender` is the bot or one of our users: a local user in the registration's user
    /// namespaces ([`Interest`]). Those are never echoed: no loops.
    fn is_ours(&self, sender: &str) -> bool {
        Interest::new(&self.registration, self.server_name.as_str()).is_interested_in_user(sender)
    }

    async fn on_member(
        &self,
        envelope: &EventEnvelope<'_>,
        event: Event<'_>,
    ) -> Result<(), HandlerError> {
        if envelope.state_key.as_deref() != Some(self.bot.user_id().as_str()) {
            return Ok(());
        }
        let member = match event.content::<RoomMemberEventContent>() {
            Ok(member) => member,
            Err(e) => {
                let event_id = &envelope.event_id;
                tracing::debug!(%event_id, error = %e, "malformed m.room.member skipped");
                return Ok(());
            }
        };
        if member.membership != MembershipState::Invite {
            return Ok(());
        }
        let Ok(room_id) = envelope.room_id() else {
            return Ok(());
        };
        tracing::info!(%room_id, inviter = %envelope.sender, "invited: joining");
        permanent_is_skipped(self.bot.join_room_id(room_id).await, "join after an invite")
    }

    async fn on_message(
        &self,
        envelope: &EventEnvelope<'_>,
        event: Event<'_>,
    ) -> Result<(), HandlerError> {
        if self.is_ours(&envelope.sender) {
            return Ok(());
        }
        let Ok(message) = event.content::<RoomMessageEventContent>() else {
            return Ok(());
        };
        // Bots do not answer notices (the Matrix convention that keeps bots from looping).
        if matches!(message.msgtype, MessageType::Notice(_)) {
            return Ok(());
        }
        let Some(text) = message.body().strip_prefix(COMMAND) else {
            return Ok(());
        };
        if text.is_empty() {
            return Ok(());
        }
        let (Ok(sender), Ok(room_id)) = (envelope.sender(), envelope.room_id()) else {
            return Ok(());
        };
        let Some(user_id) = self.virtual_user_for(sender) else {
            tracing::warn!(%sender, "no valid virtual user for this sender: not echoing");
            return Ok(());
        };
        let intent = self.client.intent(user_id);
        let options = SendOptions::new()
            .txn_id(echo_txn_id(&envelope.event_id).into())
            .ts(envelope.origin_server_ts());
        let content = RoomMessageEventContent::notice_plain(text);
        let result = async {
            intent.ensure_registered().await?;
            intent.ensure_joined(room_id).await?;
            intent.send_message_with(room_id, &content, options).await
        }
        .await;
        if let Ok(event_id) = &result {
            tracing::info!(
                %room_id,
                original = %envelope.event_id,
                echo = %event_id,
                user_id = %intent.user_id(),
                "echoed"
            );
        }
        permanent_is_skipped(result, "echo")
    }
}

/// `Ok` for success and for permanent refusals (logged); an error for what a retry may fix.
fn permanent_is_skipped<T>(result: Result<T, ClientError>, what: &str) -> Result<(), HandlerError> {
    match result {
        Ok(_) => Ok(()),
        Err(e) if is_permanent(&e) => {
            tracing::warn!(error = %e, "{what}: refused by the homeserver, skipping the event");
            Ok(())
        }
        Err(e) => {
            tracing::warn!(error = %e, "{what} failed: the transaction will be retried");
            Err(HandlerError::failed(e))
        }
    }
}

/// What retrying will not change ([`ClientError::is_transient`]).
fn is_permanent(e: &ClientError) -> bool {
    !e.is_transient()
}

impl Handler for EchoHandler {
    async fn event(
        &self,
        _txn: &TransactionContext<'_>,
        event: Event<'_>,
    ) -> Result<(), HandlerError> {
        let failing = self
            .fail_remaining
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            tracing::warn!("ECHO_FAIL_TRANSACTIONS test hook: failing this event");
            return Err(HandlerError::failed("ECHO_FAIL_TRANSACTIONS test hook"));
        }
        let Some(envelope) = event.envelope else {
            tracing::debug!(index = event.index, "malformed event skipped");
            return Ok(());
        };
        match envelope.event_type.as_ref() {
            "m.room.member" => self.on_member(envelope, event).await,
            "m.room.message" => self.on_message(envelope, event).await,
            _ => Ok(()),
        }
    }

    async fn ephemeral_and_device_data(
        &self,
        txn: &TransactionContext<'_>,
    ) -> Result<(), HandlerError> {
        for data in txn.transaction.ephemeral_data() {
            match data {
                Ok(EphemeralData::Typing(typing)) => tracing::debug!(
                    room_id = %typing.room_id,
                    user_ids = ?typing.content.user_ids,
                    "typing"
                ),
                Ok(EphemeralData::Receipt(receipt)) => tracing::debug!(
                    room_id = %receipt.room_id,
                    event_ids = ?receipt.content.keys().collect::<Vec<_>>(),
                    user_ids = ?receipt
                        .content
                        .values()
                        .flat_map(|by_type| by_type.values().flat_map(|users| users.keys()))
                        .collect::<std::collections::BTreeSet<_>>(),
                    "receipt"
                ),
                Ok(EphemeralData::Presence(presence)) => tracing::debug!(
                    sender = %presence.sender,
                    presence = %presence.content.presence,
                    "presence"
                ),
                Ok(other) => tracing::debug!(data_type = other.data_type(), "ephemeral data"),
                Err(e) => tracing::debug!(error = %e, "malformed ephemeral data"),
            }
        }
        Ok(())
    }

    async fn query_user(&self, user_id: &UserId) -> Result<bool, HandlerError> {
        if user_id.server_name() != self.server_name || !user_id.localpart().starts_with(PREFIX) {
            return Ok(false);
        }
        match self.client.ensure_registered(user_id).await {
            Ok(()) => {
                tracing::info!(%user_id, "user query: registered");
                Ok(true)
            }
            Err(e) if is_permanent(&e) => {
                tracing::warn!(%user_id, error = %e, "user query: registration refused");
                Ok(false)
            }
            Err(e) => Err(HandlerError::failed(e)),
        }
    }

    /// Creates the room. If the alias is already taken (`M_ROOM_IN_USE`, e.g. a concurrent
    /// query for the same alias won the race), the alias exists, so the answer is `true` too.
    async fn query_room_alias(&self, alias: &RoomAliasId) -> Result<bool, HandlerError> {
        let name = alias.alias().strip_prefix(PREFIX).unwrap_or_default();
        if alias.server_name() != self.server_name || name.is_empty() {
            return Ok(false);
        }
        let mut request = create_room::v3::Request::new();
        request.room_alias_name = Some(alias.alias().to_owned());
        request.preset = Some(RoomPreset::PublicChat);
        request.visibility = Visibility::Public;
        request.name = Some(format!("Echo {name}"));
        match self.bot.create_room(request).await {
            Ok(room_id) => {
                tracing::info!(%alias, %room_id, "alias query: room created");
                Ok(true)
            }
            Err(e) if e.errcode().is_some_and(|c| c.as_str() == "M_ROOM_IN_USE") => Ok(true),
            Err(e) if is_permanent(&e) => {
                tracing::warn!(%alias, error = %e, "alias query: room creation refused");
                Ok(false)
            }
            Err(e) => Err(HandlerError::failed(e)),
        }
    }

    async fn ping(&self, transaction_id: Option<&str>) -> Result<(), HandlerError> {
        tracing::debug!(?transaction_id, "pinged by the homeserver");
        self.pings.record(transaction_id);
        Ok(())
    }
}
