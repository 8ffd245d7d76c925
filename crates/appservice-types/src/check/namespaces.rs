//! The namespace checks of [`Registration::check`]: each regex's lints (anchoring, server part,
//! dots, patterns that never match, Python vs Rust dialect) and the server name they imply.

use std::collections::BTreeSet;

use super::profiles::check_profiles;
use crate::{
    Code, Diagnostic, HomeserverProfile, Registration,
    namespace::{NamespaceMatcher, compile_one, matches_at_start},
    regex_dialect::dialect_notes,
    registration::{Namespace, NamespaceKind},
};

pub(super) fn ns_path(kind: NamespaceKind, index: usize) -> String {
    format!("namespaces.{}[{index}]", kind.key())
}

/// Probe IDs that an appservice namespace should not match: ordinary users and rooms.
fn ordinary_ids(kind: NamespaceKind, server_name: Option<&str>) -> Vec<String> {
    let mut servers = vec!["example.org", "matrix.org", "localhost"];
    if let Some(s) = server_name {
        servers.insert(0, s);
    }
    let mut out = Vec::new();
    for s in servers {
        match kind {
            NamespaceKind::Users => {
                out.push(format!("@alice:{s}"));
                out.push(format!("@admin:{s}"));
            }
            NamespaceKind::Aliases => {
                out.push(format!("#general:{s}"));
                out.push(format!("#alice:{s}"));
            }
            NamespaceKind::Rooms => {
                out.push(format!("!OgEhHVWSdJeAAMcpvq:{s}"));
            }
        }
    }
    if kind == NamespaceKind::Rooms {
        // Room version 12 IDs have no server part.
        out.push("!Zm9vYmFyYmF6cXV4cXV1eHh5enp5MTIzNDU2Nzg".to_owned());
    }
    out
}

pub(super) fn check_namespaces(
    r: &Registration,
    server_name: Option<&str>,
    profiles: &[HomeserverProfile],
    out: &mut Vec<Diagnostic>,
) {
    for kind in NamespaceKind::ALL {
        let list = r.namespaces.get(kind);
        let mut seen = BTreeSet::new();
        for (i, ns) in list.iter().enumerate() {
            let path = ns_path(kind, i);
            let regex_path = format!("{path}.regex");
            if !seen.insert(ns.regex.as_str()) {
                out.push(Diagnostic::error(
                    Code::DuplicateNamespace,
                    &regex_path,
                    "the same regex appears earlier in this list",
                ));
            }
            if ns.regex.is_empty() {
                out.push(Diagnostic::error(
                    Code::Empty,
                    &regex_path,
                    "is empty, which matches every ID; did you mean to leave the list empty?",
                ));
                continue;
            }
            match dialect_notes(&ns.regex) {
                Err(message) => {
                    out.push(Diagnostic::error(
                        Code::InvalidRegex,
                        &regex_path,
                        format!("does not compile: {message}"),
                    ));
                    continue;
                }
                Ok(notes) => {
                    for note in notes {
                        out.push(Diagnostic::warning(Code::RegexDialect, &regex_path, note));
                    }
                }
            }
            let compiled = match compile_one(&ns.regex) {
                Ok(c) => c,
                Err(e) => {
                    out.push(Diagnostic::error(
                        Code::InvalidRegex,
                        &regex_path,
                        format!("does not compile: {e}"),
                    ));
                    continue;
                }
            };
            let double_puppeting = is_double_puppeting(r, kind, ns);
            lint_regex(kind, ns, &compiled, server_name, double_puppeting, &regex_path, out);
            check_profiles(kind, &ns.regex, profiles, &regex_path, out);
        }
    }
    check_bot_coverage(r, server_name, out);
    for key in r.namespaces.extra.keys() {
        if !key.contains('.') {
            out.push(Diagnostic::warning(
                Code::UnknownKey,
                format!("namespaces.{key}"),
                "unknown namespace kind (known: users, aliases, rooms); homeservers ignore it",
            ));
        }
    }
}

/// Whether `ns` is the user namespace of a double-puppeting registration (mautrix's
/// "appservice double puppeting"): `url: null` (no traffic), non-exclusive, so the `as_token`
/// may act for the server's real users without taking them over. Matching ordinary users is
/// its purpose, not a mistake.
fn is_double_puppeting(r: &Registration, kind: NamespaceKind, ns: &Namespace) -> bool {
    r.url.is_none() && kind == NamespaceKind::Users && !ns.exclusive
}

fn lint_regex(
    kind: NamespaceKind,
    ns: &Namespace,
    compiled: &regex_automata::meta::Regex,
    server_name: Option<&str>,
    double_puppeting: bool,
    path: &str,
    out: &mut Vec<Diagnostic>,
) {
    let regex = ns.regex.as_str();
    if !double_puppeting
        && let Some(hit) =
            ordinary_ids(kind, server_name).into_iter().find(|id| matches_at_start(compiled, id))
    {
        out.push(Diagnostic::warning(
            Code::OverbroadRegex,
            path,
            format!(
                "is over-broad: it matches ordinary IDs such as `{hit}`{}",
                if ns.exclusive { ", and it is exclusive: nobody else could use them" } else { "" }
            ),
        ));
    }
    if never_matches(regex, kind.sigil()) {
        out.push(Diagnostic::warning(
            Code::NeverMatches,
            path,
            format!(
                "can never match: {} IDs start with `{}`, and homeservers match at the start of the ID",
                kind.key(),
                kind.sigil()
            ),
        ));
    }
    let (start, end) = anchors(regex);
    if !start {
        out.push(Diagnostic::warning(
            Code::UnanchoredRegex,
            path,
            "does not start with `^`: Synapse matches at the start anyway (`re.match`), but a \
             homeserver that searches would also match IDs that merely contain it",
        ));
    }
    if !end {
        out.push(Diagnostic::warning(
            Code::UnanchoredRegex,
            path,
            "does not end with `$` (or `.*`): it also matches every ID that merely starts like one \
             of its matches (e.g. `…:example.org.evil.com`)",
        ));
    }
    if let Some(server_part) = server_part(regex)
        && has_unescaped_dot(server_part)
    {
        out.push(Diagnostic::warning(
            Code::UnescapedDot,
            path,
            "has an unescaped `.` in the server name, which matches any character; write `\\.`",
        ));
    }
    if ns.exclusive && matches!(kind, NamespaceKind::Users | NamespaceKind::Aliases) {
        // Leading global flags (`(?i)`) do not change what the pattern starts with.
        let body = regex
            .strip_prefix("(?")
            .and_then(|rest| rest.split_once(')'))
            .filter(|(flags, _)| flags.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-'))
            .map_or(regex, |(_, rest)| rest);
        let body = body.strip_prefix('^').unwrap_or(body);
        let body = body.strip_prefix('\\').unwrap_or(body);
        if let Some(rest) = body.strip_prefix(kind.sigil())
            && !rest.starts_with('_')
        {
            out.push(Diagnostic::warning(
                Code::ExclusiveWithoutUnderscore,
                path,
                format!(
                    "exclusive namespaces should begin with `_` after the sigil and name the service, \
                     e.g. `{}_irc_.*` (spec: Registration)",
                    kind.sigil()
                ),
            ));
        }
    }
}

/// Whether every match of `regex` must start with a literal that does not start with `sigil`.
fn never_matches(regex: &str, sigil: char) -> bool {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let Ok(hir) = regex_syntax::parse(regex) else { return false };
    let seq = Extractor::new().kind(ExtractKind::Prefix).extract(&hir);
    let Some(literals) = seq.literals() else { return false };
    let mut buf = [0u8; 4];
    let sigil = sigil.encode_utf8(&mut buf).as_bytes();
    !literals.is_empty()
        && literals.iter().all(|l| !l.as_bytes().is_empty() && !l.as_bytes().starts_with(sigil))
}

/// Whether the pattern is anchored at the start (`^`, `\A`) and at the end (`$`, `\z`, or a
/// trailing `.*`/`.+`), in every top-level alternative.
fn anchors(regex: &str) -> (bool, bool) {
    use regex_syntax::ast::{AssertionKind, Ast, RepetitionKind, RepetitionOp};
    let Ok(ast) = regex_syntax::ast::parse::Parser::new().parse(regex) else { return (true, true) };
    let branches: Vec<&Ast> = match &ast {
        Ast::Alternation(alt) => alt.asts.iter().collect(),
        other => vec![other],
    };
    let mut start = true;
    let mut end = true;
    for branch in branches {
        let items: Vec<&Ast> = match branch {
            Ast::Concat(c) => c.asts.iter().filter(|a| !matches!(a, Ast::Flags(_))).collect(),
            other => vec![other],
        };
        let first_ok = matches!(
            items.first(),
            Some(Ast::Assertion(a)) if matches!(a.kind, AssertionKind::StartLine | AssertionKind::StartText)
        );
        let last_ok = match items.last() {
            Some(Ast::Assertion(a)) => {
                matches!(a.kind, AssertionKind::EndLine | AssertionKind::EndText)
            }
            Some(Ast::Repetition(rep)) => {
                matches!(*rep.ast, Ast::Dot(_))
                    && matches!(
                        rep.op,
                        RepetitionOp {
                            kind: RepetitionKind::ZeroOrMore | RepetitionKind::OneOrMore,
                            ..
                        }
                    )
            }
            _ => false,
        };
        start &= first_ok;
        end &= last_ok;
    }
    (start, end)
}

/// The text after the first unescaped `:` outside a class and not closing a group's flags
/// (`(?:`, `(?i:`): the server-name part of an ID regex, port included. Localparts have no `:`.
fn server_part(regex: &str) -> Option<&str> {
    let bytes = regex.as_bytes();
    let mut i = 0;
    let mut in_class = false;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'[' => in_class = true,
            b']' => in_class = false,
            b':' if !in_class && !closes_group_flags(&regex[..i]) => return regex.get(i + 1..),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Whether `before` ends with `(?` and optional flags, so a `:` after it opens a group.
fn closes_group_flags(before: &str) -> bool {
    let flags = before.trim_end_matches(|c: char| c.is_ascii_alphabetic() || c == '-');
    flags.ends_with("(?") && !flags.ends_with("\\(?")
}

/// Whether `s` has a `.` that is neither escaped, in a class, nor followed by a quantifier.
fn has_unescaped_dot(s: &str) -> bool {
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut in_class = false;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'[' => in_class = true,
            b']' => in_class = false,
            b'.' if !in_class => {
                let quantified = matches!(bytes.get(i + 1), Some(b'*' | b'+' | b'?' | b'{'));
                if !quantified {
                    return true;
                }
            }
            _ => {}
        }
        i += 1;
    }
    false
}

/// A server name spelled literally in a user namespace (`@_irc_.*:example\.org$`).
pub(super) fn infer_server_name(r: &Registration) -> Option<String> {
    r.namespaces.users.iter().find_map(|ns| {
        let part = server_part(&ns.regex)?;
        let part = part.strip_suffix('$').unwrap_or(part);
        let unescaped = ["\\.", "\\-", "\\[", "\\]"]
            .iter()
            .fold(part.to_owned(), |acc, escaped| acc.replace(escaped, &escaped[1..]));
        let plausible = !unescaped.is_empty()
            && unescaped.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
            })
            && !has_unescaped_dot(part);
        plausible.then_some(unescaped)
    })
}

fn check_bot_coverage(r: &Registration, server_name: Option<&str>, out: &mut Vec<Diagnostic>) {
    let exclusive: Vec<Namespace> =
        r.namespaces.users.iter().filter(|n| n.exclusive).cloned().collect();
    let (Some(server), false) = (server_name, exclusive.is_empty()) else { return };
    // An invalid localpart is an error of its own; a bot ID built from it means nothing.
    if r.sender_localpart.is_empty() || r.sender_localpart.contains([':', '@']) {
        return;
    }
    let Ok(matcher) = NamespaceMatcher::new(&exclusive) else { return };
    let bot = format!("@{}:{server}", r.sender_localpart);
    if !matcher.is_match(&bot) {
        out.push(Diagnostic::warning(
            Code::BotNotInExclusiveNamespace,
            "sender_localpart",
            format!(
                "the bot `{bot}` is not covered by an exclusive user namespace, so another \
                 appservice or user could claim it; extend a namespace (e.g. `@_irc_.*` with \
                 sender_localpart `_irc_bot`)"
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_parts() {
        assert_eq!(server_part(r"@_irc_.*:example\.org"), Some(r"example\.org"));
        assert_eq!(server_part(r"(?i:@_irc_.*)"), None);
        assert_eq!(server_part(r"@_irc_[:]x"), None);
        assert_eq!(server_part(r"^@_a_.*:my\-host\.org:8448$"), Some(r"my\-host\.org:8448$"));
        assert_eq!(server_part(r"(?i)^#(?:_a_|_b_).*:x\.org$"), Some(r"x\.org$"));
        assert_eq!(server_part(r"^@_a_.*:\[::1\]$"), Some(r"\[::1\]$"));
        assert!(has_unescaped_dot("example.org"));
        assert!(!has_unescaped_dot(r"example\.org"));
        assert!(!has_unescaped_dot(".*"));
    }

    #[test]
    fn anchoring() {
        assert_eq!(anchors(r"^@_irc_.*:example\.org$"), (true, true));
        assert_eq!(anchors(r"@_irc_.*"), (false, true));
        assert_eq!(anchors(r"^@bot:example\.org"), (true, false));
        assert_eq!(anchors(r"(?i)^@a.*"), (true, true));
        assert_eq!(anchors(r"^@a.*|@b.*"), (false, true));
    }

    #[test]
    fn never_matching_patterns() {
        assert!(never_matches("_irc_.*", '@'));
        assert!(never_matches("^_irc_.*", '@'));
        assert!(!never_matches("@_irc_.*", '@'));
        assert!(!never_matches(".*_irc_.*", '@'));
        assert!(!never_matches("(?i)@_IRC_.*", '@'));
        assert!(never_matches("@_irc_.*", '#'));
    }
}
