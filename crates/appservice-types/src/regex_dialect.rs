//! Where Python's `re` (Synapse) and Rust's `regex` read one namespace pattern differently.
//!
//! Both engines agree on the everyday syntax (`.`, `*`, `+`, `?`, `{m,n}`, classes, groups,
//! `\d\w\s` with Unicode semantics, inline `(?i)`…). This module walks the pattern's syntax tree
//! and reports the constructs where they do not, so an appservice never believes it owns an ID
//! that its homeserver does not route to it, or the other way round.

use regex_syntax::ast::{
    self, Assertion, AssertionKind, Ast, ClassSetBinaryOp, ClassSetItem, Flag, FlagsItemKind,
    GroupKind, LiteralKind,
};

/// The dialect notes for one pattern (empty when both engines read it the same way), or
/// `Err(message)` when Rust cannot parse it at all, with a hint when Python can.
pub(crate) fn dialect_notes(pattern: &str) -> Result<Vec<String>, String> {
    let ast = ast::parse::Parser::new().parse(pattern).map_err(|e| parse_error_message(&e))?;
    // The visitor never fails.
    let mut notes = ast::visit(&ast, DialectVisitor { notes: Vec::new() }).unwrap_or_default();
    notes.sort();
    notes.dedup();
    Ok(notes)
}

fn parse_error_message(e: &ast::Error) -> String {
    let hint = match e.kind() {
        ast::ErrorKind::UnsupportedLookAround => {
            " (look-around works in Python's re, so Synapse accepts it, but Rust's regex \
             has no look-around: rewrite it without)"
        }
        ast::ErrorKind::UnsupportedBackreference => {
            " (back-references work in Python's re, but not in Rust's regex: rewrite it without)"
        }
        _ => "",
    };
    format!("{}{hint}", e.kind())
}

struct DialectVisitor {
    notes: Vec<String>,
}

impl DialectVisitor {
    fn note(&mut self, what: &str) {
        self.notes.push(what.to_owned());
    }
}

impl ast::Visitor for DialectVisitor {
    type Output = Vec<String>;
    type Err = ();

    fn finish(self) -> Result<Vec<String>, ()> {
        Ok(self.notes)
    }

    fn visit_pre(&mut self, ast: &Ast) -> Result<(), ()> {
        match ast {
            Ast::Flags(set) => {
                if set.span.start.offset != 0 {
                    self.note(
                        "a global flag group like `(?i)` that is not at the very start: Python's re \
                         rejects it (3.11+); use a scoped group `(?i:…)`",
                    );
                }
                self.flags(&set.flags, true);
            }
            Ast::Group(group) => match &group.kind {
                GroupKind::CaptureName { starts_with_p: false, .. } => self.note(
                    "`(?<name>…)`: Python's re only knows `(?P<name>…)`; use that, or a plain group",
                ),
                GroupKind::NonCapturing(flags) => self.flags(flags, false),
                _ => {}
            },
            Ast::ClassUnicode(_) => self.note(
                "Unicode classes like `\\p{L}`: Python's re does not support them and rejects the pattern",
            ),
            Ast::Literal(lit) => {
                if let LiteralKind::HexBrace(_) = lit.kind {
                    self.note("`\\x{…}` escapes: Python's re rejects them; use `\\xNN`, `\\uNNNN` or `\\UNNNNNNNN`");
                }
            }
            Ast::Assertion(a) => self.assertion(a),
            _ => {}
        }
        Ok(())
    }

    fn visit_class_set_item_pre(&mut self, item: &ClassSetItem) -> Result<(), ()> {
        match item {
            ClassSetItem::Ascii(_) => self.note(
                "POSIX classes like `[[:alpha:]]`: Python's re reads them as a set of the characters \
                 `[:alph` followed by `]`; spell the range out (`[a-zA-Z]`)",
            ),
            ClassSetItem::Bracketed(_) => self.note(
                "a class nested in a class (`[a[b]]`): Python's re reads the inner `[` literally and \
                 ends the class at the first `]`",
            ),
            ClassSetItem::Unicode(_) => self.note(
                "Unicode classes like `\\p{L}`: Python's re does not support them and rejects the pattern",
            ),
            _ => {}
        }
        Ok(())
    }

    fn visit_class_set_binary_op_pre(&mut self, _op: &ClassSetBinaryOp) -> Result<(), ()> {
        self.note(
            "class set operations (`&&`, `--`, `~~`): Python's re reads them as literal characters",
        );
        Ok(())
    }
}

impl DialectVisitor {
    fn flags(&mut self, flags: &ast::Flags, global: bool) {
        let mut negated = false;
        for item in &flags.items {
            match item.kind {
                FlagsItemKind::Negation => {
                    negated = true;
                    if global {
                        self.note(
                            "turning a flag off with `(?-…)` outside a scoped group: Python's re \
                             rejects it; use `(?-i:…)`",
                        );
                    }
                }
                FlagsItemKind::Flag(Flag::SwapGreed) => {
                    self.note("the `U` flag (swap greediness): Python's re has no such flag");
                }
                FlagsItemKind::Flag(Flag::CRLF) => {
                    self.note("the `R` flag (CRLF mode): Python's re has no such flag");
                }
                FlagsItemKind::Flag(Flag::Unicode) if negated => self.note(
                    "turning Unicode off with `-u`: Python's re cannot, so `\\w`, `\\d`, `\\s` and \
                     case-insensitive matching differ",
                ),
                FlagsItemKind::Flag(_) => {}
            }
        }
    }

    fn assertion(&mut self, a: &Assertion) {
        match a.kind {
            AssertionKind::EndText => self.note(
                "`\\z`: Python's re only understands it from 3.14 on (older versions reject the \
                 pattern); end with `$`",
            ),
            AssertionKind::WordBoundaryStart
            | AssertionKind::WordBoundaryEnd
            | AssertionKind::WordBoundaryStartAngle
            | AssertionKind::WordBoundaryEndAngle
            | AssertionKind::WordBoundaryStartHalf
            | AssertionKind::WordBoundaryEndHalf => self.note(
                "`\\<`, `\\>` and `\\b{…}` word-boundary forms: Python's re reads `\\<`/`\\>` as \
                 literal `<`/`>` and rejects `\\b{…}`; use `\\b`",
            ),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn notes(p: &str) -> Vec<String> {
        dialect_notes(p).unwrap()
    }

    #[test]
    fn ordinary_patterns_are_portable() {
        for p in [
            r"@_irc_.*:example\.org",
            r"^@_irc_[a-z0-9]+:example\.org$",
            r"(?i)@_slack_.*",
            r"#_irc_(?P<chan>.*)",
            r"@_x_\d{1,5}",
            r"(?i:@Bot):x",
            "(?x) @_irc_ .* # comment",
        ] {
            assert_eq!(notes(p), Vec::<String>::new(), "{p}");
        }
    }

    #[test]
    fn dialect_differences_are_reported() {
        for (p, needle) in [
            (r"@_x_\p{L}+", "Unicode classes"),
            (r"@_x_[\p{L}]+", "Unicode classes"),
            (r"@_x_[[:alpha:]]+", "POSIX"),
            (r"@_x_[a-z&&[^q]]", "set operations"),
            (r"@(?<n>x)", "(?P<name>"),
            (r"@x(?i)y", "not at the very start"),
            (r"(?U)@x.*", "swap greediness"),
            (r"@x\z", r"`\z`"),
            (r"@\<x", "word-boundary"),
            (r"@\x{41}", r"`\x{…}`"),
        ] {
            let n = notes(p);
            assert!(n.iter().any(|m| m.contains(needle)), "{p}: {n:?}");
        }
    }

    #[test]
    fn python_only_syntax_gets_a_hint() {
        let e = dialect_notes(r"@(?!admin).*").unwrap_err();
        assert!(e.contains("look-around"), "{e}");
        let e = dialect_notes(r"@(a)\1").unwrap_err();
        assert!(e.contains("back-references"), "{e}");
    }
}
