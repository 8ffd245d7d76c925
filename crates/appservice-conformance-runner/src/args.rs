//! The options of a run, shared by this crate's binary and the `appservice conformance` command.

use std::{convert::Infallible, path::PathBuf};

use appservice_fake_hs::Profile;
use appservice_types::Secret;

/// The appservice to test, black-box: `--url URL --hs-token TOKEN` and what the suite may know
/// about it.
#[derive(Clone, Debug, clap::Args)]
#[non_exhaustive]
pub struct ExternalTarget {
    /// The appservice's base URL (where the homeserver would send transactions).
    #[arg(long, value_name = "URL", value_parser = without_trailing_slash)]
    pub url: String,
    /// The `hs_token` of its registration (how the suite authenticates as the homeserver).
    #[arg(long, value_name = "TOKEN", value_parser = secret)]
    pub hs_token: Secret,
    /// Its registration file: with `--server-name`, the cases that need an ID in its namespaces
    /// run too.
    #[arg(long, value_name = "FILE")]
    pub registration: Option<PathBuf>,
    /// The server name its namespaces are on.
    #[arg(long, value_name = "NAME")]
    pub server_name: Option<String>,
    /// A user ID in its namespaces (instead of one derived from the registration).
    #[arg(long, value_name = "USER_ID")]
    pub user: Option<String>,
    /// A room alias in its namespaces (instead of one derived from the registration).
    #[arg(long, value_name = "ALIAS")]
    pub alias: Option<String>,
    /// Listen here (IP:PORT) as a fake homeserver that records what the appservice calls back;
    /// point the appservice's homeserver URL at it.
    #[arg(long, value_name = "ADDR", requires_all = ["registration", "server_name"])]
    pub cs_listen: Option<String>,
}

/// How the suite runs, whatever it runs against.
#[derive(Clone, Debug, clap::Args)]
#[non_exhaustive]
pub struct SuiteOptions {
    /// Only the cases whose file name contains PATTERN.
    #[arg(long, value_name = "PATTERN")]
    pub filter: Option<String>,
    /// Also write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Which homeserver family the black-box cases play (authentication, transaction IDs, the
    /// fake homeserver's bot): synapse, conduit, or all (once per profile).
    #[arg(
        long = "homeserver-profile",
        value_name = "PROFILE",
        default_value = "all",
        value_parser = profiles
    )]
    pub profiles: Profiles,
}

/// The homeserver profiles of a run, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profiles(pub(crate) Vec<Profile>);

fn without_trailing_slash(url: &str) -> Result<String, Infallible> {
    Ok(url.trim_end_matches('/').to_owned())
}

fn secret(token: &str) -> Result<Secret, Infallible> {
    Ok(Secret::new(token.to_owned()))
}

/// `synapse`, `conduit` or `all`.
fn profiles(value: &str) -> Result<Profiles, String> {
    if value == "all" {
        return Ok(Profiles(Profile::ALL.to_vec()));
    }
    value
        .parse::<Profile>()
        .map(|profile| Profiles(vec![profile]))
        .map_err(|_| format!("{value:?}: synapse, conduit or all"))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Test {
        #[command(flatten)]
        target: ExternalTarget,
        #[command(flatten)]
        options: SuiteOptions,
    }

    #[test]
    fn defaults_and_values() {
        let t = Test::try_parse_from(["t", "--url", "http://as/", "--hs-token", "s3cr3t"]).unwrap();
        assert_eq!(t.target.url, "http://as");
        assert_eq!(t.target.hs_token.expose(), "s3cr3t");
        assert_eq!(t.options.profiles, Profiles(Profile::ALL.to_vec()));
        assert!(!format!("{t:?}").contains("s3cr3t"), "the token shows in Debug");
        let t = Test::try_parse_from([
            "t",
            "--url=http://as",
            "--hs-token=tok",
            "--homeserver-profile",
            "conduit",
        ])
        .unwrap();
        assert_eq!(t.options.profiles, Profiles(vec![Profile::ConduitFamily]));
    }

    #[test]
    fn refusals() {
        for bad in [
            &["--url", "http://as"][..],
            &["--hs-token", "t"],
            &["--url", "u", "--hs-token", "t", "--homeserver-profile", "dendrite"],
            &["--url", "u", "--hs-token", "t", "--cs-listen", "127.0.0.1:0"],
        ] {
            let args = ["t"].iter().chain(bad);
            assert!(Test::try_parse_from(args).is_err(), "{bad:?}");
        }
    }
}
