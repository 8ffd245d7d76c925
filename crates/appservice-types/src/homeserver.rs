//! [`HomeserverProfile`]: how each homeserver family matches a registration's namespace regexes.
//!
//! The spec calls a namespace regex "a POSIX regular expression" and says nothing about how it
//! is applied, so homeservers differ (read in their sources; `docs/homeservers.md` has the whole
//! table):
//!
//! | profile | applies the regex with | case |
//! |---|---|---|
//! | [`Synapse`](HomeserverProfile::Synapse) | Python's `re.match`: at the start of the ID | as written |
//! | [`Conduit`](HomeserverProfile::Conduit) | Rust's `RegexSet::is_match`: anywhere in the ID | as written |
//! | [`Tuwunel`](HomeserverProfile::Tuwunel) | anywhere in the ID | folded for users and aliases, not rooms |
//!
//! [`Registration::check`](crate::Registration::check) compares a pattern's meaning under the
//! profiles of [`CheckOptions::homeserver_profiles`](crate::CheckOptions::homeserver_profiles)
//! and names an ID where they disagree. [`portable_regex`] writes a pattern that means the same
//! under all of them.
//!
//! ```
//! use appservice_types::{NamespaceKind, homeserver::{HomeserverProfile, portable_regex}};
//!
//! assert_eq!(
//!     portable_regex(NamespaceKind::Users, "_echo_", "example.org"),
//!     r"^@_echo_.*:example\.org$"
//! );
//! assert_eq!("tuwunel".parse(), Ok(HomeserverProfile::Tuwunel));
//! ```

use std::{fmt, str::FromStr};

use crate::NamespaceKind;

/// A homeserver family, as far as namespace matching goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum HomeserverProfile {
    /// Synapse: `re.match`, anchored at the start of the ID, case as written.
    Synapse,
    /// Conduit and conduwuit: an unanchored search, case as written.
    Conduit,
    /// tuwunel: an unanchored search, case-insensitive for user IDs and aliases.
    Tuwunel,
}

impl HomeserverProfile {
    /// Every profile, Synapse (the reference homeserver) first.
    pub const ALL: [Self; 3] = [Self::Synapse, Self::Conduit, Self::Tuwunel];

    /// `synapse`, `conduit` or `tuwunel`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Synapse => "synapse",
            Self::Conduit => "conduit",
            Self::Tuwunel => "tuwunel",
        }
    }

    /// Whether a match must start at the first character of the ID.
    pub fn anchors_at_start(self) -> bool {
        self == Self::Synapse
    }

    /// Whether letters match regardless of case for IDs of `kind`.
    pub fn folds_case(self, kind: NamespaceKind) -> bool {
        self == Self::Tuwunel && kind != NamespaceKind::Rooms
    }

    /// How this profile applies a regex to IDs of `kind`, for messages.
    pub fn describe(self, kind: NamespaceKind) -> &'static str {
        match (self.anchors_at_start(), self.folds_case(kind)) {
            (true, false) => "matched at the start of the ID",
            (true, true) => "matched at the start of the ID, ignoring case",
            (false, false) => "searched anywhere in the ID",
            (false, true) => "searched anywhere in the ID, ignoring case",
        }
    }
}

impl fmt::Display for HomeserverProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a known homeserver profile.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown homeserver profile `{0}` (known: synapse, conduit, conduwuit, tuwunel)")]
pub struct UnknownProfile(String);

impl FromStr for HomeserverProfile {
    type Err = UnknownProfile;

    /// `synapse`, `conduit` (also `conduwuit`, which matches the same way) or `tuwunel`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "synapse" => Ok(Self::Synapse),
            "conduit" | "conduwuit" => Ok(Self::Conduit),
            "tuwunel" => Ok(Self::Tuwunel),
            _ => Err(UnknownProfile(s.to_owned())),
        }
    }
}

/// A namespace regex for the IDs of `kind` whose localpart starts with `prefix` on
/// `server_name`, meaning the same on every [`HomeserverProfile`]: anchored at both ends, with
/// the prefix and the server name escaped.
///
/// User IDs are lower-case (the spec's user ID grammar), so the user pattern needs no flag.
/// Alias localparts may contain capitals and tuwunel folds case for aliases, so the alias
/// pattern starts with `(?i)`: every homeserver then folds case the same way. Room IDs are
/// opaque and matched as written everywhere.
pub fn portable_regex(kind: NamespaceKind, prefix: &str, server_name: &str) -> String {
    let flags = if kind == NamespaceKind::Aliases { "(?i)" } else { "" };
    format!(
        "{flags}^{}{}.*:{}$",
        kind.sigil(),
        regex_syntax::escape(prefix),
        regex_syntax::escape(server_name)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for profile in HomeserverProfile::ALL {
            assert_eq!(profile.name().parse(), Ok(profile));
        }
        assert_eq!("Conduwuit".parse(), Ok(HomeserverProfile::Conduit));
        assert!("dendrite".parse::<HomeserverProfile>().unwrap_err().to_string().contains("known"));
    }

    #[test]
    fn portable_patterns_escape_and_anchor() {
        assert_eq!(
            portable_regex(NamespaceKind::Aliases, "_a.b_", "[::1]:8448"),
            r"(?i)^#_a\.b_.*:\[::1\]:8448$"
        );
        assert_eq!(portable_regex(NamespaceKind::Rooms, "", "x.org"), r"^!.*:x\.org$");
    }
}
