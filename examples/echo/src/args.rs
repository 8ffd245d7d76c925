//! The command line (clap's derive API).

use std::path::PathBuf;

/// echo-appservice: the reference Matrix application service of appservice-rs.
///
/// Environment: `RUST_LOG` (log filter, default `info`); `ECHO_FAIL_TRANSACTIONS=N` (test hook:
/// the first N event-handler calls fail, default 0).
///
/// ```
/// use clap::Parser as _;
/// use echo_appservice::Args;
///
/// let args = Args::try_parse_from(["echo-appservice", "--registration", "reg.yaml", "--homeserver=http://localhost:8008"])?;
/// assert_eq!(args, Args::new("reg.yaml", "http://localhost:8008"));
/// # Ok::<(), clap::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, clap::Parser)]
#[command(
    name = "echo-appservice",
    version,
    about = "echo-appservice: the reference Matrix application service of appservice-rs",
    long_about = None,
    after_help = "Environment:\n  RUST_LOG                  log filter (default: info)\n  \
                  ECHO_FAIL_TRANSACTIONS=N  test hook: the first N event-handler calls fail (default: 0)"
)]
#[non_exhaustive]
pub struct Args {
    /// The appservice registration (YAML or JSON); the service listens on the host and port of
    /// its `url`.
    #[arg(long, value_name = "FILE")]
    pub registration: PathBuf,
    /// The homeserver's Client-Server API base URL (http:// or https://).
    #[arg(long, value_name = "URL")]
    pub homeserver: String,
    /// The database: sqlite://PATH (created if missing) or postgres://…; `None` (and no
    /// `--store`): [`default_database_path`](crate::default_database_path) as `sqlite://`.
    #[arg(
        long,
        value_name = "URL",
        conflicts_with = "store",
        help = "The database: sqlite://PATH (created if missing) or postgres://… (default: \
                sqlite://<registration's directory>/<id>.db)"
    )]
    pub database: Option<String>,
    /// Instead of a database, the append-only file store in DIR.
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// The homeserver's server name; `None`: asked from the homeserver (`whoami` of the bot).
    #[arg(
        long,
        value_name = "NAME",
        help = "The homeserver's server name (default: from `whoami` of the bot)"
    )]
    pub server_name: Option<String>,
    /// Listen here (IP:PORT) instead of on the registration's url, e.g. as one of several
    /// replicas behind a load balancer at that url.
    #[arg(long, value_name = "ADDRESS")]
    pub listen: Option<std::net::SocketAddr>,
}

impl Args {
    /// The required options; no store directory or server name.
    pub fn new(registration: impl Into<PathBuf>, homeserver: impl Into<String>) -> Self {
        Self {
            registration: registration.into(),
            homeserver: homeserver.into(),
            database: None,
            store: None,
            server_name: None,
            listen: None,
        }
    }

    /// Sets [`database`](Self::database).
    #[must_use]
    pub fn database(mut self, url: impl Into<String>) -> Self {
        self.database = Some(url.into());
        self
    }

    /// Sets [`store`](Self::store).
    #[must_use]
    pub fn store(mut self, dir: impl Into<PathBuf>) -> Self {
        self.store = Some(dir.into());
        self
    }

    /// Sets [`server_name`](Self::server_name).
    #[must_use]
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory as _, Parser as _, error::ErrorKind};

    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(["echo-appservice"].iter().chain(args))
    }

    #[test]
    fn the_command_line_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn parses_every_option() {
        let args = parse(&[
            "--registration",
            "r.yaml",
            "--homeserver",
            "http://hs",
            "--store=/tmp/s",
            "--server-name",
            "example.org",
        ])
        .unwrap();
        assert_eq!(
            args,
            Args::new("r.yaml", "http://hs").store("/tmp/s").server_name("example.org")
        );
        let args = parse(&["--registration=r", "--homeserver=h", "--database=sqlite://x"]);
        assert_eq!(args.unwrap(), Args::new("r", "h").database("sqlite://x"));
        let args = parse(&["--registration=r", "--homeserver=h", "--listen=127.0.0.1:9"]).unwrap();
        assert_eq!(args.listen, Some(std::net::SocketAddr::from(([127, 0, 0, 1], 9))));
    }

    #[test]
    fn refuses_bad_command_lines() {
        let kind = |args: &[&str]| parse(args).unwrap_err().kind();
        assert_eq!(kind(&["--homeserver", "x"]), ErrorKind::MissingRequiredArgument);
        assert_eq!(kind(&["--registration", "x"]), ErrorKind::MissingRequiredArgument);
        assert_eq!(kind(&["--registration"]), ErrorKind::InvalidValue);
        assert_eq!(
            kind(&["--registration=r", "--homeserver=h", "--store", "a", "--store", "b"]),
            ErrorKind::ArgumentConflict
        );
        assert_eq!(
            kind(&["--registration", "r", "--homeserver", "h", "--store", "a", "--database", "b"]),
            ErrorKind::ArgumentConflict
        );
        assert_eq!(kind(&["--verbose"]), ErrorKind::UnknownArgument);
        assert_eq!(
            kind(&["--registration=r", "--homeserver=h", "--listen=nowhere"]),
            ErrorKind::ValueValidation
        );
        assert_eq!(kind(&["--registration", "x", "-h"]), ErrorKind::DisplayHelp);
    }
}
