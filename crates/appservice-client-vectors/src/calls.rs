//! `call.name` → a client method: runs a vector's call with its `args` and describes the result
//! as JSON (`{"ok": …}` or `{"err": {kind, status, errcode…}}`), as the fixtures expect it.

use std::time::Duration;

use crate::mock::AS_TOKEN;
use appservice_client::{
    BridgeRoom, Client, ClientError, DeviceError, DeviceSetup, HyperTransport, Intent, PingError,
    SendOptions,
    ruma_client_api::room::{Visibility, create_room},
    ruma_common::{
        MilliSecondsSinceUnixEpoch, OwnedDeviceId, OwnedEventId, OwnedMxcUri, OwnedRoomAliasId,
        OwnedRoomId, OwnedRoomOrAliasId, OwnedServerName, OwnedUserId, serde::Raw,
    },
};
use serde_json::{Value, json};

/// A vector's problem (a malformed argument, an unknown call).
type R<T> = Result<T, String>;

fn s<'a>(args: &'a Value, key: &str) -> R<&'a str> {
    args[key].as_str().ok_or_else(|| format!("argument `{key}`: missing or not a string"))
}

fn opt(args: &Value, key: &str) -> Option<String> {
    args[key].as_str().map(str::to_owned)
}

/// Parses `text` (an ID, a room version…) for `what`.
fn parse_str<'a, T>(text: &'a str, what: &str) -> R<T>
where
    T: TryFrom<&'a str>,
    T::Error: std::fmt::Display,
{
    T::try_from(text).map_err(|e| format!("argument `{what}`: {text:?}: {e}"))
}

fn parse<'a, T>(args: &'a Value, key: &str) -> R<T>
where
    T: TryFrom<&'a str>,
    T::Error: std::fmt::Display,
{
    parse_str(s(args, key)?, key)
}

/// A list of IDs (absent: empty).
fn ids<T>(args: &Value, key: &str) -> R<Vec<T>>
where
    T: for<'a> TryFrom<&'a str>,
    for<'a> <T as TryFrom<&'a str>>::Error: std::fmt::Display,
{
    args[key]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| {
            parse_str(v.as_str().ok_or_else(|| format!("argument `{key}`: not strings"))?, key)
        })
        .collect()
}

fn int(v: &Value, what: &str) -> R<js_int::Int> {
    v.as_i64()
        .and_then(|i| js_int::Int::try_from(i).ok())
        .ok_or_else(|| format!("`{what}`: not an integer"))
}

fn raw<T>(v: &Value) -> R<Raw<T>> {
    serde_json::value::to_raw_value(v).map(Raw::from_json).map_err(|e| e.to_string())
}

fn user(args: &Value) -> R<OwnedUserId> {
    parse(args, "user_id")
}

fn room(args: &Value) -> R<OwnedRoomId> {
    parse(args, "room_id")
}

fn options(args: &Value) -> R<SendOptions> {
    let mut o = SendOptions::new();
    if let Some(t) = opt(args, "txn_id") {
        o = o.txn_id(t.into());
    }
    if let Some(ts) = args["ts"].as_u64() {
        let ts = ts.try_into().map_err(|_| format!("`ts`: {ts} is too large"))?;
        o = o.ts(MilliSecondsSinceUnixEpoch(ts));
    }
    Ok(o)
}

/// Runs `call.name` with `call.args` and describes the result as JSON.
pub(crate) async fn call(client: &Client<HyperTransport>, call: &Value) -> R<Value> {
    let args = &call["args"];
    let intent = || -> R<Intent<HyperTransport>> {
        let intent = client.intent(user(args)?);
        Ok(match opt(args, "device_id") {
            Some(d) => intent.with_device(OwnedDeviceId::from(d)),
            None => intent,
        })
    };
    let name = call["name"].as_str().ok_or("`call.name` is missing")?;
    let result: Result<Value, ClientError> = match name {
        "register" => client
            .register(s(args, "localpart")?)
            .await
            .map(|o| json!({"outcome": format!("{o:?}")})),
        "ensure_registered" => client.ensure_registered(&user(args)?).await.map(|()| json!({})),
        "login" => {
            let device = opt(args, "device_id").map(OwnedDeviceId::from);
            client
                .intent(user(args)?)
                .login(device, None)
                .await
                .map(|r| json!({"device_id": r.device_id, "user_id": r.user_id}))
        }
        "create_device" => intent()?
            .create_device(s(args, "new_device_id")?.into(), opt(args, "display_name").as_deref())
            .await
            .map(|()| json!({})),
        "ensure_device" => return ensure_device(client, args).await,
        "resolve_alias" => {
            let alias = parse::<OwnedRoomAliasId>(args, "alias")?;
            intent()?
                .resolve_alias(&alias)
                .await
                .map(|r| json!({"room_id": r.room_id, "servers": r.servers}))
        }
        "set_room_name" => intent()?
            .set_room_name(&room(args)?, s(args, "name")?)
            .await
            .map(|e| json!({"event_id": e})),
        "set_room_topic" => intent()?
            .set_room_topic(&room(args)?, s(args, "topic")?)
            .await
            .map(|e| json!({"event_id": e})),
        "set_room_avatar" => {
            let url = opt(args, "url").map(OwnedMxcUri::from);
            intent()?
                .set_room_avatar(&room(args)?, url.as_deref())
                .await
                .map(|e| json!({"event_id": e}))
        }
        "power_levels" => intent()?
            .power_levels(&room(args)?)
            .await
            .map(|p| json!({"users": p.users, "users_default": p.users_default})),
        "set_user_power_level" => {
            let target = parse::<OwnedUserId>(args, "target")?;
            let level = int(&args["level"], "level")?;
            intent()?
                .set_user_power_level(&room(args)?, &target, level)
                .await
                .map(|e| json!({"event_id": e}))
        }
        "unban" => {
            let target = parse::<OwnedUserId>(args, "target")?;
            intent()?
                .unban(&room(args)?, &target, opt(args, "reason").as_deref())
                .await
                .map(|()| json!({}))
        }
        "ensure_invited" => {
            let target = parse::<OwnedUserId>(args, "target")?;
            intent()?.ensure_invited(&room(args)?, &target).await.map(|()| json!({}))
        }
        "send_notice" => intent()?
            .send_notice(&room(args)?, s(args, "text")?, options(args)?)
            .await
            .map(|e| json!({"event_id": e})),
        "send_emote" => intent()?
            .send_emote(&room(args)?, s(args, "text")?, options(args)?)
            .await
            .map(|e| json!({"event_id": e})),
        "create_bridge_room" => {
            intent()?.create_bridge_room(&bridge_room(args)?).await.map(|r| json!({"room_id": r}))
        }
        "whoami" => {
            intent()?.whoami().await.map(|r| json!({"device_id": r.device_id, "user_id": r.user_id}))
        }
        "send_message" => {
            let content: Raw<_> =
                raw(&args["content"])?;
            intent()?
                .send_raw_message(&room(args)?, s(args, "event_type")?.into(), content, options(args)?)
                .await
                .map(|e| json!({"event_id": e}))
        }
        "send_state" => {
            let content: Raw<_> =
                raw(&args["content"])?;
            intent()?
                .send_raw_state(
                    &room(args)?,
                    s(args, "event_type")?.into(),
                    s(args, "state_key")?,
                    content,
                    options(args)?,
                )
                .await
                .map(|e| json!({"event_id": e}))
        }
        "redact" => {
            let event_id = parse::<OwnedEventId>(args, "event_id")?;
            intent()?
                .redact(&room(args)?, &event_id, opt(args, "reason").as_deref(), options(args)?)
                .await
                .map(|e| json!({"event_id": e}))
        }
        "join" => {
            let target = parse::<OwnedRoomOrAliasId>(args, "room")?;
            let via: Vec<OwnedServerName> = ids(args, "via")?;
            intent()?.join(&target, &via).await.map(|r| json!({"room_id": r}))
        }
        "invite" | "kick" | "ban" => {
            let target = parse::<OwnedUserId>(args, "target")?;
            let reason = opt(args, "reason");
            let i = intent()?;
            let r = match name {
                "invite" => i.invite(&room(args)?, &target, reason.as_deref()).await,
                "kick" => i.kick(&room(args)?, &target, reason.as_deref()).await,
                _ => i.ban(&room(args)?, &target, reason.as_deref()).await,
            };
            r.map(|()| json!({}))
        }
        "leave" => {
            intent()?.leave(&room(args)?, opt(args, "reason").as_deref()).await.map(|()| json!({}))
        }
        "create_room" => {
            let mut request = create_room::v3::Request::new();
            request.room_alias_name = opt(args, "room_alias_name");
            request.name = opt(args, "name");
            request.preset = opt(args, "preset").map(|p| p.as_str().into());
            request.invite = ids(args, "invite")?;
            request.initial_state =
                args["initial_state"].as_array().into_iter().flatten().map(raw).collect::<R<_>>()?;
            intent()?.create_room(request).await.map(|r| json!({"room_id": r}))
        }
        "get_state" => {
            intent()?.get_state(&room(args)?).await.map(|events| json!({"events": events.len()}))
        }
        "get_state_event" => intent()?
            .get_state_event(&room(args)?, s(args, "event_type")?.into(), s(args, "state_key")?)
            .await
            .map(|c| json!({"content": serde_json::from_str::<Value>(c.get()).unwrap_or(Value::Null)})),
        "joined_members" => intent()?
            .joined_members(&room(args)?)
            .await
            .map(|m| json!({"joined": m.keys().map(|k| k.to_string()).collect::<Vec<_>>()})),
        "set_displayname" => {
            intent()?.set_displayname(s(args, "displayname")?).await.map(|()| json!({}))
        }
        "set_avatar_url" => {
            let uri = OwnedMxcUri::from(s(args, "avatar_url")?);
            intent()?.set_avatar_url(&uri).await.map(|()| json!({}))
        }
        "upload" => intent()?
            .upload(
                s(args, "content_type")?,
                opt(args, "filename").as_deref(),
                s(args, "data_text")?.as_bytes().to_vec(),
            )
            .await
            .map(|uri| json!({"content_uri": uri})),
        "download" => {
            let uri = OwnedMxcUri::from(s(args, "mxc")?);
            intent()?.download(&uri).await.map(|r| {
                json!({"content_type": r.content_type, "data_text": String::from_utf8_lossy(&r.file)})
            })
        }
        "typing" => {
            let timeout = args["timeout_ms"].as_u64().map(Duration::from_millis);
            intent()?.typing(&room(args)?, timeout).await.map(|()| json!({}))
        }
        "mark_read" => {
            let event_id = parse::<OwnedEventId>(args, "event_id")?;
            intent()?.mark_read(&room(args)?, &event_id).await.map(|()| json!({}))
        }
        "ensure_joined" => intent()?.ensure_joined(&room(args)?).await.map(|()| json!({})),
        "set_room_directory_visibility" => {
            let visibility = match s(args, "visibility")? {
                "public" => Visibility::Public,
                _ => Visibility::Private,
            };
            client
                .set_room_directory_visibility(s(args, "network_id")?, &room(args)?, visibility)
                .await
                .map(|()| json!({}))
        }
        "ping" => {
            return Ok(match client.ping(opt(args, "transaction_id").as_deref()).await {
                Ok(d) => json!({"ok": {"duration_ms": u64::try_from(d.as_millis()).unwrap_or(u64::MAX)}}),
                Err(e) => json!({"err": ping_error(&e)}),
            });
        }
        other => return Err(format!("unknown call {other:?}")),
    };
    Ok(match result {
        Ok(v) => json!({ "ok": v }),
        Err(e) => json!({ "err": client_error(&e) }),
    })
}

/// A [`BridgeRoom`] from `name`, `topic`, `invite`, `is_direct`, `room_version` and
/// `power_levels` (user → level).
fn bridge_room(args: &Value) -> R<BridgeRoom> {
    let mut room = BridgeRoom::new();
    if let Some(name) = opt(args, "name") {
        room = room.name(name);
    }
    if let Some(topic) = opt(args, "topic") {
        room = room.topic(topic);
    }
    for user in ids(args, "invite")? {
        room = room.invite(user);
    }
    room = room.direct(args["is_direct"].as_bool().unwrap_or(false));
    if let Some(version) = opt(args, "room_version") {
        room = room.room_version(parse_str(&version, "room_version")?);
    }
    for (user, level) in args["power_levels"].as_object().into_iter().flatten() {
        room = room.power_level(parse_str(user, "power_levels")?, int(level, user)?);
    }
    for user in ids(args, "additional_creators")? {
        room = room.additional_creator(user);
    }
    Ok(room)
}

/// Start-up device creation: `GET /versions` first, then [`Intent::ensure_device`].
///
/// [`Intent::ensure_device`]: appservice_client::Intent::ensure_device
async fn ensure_device(client: &Client<HyperTransport>, args: &Value) -> R<Value> {
    let client = match client.clone().with_discovered_versions().await {
        Ok(client) => client,
        Err(e) => return Ok(json!({"err": client_error(&e)})),
    };
    let device = OwnedDeviceId::from(s(args, "new_device_id")?);
    let intent = client.intent(user(args)?);
    Ok(match intent.ensure_device(device, opt(args, "display_name").as_deref()).await {
        Ok(DeviceSetup::Put) => json!({"ok": {"via": "put"}}),
        Ok(DeviceSetup::Login { access_token }) => {
            json!({"ok": {"via": "login", "access_token_len": access_token.len()}})
        }
        Ok(other) => return Err(format!("unknown device set-up {other:?}")),
        Err(DeviceError::Unsupported(u)) => {
            json!({"err": {"kind": "device_creation_unsupported", "message": u.to_string()}})
        }
        Err(DeviceError::Client(e)) => json!({"err": client_error(&e)}),
        Err(other) => return Err(format!("unknown device error {other:?}")),
    })
}

fn client_error(e: &ClientError) -> Value {
    // Whatever the error, it never shows the token: an error that does matches no fixture.
    if format!("{e} {e:?}").contains(AS_TOKEN) {
        return json!({"kind": "an error that shows the as_token"});
    }
    match e {
        ClientError::Matrix { status, errcode, retry_after, .. } => {
            let mut v =
                json!({"kind": "matrix", "status": status.as_u16(), "errcode": errcode.as_str()});
            if let Some(r) = retry_after {
                v["retry_after_ms"] = json!(r.as_millis() as u64);
            }
            v
        }
        ClientError::Http { status, .. } => json!({"kind": "http", "status": status.as_u16()}),
        ClientError::Transport(_) => json!({"kind": "transport"}),
        ClientError::Deserialize(_) => json!({"kind": "deserialize"}),
        other => json!({"kind": format!("{other:?}")}),
    }
}

fn ping_error(e: &PingError) -> Value {
    match e {
        PingError::UrlNotSet { .. } => json!({"kind": "ping", "variant": "url_not_set"}),
        PingError::BadStatus { status, body, .. } => {
            json!({"kind": "ping", "variant": "bad_status", "status": status, "body": body})
        }
        PingError::ConnectionFailed { .. } => {
            json!({"kind": "ping", "variant": "connection_failed"})
        }
        PingError::ConnectionTimeout { .. } => {
            json!({"kind": "ping", "variant": "connection_timeout"})
        }
        PingError::Client(c) => client_error(c),
        other => json!({"kind": format!("{other:?}")}),
    }
}
