//! [`ValidatedRegistration`]: a registration without errors, with compiled namespace matchers.

use std::fmt;

use crate::{
    CheckOptions, Diagnostic, NamespaceMatcher, Registration, Secret,
    diagnostic::Code,
    registration::{NamespaceKind, ParseError},
};

/// A registration that passed every check of [`Registration::check`] without an error, with its
/// namespaces compiled. This is the form the dispatcher and client take ("parse, don't validate").
///
/// ```
/// use appservice_types::ValidatedRegistration;
///
/// let registration = ValidatedRegistration::parse(
///     r#"
/// id: irc
/// url: "http://127.0.0.1:9000"
/// as_token: "kT8vN3kLp0RtY7wX2mB5cH9jD4fG6sA1eU0iO8yT3rW5qE7z"
/// hs_token: "Pq2bV9nM4xC7zL1kJ6hG3fD8sA5wE0rT2yU9iO4pQ7mN1bV"
/// sender_localpart: _irc_bot
/// rate_limited: false
/// namespaces:
///   users: [{ exclusive: true, regex: '^@_irc_.*:example\.org$' }]
/// "#,
/// )
/// .unwrap();
/// assert!(registration.users().is_exclusive_match("@_irc_alice:example.org"));
/// assert!(!registration.users().is_match("@alice:example.org"));
/// assert!(registration.warnings().is_empty());
/// ```
#[derive(Clone)]
pub struct ValidatedRegistration {
    registration: Registration,
    users: NamespaceMatcher,
    aliases: NamespaceMatcher,
    rooms: NamespaceMatcher,
    warnings: Vec<Diagnostic>,
}

/// A registration with at least one error. Holds every diagnostic (errors first).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub struct InvalidRegistration {
    /// Every problem found: the errors, then the warnings.
    pub diagnostics: Vec<Diagnostic>,
}

impl InvalidRegistration {
    /// Only the errors.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }
}

impl fmt::Display for InvalidRegistration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let errors: Vec<_> = self.errors().collect();
        write!(f, "invalid registration ({} error(s))", errors.len())?;
        for e in errors {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

impl From<ParseError> for InvalidRegistration {
    fn from(e: ParseError) -> Self {
        Self { diagnostics: e.into_diagnostics() }
    }
}

impl TryFrom<Registration> for ValidatedRegistration {
    type Error = InvalidRegistration;

    fn try_from(registration: Registration) -> Result<Self, Self::Error> {
        Self::new(registration, &CheckOptions::default())
    }
}

impl ValidatedRegistration {
    /// Checks `registration` with `options` (e.g. the server name, for the lints that need it).
    pub fn new(
        registration: Registration,
        options: &CheckOptions,
    ) -> Result<Self, InvalidRegistration> {
        let mut diagnostics = registration.check(options);
        if diagnostics.iter().any(Diagnostic::is_error) {
            diagnostics.sort_by_key(|d| d.severity);
            return Err(InvalidRegistration { diagnostics });
        }
        let compile = |kind: NamespaceKind| {
            NamespaceMatcher::new(registration.namespaces.get(kind)).map_err(|e| {
                InvalidRegistration {
                    // `check` compiles every regex alone; a combined set can still exceed the size limit.
                    diagnostics: vec![Diagnostic::error(
                        Code::InvalidRegex,
                        format!("namespaces.{}", kind.key()),
                        format!("the namespaces do not compile together: {}", e.source),
                    )],
                }
            })
        };
        let users = compile(NamespaceKind::Users)?;
        let aliases = compile(NamespaceKind::Aliases)?;
        let rooms = compile(NamespaceKind::Rooms)?;
        Ok(Self { registration, users, aliases, rooms, warnings: diagnostics })
    }

    /// Parses (YAML or JSON) and validates in one step.
    pub fn parse(input: &str) -> Result<Self, InvalidRegistration> {
        Self::try_from(Registration::parse(input)?)
    }

    /// The registration.
    pub fn registration(&self) -> &Registration {
        &self.registration
    }

    /// Gives the registration back.
    pub fn into_registration(self) -> Registration {
        self.registration
    }

    /// The warnings found while validating.
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// The appservice ID.
    pub fn id(&self) -> &str {
        &self.registration.id
    }

    /// The URL the homeserver pushes to (`None` for `url: null`).
    pub fn url(&self) -> Option<&str> {
        self.registration.url.as_deref()
    }

    /// The token the homeserver sends us.
    pub fn hs_token(&self) -> &Secret {
        &self.registration.hs_token
    }

    /// The token we send the homeserver.
    pub fn as_token(&self) -> &Secret {
        &self.registration.as_token
    }

    /// The bot's localpart.
    pub fn sender_localpart(&self) -> &str {
        &self.registration.sender_localpart
    }

    /// The user namespaces.
    pub fn users(&self) -> &NamespaceMatcher {
        &self.users
    }

    /// The alias namespaces.
    pub fn aliases(&self) -> &NamespaceMatcher {
        &self.aliases
    }

    /// The room namespaces.
    pub fn rooms(&self) -> &NamespaceMatcher {
        &self.rooms
    }

    /// The matcher of one kind.
    pub fn namespace(&self, kind: NamespaceKind) -> &NamespaceMatcher {
        match kind {
            NamespaceKind::Users => &self.users,
            NamespaceKind::Aliases => &self.aliases,
            NamespaceKind::Rooms => &self.rooms,
        }
    }
}

impl fmt::Debug for ValidatedRegistration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `Registration`'s Debug redacts the tokens; the matchers add nothing readable.
        f.debug_struct("ValidatedRegistration")
            .field("registration", &self.registration)
            .field("warnings", &self.warnings.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_come_first_and_all_are_reported() {
        let err = ValidatedRegistration::parse(
            "id: ''\nurl: ftp://x\nas_token: same\nhs_token: same\nsender_localpart: '@bot:x'\n\
             namespaces:\n  users:\n    - {exclusive: true, regex: '('}\n",
        )
        .unwrap_err();
        let codes: Vec<_> = err.errors().map(|d| (d.code, d.path.as_str())).collect();
        assert_eq!(
            codes,
            vec![
                (Code::Empty, "id"),
                (Code::InvalidUrl, "url"),
                (Code::TokensEqual, "hs_token"),
                (Code::InvalidLocalpart, "sender_localpart"),
                (Code::InvalidRegex, "namespaces.users[0].regex"),
            ]
        );
        assert!(err.diagnostics.last().is_some_and(|d| !d.is_error()));
        assert!(!err.to_string().contains("same"), "tokens must not be echoed: {err}");
    }

    #[test]
    fn debug_redacts_tokens() {
        let r = ValidatedRegistration::parse(
            "id: x\nurl: null\nas_token: AAAAsecretAAAA\nhs_token: BBBBsecretBBBB\n\
             sender_localpart: bot\nnamespaces: {}\n",
        )
        .unwrap();
        let debug = format!("{r:?}");
        assert!(!debug.contains("secret"), "{debug}");
    }
}
