//! Content checks of a [`Registration`]: validation errors and lint warnings, all at once.
//!
//! [`Registration::check`] computes every [`Diagnostic`] (rust-analyzer's `(T, Vec<Error>)`
//! style, for tools); [`ValidatedRegistration`](crate::ValidatedRegistration) is the parse-don't-validate form the rest of the
//! stack takes, and can only be built from a registration without errors.

mod namespaces;
mod profiles;

use std::collections::BTreeSet;

use self::namespaces::{check_namespaces, infer_server_name};
use crate::{
    Code, Diagnostic, HomeserverProfile, Registration, registration::KNOWN_TOP_LEVEL_KEYS,
};

/// Tokens shorter than this get a [`Code::WeakToken`] warning.
pub const MIN_TOKEN_LEN: usize = 32;
/// Tokens with an estimated entropy below this many bits get a [`Code::WeakToken`] warning.
pub const MIN_TOKEN_BITS: f64 = 128.0;

/// Tokens published in the spec's example registration: anyone can read them.
const PUBLISHED_TOKENS: &[&str] = &[
    "30c05ae90a248a4188e620216fa72e349803310ec83e2a77b34fe90be6081f46",
    "312df522183efd404ec1cd22d2ffa4bbc76a8c1ccf541dd692eef281356bb74e",
    "YourApplicationServiceTokenHere",
];

/// Options for [`Registration::check`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CheckOptions {
    /// The homeserver's server name. Used to check that the bot is covered by an exclusive user
    /// namespace and to probe for over-broad regexes. When `None`, it is inferred from the user
    /// namespaces (the literal after `:` in `@_irc_.*:example\.org`) where possible; when it
    /// cannot be inferred, the bot-coverage check is not made.
    pub server_name: Option<String>,
    /// The homeservers the registration must mean the same on (default: all of
    /// [`HomeserverProfile::ALL`]). Each namespace regex is compared between the first of them
    /// and each other one; a [`Code::HomeserverDifference`] warning names an ID they disagree
    /// on. With one profile, nothing is compared.
    pub homeserver_profiles: Vec<HomeserverProfile>,
}

impl Default for CheckOptions {
    fn default() -> Self {
        Self { server_name: None, homeserver_profiles: HomeserverProfile::ALL.to_vec() }
    }
}

impl CheckOptions {
    /// Default options: the server name is inferred, every homeserver profile is compared.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the homeserver profiles to compare (sorted, duplicates dropped).
    #[must_use]
    pub fn homeserver_profiles(
        mut self,
        profiles: impl IntoIterator<Item = HomeserverProfile>,
    ) -> Self {
        let mut profiles: Vec<HomeserverProfile> = profiles.into_iter().collect();
        profiles.sort_unstable();
        profiles.dedup();
        self.homeserver_profiles = profiles;
        self
    }

    /// Sets the server name.
    #[must_use]
    pub fn server_name(mut self, server_name: impl Into<String>) -> Self {
        self.server_name = Some(server_name.into());
        self
    }
}

impl Registration {
    /// Every problem of this registration: errors (it must not be used) and warnings (it works
    /// but is risky), each with the path to the field. Never includes a token's value.
    pub fn check(&self, options: &CheckOptions) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        check_id(self, &mut out);
        check_url(self, &mut out);
        check_tokens(self, &mut out);
        check_localpart(self, &mut out);
        let server_name = options.server_name.clone().or_else(|| infer_server_name(self));
        check_namespaces(self, server_name.as_deref(), &options.homeserver_profiles, &mut out);
        check_protocols(self, &mut out);
        if self.rate_limited.is_none() {
            out.push(Diagnostic::warning(
                Code::RateLimitedUnset,
                "rate_limited",
                "not set: the spec gives no default and Synapse assumes true; write it explicitly",
            ));
        }
        check_unknown_keys(self, &mut out);
        out
    }

    /// Only the errors of [`check`](Self::check).
    pub fn errors(&self) -> Vec<Diagnostic> {
        self.check(&CheckOptions::default()).into_iter().filter(Diagnostic::is_error).collect()
    }
}

fn check_id(r: &Registration, out: &mut Vec<Diagnostic>) {
    if r.id.trim().is_empty() {
        out.push(Diagnostic::error(Code::Empty, "id", "must not be empty"));
    } else if r.id.contains('|') {
        out.push(Diagnostic::error(
            Code::InvalidId,
            "id",
            "must not contain `|` (Synapse refuses it)",
        ));
    } else if r.id.chars().any(char::is_control) {
        out.push(Diagnostic::error(Code::InvalidId, "id", "must not contain control characters"));
    }
}

fn check_url(r: &Registration, out: &mut Vec<Diagnostic>) {
    let Some(raw) = &r.url else { return };
    let err = |message: String| Diagnostic::error(Code::InvalidUrl, "url", message);
    if raw.trim().is_empty() {
        out.push(err(
            "is empty: write `url: null` for an appservice that receives no traffic".to_owned()
        ));
        return;
    }
    match url::Url::parse(raw) {
        Err(e) => out.push(err(format!(
            "is not a URL ({e}); expected http(s)://host[:port][/path] or null"
        ))),
        Ok(u) => {
            if !matches!(u.scheme(), "http" | "https") {
                out.push(err(format!(
                    "has scheme `{}`; the homeserver only speaks http and https",
                    u.scheme()
                )));
            } else if u.host_str().is_none_or(str::is_empty) {
                out.push(err("has no host".to_owned()));
            }
            if u.query().is_some() || u.fragment().is_some() {
                out.push(err(
                    "has a query or fragment; the homeserver appends `/_matrix/app/v1/…` to the URL, \
                     so these would end up in the wrong place"
                        .to_owned(),
                ));
            }
            if !u.username().is_empty() || u.password().is_some() {
                out.push(Diagnostic::warning(
                    Code::InvalidUrl,
                    "url",
                    "contains credentials; homeservers authenticate with hs_token, and the URL may be logged",
                ));
            }
        }
    }
}

fn check_tokens(r: &Registration, out: &mut Vec<Diagnostic>) {
    for (path, token) in [("as_token", &r.as_token), ("hs_token", &r.hs_token)] {
        let value = token.expose();
        if value.is_empty() {
            out.push(Diagnostic::error(Code::Empty, path, "must not be empty"));
            continue;
        }
        if value.bytes().any(|b| !(0x21..=0x7e).contains(&b)) {
            out.push(Diagnostic::error(
                Code::InvalidToken,
                path,
                "contains whitespace, control or non-ASCII characters; it cannot be sent in an \
                 `Authorization: Bearer` header",
            ));
            continue;
        }
        if PUBLISHED_TOKENS.contains(&value) {
            out.push(Diagnostic::warning(
                Code::WeakToken,
                path,
                "is the example token from the Matrix spec; generate a random one \
                 (`cargo xtask registration generate`)",
            ));
            continue;
        }
        let bits = entropy_bits(value);
        if value.len() < MIN_TOKEN_LEN || bits < MIN_TOKEN_BITS {
            out.push(Diagnostic::warning(
                Code::WeakToken,
                path,
                format!(
                    "is weak ({} characters, about {bits:.0} bits of entropy; want at least \
                     {MIN_TOKEN_LEN} characters and {MIN_TOKEN_BITS:.0} bits); generate a random one",
                    value.len()
                ),
            ));
        }
    }
    if !r.as_token.is_empty() && r.as_token == r.hs_token {
        out.push(Diagnostic::error(
            Code::TokensEqual,
            "hs_token",
            "is equal to as_token; whoever learns one could impersonate both sides",
        ));
    }
}

/// An upper estimate of a token's entropy: length × Shannon entropy of its characters.
pub(crate) fn entropy_bits(token: &str) -> f64 {
    let mut counts = [0usize; 128];
    let mut n = 0usize;
    for b in token.bytes() {
        counts[usize::from(b & 0x7f)] += 1;
        n += 1;
    }
    if n == 0 {
        return 0.0;
    }
    #[allow(clippy::cast_precision_loss)] // Token lengths are far below 2^52.
    let len = n as f64;
    let per_char: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            #[allow(clippy::cast_precision_loss)]
            let p = c as f64 / len;
            -p * p.log2()
        })
        .sum();
    per_char * len
}

fn check_localpart(r: &Registration, out: &mut Vec<Diagnostic>) {
    let lp = &r.sender_localpart;
    if lp.is_empty() {
        out.push(Diagnostic::error(Code::Empty, "sender_localpart", "must not be empty"));
        return;
    }
    if lp.starts_with('@') || lp.contains(':') {
        out.push(Diagnostic::error(
            Code::InvalidLocalpart,
            "sender_localpart",
            "must be the localpart only (`_irc_bot`, not `@_irc_bot:example.org`)",
        ));
        return;
    }
    match ruma_common::user_id::localpart_is_fully_conforming(lp) {
        Err(e) => out.push(Diagnostic::error(
            Code::InvalidLocalpart,
            "sender_localpart",
            format!("is not a valid user ID localpart: {e}"),
        )),
        Ok(false) => out.push(Diagnostic::warning(
            Code::HistoricalLocalpart,
            "sender_localpart",
            "uses characters only allowed in historical user IDs; new IDs may only use a-z 0-9 . _ = - / +",
        )),
        Ok(true) => {}
    }
    // 255 bytes for the whole `@localpart:server`; `@`, `:` and a one-letter server need 3.
    if lp.len() > 252 {
        out.push(Diagnostic::error(
            Code::InvalidLocalpart,
            "sender_localpart",
            "is too long: a user ID has at most 255 bytes",
        ));
    }
}

fn check_protocols(r: &Registration, out: &mut Vec<Diagnostic>) {
    let Some(protocols) = &r.protocols else { return };
    let mut seen = BTreeSet::new();
    for (i, p) in protocols.iter().enumerate() {
        let path = format!("protocols[{i}]");
        if p.trim().is_empty() {
            out.push(Diagnostic::error(Code::InvalidProtocol, path, "must not be empty"));
        } else if !seen.insert(p.as_str()) {
            out.push(Diagnostic::warning(
                Code::InvalidProtocol,
                path,
                format!("`{p}` is listed twice"),
            ));
        }
    }
}

fn check_unknown_keys(r: &Registration, out: &mut Vec<Diagnostic>) {
    for key in r.extra.keys() {
        // Namespaced keys (`io.element.msc4512.proxy_url`) are extensions, not typos.
        if key.contains('.') || KNOWN_TOP_LEVEL_KEYS.contains(&key.as_str()) {
            continue;
        }
        let suggestion = KNOWN_TOP_LEVEL_KEYS
            .iter()
            .filter(|k| !k.contains('.'))
            .map(|k| (edit_distance(key, k), *k))
            .min()
            .filter(|(d, _)| *d <= 2)
            .map(|(_, k)| format!("; did you mean `{k}`?"))
            .unwrap_or_default();
        out.push(Diagnostic::warning(
            Code::UnknownKey,
            key.as_str(),
            format!("unknown key, ignored by homeservers{suggestion}"),
        ));
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy() {
        assert!(entropy_bits("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa") < 1.0);
        assert!(entropy_bits("Zq8vN3kLp0RtY7wX2mB5cH9jD4fG6sA1eU0iO8yT3rW5qE7") > 200.0);
    }

    #[test]
    fn typo_suggestions() {
        assert_eq!(edit_distance("recieve_ephemeral", "receive_ephemeral"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
