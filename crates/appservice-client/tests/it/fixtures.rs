//! The data-driven test: every `fixtures/client/*.json` is one call against the mock homeserver,
//! with the scripted `responses`, the `expect_requests` the client must make (method, path,
//! decoded query — and, where given, the `raw_query` as sent — a subset of the headers, body),
//! the `expect_outcome` of the call and, for
//! retry scripts, the `expect_sleeps_ms` it waited.
//!
//! Every request of every fixture is also checked for the invariants: `Authorization: Bearer
//! <as_token>`, and no `access_token` in the query (checklist CS-ID-2, IN-6).

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use appservice_client::{
    BridgeRoom, Client, ClientError, DeviceError, DeviceSetup, HyperTransport, PingError,
    SendOptions,
    ruma_client_api::room::{Visibility, create_room},
    ruma_common::{
        MilliSecondsSinceUnixEpoch, OwnedDeviceId, OwnedEventId, OwnedMxcUri, OwnedRoomAliasId,
        OwnedRoomId, OwnedRoomOrAliasId, OwnedServerName, OwnedUserId, RoomVersionId, serde::Raw,
    },
};
use serde_json::{Value, json};

use crate::mock::{AS_TOKEN, MockHomeserver, Recorded, Sleeps};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/client")
}

fn list() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir())
        .expect("fixtures/client")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no fixtures/client/*.json: the data-driven test would test nothing");
    out
}

fn canonical(value: &Value) -> String {
    let mut s = serde_json::to_string_pretty(value).unwrap();
    s.push('\n');
    s
}

fn check_metadata(name: &str, v: &Value) {
    let id = v["id"].as_str().unwrap_or_else(|| panic!("{name}: missing `id`"));
    assert_eq!(format!("{id}.json"), name, "{name}: `id` must be the file stem");
    let ok = v["expect_outcome"].get("ok").is_some();
    assert!(
        (id.starts_with("ok-") && ok) || (id.starts_with("err-") && !ok),
        "{name}: ok- fixtures expect {{\"ok\": …}}, err- fixtures {{\"err\": …}}"
    );
    let checklist = v["checklist"].as_array().unwrap_or_else(|| panic!("{name}: `checklist`"));
    assert!(!checklist.is_empty(), "{name}: `checklist` is empty");
    for item in checklist {
        let item = item.as_str().unwrap();
        assert!(
            item.contains('-')
                && item.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-'),
            "{name}: {item:?} is not a checklist ID"
        );
    }
    assert!(
        v["spec"].as_str().is_some_and(|s| s.starts_with("https://spec.matrix.org/v1.19/")),
        "{name}: `spec`"
    );
    assert!(v["description"].as_str().is_some_and(|s| !s.is_empty()), "{name}: `description`");
}

#[tokio::test]
async fn client_fixtures() {
    let files = list();
    for path in &files {
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let text = std::fs::read_to_string(path).unwrap();
        let fixture: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            text,
            canonical(&fixture),
            "{name}: not canonical JSON (sorted, 2 spaces, newline)"
        );
        check_metadata(&name, &fixture);
        run(&name, &fixture).await;
    }
    eprintln!("{} client fixtures passed", files.len());
}

async fn run(name: &str, fixture: &Value) {
    let script = fixture["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(crate::mock::scripted_from_fixture)
        .collect();
    let server = MockHomeserver::start(script).await;
    let sleeps = Sleeps::default();
    let auto_register = fixture["client"]["auto_register"].as_bool().unwrap_or(false);
    let client = server.client(&sleeps).with_auto_register(auto_register);

    let outcome = call(&client, &fixture["call"]).await;
    assert_eq!(outcome, fixture["expect_outcome"], "{name}: outcome");

    let recorded = server.recorded();
    let expected = fixture["expect_requests"].as_array().unwrap();
    assert_eq!(
        recorded.len(),
        expected.len(),
        "{name}: number of requests; got {:#?}",
        recorded.iter().map(|r| format!("{} {}", r.method, r.path)).collect::<Vec<_>>()
    );
    for (i, (got, want)) in recorded.iter().zip(expected).enumerate() {
        check_request(&format!("{name} request {i}"), got, want);
    }

    let sleeps_ms: Vec<Value> = sleeps.millis().into_iter().map(|ms| json!(ms as u64)).collect();
    let want_sleeps = fixture.get("expect_sleeps_ms").cloned().unwrap_or_else(|| json!([]));
    assert_eq!(Value::from(sleeps_ms), want_sleeps, "{name}: waits before retries");
}

fn check_request(ctx: &str, got: &Recorded, want: &Value) {
    assert_eq!(got.method, want["method"].as_str().unwrap(), "{ctx}: method");
    assert_eq!(got.path, want["path"].as_str().unwrap(), "{ctx}: path (as sent)");
    let query: Value = serde_json::to_value(&got.query).unwrap();
    assert_eq!(query, want["query"], "{ctx}: query");
    if let Some(raw) = want.get("raw_query") {
        // The exact wire form, where a fixture pins the percent-encoding (IN-5).
        assert_eq!(got.raw_query.as_deref(), raw.as_str(), "{ctx}: raw query");
    }
    // Invariants of every request.
    assert_eq!(
        got.headers.get("authorization").and_then(|v| v.to_str().ok()),
        Some(format!("Bearer {AS_TOKEN}").as_str()),
        "{ctx}: Authorization header"
    );
    assert!(!got.query.contains_key("access_token"), "{ctx}: token in the query");
    for (name, value) in want["headers_subset"].as_object().unwrap() {
        assert_eq!(
            got.headers.get(name.as_str()).and_then(|v| v.to_str().ok()),
            value.as_str(),
            "{ctx}: header {name}"
        );
    }
    match (&want["body"], &want["body_text"]) {
        (Value::Null, Value::String(text)) => {
            assert_eq!(String::from_utf8_lossy(&got.body), *text, "{ctx}: body")
        }
        (Value::Null, Value::Null) => assert!(got.body.is_empty(), "{ctx}: expected no body"),
        (body, _) => assert_eq!(&got.json(), body, "{ctx}: body"),
    }
}

fn s<'a>(args: &'a Value, key: &str) -> &'a str {
    args[key].as_str().unwrap_or_else(|| panic!("argument {key}"))
}

fn opt(args: &Value, key: &str) -> Option<String> {
    args[key].as_str().map(str::to_owned)
}

fn user(args: &Value) -> OwnedUserId {
    s(args, "user_id").try_into().unwrap()
}

fn room(args: &Value) -> OwnedRoomId {
    s(args, "room_id").try_into().unwrap()
}

fn options(args: &Value) -> SendOptions {
    let mut o = SendOptions::new();
    if let Some(t) = opt(args, "txn_id") {
        o = o.txn_id(t.into());
    }
    if let Some(ts) = args["ts"].as_u64() {
        o = o.ts(MilliSecondsSinceUnixEpoch(ts.try_into().unwrap()));
    }
    o
}

/// Runs `call.name` with `call.args` and describes the result as JSON.
async fn call(client: &Client<HyperTransport>, call: &Value) -> Value {
    let args = &call["args"];
    let intent = || {
        let intent = client.intent(user(args));
        match opt(args, "device_id") {
            Some(d) => intent.with_device(OwnedDeviceId::from(d)),
            None => intent,
        }
    };
    let name = call["name"].as_str().unwrap();
    let result: Result<Value, ClientError> = match name {
        "register" => client
            .register(s(args, "localpart"))
            .await
            .map(|o| json!({"outcome": format!("{o:?}")})),
        "ensure_registered" => client.ensure_registered(&user(args)).await.map(|()| json!({})),
        "login" => {
            let device = opt(args, "device_id").map(OwnedDeviceId::from);
            client
                .intent(user(args))
                .login(device, None)
                .await
                .map(|r| json!({"device_id": r.device_id, "user_id": r.user_id}))
        }
        "create_device" => intent()
            .create_device(s(args, "new_device_id").into(), opt(args, "display_name").as_deref())
            .await
            .map(|()| json!({})),
        "ensure_device" => return ensure_device(client, args).await,
        "resolve_alias" => {
            let alias = OwnedRoomAliasId::try_from(s(args, "alias")).unwrap();
            intent()
                .resolve_alias(&alias)
                .await
                .map(|r| json!({"room_id": r.room_id, "servers": r.servers}))
        }
        "set_room_name" => intent()
            .set_room_name(&room(args), s(args, "name"))
            .await
            .map(|e| json!({"event_id": e})),
        "set_room_topic" => intent()
            .set_room_topic(&room(args), s(args, "topic"))
            .await
            .map(|e| json!({"event_id": e})),
        "set_room_avatar" => {
            let url = opt(args, "url").map(OwnedMxcUri::from);
            intent()
                .set_room_avatar(&room(args), url.as_deref())
                .await
                .map(|e| json!({"event_id": e}))
        }
        "power_levels" => intent()
            .power_levels(&room(args))
            .await
            .map(|p| json!({"users": p.users, "users_default": p.users_default})),
        "set_user_power_level" => {
            let target = OwnedUserId::try_from(s(args, "target")).unwrap();
            let level = args["level"].as_i64().unwrap().try_into().unwrap();
            intent()
                .set_user_power_level(&room(args), &target, level)
                .await
                .map(|e| json!({"event_id": e}))
        }
        "unban" => {
            let target = OwnedUserId::try_from(s(args, "target")).unwrap();
            intent()
                .unban(&room(args), &target, opt(args, "reason").as_deref())
                .await
                .map(|()| json!({}))
        }
        "ensure_invited" => {
            let target = OwnedUserId::try_from(s(args, "target")).unwrap();
            intent().ensure_invited(&room(args), &target).await.map(|()| json!({}))
        }
        "send_notice" => intent()
            .send_notice(&room(args), s(args, "text"), options(args))
            .await
            .map(|e| json!({"event_id": e})),
        "send_emote" => intent()
            .send_emote(&room(args), s(args, "text"), options(args))
            .await
            .map(|e| json!({"event_id": e})),
        "create_bridge_room" => {
            intent().create_bridge_room(&bridge_room(args)).await.map(|r| json!({"room_id": r}))
        }
        "whoami" => {
            intent().whoami().await.map(|r| json!({"device_id": r.device_id, "user_id": r.user_id}))
        }
        "send_message" => {
            let content: Raw<_> =
                Raw::from_json(serde_json::value::to_raw_value(&args["content"]).unwrap());
            intent()
                .send_raw_message(&room(args), s(args, "event_type").into(), content, options(args))
                .await
                .map(|e| json!({"event_id": e}))
        }
        "send_state" => {
            let content: Raw<_> =
                Raw::from_json(serde_json::value::to_raw_value(&args["content"]).unwrap());
            intent()
                .send_raw_state(
                    &room(args),
                    s(args, "event_type").into(),
                    s(args, "state_key"),
                    content,
                    options(args),
                )
                .await
                .map(|e| json!({"event_id": e}))
        }
        "redact" => {
            let event_id = OwnedEventId::try_from(s(args, "event_id")).unwrap();
            intent()
                .redact(&room(args), &event_id, opt(args, "reason").as_deref(), options(args))
                .await
                .map(|e| json!({"event_id": e}))
        }
        "join" => {
            let target = OwnedRoomOrAliasId::try_from(s(args, "room")).unwrap();
            let via: Vec<OwnedServerName> = args["via"]
                .as_array()
                .map(|v| v.iter().map(|s| s.as_str().unwrap().try_into().unwrap()).collect())
                .unwrap_or_default();
            intent().join(&target, &via).await.map(|r| json!({"room_id": r}))
        }
        "invite" | "kick" | "ban" => {
            let target = OwnedUserId::try_from(s(args, "target")).unwrap();
            let reason = opt(args, "reason");
            let i = intent();
            let r = match name {
                "invite" => i.invite(&room(args), &target, reason.as_deref()).await,
                "kick" => i.kick(&room(args), &target, reason.as_deref()).await,
                _ => i.ban(&room(args), &target, reason.as_deref()).await,
            };
            r.map(|()| json!({}))
        }
        "leave" => {
            intent().leave(&room(args), opt(args, "reason").as_deref()).await.map(|()| json!({}))
        }
        "create_room" => {
            let mut request = create_room::v3::Request::new();
            request.room_alias_name = opt(args, "room_alias_name");
            request.name = opt(args, "name");
            request.preset = opt(args, "preset").map(|p| p.as_str().into());
            request.invite = args["invite"]
                .as_array()
                .map(|v| v.iter().map(|u| u.as_str().unwrap().try_into().unwrap()).collect())
                .unwrap_or_default();
            request.initial_state = args["initial_state"]
                .as_array()
                .map(|v| {
                    v.iter()
                        .map(|e| Raw::from_json(serde_json::value::to_raw_value(e).unwrap()))
                        .collect()
                })
                .unwrap_or_default();
            intent().create_room(request).await.map(|r| json!({"room_id": r}))
        }
        "get_state" => {
            intent().get_state(&room(args)).await.map(|events| json!({"events": events.len()}))
        }
        "get_state_event" => intent()
            .get_state_event(&room(args), s(args, "event_type").into(), s(args, "state_key"))
            .await
            .map(|c| json!({"content": serde_json::from_str::<Value>(c.get()).unwrap()})),
        "joined_members" => intent()
            .joined_members(&room(args))
            .await
            .map(|m| json!({"joined": m.keys().map(|k| k.to_string()).collect::<Vec<_>>()})),
        "set_displayname" => {
            intent().set_displayname(s(args, "displayname")).await.map(|()| json!({}))
        }
        "set_avatar_url" => {
            let uri = OwnedMxcUri::from(s(args, "avatar_url"));
            intent().set_avatar_url(&uri).await.map(|()| json!({}))
        }
        "upload" => intent()
            .upload(
                s(args, "content_type"),
                opt(args, "filename").as_deref(),
                s(args, "data_text").as_bytes().to_vec(),
            )
            .await
            .map(|uri| json!({"content_uri": uri})),
        "download" => {
            let uri = OwnedMxcUri::from(s(args, "mxc"));
            intent().download(&uri).await.map(|r| {
                json!({"content_type": r.content_type, "data_text": String::from_utf8_lossy(&r.file)})
            })
        }
        "typing" => {
            let timeout = args["timeout_ms"].as_u64().map(Duration::from_millis);
            intent().typing(&room(args), timeout).await.map(|()| json!({}))
        }
        "mark_read" => {
            let event_id = OwnedEventId::try_from(s(args, "event_id")).unwrap();
            intent().mark_read(&room(args), &event_id).await.map(|()| json!({}))
        }
        "ensure_joined" => intent().ensure_joined(&room(args)).await.map(|()| json!({})),
        "set_room_directory_visibility" => {
            let visibility = match s(args, "visibility") {
                "public" => Visibility::Public,
                _ => Visibility::Private,
            };
            client
                .set_room_directory_visibility(s(args, "network_id"), &room(args), visibility)
                .await
                .map(|()| json!({}))
        }
        "ping" => {
            return match client.ping(opt(args, "transaction_id").as_deref()).await {
                Ok(d) => json!({"ok": {"duration_ms": d.as_millis() as u64}}),
                Err(e) => json!({"err": ping_error(&e)}),
            };
        }
        other => panic!("unknown call {other:?}"),
    };
    match result {
        Ok(v) => json!({ "ok": v }),
        Err(e) => json!({ "err": client_error(&e) }),
    }
}

/// A [`BridgeRoom`] from `name`, `topic`, `invite`, `is_direct`, `room_version` and
/// `power_levels` (user → level).
fn bridge_room(args: &Value) -> BridgeRoom {
    let mut room = BridgeRoom::new();
    if let Some(name) = opt(args, "name") {
        room = room.name(name);
    }
    if let Some(topic) = opt(args, "topic") {
        room = room.topic(topic);
    }
    for user in args["invite"].as_array().into_iter().flatten() {
        room = room.invite(user.as_str().unwrap().try_into().unwrap());
    }
    room = room.direct(args["is_direct"].as_bool().unwrap_or(false));
    if let Some(version) = opt(args, "room_version") {
        room = room.room_version(RoomVersionId::try_from(version).unwrap());
    }
    for (user, level) in args["power_levels"].as_object().into_iter().flatten() {
        let level = level.as_i64().unwrap().try_into().unwrap();
        room = room.power_level(user.as_str().try_into().unwrap(), level);
    }
    for user in args["additional_creators"].as_array().into_iter().flatten() {
        room = room.additional_creator(user.as_str().unwrap().try_into().unwrap());
    }
    room
}

/// Start-up device creation: `GET /versions` first, then [`Intent::ensure_device`].
///
/// [`Intent::ensure_device`]: appservice_client::Intent::ensure_device
async fn ensure_device(client: &Client<HyperTransport>, args: &Value) -> Value {
    let client = match client.clone().with_discovered_versions().await {
        Ok(client) => client,
        Err(e) => return json!({"err": client_error(&e)}),
    };
    let device = OwnedDeviceId::from(s(args, "new_device_id"));
    let intent = client.intent(user(args));
    match intent.ensure_device(device, opt(args, "display_name").as_deref()).await {
        Ok(DeviceSetup::Put) => json!({"ok": {"via": "put"}}),
        Ok(DeviceSetup::Login { access_token }) => {
            json!({"ok": {"via": "login", "access_token_len": access_token.len()}})
        }
        Ok(other) => panic!("unknown device set-up {other:?}"),
        Err(DeviceError::Unsupported(u)) => {
            json!({"err": {"kind": "device_creation_unsupported", "message": u.to_string()}})
        }
        Err(DeviceError::Client(e)) => json!({"err": client_error(&e)}),
        Err(other) => panic!("unknown device error {other:?}"),
    }
}

fn client_error(e: &ClientError) -> Value {
    // Whatever the error, it never shows the token.
    assert!(!format!("{e} {e:?}").contains(AS_TOKEN));
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
