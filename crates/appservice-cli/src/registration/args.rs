//! The arguments of `registration check` and `registration generate`.

use std::path::PathBuf;

use appservice_types::HomeserverProfile;

/// `registration check FILE`: lint a registration file.
#[derive(Clone, Debug, PartialEq, Eq, clap::Args)]
#[non_exhaustive]
pub struct CheckArgs {
    /// The registration file (YAML or JSON).
    pub file: PathBuf,
    /// The homeserver's server name, if known (checks that the namespaces are on it).
    #[arg(long, value_name = "NAME")]
    pub server_name: Option<String>,
    /// The homeserver profiles whose readings of each namespace regex are compared: synapse,
    /// conduit, tuwunel or all; repeat or separate with commas (default: all).
    #[arg(long = "homeserver-profile", value_name = "PROFILE", value_delimiter = ',', value_parser = parse_profiles)]
    pub profiles: Vec<Profiles>,
}

/// One `--homeserver-profile` value: a profile, or all of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profiles(Vec<HomeserverProfile>);

/// `synapse`, `conduit`, `tuwunel` or `all`.
fn parse_profiles(value: &str) -> Result<Profiles, String> {
    if value == "all" {
        return Ok(Profiles(HomeserverProfile::ALL.to_vec()));
    }
    value.parse().map(|profile| Profiles(vec![profile])).map_err(|err| format!("{err}"))
}

impl CheckArgs {
    /// The homeserver profiles asked for, in order (empty: none given, meaning all).
    pub fn homeserver_profiles(&self) -> Vec<HomeserverProfile> {
        self.profiles.iter().flat_map(|p| p.0.iter().copied()).collect()
    }
}

/// `registration generate`: write a new registration with fresh tokens (mode 0600).
///
/// All namespaces are exclusive unless `--non-exclusive` is given. `--prefix P` (with
/// `--server-name NAME`) adds the user namespace `^@P.*:NAME$` and the alias namespace
/// `(?i)^#P.*:NAME$`, which mean the same on every homeserver. The tokens are never printed.
#[derive(Clone, Debug, PartialEq, Eq, clap::Args)]
#[non_exhaustive]
pub struct GenerateArgs {
    /// The registration's `id`.
    #[arg(long)]
    pub id: String,
    /// The registration's `url`, where the homeserver sends transactions; omit it for
    /// `url: null` (an appservice that only acts, e.g. double puppeting).
    #[arg(long)]
    pub url: Option<String>,
    /// The bot's localpart (`sender_localpart`).
    #[arg(long, value_name = "LOCALPART")]
    pub localpart: String,
    /// The homeserver's server name: anchors the `--prefix` namespaces, and the lint uses it.
    #[arg(long, value_name = "NAME")]
    pub server_name: Option<String>,
    /// A localpart prefix of portable user and alias namespaces (repeatable).
    #[arg(long = "prefix", value_name = "PREFIX", requires = "server_name")]
    pub prefixes: Vec<String>,
    /// A user namespace regex (repeatable).
    #[arg(long, value_name = "REGEX")]
    pub users: Vec<String>,
    /// An alias namespace regex (repeatable).
    #[arg(long, value_name = "REGEX")]
    pub aliases: Vec<String>,
    /// A room namespace regex (repeatable).
    #[arg(long, value_name = "REGEX")]
    pub rooms: Vec<String>,
    /// Make every namespace non-exclusive.
    #[arg(long)]
    pub non_exclusive: bool,
    /// Set `receive_ephemeral: true`.
    #[arg(long)]
    pub receive_ephemeral: bool,
    /// A third-party protocol the appservice provides (repeatable).
    #[arg(long = "protocol", value_name = "P")]
    pub protocols: Vec<String>,
    /// Set `rate_limited`.
    #[arg(long, value_name = "true|false")]
    pub rate_limited: Option<bool>,
    /// Where to write the file.
    #[arg(long, value_name = "FILE")]
    pub output: PathBuf,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    enum Test {
        Check(CheckArgs),
        Generate(GenerateArgs),
    }

    fn check(args: &[&str]) -> Result<CheckArgs, clap::Error> {
        match Test::try_parse_from(["t", "check"].iter().chain(args))? {
            Test::Check(args) => Ok(args),
            Test::Generate(_) => unreachable!(),
        }
    }

    fn generate(args: &[&str]) -> Result<GenerateArgs, clap::Error> {
        match Test::try_parse_from(["t", "generate"].iter().chain(args))? {
            Test::Generate(args) => Ok(args),
            Test::Check(_) => unreachable!(),
        }
    }

    #[test]
    fn check_args() {
        let args = check(&["reg.yaml", "--server-name", "example.org"]).unwrap();
        assert_eq!(args.file, PathBuf::from("reg.yaml"));
        assert_eq!(args.server_name.as_deref(), Some("example.org"));
        assert!(args.homeserver_profiles().is_empty());
        let args = check(&[
            "--server-name=example.org",
            "reg.yaml",
            "--homeserver-profile",
            "synapse,tuwunel",
        ])
        .unwrap();
        assert_eq!(
            args.homeserver_profiles(),
            [HomeserverProfile::Synapse, HomeserverProfile::Tuwunel]
        );
        let args = check(&["reg.yaml", "--homeserver-profile=all"]).unwrap();
        assert_eq!(args.homeserver_profiles(), HomeserverProfile::ALL);
        for bad in [
            &["reg.yaml", "--homeserver-profile=dendrite"][..],
            &[],
            &["a.yaml", "b.yaml"],
            &["reg.yaml", "--server-name"],
            &["reg.yaml", "--bogus"],
        ] {
            assert!(check(bad).is_err(), "{bad:?}");
        }
    }

    const BASE: [&str; 8] =
        ["--id", "a", "--url", "http://h", "--localpart", "bot", "--output", "o"];

    fn with(extra: &[&str]) -> Result<GenerateArgs, clap::Error> {
        generate(&[&BASE[..], extra].concat())
    }

    #[test]
    fn generate_args_minimal() {
        let args = with(&[]).unwrap();
        assert_eq!(
            (args.id.as_str(), args.url.as_deref(), args.localpart.as_str()),
            ("a", Some("http://h"), "bot")
        );
        assert_eq!(args.output, PathBuf::from("o"));
        assert!(!args.non_exclusive && !args.receive_ephemeral && !args.force);
        assert_eq!(args.rate_limited, None);
        assert!(args.prefixes.is_empty() && args.users.is_empty() && args.protocols.is_empty());
    }

    #[test]
    fn generate_without_url_is_url_null() {
        let args = generate(&["--id", "a", "--localpart", "bot", "--output", "o"]).unwrap();
        assert_eq!(args.url, None);
        let registration = crate::registration::build_registration(&args).unwrap();
        assert_eq!(registration.url, None);
    }

    #[test]
    fn generate_args_full() {
        let args = with(&[
            "--users",
            "@_irc_.*:example\\.org",
            "--users=@_irc_bot:example\\.org",
            "--aliases",
            "#_irc_.*:example\\.org",
            "--rooms",
            "!foo:example\\.org",
            "--non-exclusive",
            "--receive-ephemeral",
            "--protocol",
            "irc",
            "--protocol",
            "gitter",
            "--rate-limited",
            "false",
            "--server-name",
            "example.org",
            "--prefix",
            "_irc_",
            "--force",
        ])
        .unwrap();
        assert_eq!(args.users, ["@_irc_.*:example\\.org", "@_irc_bot:example\\.org"]);
        assert_eq!(args.aliases, ["#_irc_.*:example\\.org"]);
        assert_eq!(args.rooms, ["!foo:example\\.org"]);
        assert!(args.non_exclusive && args.receive_ephemeral && args.force);
        assert_eq!(args.protocols, ["irc", "gitter"]);
        assert_eq!(args.rate_limited, Some(false));
        assert_eq!(args.prefixes, ["_irc_"]);
    }

    #[test]
    fn generate_args_errors() {
        for bad in [
            &["--rate-limited", "yes"][..],
            &["--rate-limited"],
            &["--id", "again"],
            &["--force=true"],
            &["--unknown"],
            &["positional"],
        ] {
            assert!(with(bad).is_err(), "{bad:?}");
        }
        let err = with(&["--prefix", "_a_"]).unwrap_err();
        assert!(err.to_string().contains("--server-name"), "{err}");
        for missing in ["--id", "--localpart", "--output"] {
            let args: Vec<&str> =
                BASE.chunks(2).filter(|pair| pair[0] != missing).flatten().copied().collect();
            let err = generate(&args).unwrap_err();
            assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
            assert!(err.to_string().contains(missing), "{err}");
        }
    }
}
