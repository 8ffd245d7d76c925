//! The command line, parsed by hand (four options do not need an argument parser crate).

use std::{ffi::OsString, fmt, path::PathBuf};

/// The `--help` text.
pub const USAGE: &str = "\
echo-appservice: the reference Matrix application service of appservice-rs

USAGE:
    echo-appservice --registration FILE --homeserver URL [--database URL | --store DIR]
                    [--server-name NAME] [--listen ADDRESS]

OPTIONS:
    --registration FILE   the appservice registration (YAML or JSON); the service listens on the
                          host and port of its `url`
    --homeserver URL      the homeserver's Client-Server API base URL (http:// or https://)
    --database URL        the database: sqlite://PATH (created if missing) or postgres://…
                          (default: sqlite://<registration's directory>/<id>.db)
    --store DIR           instead of a database, the append-only file store in DIR
    --server-name NAME    the homeserver's server name (default: from `whoami` of the bot)
    --listen ADDRESS      listen here (IP:PORT) instead of on the registration's url, e.g. as
                          one of several replicas behind a load balancer at that url
    -h, --help            print this help

ENVIRONMENT:
    RUST_LOG                   log filter (default: info)
    ECHO_FAIL_TRANSACTIONS=N   test hook: the first N event-handler calls fail (default: 0)
";

/// The options of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Args {
    /// `--registration FILE`.
    pub registration: PathBuf,
    /// `--homeserver URL`.
    pub homeserver: String,
    /// `--database URL`; `None` (and no `--store`):
    /// [`default_database_path`](crate::default_database_path) as `sqlite://`.
    pub database: Option<String>,
    /// `--store DIR`: the file store instead of a database.
    pub store: Option<PathBuf>,
    /// `--server-name NAME`; `None`: asked from the homeserver (`whoami`).
    pub server_name: Option<String>,
    /// `--listen ADDRESS`; `None`: the host and port of the registration's `url`.
    pub listen: Option<std::net::SocketAddr>,
}

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// Run the appservice.
    Run(Args),
    /// Print [`USAGE`].
    Help,
}

/// A command-line error (print it with [`USAGE`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgsError(String);

impl fmt::Display for ArgsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ArgsError {}

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

    /// Parses the arguments after the program name. Options take their value as the next
    /// argument or after `=` (`--store=DIR`); each may be given once.
    ///
    /// ```
    /// use echo_appservice::{Args, Command};
    ///
    /// let command = Args::parse(["--registration", "reg.yaml", "--homeserver=http://localhost:8008"])?;
    /// assert_eq!(command, Command::Run(Args::new("reg.yaml", "http://localhost:8008")));
    /// assert_eq!(Args::parse(["--help"])?, Command::Help);
    /// # Ok::<(), echo_appservice::ArgsError>(())
    /// ```
    pub fn parse<I, T>(args: I) -> Result<Command, ArgsError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString>,
    {
        let mut registration: Option<OsString> = None;
        let mut homeserver: Option<OsString> = None;
        let mut store: Option<OsString> = None;
        let mut database: Option<OsString> = None;
        let mut listen: Option<OsString> = None;
        let mut server_name: Option<OsString> = None;
        let mut args = args.into_iter().map(Into::into);
        while let Some(arg) = args.next() {
            let Some(text) = arg.to_str() else {
                return Err(ArgsError(format!("unexpected argument {arg:?}")));
            };
            let (flag, inline) = match text.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") => {
                    (flag, Some(OsString::from(value)))
                }
                _ => (text, None),
            };
            let slot = match flag {
                "-h" | "--help" => return Ok(Command::Help),
                "--registration" => &mut registration,
                "--homeserver" => &mut homeserver,
                "--store" => &mut store,
                "--database" => &mut database,
                "--listen" => &mut listen,
                "--server-name" => &mut server_name,
                _ => return Err(ArgsError(format!("unknown argument `{text}`"))),
            };
            let Some(value) = inline.or_else(|| args.next()) else {
                return Err(ArgsError(format!("`{flag}` needs a value")));
            };
            if slot.replace(value).is_some() {
                return Err(ArgsError(format!("`{flag}` given twice")));
            }
        }
        let utf8 = |flag: &str, value: OsString| {
            value.into_string().map_err(|_| ArgsError(format!("`{flag}` must be UTF-8")))
        };
        let registration = registration
            .ok_or_else(|| ArgsError("`--registration FILE` is required".to_owned()))?;
        let homeserver =
            homeserver.ok_or_else(|| ArgsError("`--homeserver URL` is required".to_owned()))?;
        if store.is_some() && database.is_some() {
            return Err(ArgsError("`--database` and `--store` exclude each other".to_owned()));
        }
        Ok(Command::Run(Args {
            registration: registration.into(),
            homeserver: utf8("--homeserver", homeserver)?,
            database: database.map(|d| utf8("--database", d)).transpose()?,
            store: store.map(PathBuf::from),
            server_name: server_name.map(|n| utf8("--server-name", n)).transpose()?,
            listen: listen
                .map(|l| {
                    utf8("--listen", l)?
                        .parse()
                        .map_err(|e| ArgsError(format!("`--listen`: {e} (expected IP:PORT)")))
                })
                .transpose()?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_option() {
        let command = Args::parse([
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
            command,
            Command::Run(
                Args::new("r.yaml", "http://hs").store("/tmp/s").server_name("example.org")
            )
        );
        let command = Args::parse(["--registration=r", "--homeserver=h", "--database=sqlite://x"]);
        assert_eq!(command.unwrap(), Command::Run(Args::new("r", "h").database("sqlite://x")));
        let Ok(Command::Run(args)) =
            Args::parse(["--registration=r", "--homeserver=h", "--listen=127.0.0.1:9"])
        else {
            panic!("--listen refused");
        };
        assert_eq!(args.listen, Some(std::net::SocketAddr::from(([127, 0, 0, 1], 9))));
        assert!(Args::parse(["--registration=r", "--homeserver=h", "--listen=nowhere"]).is_err());
    }

    #[test]
    fn refuses_bad_command_lines() {
        let err = |args: &[&str]| Args::parse(args.iter().copied()).unwrap_err().to_string();
        assert_eq!(err(&["--homeserver", "x"]), "`--registration FILE` is required");
        assert_eq!(err(&["--registration", "x"]), "`--homeserver URL` is required");
        assert_eq!(err(&["--registration"]), "`--registration` needs a value");
        assert_eq!(err(&["--store", "a", "--store", "b"]), "`--store` given twice");
        assert_eq!(
            err(&["--registration", "r", "--homeserver", "h", "--store", "a", "--database", "b"]),
            "`--database` and `--store` exclude each other"
        );
        assert_eq!(err(&["--verbose"]), "unknown argument `--verbose`");
        assert_eq!(Args::parse(["--registration", "x", "-h"]).unwrap(), Command::Help);
    }
}
