//! The arguments of `cargo xtask registration check|generate`: hand-rolled parsing of
//! `--flag value`, `--flag=value` and boolean flags.

use std::path::PathBuf;

use anyhow::{Result, anyhow, bail};
use appservice_types::HomeserverProfile;

pub(crate) const USAGE: &str = "\
Usage:
  cargo xtask registration check FILE [--server-name NAME]
      [--homeserver-profile synapse|conduit|tuwunel|all]...
  cargo xtask registration generate --id ID --url URL --localpart LOCALPART --output FILE
      [--server-name NAME --prefix PREFIX]...
      [--users REGEX]... [--aliases REGEX]... [--rooms REGEX]...
      [--non-exclusive] [--receive-ephemeral] [--protocol P]...
      [--rate-limited true|false] [--force]

`check` prints every problem and exits non-zero if there is an error. It compares each
namespace regex between the homeserver profiles given (default: all) and warns where they
match different IDs (docs/homeservers.md).
`--prefix P` (with `--server-name`) adds the user namespace `^@P.*:NAME$` and the alias
namespace `(?i)^#P.*:NAME$`, which mean the same on every homeserver.
`generate` writes a registration with two fresh random 64-character tokens, file mode 0600.
All namespaces are exclusive unless `--non-exclusive` is given. An existing file is only
overwritten with `--force`.
";

/// Arguments of `registration check`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct CheckArgs {
    /// The file to lint.
    pub(crate) file: PathBuf,
    /// The homeserver's server name, if known.
    pub(crate) server_name: Option<String>,
    /// The homeserver profiles to compare (empty: all).
    pub(crate) profiles: Vec<HomeserverProfile>,
}

/// Arguments of `registration generate`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct GenerateArgs {
    /// `id`.
    pub(crate) id: String,
    /// `url`.
    pub(crate) url: String,
    /// `sender_localpart`.
    pub(crate) localpart: String,
    /// The homeserver's server name, for `--prefix` namespaces and the lint.
    pub(crate) server_name: Option<String>,
    /// Localpart prefixes of portable user and alias namespaces (`--prefix`).
    pub(crate) prefixes: Vec<String>,
    /// User namespace regexes.
    pub(crate) users: Vec<String>,
    /// Alias namespace regexes.
    pub(crate) aliases: Vec<String>,
    /// Room namespace regexes.
    pub(crate) rooms: Vec<String>,
    /// Whether the namespaces are exclusive (the default).
    pub(crate) exclusive: bool,
    /// `receive_ephemeral: true`.
    pub(crate) receive_ephemeral: bool,
    /// `protocols`.
    pub(crate) protocols: Vec<String>,
    /// `rate_limited`, if given.
    pub(crate) rate_limited: Option<bool>,
    /// Where to write the file.
    pub(crate) output: PathBuf,
    /// Overwrite an existing file.
    pub(crate) force: bool,
}

/// Splits `--flag=value` into `("--flag", Some("value"))`.
fn split_flag(arg: &str) -> (&str, Option<&str>) {
    match arg.split_once('=') {
        Some((flag, value)) if flag.starts_with("--") => (flag, Some(value)),
        _ => (arg, None),
    }
}

/// Hand-rolled flag parsing: `--flag value`, `--flag=value` and boolean `--flag`.
struct ArgParser<'a> {
    args: std::slice::Iter<'a, String>,
}

impl<'a> ArgParser<'a> {
    fn new(args: &'a [String]) -> Self {
        Self { args: args.iter() }
    }

    /// The value of `flag`: inline (`--flag=value`) or the next argument.
    fn value(&mut self, flag: &str, inline: Option<&str>) -> Result<String> {
        if let Some(value) = inline {
            return Ok(value.to_owned());
        }
        self.args.next().cloned().ok_or_else(|| anyhow!("`{flag}` needs a value\n\n{USAGE}"))
    }
}

fn set_once(slot: &mut Option<String>, flag: &str, value: String) -> Result<()> {
    if slot.replace(value).is_some() {
        bail!("`{flag}` given more than once");
    }
    Ok(())
}

fn no_value(flag: &str, inline: Option<&str>) -> Result<()> {
    match inline {
        Some(_) => bail!("`{flag}` takes no value"),
        None => Ok(()),
    }
}

/// Parses the arguments after `registration check`.
pub(crate) fn parse_check_args(args: &[String]) -> Result<CheckArgs> {
    let mut parser = ArgParser::new(args);
    let mut file: Option<String> = None;
    let mut server_name = None;
    let mut profiles = Vec::new();
    while let Some(arg) = parser.args.next() {
        match split_flag(arg) {
            ("--server-name", inline) => {
                let value = parser.value("--server-name", inline)?;
                set_once(&mut server_name, "--server-name", value)?;
            }
            ("--homeserver-profile", inline) => {
                let value = parser.value("--homeserver-profile", inline)?;
                profiles.extend(parse_profiles(&value)?);
            }
            (flag, _) if flag.starts_with('-') && flag != "-" => {
                bail!("unknown option `{flag}` for `registration check`\n\n{USAGE}")
            }
            _ => set_once(&mut file, "FILE", arg.clone())?,
        }
    }
    let file = file.ok_or_else(|| anyhow!("`registration check` needs a FILE\n\n{USAGE}"))?;
    Ok(CheckArgs { file: PathBuf::from(file), server_name, profiles })
}

/// `synapse`, `conduit`, `tuwunel`, `all`, or a comma-separated list of them.
fn parse_profiles(value: &str) -> Result<Vec<HomeserverProfile>> {
    let mut out = Vec::new();
    for name in value.split(',') {
        if name == "all" {
            out.extend(HomeserverProfile::ALL);
        } else {
            out.push(name.parse()?);
        }
    }
    Ok(out)
}

/// Parses the arguments after `registration generate`.
pub(crate) fn parse_generate_args(args: &[String]) -> Result<GenerateArgs> {
    let mut parser = ArgParser::new(args);
    let (mut id, mut url, mut localpart, mut output, mut rate_limited, mut server_name) =
        (None, None, None, None, None, None);
    let (mut users, mut aliases, mut rooms, mut protocols, mut prefixes) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut non_exclusive, mut receive_ephemeral, mut force) = (false, false, false);
    while let Some(arg) = parser.args.next() {
        let (flag, inline) = split_flag(arg);
        match flag {
            "--id" => set_once(&mut id, flag, parser.value(flag, inline)?)?,
            "--url" => set_once(&mut url, flag, parser.value(flag, inline)?)?,
            "--localpart" => set_once(&mut localpart, flag, parser.value(flag, inline)?)?,
            "--output" => set_once(&mut output, flag, parser.value(flag, inline)?)?,
            "--rate-limited" => set_once(&mut rate_limited, flag, parser.value(flag, inline)?)?,
            "--server-name" => set_once(&mut server_name, flag, parser.value(flag, inline)?)?,
            "--prefix" => prefixes.push(parser.value(flag, inline)?),
            "--users" => users.push(parser.value(flag, inline)?),
            "--aliases" => aliases.push(parser.value(flag, inline)?),
            "--rooms" => rooms.push(parser.value(flag, inline)?),
            "--protocol" => protocols.push(parser.value(flag, inline)?),
            "--non-exclusive" => no_value(flag, inline).map(|()| non_exclusive = true)?,
            "--receive-ephemeral" => no_value(flag, inline).map(|()| receive_ephemeral = true)?,
            "--force" => no_value(flag, inline).map(|()| force = true)?,
            _ => bail!("unexpected argument `{arg}` for `registration generate`\n\n{USAGE}"),
        }
    }
    let required = |value: Option<String>, flag: &str| {
        value.ok_or_else(|| anyhow!("`registration generate` needs `{flag}`\n\n{USAGE}"))
    };
    let rate_limited = match rate_limited.as_deref() {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(other) => bail!("`--rate-limited` must be `true` or `false`, got `{other}`"),
    };
    if !prefixes.is_empty() && server_name.is_none() {
        bail!("`--prefix` needs `--server-name`: the namespaces are anchored to it\n\n{USAGE}");
    }
    Ok(GenerateArgs {
        id: required(id, "--id")?,
        url: required(url, "--url")?,
        localpart: required(localpart, "--localpart")?,
        server_name,
        prefixes,
        users,
        aliases,
        rooms,
        exclusive: !non_exclusive,
        receive_ephemeral,
        protocols,
        rate_limited,
        output: PathBuf::from(required(output, "--output")?),
        force,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|arg| (*arg).to_owned()).collect()
    }

    #[test]
    fn check_args() {
        assert_eq!(
            parse_check_args(&strings(&["reg.yaml", "--server-name", "example.org"])).unwrap(),
            CheckArgs {
                file: "reg.yaml".into(),
                server_name: Some("example.org".to_owned()),
                profiles: vec![]
            }
        );
        assert_eq!(
            parse_check_args(&strings(&[
                "--server-name=example.org",
                "reg.yaml",
                "--homeserver-profile",
                "synapse,tuwunel"
            ]))
            .unwrap(),
            CheckArgs {
                file: "reg.yaml".into(),
                server_name: Some("example.org".to_owned()),
                profiles: vec![HomeserverProfile::Synapse, HomeserverProfile::Tuwunel]
            }
        );
        assert_eq!(
            parse_check_args(&strings(&["reg.yaml", "--homeserver-profile=all"])).unwrap(),
            CheckArgs {
                file: "reg.yaml".into(),
                server_name: None,
                profiles: HomeserverProfile::ALL.to_vec()
            }
        );
        assert!(
            parse_check_args(&strings(&["reg.yaml", "--homeserver-profile=dendrite"])).is_err()
        );
        assert!(parse_check_args(&[]).is_err());
        assert!(parse_check_args(&strings(&["a.yaml", "b.yaml"])).is_err());
        assert!(parse_check_args(&strings(&["reg.yaml", "--server-name"])).is_err());
        assert!(parse_check_args(&strings(&["reg.yaml", "--bogus"])).is_err());
    }

    #[test]
    fn generate_args_minimal() {
        let args = parse_generate_args(&strings(&[
            "--id",
            "irc",
            "--url",
            "http://localhost:9000",
            "--localpart",
            "_irc_bot",
            "--output",
            "reg.yaml",
        ]))
        .unwrap();
        assert_eq!(
            args,
            GenerateArgs {
                id: "irc".to_owned(),
                url: "http://localhost:9000".to_owned(),
                localpart: "_irc_bot".to_owned(),
                server_name: None,
                prefixes: vec![],
                users: vec![],
                aliases: vec![],
                rooms: vec![],
                exclusive: true,
                receive_ephemeral: false,
                protocols: vec![],
                rate_limited: None,
                output: "reg.yaml".into(),
                force: false,
            }
        );
    }

    #[test]
    fn generate_args_full() {
        let args = parse_generate_args(&strings(&[
            "--id=irc",
            "--url",
            "http://localhost:9000",
            "--localpart",
            "_irc_bot",
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
            "--output",
            "out/reg.yaml",
            "--force",
        ]))
        .unwrap();
        assert_eq!(args.id, "irc");
        assert_eq!(args.users, ["@_irc_.*:example\\.org", "@_irc_bot:example\\.org"]);
        assert_eq!(args.aliases, ["#_irc_.*:example\\.org"]);
        assert_eq!(args.rooms, ["!foo:example\\.org"]);
        assert!(!args.exclusive);
        assert!(args.receive_ephemeral);
        assert_eq!(args.protocols, ["irc", "gitter"]);
        assert_eq!(args.rate_limited, Some(false));
        assert_eq!(args.output, PathBuf::from("out/reg.yaml"));
        assert!(args.force);
    }

    #[test]
    fn generate_args_errors() {
        let base = ["--id", "a", "--url", "http://h", "--localpart", "bot", "--output", "o"];
        let with = |extra: &[&str]| {
            let mut args = strings(&base);
            args.extend(strings(extra));
            parse_generate_args(&args)
        };
        assert!(with(&[]).is_ok());
        assert!(with(&["--rate-limited", "yes"]).is_err());
        assert!(with(&["--rate-limited"]).is_err());
        assert!(with(&["--id", "again"]).is_err());
        assert!(with(&["--force=true"]).is_err());
        assert!(with(&["--unknown"]).is_err());
        assert!(with(&["positional"]).is_err());
        let err = with(&["--prefix", "_a_"]).unwrap_err();
        assert!(err.to_string().contains("--server-name"), "{err}");
        // Each required flag is required.
        for missing in ["--id", "--url", "--localpart", "--output"] {
            let args: Vec<String> = base
                .chunks(2)
                .filter(|pair| pair[0] != missing)
                .flatten()
                .map(|arg| (*arg).to_owned())
                .collect();
            let err = parse_generate_args(&args).unwrap_err();
            assert!(err.to_string().contains(missing), "{err}");
        }
    }
}
