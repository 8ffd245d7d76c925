//! `fixtures/transactions/*.json`: a transaction body (`body` as JSON, or `body_text` as raw
//! text for malformed bodies) and `expect`, what `Transaction::from_slice` must make of it.
//! Adding a case needs no Rust.

use appservice_types::transaction::Transaction;
use ruma_events::AnyTimelineEvent;
use serde_json::{Value, json};

use crate::fixtures::{bless, canonical, check_metadata, list, read_json};

/// What a parsed transaction looks like to a handler, as JSON.
pub(crate) fn observe(txn: &Transaction) -> Value {
    let events: Vec<Value> = txn
        .events
        .iter()
        .map(|raw| match raw.envelope() {
            Ok(e) => json!({
                "type": e.event_type,
                "event_id": e.event_id,
                "room_id": e.room_id,
                "sender": e.sender,
                "state_key": e.state_key,
                "origin_server_ts": e.origin_server_ts,
                "is_state": e.is_state(),
                "ruma_parses": raw.deserialize::<AnyTimelineEvent>().is_ok(),
            }),
            Err(_) => json!({"malformed": true}),
        })
        .collect();
    let ephemeral = txn.ephemeral.as_ref().map(|s| {
        let items: Vec<Value> = s
            .value
            .iter()
            .map(|raw| match raw.deserialize() {
                Ok(d) => json!(d.data_type()),
                Err(_) => json!({"malformed": raw.get_field::<String>("type").ok().flatten()}),
            })
            .collect();
        json!({"key": s.key, "types": items})
    });
    let to_device = txn.to_device.as_ref().map(|s| {
        let items: Vec<Value> = s
            .value
            .iter()
            .map(|raw| {
                let field = |name: &str| raw.get_field::<String>(name).ok().flatten();
                json!({
                    "type": field("type"),
                    "sender": field("sender"),
                    "to_user_id": field("to_user_id"),
                    "to_device_id": field("to_device_id"),
                    "ruma_parses": raw.deserialize().is_ok(),
                })
            })
            .collect();
        json!({"key": s.key, "messages": items})
    });
    let device_lists = txn.device_lists.as_ref().map(|s| match s.value.deserialize() {
        Ok(d) => json!({"key": s.key, "changed": d.changed, "left": d.left}),
        Err(_) => json!({"key": s.key, "malformed": true}),
    });
    let otk = txn.device_one_time_keys_count.as_ref().map(|s| match s.value.deserialize() {
        Ok(v) => json!({"key": s.key, "value": v}),
        Err(_) => json!({"key": s.key, "malformed": true}),
    });
    let fallback =
        txn.device_unused_fallback_key_types.as_ref().map(|s| match s.value.deserialize() {
            Ok(v) => json!({"key": s.key, "value": v}),
            Err(_) => json!({"key": s.key, "malformed": true}),
        });
    json!({
        "result": "ok",
        "events": events,
        "ephemeral": ephemeral,
        "to_device": to_device,
        "device_lists": device_lists,
        "device_one_time_keys_count": otk,
        "device_unused_fallback_key_types": fallback,
        "extra_keys": txn.extra.keys().collect::<Vec<_>>(),
        "problems": txn.problems.iter().map(|p| p.key.clone()).collect::<Vec<_>>(),
        "is_empty": txn.is_empty(),
    })
}

#[test]
fn transaction_fixtures() {
    let mut checked = 0;
    for path in list("transactions", ".json") {
        let mut fixture = read_json(&path);
        check_metadata(&path, &fixture);
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let body: Vec<u8> = match (&fixture["body"], &fixture["body_text"]) {
            (Value::Null, Value::String(text)) => text.clone().into_bytes(),
            (body, Value::Null) if !body.is_null() => serde_json::to_vec(body).unwrap(),
            _ => panic!("{name}: exactly one of `body` and `body_text`"),
        };
        let observed = match Transaction::from_slice(&body) {
            Ok(txn) => {
                // A round trip through to_json changes nothing a handler can see.
                let again = Transaction::from_slice(txn.to_json().as_bytes()).unwrap();
                assert_eq!(observe(&again), observe(&txn), "{name}: round trip");
                observe(&txn)
            }
            Err(e) => {
                let m = e.to_matrix_error();
                json!({"result": {"status": m.status(), "errcode": m.errcode().as_str()}})
            }
        };
        if bless() {
            fixture["expect"] = observed;
            std::fs::write(&path, canonical(&fixture)).unwrap();
        } else {
            assert_eq!(
                observed, fixture["expect"],
                "{name}: (UPDATE_EXPECT=1 rewrites; review the diff)"
            );
        }
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} transaction fixtures");
}
