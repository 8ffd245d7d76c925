//! The values of the black-box cases' placeholders: `{txn}`/`{txn2}` in each homeserver
//! profile's format, and sample IDs inside and outside a registration's namespaces.

use std::collections::BTreeMap;

use appservice_fake_hs::Profile;

/// `{txn}` and `{txn2}` of the `case`-th case of run `run`, unique per run, case and profile,
/// in the profile's format: Synapse's are readable (`conformance-<run>-<case>`; a real Synapse
/// counts, but a counter would repeat across runs against one appservice's store), the Conduit
/// family's are 43-character URL-safe base64 (its format, over made-up event IDs).
pub(super) fn txn_ids(profile: Profile, run: &str, case: usize) -> (String, String) {
    match profile {
        Profile::Synapse => {
            (format!("conformance-{run}-{case}"), format!("conformance-{run}-{case}-b"))
        }
        Profile::ConduitFamily => {
            let id =
                |which: &str| profile.txn_id(0, &[format!("$conformance-{run}-{case}-{which}")]);
            (id("a"), id("b"))
        }
    }
}

/// Sample IDs for the placeholders, from a registration's namespaces.
pub(crate) fn sample_ids(
    registration: &appservice_types::ValidatedRegistration,
    server_name: &str,
) -> BTreeMap<&'static str, String> {
    let mut out = BTreeMap::new();
    let pick = |kind: appservice_types::NamespaceKind, sigil: char| -> Option<String> {
        let matcher = registration.namespace(kind);
        matcher.namespaces().iter().filter(|n| n.exclusive).chain(matcher.namespaces()).find_map(
            |ns| {
                let candidate = sample_from_regex(&ns.regex, sigil, server_name)?;
                matcher.is_match(&candidate).then_some(candidate)
            },
        )
    };
    if let Some(u) = pick(appservice_types::NamespaceKind::Users, '@') {
        out.insert("user_in_ns", u);
    }
    if let Some(a) = pick(appservice_types::NamespaceKind::Aliases, '#') {
        out.insert("alias_in_ns", a);
    }
    let outside_user = format!("@conformance-outsider:{server_name}");
    if !registration.users().is_match(&outside_user) {
        out.insert("user_outside_ns", outside_user);
    }
    let outside_alias = format!("#conformance-outsider:{server_name}");
    if !registration.aliases().is_match(&outside_alias) {
        out.insert("alias_outside_ns", outside_alias);
    }
    out
}

/// A plausible ID matching a simple namespace regex (`^@_irc_.*:example\.org$` →
/// `@_irc_conformance:example.org`); checked by the caller.
fn sample_from_regex(regex: &str, sigil: char, server_name: &str) -> Option<String> {
    // A leading `(?i)` (as `registration generate --prefix` writes for aliases) does not change
    // which IDs of ours match: the sample is lower-case either way.
    let regex = regex.strip_prefix("(?i)").unwrap_or(regex);
    let mut s = regex.trim_start_matches('^').trim_end_matches('$').to_owned();
    for wildcard in [".*", ".+", "[^:]*", "[^:]+", "[a-z0-9]+", "[a-z0-9_]+", "\\d+", "[0-9]+"] {
        s = s.replace(wildcard, "conformance");
    }
    s = s.replace("\\.", ".").replace("\\-", "-").replace("\\@", "@").replace("\\#", "#");
    if !s.starts_with(sigil) || s.contains(['\\', '(', ')', '[', ']', '|', '*', '+', '?', '{']) {
        return None;
    }
    if !s.contains(':') {
        s = format!("{s}:{server_name}");
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_placeholders_follow_the_profile() {
        let (a, b) = txn_ids(Profile::Synapse, "run1", 3);
        assert_eq!((a.as_str(), b.as_str()), ("conformance-run1-3", "conformance-run1-3-b"));
        let (a, b) = txn_ids(Profile::ConduitFamily, "run1", 3);
        assert_ne!(a, b);
        assert_ne!(a, txn_ids(Profile::ConduitFamily, "run2", 3).0);
        assert_ne!(a, txn_ids(Profile::ConduitFamily, "run1", 4).0);
        for id in [a, b] {
            assert_eq!(id.len(), 43);
            assert!(id.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        }
    }

    #[test]
    fn samples() {
        assert_eq!(
            sample_from_regex(r"^@_irc_.*:example\.org$", '@', "x").as_deref(),
            Some("@_irc_conformance:example.org")
        );
        assert_eq!(
            sample_from_regex("@_echo_.*", '@', "localhost").as_deref(),
            Some("@_echo_conformance:localhost")
        );
        assert_eq!(sample_from_regex("@(a|b)", '@', "x"), None);
        // What `registration generate --prefix` writes for aliases (a leading case flag).
        assert_eq!(
            sample_from_regex(r"(?i)^#_echo_.*:example\.org$", '#', "x").as_deref(),
            Some("#_echo_conformance:example.org")
        );
    }
}
