//! Whatever arrives, the dispatcher answers: a success with a JSON body, or a spec error.

use appservice_dispatch::Dispatcher;
use futures::executor::block_on;
use proptest::prelude::*;
use serde_json::Value;

use appservice_conformance::handler::{HS_TOKEN, Recorder, Script, registration};

fn path() -> impl Strategy<Value = String> {
    let prefix = prop_oneof![
        Just(""),
        Just("/_matrix/app/v1/transactions/"),
        Just("/_matrix/app/v1/users/"),
        Just("/_matrix/app/v1/rooms/"),
        Just("/_matrix/app/v1/ping"),
        Just("/_matrix/app/v1/thirdparty/protocol/"),
        Just("/_matrix/app/v1/thirdparty/user"),
        Just("/_matrix/app/v1/thirdparty/location/"),
        Just("/transactions/"),
        Just("/users/"),
        Just("/_matrix/app/unstable/thirdparty/location"),
    ];
    (prefix, "[a-zA-Z0-9%@:#!/_.\\-]{0,24}").prop_map(|(p, s)| format!("{p}{s}"))
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        Just(br#"{"events": []}"#.to_vec()),
        Just(br#"{"events": [{"type": 1}, "x", {"event_id": "$a", "type": "t", "room_id": "!r", "sender": "@a:b", "origin_server_ts": 1}]}"#.to_vec()),
        Just(br#"{"transaction_id": null}"#.to_vec()),
        "\\{.{0,40}\\}".prop_map(String::into_bytes),
    ]
}

proptest! {
    #[test]
    fn every_request_gets_a_spec_shaped_answer(
        method in prop_oneof![Just("GET"), Just("PUT"), Just("POST"), Just("DELETE"), Just("PATCH"), Just("HEAD")],
        path in path(),
        query in prop_oneof![Just(String::new()), Just(format!("access_token={HS_TOKEN}")), "[a-z_=&%]{0,20}"],
        auth in prop_oneof![Just(None), Just(Some(format!("Bearer {HS_TOKEN}"))), Just(Some("Bearer nope".to_owned())), "[ -~]{0,20}".prop_map(Some)],
        body in body(),
    ) {
        let d = Dispatcher::new(registration("http://127.0.0.1:9000/prefix"), Recorder::new(Script::default()));
        let uri = if query.is_empty() { path.clone() } else { format!("{path}?{query}") };
        let Ok(uri) = uri.parse::<http::Uri>() else { return Ok(()) };
        let mut builder = http::Request::builder().method(method).uri(uri);
        if let Some(auth) = auth {
            let Ok(value) = http::HeaderValue::from_str(&auth) else { return Ok(()) };
            builder = builder.header("authorization", value);
        }
        let response = block_on(d.dispatch(builder.body(bytes::Bytes::from(body)).unwrap()));
        prop_assert_eq!(response.headers().get("content-type").unwrap(), "application/json");
        let json: Value = serde_json::from_slice(response.body()).unwrap();
        if response.status().is_success() {
            prop_assert_eq!(response.status(), 200);
        } else {
            prop_assert!(response.status().is_client_error() || response.status().is_server_error());
            prop_assert!(json["errcode"].is_string() && json["error"].is_string(), "{}", json);
        }
    }
}
