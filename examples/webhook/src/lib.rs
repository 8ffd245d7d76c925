//! `webhook-bridge`: webhook posts appear in Matrix rooms as puppets, and the Matrix messages
//! of those rooms are collected back; one HTTP server serves the webhooks and the appservice.
//!
//! * `POST /webhook/{channel}` (`Authorization: Bearer <webhook token>`) with
//!   `{"username": "…", "text": "…", "ts": 1700000000000, "id": "…"}` (`ts`, `id` optional):
//!   the puppet `@_webhook_<username>` says `text` in the channel's room, dated `ts`; a post
//!   repeated with the same `id` is sent once. The room (alias `#_webhook_<channel>`) is
//!   created on first use, or when someone joins the alias.
//! * `GET /webhook/{channel}/messages?since=TS` (same token): the others' messages in that
//!   room, oldest first, recorded exactly once with their transaction.
//!
//! `docs/first-bridge.md` walks through this file.

use std::sync::Arc;

use appservice::{
    Bridge, derived_txn_id, escape_localpart,
    prelude::*,
    ruma_client_api::room::{Visibility, create_room},
    sql::{SqlStore, sqlx},
    types::Secret,
};
use axum::{
    Json, Router,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::json;

/// The prefix of the bridge's puppets and room aliases.
pub const PREFIX: &str = "_webhook_";
/// The key-value namespace of the channel → room ID mapping.
const CHANNELS: &str = "webhook.channel";

/// The bridge: the appservice's handler and the webhook routes.
#[derive(Clone)]
pub struct Webhooks(Arc<Inner>);

struct Inner {
    client: Client,
    registration: ValidatedRegistration,
    db: SqlStore,
    token: Secret,
    creating: tokio::sync::Mutex<()>,
}

/// A webhook post.
#[derive(Debug, Deserialize)]
#[non_exhaustive]
pub struct Post {
    /// Who says it: becomes the puppet and its display name.
    pub username: String,
    /// The message.
    pub text: String,
    /// When it was said, in milliseconds since the Unix epoch (default: now).
    pub ts: Option<u64>,
    /// The sender's ID of the post: a repeated post is sent once.
    pub id: Option<String>,
}

/// Why a webhook request failed: answered as `{"errcode", "error"}` with a fitting status.
#[derive(Debug)]
#[non_exhaustive]
pub struct WebhookError(StatusCode, &'static str, String);

impl IntoResponse for WebhookError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"errcode": self.1, "error": self.2}))).into_response()
    }
}

impl From<ClientError> for WebhookError {
    fn from(e: ClientError) -> Self {
        // A retry may succeed: 503 asks the webhook's sender to retry; else the homeserver refused.
        let status = if e.is_transient() {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::BAD_GATEWAY
        };
        Self(status, "M_UNKNOWN", format!("homeserver: {e}"))
    }
}

impl From<appservice::sql::SqlError> for WebhookError {
    fn from(e: appservice::sql::SqlError) -> Self {
        Self(StatusCode::SERVICE_UNAVAILABLE, "M_UNKNOWN", format!("database: {e}"))
    }
}

fn bad(errcode: &'static str, message: impl Into<String>) -> WebhookError {
    WebhookError(StatusCode::BAD_REQUEST, errcode, message.into())
}

impl Webhooks {
    /// The bridge on a started appservice, which must have a database: creates its table.
    pub async fn new(bridge: &Bridge, token: Secret) -> Result<Self, appservice::BoxError> {
        let db = bridge.database().ok_or("the webhook bridge needs a database")?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS webhook_collected (event_id TEXT PRIMARY KEY, \
             channel TEXT NOT NULL, sender TEXT NOT NULL, body TEXT NOT NULL, ts BIGINT NOT NULL)",
        )
        .execute(db.pool())
        .await?;
        Ok(Self(Arc::new(Inner {
            client: bridge.client().clone(),
            registration: bridge.registration().clone(),
            db: db.clone(),
            token,
            creating: tokio::sync::Mutex::new(()),
        })))
    }

    /// `POST /webhook/{channel}` and `GET /webhook/{channel}/messages`.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/webhook/{channel}", post(receive))
            .route("/webhook/{channel}/messages", get(collected))
            .with_state(self.clone())
    }

    /// The channel's room, created by the bot (public, alias `#_webhook_<channel>`) if new.
    pub async fn room_for(&self, channel: &str) -> Result<OwnedRoomId, WebhookError> {
        if channel.is_empty()
            || channel.len() > 64
            || !channel.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(bad("M_INVALID_PARAM", "a channel is 1-64 of a-z, 0-9 and -"));
        }
        let _one_at_a_time = self.0.creating.lock().await;
        if let Some(room) = self.0.db.state().get(CHANNELS, channel).await? {
            return OwnedRoomId::try_from(room).map_err(|e| bad("M_UNKNOWN", e.to_string()));
        }
        let bot = self.0.client.bot().ok_or_else(|| bad("M_UNKNOWN", "no bot user"))?;
        let mut request = create_room::v3::Request::new();
        request.room_alias_name = Some(format!("{PREFIX}{channel}"));
        request.name = Some(format!("{channel} (webhook)"));
        request.preset = Some(create_room::v3::RoomPreset::PublicChat);
        request.visibility = Visibility::Private;
        let room = match bot.create_room(request).await {
            Ok(room) => room,
            // The alias exists (our mapping was lost, or another replica made it): adopt it.
            Err(e) if e.is(&ErrorCode::ROOM_IN_USE) => {
                let alias = format!("#{PREFIX}{channel}:{}", self.0.client.server_name());
                let alias = OwnedRoomAliasId::try_from(alias)
                    .map_err(|e| bad("M_UNKNOWN", e.to_string()))?;
                bot.resolve_alias(&alias).await?.room_id
            }
            Err(e) => return Err(e.into()),
        };
        self.0.db.state().set(CHANNELS, channel, room.as_str()).await?;
        tracing::info!(%channel, %room, "channel room created");
        Ok(room)
    }

    /// Says `post` in the channel's room as its puppet.
    pub async fn post(&self, channel: &str, post: Post) -> Result<OwnedEventId, WebhookError> {
        let room = self.room_for(channel).await?;
        let server = self.0.client.server_name();
        let user = format!("@{PREFIX}{}:{server}", escape_localpart(&post.username));
        let user =
            OwnedUserId::try_from(user).map_err(|e| bad("M_INVALID_PARAM", e.to_string()))?;
        let puppet = self.0.client.intent(user);
        puppet.ensure_displayname(&post.username).await?;
        puppet.ensure_joined(&room).await?;
        let mut options = SendOptions::new();
        if let Some(ts) = post.ts {
            let ts = UInt::new(ts).ok_or_else(|| bad("M_INVALID_PARAM", "ts out of range"))?;
            options = options.ts(MilliSecondsSinceUnixEpoch(ts));
        }
        if let Some(id) = &post.id {
            options = options.txn_id(derived_txn_id("webhook-", id).into());
        }
        let content = RoomMessageEventContent::text_plain(post.text);
        Ok(puppet.send_message_with(&room, &content, options).await?)
    }

    fn authorize(&self, headers: &HeaderMap) -> Result<(), WebhookError> {
        let given = headers.get("authorization").and_then(|v| v.to_str().ok());
        match given.and_then(|v| v.strip_prefix("Bearer ")) {
            Some(token) if self.0.token.ct_eq_str(token) => Ok(()),
            Some(_) => Err(WebhookError(StatusCode::FORBIDDEN, "M_FORBIDDEN", "bad token".into())),
            None => {
                Err(WebhookError(StatusCode::UNAUTHORIZED, "M_MISSING_TOKEN", "no token".into()))
            }
        }
    }
}

async fn receive(
    State(bridge): State<Webhooks>,
    Path(channel): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<serde_json::Value>, WebhookError> {
    bridge.authorize(&headers)?;
    let post: Post = serde_json::from_slice(&body).map_err(|e| bad("M_BAD_JSON", e.to_string()))?;
    let event_id = bridge.post(&channel, post).await?;
    Ok(Json(json!({"event_id": event_id})))
}

#[derive(Deserialize)]
struct Since {
    since: Option<i64>,
}

async fn collected(
    State(bridge): State<Webhooks>,
    Path(channel): Path<String>,
    Query(since): Query<Since>,
    headers: HeaderMap,
) -> Result<Json<Vec<serde_json::Value>>, WebhookError> {
    bridge.authorize(&headers)?;
    let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT event_id, sender, body, ts FROM webhook_collected WHERE channel = $1 AND ts > $2 \
         ORDER BY ts, event_id",
    )
    .bind(channel)
    .bind(since.since.unwrap_or(-1))
    .fetch_all(bridge.0.db.pool())
    .await
    .map_err(|e| WebhookError(StatusCode::SERVICE_UNAVAILABLE, "M_UNKNOWN", e.to_string()))?;
    let messages = rows.into_iter().map(|(event_id, sender, text, ts)| {
        json!({"event_id": event_id, "sender": sender, "text": text, "ts": ts})
    });
    Ok(Json(messages.collect()))
}

impl Handler for Webhooks {
    /// Records the others' messages in channel rooms, in the transaction's unit: exactly once.
    async fn event(
        &self,
        txn: &TransactionContext<'_>,
        event: Event<'_>,
    ) -> Result<(), HandlerError> {
        let Some(envelope) = event.envelope else { return Ok(()) };
        let ours = self.0.registration.users().is_match(&envelope.sender);
        if envelope.event_type != "m.room.message" || ours {
            return Ok(());
        }
        let unit = txn.unit::<SqlUnit>().ok_or_else(|| HandlerError::failed("no database unit"))?;
        let channels =
            unit.keys_of(CHANNELS, &envelope.room_id).await.map_err(HandlerError::failed)?;
        let (Some(channel), Ok(message)) =
            (channels.first(), event.content::<RoomMessageEventContent>())
        else {
            return Ok(()); // not a channel room, or not a message we can read
        };
        let mut connection = unit.lock().await.map_err(HandlerError::failed)?;
        sqlx::query(
            "INSERT INTO webhook_collected (event_id, channel, sender, body, ts) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(envelope.event_id.as_ref())
        .bind(channel)
        .bind(envelope.sender.as_ref())
        .bind(message.body())
        .bind(i64::from(envelope.origin_server_ts))
        .execute(&mut *connection)
        .await
        .map_err(HandlerError::failed)?;
        Ok(())
    }

    /// `#_webhook_<channel>` exists once asked for: the room is created.
    async fn query_room_alias(&self, alias: &RoomAliasId) -> Result<bool, HandlerError> {
        let Some(channel) = alias.alias().strip_prefix(PREFIX) else { return Ok(false) };
        match self.room_for(channel).await {
            Ok(_) => Ok(true),
            Err(WebhookError(status, _, message)) if status == StatusCode::BAD_REQUEST => {
                tracing::info!(%alias, %message, "not a channel alias");
                Ok(false)
            }
            Err(WebhookError(_, _, message)) => Err(HandlerError::failed(message)),
        }
    }
}
