//! The structural check of a registration file: required keys and JSON types, every problem at
//! once, with field paths (before serde reads it into a [`Registration`](super::Registration)).

use serde_json::Value as JsonValue;

use super::{MSC3202_KEY, MSC4190_KEY, NamespaceKind, PUSH_EPHEMERAL_KEY};
use crate::diagnostic::{Code, Diagnostic};

/// The top-level keys this crate models or knows homeservers read.
pub(crate) const KNOWN_TOP_LEVEL_KEYS: &[&str] = &[
    "id",
    "url",
    "as_token",
    "hs_token",
    "sender_localpart",
    "namespaces",
    "rate_limited",
    "protocols",
    "receive_ephemeral",
    PUSH_EPHEMERAL_KEY,
    MSC3202_KEY,
    MSC4190_KEY,
    // Read by Synapse, kept in `extra`.
    "ip_range_whitelist",
];

#[derive(Clone, Copy)]
enum Ty {
    String,
    NullableString,
    Bool,
    Object,
    Array,
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::String => "a string",
            Ty::NullableString => "a string or null",
            Ty::Bool => "a boolean",
            Ty::Object => "an object",
            Ty::Array => "a list",
        }
    }

    fn accepts(self, v: &JsonValue) -> bool {
        match self {
            Ty::String => v.is_string(),
            Ty::NullableString => v.is_string() || v.is_null(),
            Ty::Bool => v.is_boolean(),
            Ty::Object => v.is_object(),
            Ty::Array => v.is_array(),
        }
    }
}

fn type_name(v: &JsonValue) -> &'static str {
    match v {
        JsonValue::Null => "null",
        JsonValue::Bool(_) => "a boolean",
        JsonValue::Number(_) => "a number",
        JsonValue::String(_) => "a string",
        JsonValue::Array(_) => "a list",
        JsonValue::Object(_) => "an object",
    }
}

fn wrong_type(path: &str, expected: Ty, found: &JsonValue) -> Diagnostic {
    let hint = match (expected, found) {
        (Ty::String | Ty::NullableString, JsonValue::Number(_) | JsonValue::Bool(_)) => {
            " (quote it: YAML reads unquoted numbers and yes/no/true/false as non-strings)"
        }
        (Ty::Bool, JsonValue::String(_)) => " (write true or false without quotes)",
        _ => "",
    };
    Diagnostic::error(
        Code::WrongType,
        path,
        format!("must be {}, found {}{hint}", expected.name(), type_name(found)),
    )
}

/// Every structural problem of a registration document, with paths.
pub(super) fn structure_problems(value: &JsonValue) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let Some(root) = value.as_object() else {
        out.push(Diagnostic::error(
            Code::NotAnObject,
            "",
            format!(
                "a registration must be an object (a YAML mapping), found {}",
                type_name(value)
            ),
        ));
        return out;
    };
    let fields: [(&str, Ty, bool); 12] = [
        ("id", Ty::String, true),
        ("url", Ty::NullableString, true),
        ("as_token", Ty::String, true),
        ("hs_token", Ty::String, true),
        ("sender_localpart", Ty::String, true),
        ("namespaces", Ty::Object, true),
        ("rate_limited", Ty::Bool, false),
        ("protocols", Ty::Array, false),
        ("receive_ephemeral", Ty::Bool, false),
        (PUSH_EPHEMERAL_KEY, Ty::Bool, false),
        (MSC3202_KEY, Ty::Bool, false),
        (MSC4190_KEY, Ty::Bool, false),
    ];
    for (key, ty, required) in fields {
        match root.get(key) {
            None if required => out.push(Diagnostic::error(
                Code::MissingField,
                key,
                if key == "url" {
                    "required key is missing (write `url: null` for an appservice that receives no traffic)".to_owned()
                } else {
                    "required key is missing".to_owned()
                },
            )),
            Some(v) if !ty.accepts(v) => out.push(wrong_type(key, ty, v)),
            _ => {}
        }
    }
    if let Some(JsonValue::Array(protocols)) = root.get("protocols") {
        for (i, p) in protocols.iter().enumerate() {
            if !p.is_string() {
                out.push(wrong_type(&format!("protocols[{i}]"), Ty::String, p));
            }
        }
    }
    if let Some(JsonValue::Object(namespaces)) = root.get("namespaces") {
        for kind in NamespaceKind::ALL {
            let path = format!("namespaces.{}", kind.key());
            match namespaces.get(kind.key()) {
                None => {}
                Some(JsonValue::Array(list)) => {
                    for (i, entry) in list.iter().enumerate() {
                        let path = format!("{path}[{i}]");
                        let Some(entry) = entry.as_object() else {
                            out.push(wrong_type(&path, Ty::Object, entry));
                            continue;
                        };
                        for (key, ty) in [("regex", Ty::String), ("exclusive", Ty::Bool)] {
                            match entry.get(key) {
                                None => out.push(Diagnostic::error(
                                    Code::MissingField,
                                    format!("{path}.{key}"),
                                    "required key is missing",
                                )),
                                Some(v) if !ty.accepts(v) => {
                                    out.push(wrong_type(&format!("{path}.{key}"), ty, v));
                                }
                                _ => {}
                            }
                        }
                    }
                }
                Some(other) => out.push(wrong_type(&path, Ty::Array, other)),
            }
        }
    }
    out
}
