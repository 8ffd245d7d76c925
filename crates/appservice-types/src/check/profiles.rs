//! The homeserver-profile check of [`Registration::check`](crate::Registration::check): does a
//! namespace regex match the same IDs on every [`HomeserverProfile`]? If not, the shortest ID
//! on which two profiles disagree.
//!
//! Exact, not sampled: each profile's reading of the pattern becomes a DFA, and a breadth-first
//! search walks the three automata together (profile A, profile B, and the grammar of valid IDs
//! of the namespace's kind) until it reaches a valid ID that one profile matches and the other
//! does not. Both readings are closed under extension (once an ID has a matching prefix, or
//! contains a match, every longer ID does too), so a profile that has matched stays matched and
//! the search can stop following a pair of profiles that agree for good.
//!
//! The witnesses are ASCII. User localparts follow the spec's current grammar (`a-z 0-9 . _ =
//! - / +`: homeservers create no other), alias and room localparts any printable character but
//! `:`, server names lower-case DNS names with an optional port.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::OnceLock,
};

use regex_automata::{
    Anchored,
    dfa::{Automaton, StartKind, dense},
    util::{primitives::StateID, start, syntax},
};

use crate::{Code, Diagnostic, NamespaceKind, homeserver::HomeserverProfile};

/// The most product states one comparison explores before it gives up.
const MAX_STATES: usize = 200_000;
/// The size limit of one DFA.
const DFA_SIZE_LIMIT: usize = 8 << 20;
/// The order bytes are tried in: readable witnesses first.
const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789_.-=/+:ABCDEFGHIJKLMNOPQRSTUVWXYZ\
@#!$%&'()*,;<>?[\\]^`{|}~\"";

/// Compares `regex` under every pair (first selected profile, another selected profile) and
/// warns, with a concrete ID, where they disagree.
pub(super) fn check_profiles(
    kind: NamespaceKind,
    regex: &str,
    profiles: &[HomeserverProfile],
    path: &str,
    out: &mut Vec<Diagnostic>,
) {
    let Some((&reference, others)) = profiles.split_first() else { return };
    for &other in others {
        let (a, b) = (Semantics::of(reference, kind), Semantics::of(other, kind));
        match difference(kind, regex, a, b) {
            Comparison::Same => {}
            Comparison::Differs { id, a_matches } => {
                let (yes, no) = if a_matches { (reference, other) } else { (other, reference) };
                // A cause is one that alone (the other made equal) still makes a difference.
                let differs_with = |t: Semantics| difference(kind, regex, a, t) != Comparison::Same;
                let mut fixes = Vec::new();
                if a.anchored != b.anchored && differs_with(Semantics { fold: a.fold, ..b }) {
                    fixes.push("anchor it at both ends (`^…$`) with the sigil first");
                }
                if a.fold != b.fold && differs_with(Semantics { anchored: a.anchored, ..b }) {
                    fixes.push(
                        "start it with `(?i)` so that every homeserver ignores case, or leave \
                         letters out where case matters",
                    );
                }
                let fix = fixes.join("; ");
                out.push(Diagnostic::warning(
                    Code::HomeserverDifference,
                    path,
                    format!(
                        "means different IDs on {yes} and {no}: `{id}` matches on {yes} ({}) but \
                         not on {no} ({}); {fix}",
                        yes.describe(kind),
                        no.describe(kind),
                    ),
                ));
            }
            Comparison::Unknown(why) => out.push(Diagnostic::warning(
                Code::HomeserverDifference,
                path,
                format!("could not be compared between {reference} and {other}: {why}"),
            )),
        }
    }
}

/// How a profile applies a pattern to IDs of one kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Semantics {
    /// Matched at the start of the ID (otherwise searched anywhere).
    anchored: bool,
    /// Letters match regardless of case.
    fold: bool,
}

impl Semantics {
    fn of(profile: HomeserverProfile, kind: NamespaceKind) -> Self {
        Self { anchored: profile.anchors_at_start(), fold: profile.folds_case(kind) }
    }
}

/// The outcome of comparing one pattern under two profiles.
#[derive(Debug, PartialEq, Eq)]
enum Comparison {
    /// Both match exactly the same valid IDs.
    Same,
    /// `id` is matched under the first semantics only (`a_matches`) or the second only.
    Differs { id: String, a_matches: bool },
    /// The pattern is beyond what the comparison can decide (e.g. Unicode word boundaries).
    Unknown(String),
}

/// One profile's reading of the pattern, walked byte by byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Track {
    /// No match yet; the DFA is in this state.
    Live(StateID),
    /// A match was seen: every extension matches too.
    Matched,
    /// No extension can match.
    Dead,
}

struct Reading {
    dfa: dense::DFA<Vec<u32>>,
    start: StateID,
}

impl Reading {
    /// The witnesses are ASCII, and on ASCII input a pattern means the same with Unicode mode
    /// off (`.`, `\w`, case folding…), so the automaton is built for bytes first: far smaller.
    /// Patterns that need Unicode mode (`\p{L}`) are built with it.
    fn new(pattern: &str, anchored: bool, fold_case: bool) -> Result<Self, String> {
        let syntax = syntax::Config::new().case_insensitive(fold_case);
        let dfa = Self::build(pattern, syntax.unicode(false).utf8(false))
            .or_else(|_| Self::build(pattern, syntax))?;
        let anchored = if anchored { Anchored::Yes } else { Anchored::No };
        let start =
            dfa.start_state(&start::Config::new().anchored(anchored)).map_err(|e| e.to_string())?;
        Ok(Self { dfa, start })
    }

    fn build(pattern: &str, syntax: syntax::Config) -> Result<dense::DFA<Vec<u32>>, String> {
        dense::Builder::new()
            .configure(
                dense::Config::new()
                    .start_kind(StartKind::Both)
                    .dfa_size_limit(Some(DFA_SIZE_LIMIT))
                    .determinize_size_limit(Some(DFA_SIZE_LIMIT)),
            )
            .syntax(syntax)
            .build(pattern)
            .map_err(|e| e.to_string())
    }

    fn begin(&self) -> Track {
        self.classify(self.start)
    }

    fn classify(&self, state: StateID) -> Track {
        if self.dfa.is_match_state(state) {
            Track::Matched
        } else if self.dfa.is_dead_state(state) || self.dfa.is_quit_state(state) {
            Track::Dead
        } else {
            Track::Live(state)
        }
    }

    fn step(&self, track: Track, byte: u8) -> Track {
        match track {
            Track::Live(state) => self.classify(self.dfa.next_state(state, byte)),
            done => done,
        }
    }

    /// Whether the input read so far, ended here, is matched.
    fn accepts_at_end(&self, track: Track) -> bool {
        match track {
            Track::Live(state) => self.dfa.is_match_state(self.dfa.next_eoi_state(state)),
            Track::Matched => true,
            Track::Dead => false,
        }
    }
}

/// The valid IDs of `kind`, as an anchored full-match pattern over ASCII.
fn id_grammar(kind: NamespaceKind) -> &'static str {
    match kind {
        NamespaceKind::Users => r"^@[a-z0-9._=/+\-]+:[a-z0-9.\-]+(?::[0-9]{1,5})?$",
        NamespaceKind::Aliases => r"^#[\x21-\x39\x3b-\x7e]+:[a-z0-9.\-]+(?::[0-9]{1,5})?$",
        NamespaceKind::Rooms => r"^![\x21-\x39\x3b-\x7e]+(?::[a-z0-9.\-]+(?::[0-9]{1,5})?)?$",
    }
}

/// The grammar automaton of `kind`, built once per process.
fn grammar(kind: NamespaceKind) -> Option<&'static Reading> {
    static GRAMMARS: [OnceLock<Option<Reading>>; 3] =
        [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let index = NamespaceKind::ALL.iter().position(|k| *k == kind)?;
    GRAMMARS[index].get_or_init(|| Reading::new(id_grammar(kind), true, false).ok()).as_ref()
}

fn difference(kind: NamespaceKind, regex: &str, a: Semantics, b: Semantics) -> Comparison {
    if a == b {
        return Comparison::Same;
    }
    let build = |s: Semantics| Reading::new(regex, s.anchored, s.fold);
    let (ra, rb) = match (build(a), build(b)) {
        (Ok(ra), Ok(rb)) => (ra, rb),
        (Err(e), _) | (_, Err(e)) => return Comparison::Unknown(e),
    };
    let Some(grammar) = grammar(kind) else {
        return Comparison::Unknown(format!("the grammar of {} IDs did not build", kind.key()));
    };
    search(&ra, &rb, grammar).map_or_else(Comparison::Unknown, |found| match found {
        None => Comparison::Same,
        Some((id, a_matches)) => Comparison::Differs { id, a_matches },
    })
}

type Node = (Track, Track, StateID);

/// Breadth-first over the product; `Some((id, whether a matches it))` for the shortest
/// disagreement.
fn search(a: &Reading, b: &Reading, grammar: &Reading) -> Result<Option<(String, bool)>, String> {
    let Track::Live(g0) = grammar.begin() else { return Ok(None) };
    let first: Node = (a.begin(), b.begin(), g0);
    // Each node's parent and the byte that led to it, to rebuild the witness.
    let mut seen: BTreeMap<Node, Option<(Node, u8)>> = BTreeMap::from([(first, None)]);
    let mut queue = VecDeque::from([first]);
    while let Some(node @ (ta, tb, g)) = queue.pop_front() {
        let (in_a, in_b) = (a.accepts_at_end(ta), b.accepts_at_end(tb));
        if in_a != in_b && grammar.accepts_at_end(Track::Live(g)) {
            return Ok(Some((witness(&seen, node), in_a)));
        }
        for &byte in ALPHABET {
            let Track::Live(g2) = grammar.step(Track::Live(g), byte) else { continue };
            let (ta2, tb2) = (a.step(ta, byte), b.step(tb, byte));
            // Both settled the same way: no extension can tell them apart.
            if ta2 == tb2 && matches!(ta2, Track::Matched | Track::Dead) {
                continue;
            }
            let next = (ta2, tb2, g2);
            if seen.contains_key(&next) {
                continue;
            }
            if seen.len() >= MAX_STATES {
                return Err(format!("the pattern needs more than {MAX_STATES} states to compare"));
            }
            seen.insert(next, Some((node, byte)));
            queue.push_back(next);
        }
    }
    Ok(None)
}

fn witness(seen: &BTreeMap<Node, Option<(Node, u8)>>, mut node: Node) -> String {
    let mut bytes = Vec::new();
    while let Some(Some((parent, byte))) = seen.get(&node) {
        bytes.push(*byte);
        node = *parent;
    }
    bytes.reverse();
    // Every byte comes from the ASCII alphabet.
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use HomeserverProfile::{Conduit, Synapse, Tuwunel};
    use NamespaceKind::{Aliases, Rooms, Users};

    fn differs(
        kind: NamespaceKind,
        regex: &str,
        a: HomeserverProfile,
        b: HomeserverProfile,
    ) -> Option<(String, HomeserverProfile)> {
        match difference(kind, regex, Semantics::of(a, kind), Semantics::of(b, kind)) {
            Comparison::Same => None,
            Comparison::Differs { id, a_matches } => Some((id, if a_matches { a } else { b })),
            Comparison::Unknown(why) => panic!("{regex}: {why}"),
        }
    }

    #[test]
    fn anchored_lowercase_patterns_mean_the_same_everywhere() {
        for regex in [r"^@_echo_.*:example\.org$", r"^@_irc_[a-z0-9]+:example\.org$", r"@_echo_.*"]
        {
            for other in [Conduit, Tuwunel] {
                assert_eq!(differs(Users, regex, Synapse, other), None, "{regex} on {other}");
            }
        }
        assert_eq!(differs(Aliases, r"(?i)^#_echo_.*:example\.org$", Synapse, Tuwunel), None);
        assert_eq!(differs(Rooms, r"^!abc.*$", Synapse, Tuwunel), None);
    }

    #[test]
    fn a_pattern_without_the_sigil_first_differs_under_search() {
        let (id, by) = differs(Users, r"_echo_.*", Synapse, Conduit).unwrap();
        assert_eq!(by, Conduit);
        assert_eq!(id, "@_echo_:a");
        // Aliases may contain `#` in the localpart, so even a sigil-first pattern differs.
        let (id, by) = differs(Aliases, r"#_echo_.*", Synapse, Conduit).unwrap();
        assert_eq!((id.as_str(), by), ("##_echo_:a", Conduit));
        // And an unanchored end is the same under both: both accept what follows a match.
        assert_eq!(differs(Users, r"^@bot:example\.org", Synapse, Conduit), None);
    }

    #[test]
    fn case_folding_differs_on_tuwunel_for_users_and_aliases_only() {
        let (id, by) = differs(Users, r"^@_Echo_.*$", Synapse, Tuwunel).unwrap();
        assert_eq!((id.as_str(), by), ("@_echo_:a", Tuwunel));
        let (id, by) = differs(Aliases, r"^#_echo_.*:example\.org$", Synapse, Tuwunel).unwrap();
        assert_eq!(by, Tuwunel);
        assert!(id.starts_with("#_") && id.bytes().any(|b| b.is_ascii_uppercase()), "{id}");
        assert_eq!(differs(Rooms, r"^!Abc.*$", Synapse, Tuwunel), None);
        assert_eq!(differs(Users, r"^@_Echo_.*$", Synapse, Conduit), None);
    }

    #[test]
    fn witnesses_are_checked_against_real_matching() {
        // The witness really is matched by one reading and not the other, with the `regex` crate.
        for (kind, regex) in
            [(Users, r"_x_.*"), (Aliases, r"#_x_.*"), (Aliases, r"^#_X_"), (Rooms, r"x:a")]
        {
            for other in [Conduit, Tuwunel] {
                let Some((id, by)) = differs(kind, regex, Synapse, other) else { continue };
                let fold = other.folds_case(kind);
                let search =
                    regex::RegexBuilder::new(regex).case_insensitive(fold).build().unwrap();
                let at_start = regex::Regex::new(&format!("^(?:{regex})")).unwrap();
                let (on_synapse, on_other) = (at_start.is_match(&id), search.is_match(&id));
                assert_ne!(on_synapse, on_other, "{regex} {id}");
                assert_eq!(by == other, on_other, "{regex} {id}");
            }
        }
    }

    #[test]
    fn the_advice_names_the_cause() {
        let warnings = |regex: &str, kind| {
            let mut out = Vec::new();
            check_profiles(kind, regex, &HomeserverProfile::ALL, "p", &mut out);
            out.into_iter().map(|d| d.message).collect::<Vec<_>>()
        };
        // A capital in a user pattern: only tuwunel differs, and folding is why.
        let w = warnings(r"^@_IRC_.*$", Users);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("`@_irc_:a` matches on tuwunel") && w[0].contains("(?i)"), "{w:?}");
        // A missing `^` on an alias pattern: Conduit and tuwunel differ, anchoring is why.
        let w = warnings(r"#_x_.*", Aliases);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w.iter().all(|m| m.contains("anchor it")), "{w:?}");
        // On tuwunel both are causes.
        assert!(w[1].contains("(?i)"), "{w:?}");
        assert!(warnings(r"(?i)^#_x_.*:a\.b$", Aliases).is_empty());
    }

    #[test]
    fn unsupported_patterns_are_reported_not_skipped() {
        let (a, b) = (Semantics::of(Synapse, Users), Semantics::of(Conduit, Users));
        assert!(matches!(difference(Users, r"@\p{L}+\b", a, b), Comparison::Unknown(_)));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Where the search says two profiles agree, real matching with the `regex` crate
        /// agrees on every valid ID tried; where it names a witness, they disagree on it.
        #[test]
        fn agreement_holds_on_random_ids(
            pattern in r"\^?[@#]?_[a-zA-Z]{1,2}_(\.\*)?(:[a-z])?\$?",
            users in proptest::collection::vec(r"@[a-z_]{1,5}:[a-z]{1,2}", 1..20),
            aliases in proptest::collection::vec(r"#[a-zA-Z_#@]{1,5}:[a-z]{1,2}", 1..20),
        ) {
            for (kind, ids) in [(Users, &users), (Aliases, &aliases)] {
                for other in [Conduit, Tuwunel] {
                    let fold = other.folds_case(kind);
                    let search =
                        regex::RegexBuilder::new(&pattern).case_insensitive(fold).build().unwrap();
                    let at_start = regex::Regex::new(&format!("^(?:{pattern})")).unwrap();
                    let real = |id: &str| (at_start.is_match(id), search.is_match(id));
                    match differs(kind, &pattern, Synapse, other) {
                        None => for id in ids {
                            let (a, b) = real(id);
                            proptest::prop_assert_eq!(a, b, "{} on {}: {}", pattern, other, id);
                        },
                        Some((id, _)) => {
                            let (a, b) = real(&id);
                            proptest::prop_assert_ne!(a, b, "{} on {}: {}", pattern, other, id);
                        }
                    }
                }
            }
        }
    }
}
