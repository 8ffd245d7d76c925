//! Properties: serialize → parse round trips, and no input makes a parser panic.

use std::collections::BTreeMap;

use appservice_types::{
    CheckOptions, ErrorCode, MatrixError, Namespace, Namespaces, Registration, RegistrationInit,
    Secret, transaction::Transaction,
};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::transaction_fixtures::observe;

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        ".{0,12}".prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_.]{0,10}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Strings that are hard for YAML: reserved words, numbers, quotes, newlines, unicode.
fn tricky_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("yes".to_owned()),
        Just("null".to_owned()),
        Just("~".to_owned()),
        Just("0755".to_owned()),
        Just("1e3".to_owned()),
        Just("- item".to_owned()),
        Just("key: value".to_owned()),
        Just("#comment".to_owned()),
        Just(" padded ".to_owned()),
        Just("multi\nline".to_owned()),
        ".{0,24}",
    ]
}

fn namespace() -> impl Strategy<Value = Namespace> {
    (any::<bool>(), tricky_string()).prop_map(|(e, r)| Namespace::new(e, r))
}

fn registration() -> impl Strategy<Value = Registration> {
    (
        (
            tricky_string(),
            prop::option::of(tricky_string()),
            tricky_string(),
            tricky_string(),
            tricky_string(),
        ),
        (
            prop::collection::vec(namespace(), 0..3),
            prop::collection::vec(namespace(), 0..3),
            prop::collection::vec(namespace(), 0..3),
        ),
        (
            prop::option::of(any::<bool>()),
            prop::option::of(prop::collection::vec(tricky_string(), 0..3)),
            prop::option::of(any::<bool>()),
            prop::option::of(any::<bool>()),
        ),
        prop::collection::btree_map("x\\.[a-z]{1,6}", json_value(), 0..3),
    )
        .prop_map(
            |(
                (id, url, as_token, hs_token, lp),
                (users, aliases, rooms),
                (rl, protocols, re, msc4190),
                extra,
            )| {
                let mut namespaces = Namespaces::new();
                namespaces.users = users;
                namespaces.aliases = aliases;
                namespaces.rooms = rooms;
                let mut r = Registration::from(RegistrationInit {
                    id,
                    url,
                    as_token: Secret::new(as_token),
                    hs_token: Secret::new(hs_token),
                    sender_localpart: lp,
                    namespaces,
                });
                r.rate_limited = rl;
                r.protocols = protocols;
                r.receive_ephemeral = re;
                r.msc4190 = msc4190;
                r.extra = extra.into_iter().collect::<BTreeMap<_, _>>();
                r
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn registration_round_trips_through_yaml(r in registration()) {
        let yaml = r.to_yaml().unwrap();
        let back = Registration::parse(&yaml);
        prop_assert_eq!(back.as_ref().ok(), Some(&r), "YAML:\n{}", yaml);
    }

    #[test]
    fn registration_round_trips_through_json(r in registration()) {
        prop_assert_eq!(Registration::parse(&r.to_json()).ok(), Some(r));
    }

    #[test]
    fn checking_any_registration_never_panics(r in registration()) {
        let _ = r.check(&CheckOptions::new().server_name("example.org"));
        let _ = appservice_types::ValidatedRegistration::try_from(r);
    }

    #[test]
    fn registration_parser_never_panics(s in ".{0,200}") {
        let _ = Registration::parse(&s);
        let _ = Registration::from_yaml(&s);
    }

    #[test]
    fn registration_from_arbitrary_json_never_panics(v in json_value()) {
        let _ = Registration::from_value(v);
    }

    #[test]
    fn transaction_from_arbitrary_json_never_panics_and_round_trips(
        sections in prop::collection::btree_map(
            prop_oneof![
                Just("events".to_owned()),
                Just("ephemeral".to_owned()),
                Just("de.sorunome.msc2409.ephemeral".to_owned()),
                Just("de.sorunome.msc2409.to_device".to_owned()),
                Just("org.matrix.msc3202.device_lists".to_owned()),
                Just("org.matrix.msc3202.device_one_time_key_counts".to_owned()),
                Just("org.matrix.msc3202.device_one_time_keys_count".to_owned()),
                Just("org.matrix.msc3202.device_unused_fallback_key_types".to_owned()),
                "[a-z_.]{1,10}",
            ],
            json_value(),
            0..6,
        ),
    ) {
        let body = serde_json::to_vec(&sections).unwrap();
        if let Ok(txn) = Transaction::from_slice(&body) {
            let again = Transaction::from_slice(txn.to_json().as_bytes()).unwrap();
            prop_assert_eq!(observe(&again), observe(&txn));
            // Nothing is lost: every top-level key of the body is somewhere in the output.
            let out: BTreeMap<String, Value> = serde_json::from_str(&txn.to_json()).unwrap();
            prop_assert_eq!(out.keys().collect::<Vec<_>>(), sections.keys().collect::<Vec<_>>());
        }
    }

    #[test]
    fn transaction_from_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = Transaction::from_slice(&bytes);
    }

    #[test]
    fn matrix_error_round_trips(status in 0u16..1000, code in "[A-Z_.]{1,20}", msg in ".{0,30}") {
        let e = MatrixError::new(status, ErrorCode::custom(code), msg);
        prop_assert!((400..=599).contains(&e.status()));
        prop_assert_eq!(MatrixError::from_response(e.status(), e.body_json().as_bytes()), Some(e));
    }

    #[test]
    fn ping_body_round_trips(id in prop::option::of(".{0,30}")) {
        let body = appservice_types::ping::PingBody::new(id);
        let json = serde_json::to_string(&body).unwrap();
        prop_assert_eq!(serde_json::from_str::<appservice_types::ping::PingBody>(&json).unwrap(), body);
    }

    #[test]
    fn secrets_never_print(value in ".{4,40}") {
        let s = Secret::new(value.clone());
        let debug = format!("{:?}", s);
        let display = format!("{}", s);
        prop_assert!(!debug.contains(&value));
        prop_assert!(!display.contains(&value));
    }
}

#[test]
fn deeply_nested_input_does_not_overflow_the_stack() {
    let depth = 100_000;
    // serde_json skips a nested value without recursing, so the body is accepted and the
    // malformed event is reported on its own, like any other malformed event.
    let body = format!(r#"{{"events":[{}{}]}}"#, "[".repeat(depth), "]".repeat(depth));
    let txn = Transaction::from_slice(body.as_bytes()).unwrap();
    assert!(txn.envelopes().next().unwrap().is_err());
    assert!(txn.events[0].deserialize::<ruma_events::AnyTimelineEvent>().is_err());
    let yaml = format!("id: {}{}", "[".repeat(depth), "]".repeat(depth));
    assert!(Registration::parse(&yaml).is_err());
}
