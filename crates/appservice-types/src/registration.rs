//! The registration file: [`Registration`], parsed from YAML or JSON, with unknown keys kept.
//!
//! ruma's `ruma_appservice_api::Registration` drops unknown keys and the unstable flags that
//! homeservers read today, so a parse → serialize round trip through it loses data. This type
//! keeps every key: known ones as typed fields, the rest in `extra`. Conversions to and from
//! ruma's type are provided.
//!
//! Parsing checks the *structure* (required keys, JSON types) and reports every structural
//! problem at once; the *content* (tokens, URL, regexes…) is checked by
//! [`Registration::check`] and [`ValidatedRegistration`](crate::ValidatedRegistration).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value as JsonValue;

mod structure;

use crate::{
    Secret,
    diagnostic::{Code, Diagnostic},
};
pub(crate) use structure::KNOWN_TOP_LEVEL_KEYS;
use structure::structure_problems;

/// Key of the legacy MSC2409 flag that asks for ephemeral data under its unstable key.
pub const PUSH_EPHEMERAL_KEY: &str = "de.sorunome.msc2409.push_ephemeral";
/// Key of the MSC3202 flag (device lists, one-time-key counts, fallback keys in transactions).
pub const MSC3202_KEY: &str = "org.matrix.msc3202";
/// Key of the MSC4190 flag (appservice device management; no login).
pub const MSC4190_KEY: &str = "io.element.msc4190";

/// An appservice registration, as a homeserver reads it.
///
/// Every key of the file survives a parse → serialize round trip: unknown keys are kept in
/// [`extra`](Self::extra) (and in [`Namespaces::extra`] / [`Namespace::extra`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Registration {
    /// Unique, never-changing ID of the appservice (the `{appserviceId}` of the CS ping).
    pub id: String,
    /// Base URL the homeserver pushes to; `None` for an explicit `null` ("no traffic"). The key
    /// itself is required.
    #[serde(deserialize_with = "Option::deserialize")]
    pub url: Option<String>,
    /// Token the appservice sends to the homeserver.
    pub as_token: Secret,
    /// Token the homeserver sends to the appservice.
    pub hs_token: Secret,
    /// Localpart of the appservice's own user (the bot).
    pub sender_localpart: String,
    /// The users, aliases and rooms the appservice is interested in.
    pub namespaces: Namespaces,
    /// Whether masqueraded users are rate-limited. The spec gives no default; Synapse uses `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limited: Option<bool>,
    /// Third-party protocols the appservice provides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocols: Option<Vec<String>>,
    /// Whether the appservice wants ephemeral data (stable, spec v1.13). Absent means `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receive_ephemeral: Option<bool>,
    /// Legacy MSC2409 flag: ephemeral data under `de.sorunome.msc2409.ephemeral`.
    #[serde(
        default,
        rename = "de.sorunome.msc2409.push_ephemeral",
        skip_serializing_if = "Option::is_none"
    )]
    pub push_ephemeral: Option<bool>,
    /// MSC3202 flag: device lists and key counts in transactions.
    #[serde(default, rename = "org.matrix.msc3202", skip_serializing_if = "Option::is_none")]
    pub msc3202: Option<bool>,
    /// MSC4190 flag: device management without `/login`.
    #[serde(default, rename = "io.element.msc4190", skip_serializing_if = "Option::is_none")]
    pub msc4190: Option<bool>,
    /// Every other key, kept as is.
    #[serde(flatten)]
    pub extra: BTreeMap<String, JsonValue>,
}

/// The fields a new [`Registration`] needs. Never gains fields (like ruma's `RegistrationInit`).
#[derive(Debug)]
#[allow(clippy::exhaustive_structs)] // The point of an `…Init` struct: it stays as it is.
pub struct RegistrationInit {
    /// See [`Registration::id`].
    pub id: String,
    /// See [`Registration::url`].
    pub url: Option<String>,
    /// See [`Registration::as_token`].
    pub as_token: Secret,
    /// See [`Registration::hs_token`].
    pub hs_token: Secret,
    /// See [`Registration::sender_localpart`].
    pub sender_localpart: String,
    /// See [`Registration::namespaces`].
    pub namespaces: Namespaces,
}

impl From<RegistrationInit> for Registration {
    fn from(init: RegistrationInit) -> Self {
        let RegistrationInit { id, url, as_token, hs_token, sender_localpart, namespaces } = init;
        Self {
            id,
            url,
            as_token,
            hs_token,
            sender_localpart,
            namespaces,
            rate_limited: None,
            protocols: None,
            receive_ephemeral: None,
            push_ephemeral: None,
            msc3202: None,
            msc4190: None,
            extra: BTreeMap::new(),
        }
    }
}

/// The namespaces of a registration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Namespaces {
    /// User ID namespaces (local users only, spec v1.5).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<Namespace>,
    /// Room alias namespaces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<Namespace>,
    /// Room ID namespaces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rooms: Vec<Namespace>,
    /// Other keys (e.g. MSC4417's `uk.half-shot.msc4417.preview_urls`), kept as is.
    #[serde(flatten)]
    pub extra: BTreeMap<String, JsonValue>,
}

impl Namespaces {
    /// No namespaces.
    pub fn new() -> Self {
        Self::default()
    }

    /// The list of one kind.
    pub fn get(&self, kind: NamespaceKind) -> &[Namespace] {
        match kind {
            NamespaceKind::Users => &self.users,
            NamespaceKind::Aliases => &self.aliases,
            NamespaceKind::Rooms => &self.rooms,
        }
    }
}

/// One namespace entry: a regex and whether the appservice claims it exclusively.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Namespace {
    /// Whether the appservice has exclusive access to the IDs matched.
    pub exclusive: bool,
    /// The regex. Homeservers match it at the *start* of the ID (Python's `re.match`).
    pub regex: String,
    /// Other keys, kept as is.
    #[serde(flatten)]
    pub extra: BTreeMap<String, JsonValue>,
}

impl Namespace {
    /// A namespace entry.
    pub fn new(exclusive: bool, regex: impl Into<String>) -> Self {
        Self { exclusive, regex: regex.into(), extra: BTreeMap::new() }
    }
}

/// The three kinds of namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[allow(clippy::exhaustive_enums)] // The spec has exactly these three.
pub enum NamespaceKind {
    /// `namespaces.users`: user IDs, sigil `@`.
    Users,
    /// `namespaces.aliases`: room aliases, sigil `#`.
    Aliases,
    /// `namespaces.rooms`: room IDs, sigil `!`.
    Rooms,
}

impl NamespaceKind {
    /// All kinds, in file order.
    pub const ALL: [Self; 3] = [Self::Users, Self::Aliases, Self::Rooms];

    /// The key in the registration (`users`, `aliases`, `rooms`).
    pub fn key(self) -> &'static str {
        match self {
            Self::Users => "users",
            Self::Aliases => "aliases",
            Self::Rooms => "rooms",
        }
    }

    /// The sigil IDs of this kind start with.
    pub fn sigil(self) -> char {
        match self {
            Self::Users => '@',
            Self::Aliases => '#',
            Self::Rooms => '!',
        }
    }
}

/// Why a registration file could not be parsed. Carries every structural problem found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid registration file: {}", summary(.diagnostics))]
pub struct ParseError {
    diagnostics: Vec<Diagnostic>,
}

fn summary(diagnostics: &[Diagnostic]) -> String {
    diagnostics.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

impl ParseError {
    /// Every problem found (at least one), all of severity error.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    /// Takes the problems out.
    pub fn into_diagnostics(self) -> Vec<Diagnostic> {
        self.diagnostics
    }

    fn one(code: Code, path: &str, message: String) -> Self {
        Self { diagnostics: vec![Diagnostic::error(code, path, message)] }
    }
}

/// A registration could not be serialized to YAML.
#[derive(Debug, thiserror::Error)]
#[error("cannot serialize the registration to YAML: {0}")]
pub struct SerializeError(String);

impl Registration {
    /// Parses a registration from YAML or JSON (a document that starts with `{` is read as JSON).
    ///
    /// YAML is read like PyYAML reads it for Synapse (YAML 1.1 booleans such as `yes` are
    /// booleans). Every structural problem (missing keys, wrong types) is reported at once.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        if !input.trim_start().starts_with('{') {
            return Self::from_yaml(input);
        }
        match Self::from_json(input) {
            // Not JSON: it may still be a YAML flow mapping (`{id: irc, …}`). If it is not YAML
            // either, the JSON error is the one that helps.
            Err(e) if e.diagnostics.iter().any(|d| d.code == Code::Syntax) => {
                Self::from_yaml(input).map_err(|yaml| match yaml.diagnostics.first() {
                    Some(d) if d.code == Code::Syntax => e,
                    _ => yaml,
                })
            }
            other => other,
        }
    }

    /// Parses a registration from YAML.
    pub fn from_yaml(input: &str) -> Result<Self, ParseError> {
        let options = serde_saphyr::options! { with_snippet: false };
        let value: JsonValue =
            serde_saphyr::from_str_with_options(input, options).map_err(|e| {
                // Render without the source snippet: it could show a token.
                let rendered = e.render_with_options(serde_saphyr::render_options! {
                    snippets: serde_saphyr::SnippetMode::Off,
                });
                ParseError::one(Code::Syntax, "", format!("not valid YAML: {rendered}"))
            })?;
        Self::from_value(value)
    }

    /// Parses a registration from JSON.
    pub fn from_json(input: &str) -> Result<Self, ParseError> {
        let value: JsonValue = serde_json::from_str(input).map_err(|e| {
            // serde_json's syntax errors name a position, never the content.
            ParseError::one(Code::Syntax, "", format!("not valid JSON: {e}"))
        })?;
        Self::from_value(value)
    }

    /// Builds a registration from an already-parsed JSON value, checking its structure.
    pub fn from_value(value: JsonValue) -> Result<Self, ParseError> {
        let diagnostics = structure_problems(&value);
        if !diagnostics.is_empty() {
            return Err(ParseError { diagnostics });
        }
        serde_json::from_value(value).map_err(|e| {
            // The structural check above should make this unreachable. serde_json's message
            // may quote a value (a token), so report only its category.
            ParseError::one(
                Code::WrongType,
                "",
                format!("the document does not match the registration schema ({:?})", e.classify()),
            )
        })
    }

    /// Serializes to YAML (for writing a registration file; contains the tokens).
    pub fn to_yaml(&self) -> Result<String, SerializeError> {
        serde_saphyr::to_string(self).map_err(|e| SerializeError(e.to_string()))
    }

    /// Serializes to pretty JSON (contains the tokens).
    pub fn to_json(&self) -> String {
        // A map of strings, bools and JSON values always serializes.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Whether the homeserver will push ephemeral data: `receive_ephemeral` or the legacy
    /// `de.sorunome.msc2409.push_ephemeral`.
    pub fn wants_ephemeral(&self) -> bool {
        self.receive_ephemeral == Some(true) || self.push_ephemeral == Some(true)
    }
}

impl From<Registration> for ruma_appservice_api::Registration {
    /// Converts to ruma's type. Lossy: the unstable flags and unknown keys are dropped.
    fn from(r: Registration) -> Self {
        let mut namespaces = ruma_appservice_api::Namespaces::new();
        let conv = |list: Vec<Namespace>| {
            list.into_iter()
                .map(|n| ruma_appservice_api::Namespace::new(n.exclusive, n.regex))
                .collect::<Vec<_>>()
        };
        namespaces.users = conv(r.namespaces.users);
        namespaces.aliases = conv(r.namespaces.aliases);
        namespaces.rooms = conv(r.namespaces.rooms);
        let mut out: ruma_appservice_api::Registration = ruma_appservice_api::RegistrationInit {
            id: r.id,
            url: r.url,
            as_token: r.as_token.expose().to_owned(),
            hs_token: r.hs_token.expose().to_owned(),
            sender_localpart: r.sender_localpart,
            namespaces,
            rate_limited: r.rate_limited,
            protocols: r.protocols,
        }
        .into();
        out.receive_ephemeral = r.receive_ephemeral.unwrap_or(false);
        out
    }
}

impl From<ruma_appservice_api::Registration> for Registration {
    fn from(r: ruma_appservice_api::Registration) -> Self {
        let conv = |list: Vec<ruma_appservice_api::Namespace>| {
            list.into_iter().map(|n| Namespace::new(n.exclusive, n.regex)).collect::<Vec<_>>()
        };
        let mut out = Registration::from(RegistrationInit {
            id: r.id,
            url: r.url,
            as_token: Secret::new(r.as_token),
            hs_token: Secret::new(r.hs_token),
            sender_localpart: r.sender_localpart,
            namespaces: Namespaces {
                users: conv(r.namespaces.users),
                aliases: conv(r.namespaces.aliases),
                rooms: conv(r.namespaces.rooms),
                extra: BTreeMap::new(),
            },
        });
        out.rate_limited = r.rate_limited;
        out.protocols = r.protocols;
        out.receive_ephemeral = r.receive_ephemeral.then_some(true);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IRC: &str = r##"
id: "IRC Bridge"
url: "http://127.0.0.1:1234"
as_token: "30c05ae90a248a4188e620216fa72e349803310ec83e2a77b34fe90be6081f46"
hs_token: "312df522183efd404ec1cd22d2ffa4bbc76a8c1ccf541dd692eef281356bb74e"
sender_localpart: "_irc_bot" # Will result in @_irc_bot:example.org
namespaces:
  users:
    - exclusive: true
      regex: "@_irc_bridge_.*"
  aliases:
    - exclusive: false
      regex: "#_irc_bridge_.*"
  rooms: []
"##;

    #[test]
    fn parses_spec_example() {
        let r = Registration::parse(IRC).unwrap();
        assert_eq!(r.id, "IRC Bridge");
        assert_eq!(r.url.as_deref(), Some("http://127.0.0.1:1234"));
        assert_eq!(r.namespaces.users, vec![Namespace::new(true, "@_irc_bridge_.*")]);
        assert!(r.namespaces.rooms.is_empty());
        assert!(!r.wants_ephemeral());
    }

    #[test]
    fn unknown_keys_survive_yaml_and_json_round_trips() {
        let input = format!(
            "{IRC}\nde.sorunome.msc2409.push_ephemeral: true\nio.element.msc4190: true\n\
             com.example.custom:\n  nested: [1, 2]\n"
        );
        let r = Registration::parse(&input).unwrap();
        assert_eq!(r.push_ephemeral, Some(true));
        assert_eq!(r.msc4190, Some(true));
        assert_eq!(r.extra["com.example.custom"], serde_json::json!({"nested": [1, 2]}));
        let again = Registration::parse(&r.to_yaml().unwrap()).unwrap();
        assert_eq!(again, r);
        let again = Registration::parse(&r.to_json()).unwrap();
        assert_eq!(again, r);
    }

    #[test]
    fn url_null_is_kept_and_missing_url_is_an_error() {
        let r = Registration::parse(&IRC.replace("\"http://127.0.0.1:1234\"", "null")).unwrap();
        assert_eq!(r.url, None);
        assert!(r.to_json().contains("\"url\": null"));
        let no_url: String =
            IRC.lines().filter(|l| !l.starts_with("url:")).collect::<Vec<_>>().join("\n");
        let err = Registration::parse(&no_url).unwrap_err();
        assert_eq!(err.diagnostics()[0].code, Code::MissingField);
        assert_eq!(err.diagnostics()[0].path, "url");
    }

    #[test]
    fn reports_every_structural_problem() {
        let err = Registration::parse(
            "id: 5\nas_token: yes\nnamespaces:\n  users:\n    - regex: 3\n    - 7\n",
        )
        .unwrap_err();
        let got: Vec<(Code, &str)> =
            err.diagnostics().iter().map(|d| (d.code, d.path.as_str())).collect();
        assert_eq!(
            got,
            vec![
                (Code::WrongType, "id"),
                (Code::MissingField, "url"),
                (Code::WrongType, "as_token"),
                (Code::MissingField, "hs_token"),
                (Code::MissingField, "sender_localpart"),
                (Code::WrongType, "namespaces.users[0].regex"),
                (Code::MissingField, "namespaces.users[0].exclusive"),
                (Code::WrongType, "namespaces.users[1]"),
            ]
        );
    }

    #[test]
    fn syntax_errors_do_not_echo_the_file() {
        let secret = "hs_token: \"supersecret-token-value\n  : [";
        let err = Registration::parse(secret).unwrap_err();
        assert_eq!(err.diagnostics()[0].code, Code::Syntax);
        assert!(!err.to_string().contains("supersecret"), "{err}");
        let err = Registration::parse("{\"hs_token\": \"supersecret\" ").unwrap_err();
        assert!(!err.to_string().contains("supersecret"), "{err}");
    }

    #[test]
    fn yaml_flow_mapping_is_not_mistaken_for_json() {
        let r = Registration::parse(
            "{id: irc, url: null, as_token: a, hs_token: b, sender_localpart: bot, namespaces: {}}",
        )
        .unwrap();
        assert_eq!(r.id, "irc");
        let err = Registration::parse("{\"id\": \"irc\",").unwrap_err();
        assert!(err.to_string().contains("not valid JSON"), "{err}");
    }

    #[test]
    fn ruma_conversion() {
        let r = Registration::parse(IRC).unwrap();
        let ruma: ruma_appservice_api::Registration = r.clone().into();
        assert_eq!(ruma.namespaces.users.len(), 1);
        let back = Registration::from(ruma);
        assert_eq!(back, r);
    }
}
