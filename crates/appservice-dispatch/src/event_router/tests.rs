//! Routing: the right route per type, the wrapped handler for everything else, content errors
//! seen by the route, and no panic whatever the event.

use appservice_types::{
    ruma_events::{
        StaticEventContent,
        reaction::ReactionEventContent,
        room::{member::RoomMemberEventContent, message::RoomMessageEventContent},
    },
    transaction::Transaction,
};
use bytes::Bytes;
use futures::executor::block_on;
use parking_lot::Mutex;
use proptest::prelude::*;

use super::*;
use crate::EventErrorKind;

/// The wrapped handler: records what reached it and what the routes saw.
#[derive(Debug, Default)]
struct Log(Mutex<Vec<String>>);

impl Log {
    fn push(&self, line: String) {
        self.0.lock().push(line);
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock())
    }
}

impl Handler for Log {
    async fn event(
        &self,
        _: &TransactionContext<'_>,
        event: Event<'_>,
    ) -> Result<(), HandlerError> {
        let event_type = event.envelope.map(|e| e.event_type.to_string());
        self.push(format!("fallback {} {event_type:?}", event.index));
        Ok(())
    }

    async fn query_user(
        &self,
        user_id: &appservice_types::ruma_common::UserId,
    ) -> Result<bool, HandlerError> {
        self.push(format!("query {user_id}"));
        Ok(true)
    }
}

fn router() -> EventRouter<Log> {
    EventRouter::new(Log::default())
        .on::<RoomMessageEventContent, _>(|log, _, event, content| {
            Box::pin(async move {
                match content {
                    Ok(c) => log.push(format!("message {} {}", event.index, c.body())),
                    Err(e) => log.push(format!("message {} error {:?}", event.index, e.kind())),
                }
                Ok(())
            })
        })
        .on::<RoomMemberEventContent, _>(|log, _, event, content| {
            Box::pin(async move {
                let content = content.map_err(HandlerError::failed)?;
                let state_key = event.envelope.and_then(|e| e.state_key.as_deref());
                log.push(format!("member {} {state_key:?} {}", event.index, content.membership));
                Ok(())
            })
        })
}

/// Runs every event of `body` through `handler` as the dispatcher does; the first error stops.
fn run<H: Handler>(handler: &H, body: &str) -> Result<(), HandlerError> {
    let body = Bytes::from(body.to_owned());
    let transaction = Transaction::from_slice(&body).map_err(HandlerError::failed)?;
    let envelopes: Vec<_> = transaction.events.iter().map(|e| e.envelope().ok()).collect();
    let ctx = TransactionContext {
        txn_id: "t",
        transaction: &transaction,
        body: &body,
        legacy: false,
        unit: None,
    };
    for (index, raw) in transaction.events.iter().enumerate() {
        let event = Event { index, raw, envelope: envelopes[index].as_ref() };
        block_on(handler.event(&ctx, event))?;
    }
    Ok(())
}

fn event(event_type: &str, state_key: Option<&str>, content: &str) -> String {
    let state_key = state_key.map(|k| format!(r#""state_key":"{k}","#)).unwrap_or_default();
    format!(
        r#"{{"type":"{event_type}","event_id":"$e","room_id":"!r:x","sender":"@a:x",{state_key}"origin_server_ts":1,"content":{content}}}"#
    )
}

fn body(events: &[String]) -> String {
    format!(r#"{{"events":[{}]}}"#, events.join(","))
}

#[test]
fn each_type_reaches_its_route_and_the_rest_the_handler() {
    let r = router();
    let body = body(&[
        event("m.room.message", None, r#"{"msgtype":"m.text","body":"hi"}"#),
        event("m.room.member", Some("@b:x"), r#"{"membership":"invite"}"#),
        event(
            "m.reaction",
            None,
            r#"{"m.relates_to":{"rel_type":"m.annotation","event_id":"$e","key":"x"}}"#,
        ),
        event("org.example.unknown", None, "{}"),
        r#""not an event""#.to_owned(),
    ]);
    run(&r, &body).unwrap();
    assert_eq!(
        r.handler().take(),
        [
            "message 0 hi",
            r#"member 1 Some("@b:x") invite"#,
            r#"fallback 2 Some("m.reaction")"#,
            r#"fallback 3 Some("org.example.unknown")"#,
            "fallback 4 None",
        ]
    );
}

#[test]
fn state_and_message_events_of_other_types_are_not_confused() {
    let r = router();
    // A state event of an unrouted type, and a message-like one: both unrouted.
    let body = body(&[
        event("m.room.name", Some(""), r#"{"name":"n"}"#),
        event("m.room.message", None, r#"{"msgtype":"m.notice","body":"n"}"#),
        event("m.room.member", Some("@c:x"), r#"{"membership":"join"}"#),
    ]);
    run(&r, &body).unwrap();
    assert_eq!(
        r.handler().take(),
        [r#"fallback 0 Some("m.room.name")"#, "message 1 n", r#"member 2 Some("@c:x") join"#]
    );
}

#[test]
fn malformed_content_is_a_typed_error_for_the_route() {
    let r = router();
    run(&r, &body(&[event("m.room.message", None, r#"{"msgtype":"m.text","body":7}"#)])).unwrap();
    assert_eq!(r.handler().take(), ["message 0 error Invalid"]);
    // The member route turns it into a failure of the transaction.
    let failed = run(&r, &body(&[event("m.room.member", Some("@b:x"), r#"{"membership":1}"#)]));
    assert!(matches!(failed, Err(HandlerError::Failed(_))));
    assert!(r.handler().take().is_empty());
}

#[test]
fn other_requests_reach_the_wrapped_handler() {
    let r = router();
    let user = <&appservice_types::ruma_common::UserId>::try_from("@u:x").unwrap();
    assert!(block_on(r.query_user(user)).unwrap());
    assert_eq!(r.handler().take(), ["query @u:x"]);
}

#[test]
fn prefix_routes_and_replaced_routes() {
    struct Call;
    impl StaticEventContent for Call {
        const TYPE: &'static str = "org.example.call.";
        type IsPrefix = appservice_types::ruma_events::True;
    }
    impl<'de> serde::Deserialize<'de> for Call {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            serde::de::IgnoredAny::deserialize(d).map(|_| Call)
        }
    }
    let r = router()
        .on::<Call, _>(|log, _, event, _| {
            Box::pin(async move {
                log.push(format!("call {}", event.index));
                Ok(())
            })
        })
        // Replaces the first message route.
        .on::<RoomMessageEventContent, _>(|log, _, event, _| {
            Box::pin(async move {
                log.push(format!("new message {}", event.index));
                Ok(())
            })
        });
    let body = body(&[
        event("org.example.call.invite", None, "{}"),
        event("org.example.cal", None, "{}"),
        event("m.room.message", None, r#"{"msgtype":"m.text","body":"hi"}"#),
    ]);
    run(&r, &body).unwrap();
    assert_eq!(
        r.handler().take(),
        ["call 0", r#"fallback 1 Some("org.example.cal")"#, "new message 2"]
    );
    let debug = format!("{r:?}");
    assert!(debug.contains("org.example.call.*") && debug.contains("m.room.member"), "{debug}");
}

#[test]
fn unrouted_events_are_not_parsed() {
    // Content that is not even an object reaches the wrapped handler untouched.
    let r = router().on::<ReactionEventContent, _>(|_, _, _, content| {
        Box::pin(async move { content.map(|_| ()).map_err(HandlerError::failed) })
    });
    run(&r, &body(&[event("m.room.topic", Some(""), "[1, 2]")])).unwrap();
    assert_eq!(r.handler().take(), [r#"fallback 0 Some("m.room.topic")"#]);
    // A routed event's content error names its kind.
    let e = run(&r, &body(&[event("m.reaction", None, "[1, 2]")])).unwrap_err();
    let HandlerError::Failed(e) = e else { panic!("{e:?}") };
    let kind = e.downcast_ref::<EventError>().map(EventError::kind);
    assert_eq!(kind, Some(EventErrorKind::Invalid));
}

/// Arbitrary JSON values, small.
fn json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "[ -~]{0,8}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map("[a-z_.]{0,6}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn routing_never_panics(
        event_type in prop_oneof![
            Just("m.room.message".to_owned()), Just("m.room.member".to_owned()),
            Just("m.reaction".to_owned()), "[a-z.]{0,16}",
        ],
        content in json(),
        state_key in prop::option::of("[ -~]{0,6}"),
        extra in json(),
        whole in json(),
        use_whole in any::<bool>(),
    ) {
        let r = router();
        let mut event = serde_json::json!({
            "type": event_type, "event_id": "$e", "room_id": "!r", "sender": "@a:x",
            "origin_server_ts": 1, "content": content, "unsigned": extra,
        });
        if let Some(key) = state_key {
            event["state_key"] = key.into();
        }
        let event = if use_whole { whole } else { event };
        let body = format!(r#"{{"events":[{event}]}}"#);
        // Ok, or the member route's failure: never a panic.
        let _ = run(&r, &body);
        prop_assert_eq!(r.handler().take().len() <= 1, true);
    }
}
