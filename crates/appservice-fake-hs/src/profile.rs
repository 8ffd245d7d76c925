//! [`Profile`]: how a homeserver family behaves toward an appservice, where the families differ.
//!
//! Observed behaviour, one row per difference (each method's doc names its row):
//!
//! | row | Synapse | Conduit family (Conduit, conduwuit, tuwunel) |
//! |---|---|---|
//! | bot user | created by the server | not created: the appservice registers it |
//! | `hs_token` | `Authorization: Bearer` only | header **and** `?access_token=` |
//! | transaction IDs | `1, 2, 3, …` | URL-safe base64 (no padding) of a SHA-256 over the events |
//! | ephemeral, to-device, MSC3202 | sent | none |
//! | user query before `?user_id=` | asked for unknown users of the namespace | never |
//!
//! The user-query row is not modelled: neither profile's [`Delivery`](crate::Delivery) sends
//! user queries, so a test that needs a user to exist must see the appservice register it (as
//! the Conduit family requires).
//! | failed transaction | retried on a timer, 2 s · 2ⁿ | retried only when the next event arrives and 30 s · n² passed |

use std::{str::FromStr, time::Duration};

use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// A homeserver family, as an appservice sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(clippy::exhaustive_enums)] // Test support: a new profile should break every match.
pub enum Profile {
    /// Synapse: the reference homeserver, which our tests imitated so far.
    Synapse,
    /// Conduit and its forks conduwuit and tuwunel.
    ConduitFamily,
}

/// What starts the retry of a failed transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(clippy::exhaustive_enums)] // These are the two ways there are.
pub enum RetryTrigger {
    /// A timer: the retry happens when the backoff has passed (Synapse's recoverer).
    Timer,
    /// The next event for the appservice, if the backoff has passed by then (Conduit); without
    /// a new event nothing is retried.
    NextEvent,
}

/// A body key that a [`Profile::ConduitFamily`] homeserver never sends: the ephemeral,
/// to-device and device-list sections, in every spelling.
fn is_extension_key(key: &str) -> bool {
    matches!(
        key,
        "ephemeral"
            | "to_device"
            | "device_lists"
            | "device_one_time_keys_count"
            | "device_one_time_key_counts"
            | "device_unused_fallback_key_types"
    ) || key.starts_with("de.sorunome.msc2409.")
        || key.starts_with("org.matrix.msc3202.")
}

impl Profile {
    /// Every profile, Synapse first.
    pub const ALL: [Self; 2] = [Self::Synapse, Self::ConduitFamily];

    /// Its short name, as [`FromStr`] reads it: `synapse` or `conduit`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Synapse => "synapse",
            Self::ConduitFamily => "conduit",
        }
    }

    /// Whether it sends `hs_token` as `?access_token=` too (row `hs_token`; Synapse only with
    /// `use_appservice_legacy_authorization`, off by default).
    pub fn token_in_query(self) -> bool {
        self == Self::ConduitFamily
    }

    /// `uri` with the `?access_token=` this profile adds to it (row `hs_token`): unchanged for
    /// Synapse, `access_token=<hs_token>` appended (after `?` or `&`) for the Conduit family.
    pub fn authenticated_uri(self, uri: &str, hs_token: &str) -> String {
        if !self.token_in_query() {
            return uri.to_owned();
        }
        let token: String = form_urlencoded::byte_serialize(hs_token.as_bytes()).collect();
        let separator = if uri.contains('?') { '&' } else { '?' };
        format!("{uri}{separator}access_token={token}")
    }

    /// `builder` (without a URI yet) with the URI `uri` and the homeserver's authentication as this profile sends
    /// it: `Authorization: Bearer <hs_token>` always, plus `?access_token=` for the Conduit
    /// family (row `hs_token`).
    pub fn authorize(
        self,
        builder: http::request::Builder,
        uri: &str,
        hs_token: &str,
    ) -> http::request::Builder {
        builder
            .uri(self.authenticated_uri(uri, hs_token))
            .header(http::header::AUTHORIZATION, format!("Bearer {hs_token}"))
    }

    /// The ID of the `n`-th transaction (from 1) of `event_ids` (row "transaction IDs"):
    /// Synapse: `n` in decimal (a database sequence); the Conduit family: URL-safe base64
    /// without padding (43 characters) of the SHA-256 of the event IDs joined by `0xff` (as
    /// Conduit hashes its event keys), so a retry of the same events has the same ID whatever
    /// `n` is.
    pub fn txn_id<S: AsRef<str>>(self, n: u64, event_ids: &[S]) -> String {
        match self {
            Self::Synapse => n.to_string(),
            Self::ConduitFamily => {
                let mut hasher = Sha256::new();
                for (i, id) in event_ids.iter().enumerate() {
                    if i > 0 {
                        hasher.update([0xff]);
                    }
                    hasher.update(id.as_ref().as_bytes());
                }
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hasher.finalize())
            }
        }
    }

    /// The transaction body this profile sends for `body` (row "ephemeral / to-device /
    /// MSC3202"): unchanged for Synapse; the Conduit family sends none of the ephemeral,
    /// to-device and device-list keys (`ephemeral`, `to_device`, `de.sorunome.msc2409.*`,
    /// `org.matrix.msc3202.*`, `device_lists`, the key counts), so they are removed.
    pub fn body(self, mut body: Value) -> Value {
        if self == Self::ConduitFamily
            && let Value::Object(map) = &mut body
        {
            map.retain(|key, _| !is_extension_key(key));
        }
        body
    }

    /// Whether the server creates the appservice's bot (`sender_localpart`) itself (row "bot
    /// user"). The Conduit family does not: until the appservice registers it, everything done
    /// as the bot fails `403 M_FORBIDDEN "User does not exist"`.
    pub fn creates_bot(self) -> bool {
        self == Self::Synapse
    }

    /// What starts the retry of a failed transaction (row "failed transaction retry").
    pub fn retry_trigger(self) -> RetryTrigger {
        match self {
            Self::Synapse => RetryTrigger::Timer,
            Self::ConduitFamily => RetryTrigger::NextEvent,
        }
    }

    /// How long after its `failures`-th failure (from 1) a transaction may be retried, with
    /// `unit` standing for one second (`Duration::from_secs(1)` in production terms; tests
    /// use milliseconds). Synapse: 2ⁿ units, n capped at 9 (2, 4, 8, …, 512 s); the Conduit
    /// family: 30 · n² units (30 s, 2 min, 4.5 min, …).
    pub fn retry_backoff(self, failures: u32, unit: Duration) -> Duration {
        let n = failures.max(1);
        match self {
            Self::Synapse => unit.saturating_mul(1 << n.min(9)),
            Self::ConduitFamily => unit.saturating_mul(30).saturating_mul(n.saturating_mul(n)),
        }
    }

    /// Whether a transaction that failed `failures` times, the last time `since_failure` ago,
    /// is retried now; `event_arrived` says whether a new event for the appservice has just
    /// arrived. Synapse: when its timer ran out; the Conduit family: only on a new event, and
    /// only if the backoff has passed by then.
    pub fn retry_now(
        self,
        failures: u32,
        since_failure: Duration,
        unit: Duration,
        event_arrived: bool,
    ) -> bool {
        let due = since_failure >= self.retry_backoff(failures, unit);
        match self.retry_trigger() {
            RetryTrigger::Timer => due,
            RetryTrigger::NextEvent => due && event_arrived,
        }
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown profile name.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(clippy::exhaustive_structs)] // A newtype over the name, by design.
pub struct UnknownProfile(pub String);

impl std::fmt::Display for UnknownProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown homeserver profile {:?} (synapse or conduit)", self.0)
    }
}

impl std::error::Error for UnknownProfile {}

impl FromStr for Profile {
    type Err = UnknownProfile;

    /// `synapse` or `conduit` (also `conduit-family`), in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "synapse" => Ok(Self::Synapse),
            "conduit" | "conduit-family" | "conduitfamily" => Ok(Self::ConduitFamily),
            _ => Err(UnknownProfile(s.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Test code: a panic is the failure report.

    use serde_json::json;

    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn names_round_trip() {
        for profile in Profile::ALL {
            assert_eq!(profile.name().parse::<Profile>().unwrap(), profile);
            assert_eq!(profile.to_string(), profile.name());
        }
        assert_eq!("Conduit".parse::<Profile>().unwrap(), Profile::ConduitFamily);
        assert!("dendrite".parse::<Profile>().is_err());
    }

    #[test]
    fn synapse_transaction_ids_count() {
        assert_eq!(Profile::Synapse.txn_id(1, &["$a"]), "1");
        assert_eq!(Profile::Synapse.txn_id(42, &["$a"]), "42");
    }

    #[test]
    fn conduit_transaction_ids_are_base64_of_a_sha256_of_the_events() {
        let conduit = Profile::ConduitFamily;
        let id = conduit.txn_id(1, &["$a:example.org", "$b:example.org"]);
        assert_eq!(id.len(), 43, "{id}");
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{id}");
        // Stable for the same events (a retry), whatever the counter says.
        assert_eq!(conduit.txn_id(7, &["$a:example.org", "$b:example.org"]), id);
        // Different events, or the same in another order or split differently: another ID.
        assert_ne!(conduit.txn_id(1, &["$b:example.org", "$a:example.org"]), id);
        assert_ne!(conduit.txn_id(1, &["$a:example.org"]), id);
        assert_ne!(conduit.txn_id(1, &["$a:example.org$b:example.org"]), id);
        // SHA-256("") in URL-safe base64: the empty transaction.
        assert_eq!(conduit.txn_id::<&str>(1, &[]), "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU");
    }

    #[test]
    fn authentication() {
        let uri = "http://as/_matrix/app/v1/transactions/1";
        assert_eq!(Profile::Synapse.authenticated_uri(uri, "t"), uri);
        assert_eq!(
            Profile::ConduitFamily.authenticated_uri(uri, "a b"),
            format!("{uri}?access_token=a+b")
        );
        assert_eq!(
            Profile::ConduitFamily.authenticated_uri("/x?user_id=1", "t"),
            "/x?user_id=1&access_token=t"
        );
        let request = Profile::ConduitFamily
            .authorize(http::Request::builder().method(http::Method::PUT), uri, "t")
            .body(())
            .unwrap();
        assert_eq!(request.headers()["authorization"], "Bearer t");
        assert_eq!(request.uri().query(), Some("access_token=t"));
    }

    #[test]
    fn conduit_sends_no_ephemeral_to_device_or_device_lists() {
        let body = json!({
            "events": [], "ephemeral": [], "de.sorunome.msc2409.ephemeral": [],
            "de.sorunome.msc2409.to_device": [], "to_device": [],
            "org.matrix.msc3202.device_lists": {"changed": []}, "device_lists": {},
            "org.matrix.msc3202.device_one_time_keys_count": {}, "other": 1,
        });
        assert_eq!(Profile::Synapse.body(body.clone()), body);
        assert_eq!(Profile::ConduitFamily.body(body), json!({"events": [], "other": 1}));
    }

    #[test]
    fn the_bot() {
        assert!(Profile::Synapse.creates_bot());
        assert!(!Profile::ConduitFamily.creates_bot());
    }

    #[test]
    fn backoffs() {
        let s = Profile::Synapse;
        let delays: Vec<_> = (1..=10).map(|n| s.retry_backoff(n, MS).as_millis()).collect();
        assert_eq!(delays, [2, 4, 8, 16, 32, 64, 128, 256, 512, 512]);
        assert_eq!(s.retry_backoff(1, Duration::from_secs(1)), Duration::from_secs(2));
        let c = Profile::ConduitFamily;
        let delays: Vec<_> = (1..=4).map(|n| c.retry_backoff(n, MS).as_millis()).collect();
        assert_eq!(delays, [30, 120, 270, 480]);
        assert_eq!(c.retry_backoff(1, Duration::from_secs(1)), Duration::from_secs(30));
    }

    #[test]
    fn synapse_retries_on_its_timer() {
        let s = Profile::Synapse;
        assert_eq!(s.retry_trigger(), RetryTrigger::Timer);
        assert!(!s.retry_now(1, MS, MS, false));
        assert!(!s.retry_now(1, MS, MS, true), "a new event does not hurry the timer");
        assert!(s.retry_now(1, 2 * MS, MS, false));
        assert!(!s.retry_now(2, 3 * MS, MS, false));
        assert!(s.retry_now(2, 4 * MS, MS, false));
    }

    #[test]
    fn conduit_retries_only_on_the_next_event_after_the_backoff() {
        let c = Profile::ConduitFamily;
        assert_eq!(c.retry_trigger(), RetryTrigger::NextEvent);
        assert!(!c.retry_now(1, Duration::from_secs(3600), MS, false), "no event, no retry");
        assert!(!c.retry_now(1, 29 * MS, MS, true), "an event before the backoff");
        assert!(c.retry_now(1, 30 * MS, MS, true));
        assert!(!c.retry_now(2, 100 * MS, MS, true));
        assert!(c.retry_now(2, 120 * MS, MS, true));
    }
}
