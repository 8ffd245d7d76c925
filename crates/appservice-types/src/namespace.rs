//! [`NamespaceMatcher`]: one compiled matcher per namespace kind, with Synapse's semantics.
//!
//! The spec calls a namespace regex "a POSIX regular expression" and says nothing about
//! anchoring. Synapse, the reference homeserver, compiles it with Python's `re` and tests it
//! with `re.match`: the regex must match at the **start** of the full ID, and may stop anywhere
//! (`@_irc_.*` matches `@_irc_bob:example.org`; `_irc_` matches nothing, because IDs start with
//! a sigil). We do the same, so the appservice and its homeserver agree on what is theirs.

use regex_automata::{Anchored, Input, MatchKind, PatternSet, meta};

use crate::registration::Namespace;

/// Size limit for one compiled matcher. Generous: namespaces are few and small.
const SIZE_LIMIT: usize = 32 * (1 << 20);

/// A namespace regex that failed to compile.
pub type RegexError = meta::BuildError;

/// How an ID relates to a namespace kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(clippy::exhaustive_enums)] // These are all the cases there can be.
pub enum Membership {
    /// No namespace matches.
    Outside,
    /// Only non-exclusive namespaces match.
    Shared,
    /// At least one exclusive namespace matches.
    Exclusive,
}

/// A compiled list of namespaces of one kind (users, aliases or rooms).
///
/// ```
/// use appservice_types::{Namespace, NamespaceMatcher, namespace::Membership};
///
/// let users = NamespaceMatcher::new(&[
///     Namespace::new(true, r"@_irc_.*:example\.org"),
///     Namespace::new(false, r"@bot:example\.org"),
/// ])
/// .unwrap();
/// assert_eq!(users.membership("@_irc_alice:example.org"), Membership::Exclusive);
/// assert_eq!(users.membership("@bot:example.org"), Membership::Shared);
/// // Matched at the start, like Synapse's `re.match`: not anywhere in the ID.
/// assert_eq!(users.membership("@x_irc_alice:example.org"), Membership::Outside);
/// ```
///
/// The patterns are searched with an *anchored* search (they are not rewritten), so
/// every pattern means exactly what it means to Synapse, `(?x)` comments and all.
#[derive(Clone, Debug)]
pub struct NamespaceMatcher {
    all: meta::Regex,
    exclusive: meta::Regex,
    namespaces: Vec<Namespace>,
}

/// A namespace regex that does not compile.
#[derive(Clone, Debug, thiserror::Error)]
#[error("namespace {index}: invalid regex: {source}")]
#[non_exhaustive]
pub struct InvalidNamespaceRegex {
    /// Position of the namespace in its list.
    pub index: usize,
    /// What the regex engine said.
    #[source]
    pub source: Box<RegexError>,
}

impl NamespaceMatcher {
    /// Compiles the namespaces of one kind.
    pub fn new(namespaces: &[Namespace]) -> Result<Self, InvalidNamespaceRegex> {
        // Compile each pattern alone first, so an error names the namespace it comes from.
        for (index, ns) in namespaces.iter().enumerate() {
            compile_one(&ns.regex).map_err(|source| InvalidNamespaceRegex { index, source })?;
        }
        let build = |patterns: Vec<&str>| {
            meta::Builder::new()
                .configure(config().match_kind(MatchKind::All))
                .build_many(&patterns)
                .map_err(|source| InvalidNamespaceRegex { index: 0, source: Box::new(source) })
        };
        let all = build(namespaces.iter().map(|n| n.regex.as_str()).collect())?;
        let exclusive =
            build(namespaces.iter().filter(|n| n.exclusive).map(|n| n.regex.as_str()).collect())?;
        Ok(Self { all, exclusive, namespaces: namespaces.to_vec() })
    }

    /// Whether any namespace matches `id`.
    pub fn is_match(&self, id: &str) -> bool {
        self.all.is_match(anchored(id))
    }

    /// Whether an exclusive namespace matches `id`.
    pub fn is_exclusive_match(&self, id: &str) -> bool {
        self.exclusive.is_match(anchored(id))
    }

    /// Outside, shared or exclusive.
    pub fn membership(&self, id: &str) -> Membership {
        if self.is_exclusive_match(id) {
            Membership::Exclusive
        } else if self.is_match(id) {
            Membership::Shared
        } else {
            Membership::Outside
        }
    }

    /// The namespaces that match `id`, in registration order.
    pub fn matching(&self, id: &str) -> impl Iterator<Item = &Namespace> + '_ {
        let mut set = PatternSet::new(self.all.pattern_len());
        self.all.which_overlapping_matches(&anchored(id), &mut set);
        set.iter().filter_map(|p| self.namespaces.get(p.as_usize())).collect::<Vec<_>>().into_iter()
    }

    /// The namespaces this matcher was built from.
    pub fn namespaces(&self) -> &[Namespace] {
        &self.namespaces
    }

    /// Whether there are no namespaces (nothing matches).
    pub fn is_empty(&self) -> bool {
        self.namespaces.is_empty()
    }
}

fn config() -> meta::Config {
    meta::Config::new().nfa_size_limit(Some(SIZE_LIMIT))
}

/// An anchored search: the match must start at the first byte (Python's `re.match`).
fn anchored(id: &str) -> Input<'_> {
    Input::new(id).anchored(Anchored::Yes)
}

/// One compiled namespace regex; match it with [`matches_at_start`].
pub(crate) fn compile_one(regex: &str) -> Result<meta::Regex, Box<RegexError>> {
    meta::Builder::new().configure(config()).build(regex).map_err(Box::new)
}

/// Whether `regex` (from [`compile_one`]) matches at the start of `id`.
pub(crate) fn matches_at_start(regex: &meta::Regex, id: &str) -> bool {
    regex.is_match(anchored(id))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn m(patterns: &[(&str, bool)]) -> NamespaceMatcher {
        let ns: Vec<_> = patterns.iter().map(|(r, e)| Namespace::new(*e, *r)).collect();
        NamespaceMatcher::new(&ns).unwrap()
    }

    #[test]
    fn anchored_at_start_only() {
        let users = m(&[("@_irc_.*", true)]);
        assert!(users.is_match("@_irc_bob:example.org"));
        assert!(!users.is_match("@bob_irc_:example.org"));
        // Not anchored at the end: a prefix match is a match, as in Python's re.match.
        let exact = m(&[(r"@bot:example\.org", false)]);
        assert!(exact.is_match("@bot:example.org.evil.com"));
        let anchored = m(&[(r"^@bot:example\.org$", false)]);
        assert!(!anchored.is_match("@bot:example.org.evil.com"));
    }

    #[test]
    fn alternation_is_anchored_as_a_whole() {
        let users = m(&[("@a.*|@b.*", false)]);
        assert!(users.is_match("@bob:x"));
        assert!(!users.is_match("@x@b:x"));
    }

    #[test]
    fn verbose_mode_comment_does_not_swallow_the_group() {
        let users = m(&[("(?x) @_irc_ .* # the irc users", false)]);
        assert!(users.is_match("@_irc_bob:example.org"));
        assert!(!users.is_match("x@_irc_bob:example.org"));
    }

    #[test]
    fn exclusivity() {
        let users = m(&[("@_a_.*", true), ("@_.*", false)]);
        assert_eq!(users.membership("@_a_x:s"), Membership::Exclusive);
        assert_eq!(users.membership("@_b_x:s"), Membership::Shared);
        assert_eq!(users.membership("@c:s"), Membership::Outside);
        assert_eq!(users.matching("@_a_x:s").count(), 2);
    }

    #[test]
    fn invalid_regex_names_its_index() {
        let err = NamespaceMatcher::new(&[Namespace::new(true, "ok"), Namespace::new(true, "(")])
            .unwrap_err();
        assert_eq!(err.index, 1);
    }

    #[test]
    fn empty_matches_nothing() {
        let none = m(&[]);
        assert!(!none.is_match("@a:b"));
        assert!(none.is_empty());
    }

    /// Reference implementation of Python's `re.match` on a Rust regex: a leftmost-first search
    /// finds the match that starts earliest, so "some match starts at 0" iff the leftmost one does.
    fn reference_match(pattern: &str, id: &str) -> bool {
        regex::Regex::new(pattern).unwrap().find(id).is_some_and(|m| m.start() == 0)
    }

    fn pattern() -> impl Strategy<Value = String> {
        // Small patterns over the characters of Matrix IDs and common regex syntax.
        let atom = prop_oneof![
            Just("@".to_owned()),
            Just("_".to_owned()),
            Just("a".to_owned()),
            Just("b".to_owned()),
            Just(":".to_owned()),
            Just(r"\.".to_owned()),
            Just(".".to_owned()),
            Just(".*".to_owned()),
            Just(".+".to_owned()),
            Just("[ab]".to_owned()),
            Just("$".to_owned()),
            Just("^".to_owned()),
            Just("(a|_)".to_owned()),
            Just("b?".to_owned()),
        ];
        prop::collection::vec(atom, 0..7).prop_map(|v| v.concat())
    }

    fn id() -> impl Strategy<Value = String> {
        "[@#!]?[ab_:.x]{0,8}"
    }

    proptest! {
        #[test]
        fn matcher_agrees_with_reference(
            patterns in prop::collection::vec((pattern(), any::<bool>()), 1..4),
            ids in prop::collection::vec(id(), 1..8),
        ) {
            let ns: Vec<_> = patterns.iter().map(|(r, e)| Namespace::new(*e, r.clone())).collect();
            let matcher = NamespaceMatcher::new(&ns).unwrap();
            for id in &ids {
                let expected_any = patterns.iter().any(|(p, _)| reference_match(p, id));
                let expected_excl = patterns.iter().any(|(p, e)| *e && reference_match(p, id));
                prop_assert_eq!(matcher.is_match(id), expected_any, "{:?} on {:?}", patterns, id);
                prop_assert_eq!(matcher.is_exclusive_match(id), expected_excl);
            }
        }

        #[test]
        fn arbitrary_patterns_never_panic(p in ".{0,40}", id in ".{0,40}") {
            if let Ok(matcher) = NamespaceMatcher::new(&[Namespace::new(false, p)]) {
                let _ = matcher.membership(&id);
            }
        }
    }
}
