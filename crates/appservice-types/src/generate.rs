//! New registrations: fresh tokens, portable namespaces, and a file only its owner can read.
//!
//! Needs the `generate` feature (the operating system's random numbers; the file functions are
//! for Unix, where the mode 0600 means something). The `appservice` command-line tool
//! (`appservice registration generate`) is built on this module.
//!
//! ```
//! use appservice_types::{CheckOptions, generate::NewRegistration};
//!
//! let mut new = NewRegistration::new("irc", Some("http://127.0.0.1:9000".to_owned()), "_irc_bot");
//! new.server_name = Some("example.org".to_owned());
//! new.prefixes.push("_irc_".to_owned());
//! let mut registration = new.build()?;
//! registration.rate_limited = Some(false); // the bot and puppets are not rate-limited
//! assert_eq!(registration.as_token.expose().len(), 64);
//! // The `--prefix` namespaces mean the same on every homeserver: no lint warning.
//! assert!(registration.check(&CheckOptions::new().server_name("example.org")).is_empty());
//! # Ok::<(), appservice_types::generate::GenerateError>(())
//! ```

use std::path::PathBuf;

use crate::{
    Namespace, NamespaceKind, Namespaces, Registration, RegistrationInit,
    homeserver::portable_regex, registration::SerializeError,
};

mod token;
#[cfg(unix)]
mod write;

pub use self::token::{TOKEN_LEN, generate_token};
#[cfg(unix)]
pub use self::write::{write_private_file, write_registration};

/// What a new registration is made from; [`build`](Self::build) adds two fresh tokens.
///
/// Every namespace is exclusive unless [`exclusive`](Self::exclusive) is `false`. Set the
/// [`Registration`]'s other fields (`rate_limited`, `protocols`, …) on the result.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewRegistration {
    /// The registration's `id`.
    pub id: String,
    /// The registration's `url`: where the homeserver sends transactions (`None`: nowhere, as
    /// for a double-puppeting registration).
    pub url: Option<String>,
    /// The registration's `sender_localpart` (the bot).
    pub sender_localpart: String,
    /// The homeserver's server name, which the [`prefixes`](Self::prefixes) namespaces are
    /// anchored to.
    pub server_name: Option<String>,
    /// Localpart prefixes: each adds the user and alias namespaces of
    /// [`portable_regex`], which mean the same on every homeserver (needs
    /// [`server_name`](Self::server_name)).
    pub prefixes: Vec<String>,
    /// Further user namespace regexes, verbatim.
    pub users: Vec<String>,
    /// Further alias namespace regexes, verbatim.
    pub aliases: Vec<String>,
    /// Room namespace regexes, verbatim.
    pub rooms: Vec<String>,
    /// Whether the namespaces are exclusive (`true` by default).
    pub exclusive: bool,
}

/// Why a registration or a token could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GenerateError {
    /// The operating system gave no random bytes.
    #[error("cannot get random bytes from the operating system: {0}")]
    Random(String),
    /// [`NewRegistration::prefixes`] without a server name to anchor them to.
    #[error("a namespace prefix needs the server name: the namespaces are anchored to it")]
    PrefixNeedsServerName,
}

/// Why a file was not written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The file exists, and overwriting was not asked for.
    #[error("{} already exists", path.display())]
    AlreadyExists {
        /// The file.
        path: PathBuf,
    },
    /// Creating, setting the mode of, or writing the file failed.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The registration could not be turned into YAML.
    #[error(transparent)]
    Serialize(#[from] SerializeError),
}

impl NewRegistration {
    /// A registration of `id` at `url` with the bot `sender_localpart`, no namespaces yet.
    pub fn new(
        id: impl Into<String>,
        url: Option<String>,
        sender_localpart: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            url,
            sender_localpart: sender_localpart.into(),
            server_name: None,
            prefixes: Vec::new(),
            users: Vec::new(),
            aliases: Vec::new(),
            rooms: Vec::new(),
            exclusive: true,
        }
    }

    /// The registration, with a fresh [`generate_token`] as `as_token` and as `hs_token`.
    ///
    /// The namespaces are the [`prefixes`](Self::prefixes)' portable ones first (users and
    /// aliases; rooms have no localpart), then the verbatim regexes. It is not checked: call
    /// [`Registration::check`] on the result.
    pub fn build(&self) -> Result<Registration, GenerateError> {
        if !self.prefixes.is_empty() && self.server_name.is_none() {
            return Err(GenerateError::PrefixNeedsServerName);
        }
        let namespaces = |kind: NamespaceKind, regexes: &[String]| -> Vec<Namespace> {
            let portable = self.server_name.iter().flat_map(|server| {
                self.prefixes.iter().map(move |prefix| portable_regex(kind, prefix, server))
            });
            let portable = portable.filter(|_| kind != NamespaceKind::Rooms);
            portable
                .chain(regexes.iter().cloned())
                .map(|regex| Namespace::new(self.exclusive, regex))
                .collect()
        };
        let mut all = Namespaces::new();
        all.users = namespaces(NamespaceKind::Users, &self.users);
        all.aliases = namespaces(NamespaceKind::Aliases, &self.aliases);
        all.rooms = namespaces(NamespaceKind::Rooms, &self.rooms);
        Ok(Registration::from(RegistrationInit {
            id: self.id.clone(),
            url: self.url.clone(),
            as_token: generate_token()?,
            hs_token: generate_token()?,
            sender_localpart: self.sender_localpart.clone(),
            namespaces: all,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CheckOptions, HomeserverProfile};

    /// What `--prefix` makes passes the linter, on every homeserver profile, without a single
    /// warning.
    #[test]
    fn prefixed_namespaces_lint_clean_on_every_profile() {
        for (prefix, server) in
            [("_echo_", "example.org"), ("_a.b+c_", "my-server.example:8448"), ("_x_", "[::1]")]
        {
            let mut new = NewRegistration::new(
                "echo",
                Some("http://127.0.0.1:8009".to_owned()),
                format!("{prefix}bot"),
            );
            new.server_name = Some(server.to_owned());
            new.prefixes.push(prefix.to_owned());
            let mut registration = new.build().unwrap();
            registration.rate_limited = Some(false);
            assert_eq!(registration.namespaces.users.len(), 1);
            assert_eq!(registration.namespaces.aliases.len(), 1);
            assert!(registration.namespaces.rooms.is_empty());
            for options in [
                CheckOptions::new().server_name(server),
                CheckOptions::new(),
                CheckOptions::new().homeserver_profiles([HomeserverProfile::Conduit]),
            ] {
                let diagnostics = registration.check(&options);
                assert!(diagnostics.is_empty(), "{prefix} {server}: {diagnostics:?}");
            }
        }
    }

    #[test]
    fn portable_namespaces_come_first_and_exclusive_applies_to_all() {
        let mut new = NewRegistration::new("a", None, "bot");
        new.server_name = Some("example.org".to_owned());
        new.prefixes = vec!["_a_".to_owned()];
        new.users = vec!["^@other:example\\.org$".to_owned()];
        new.rooms = vec!["^!r:example\\.org$".to_owned()];
        new.exclusive = false;
        let registration = new.build().unwrap();
        let users: Vec<&str> =
            registration.namespaces.users.iter().map(|n| n.regex.as_str()).collect();
        assert_eq!(users, ["^@_a_.*:example\\.org$", "^@other:example\\.org$"]);
        assert_eq!(registration.namespaces.rooms.len(), 1);
        let all = registration.namespaces.users.iter().chain(&registration.namespaces.rooms);
        assert!(all.clone().all(|n| !n.exclusive));
        assert_eq!(registration.url, None);
        assert_ne!(registration.as_token, registration.hs_token);
    }

    #[test]
    fn a_prefix_needs_a_server_name() {
        let mut new = NewRegistration::new("a", None, "bot");
        new.prefixes.push("_a_".to_owned());
        assert!(matches!(new.build(), Err(GenerateError::PrefixNeedsServerName)));
    }
}
