//! `cargo xtask registration check|generate`: lint or create an appservice registration file.
//!
//! Both commands use `appservice-types` ([`Registration::parse`], [`Registration::check`]), so
//! they report exactly what a library user would see.
//!
//! `generate` makes fresh `as_token` / `hs_token` values and writes the file with mode 0600. The
//! tokens are never printed: they only ever go into the output file.

use std::{
    fs::{OpenOptions, Permissions},
    io::{ErrorKind, Write as _},
    os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _},
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::{Context as _, Result, anyhow, bail};
use appservice_types::{
    CheckOptions, Diagnostic, Namespace, Namespaces, Registration, RegistrationInit, Secret,
};

const USAGE: &str = "\
Usage:
  cargo xtask registration check FILE [--server-name NAME]
  cargo xtask registration generate --id ID --url URL --localpart LOCALPART --output FILE
      [--users REGEX]... [--aliases REGEX]... [--rooms REGEX]...
      [--non-exclusive] [--receive-ephemeral] [--protocol P]...
      [--rate-limited true|false] [--force]

`check` prints every problem and exits non-zero if there is an error.
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

/// Entry point of `cargo xtask registration`.
pub(crate) fn run(args: &[String]) -> Result<ExitCode> {
    match args.split_first() {
        Some((command, rest)) if command == "check" => {
            let args = parse_check_args(rest)?;
            let diagnostics = check_file(&args)?;
            print_diagnostics(&diagnostics);
            let failed = diagnostics.iter().any(Diagnostic::is_error);
            Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
        }
        Some((command, rest)) if command == "generate" => {
            generate(&parse_generate_args(rest)?)?;
            Ok(ExitCode::SUCCESS)
        }
        Some((command, _)) if matches!(command.as_str(), "help" | "-h" | "--help") => {
            print!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        Some((command, _)) => bail!("unknown registration command `{command}`\n\n{USAGE}"),
        None => bail!("missing registration command\n\n{USAGE}"),
    }
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
    while let Some(arg) = parser.args.next() {
        match split_flag(arg) {
            ("--server-name", inline) => {
                let value = parser.value("--server-name", inline)?;
                set_once(&mut server_name, "--server-name", value)?;
            }
            (flag, _) if flag.starts_with('-') && flag != "-" => {
                bail!("unknown option `{flag}` for `registration check`\n\n{USAGE}")
            }
            _ => set_once(&mut file, "FILE", arg.clone())?,
        }
    }
    let file = file.ok_or_else(|| anyhow!("`registration check` needs a FILE\n\n{USAGE}"))?;
    Ok(CheckArgs { file: PathBuf::from(file), server_name })
}

/// Parses the arguments after `registration generate`.
pub(crate) fn parse_generate_args(args: &[String]) -> Result<GenerateArgs> {
    let mut parser = ArgParser::new(args);
    let (mut id, mut url, mut localpart, mut output, mut rate_limited) =
        (None, None, None, None, None);
    let (mut users, mut aliases, mut rooms, mut protocols) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut non_exclusive, mut receive_ephemeral, mut force) = (false, false, false);
    while let Some(arg) = parser.args.next() {
        let (flag, inline) = split_flag(arg);
        match flag {
            "--id" => set_once(&mut id, flag, parser.value(flag, inline)?)?,
            "--url" => set_once(&mut url, flag, parser.value(flag, inline)?)?,
            "--localpart" => set_once(&mut localpart, flag, parser.value(flag, inline)?)?,
            "--output" => set_once(&mut output, flag, parser.value(flag, inline)?)?,
            "--rate-limited" => set_once(&mut rate_limited, flag, parser.value(flag, inline)?)?,
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
    Ok(GenerateArgs {
        id: required(id, "--id")?,
        url: required(url, "--url")?,
        localpart: required(localpart, "--localpart")?,
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

/// Reads, parses and checks a registration file; a parse failure yields its diagnostics.
pub(crate) fn check_file(args: &CheckArgs) -> Result<Vec<Diagnostic>> {
    let input = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let mut options = CheckOptions::new();
    if let Some(server_name) = &args.server_name {
        options = options.server_name(server_name.clone());
    }
    Ok(match Registration::parse(&input) {
        Ok(registration) => registration.check(&options),
        Err(err) => err.into_diagnostics(),
    })
}

/// Prints each diagnostic and the `N error(s), M warning(s)` summary.
fn print_diagnostics(diagnostics: &[Diagnostic]) {
    for diagnostic in diagnostics {
        println!("{diagnostic}");
    }
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    println!("{errors} error(s), {warnings} warning(s)");
}

/// Builds the registration described by `args`, with fresh tokens.
pub(crate) fn build_registration(args: &GenerateArgs) -> Result<Registration> {
    let namespaces = |regexes: &[String]| -> Vec<Namespace> {
        regexes.iter().map(|regex| Namespace::new(args.exclusive, regex.as_str())).collect()
    };
    let mut all = Namespaces::new();
    all.users = namespaces(&args.users);
    all.aliases = namespaces(&args.aliases);
    all.rooms = namespaces(&args.rooms);
    let mut registration = Registration::from(RegistrationInit {
        id: args.id.clone(),
        url: Some(args.url.clone()),
        as_token: Secret::new(generate_token()?),
        hs_token: Secret::new(generate_token()?),
        sender_localpart: args.localpart.clone(),
        namespaces: all,
    });
    registration.rate_limited = args.rate_limited;
    registration.receive_ephemeral = args.receive_ephemeral.then_some(true);
    if !args.protocols.is_empty() {
        registration.protocols = Some(args.protocols.clone());
    }
    Ok(registration)
}

/// `registration generate`: build, check, then write with mode 0600.
pub(crate) fn generate(args: &GenerateArgs) -> Result<()> {
    // Early, friendlier refusal; `write_private_file` is the race-free guard.
    if !args.force && args.output.exists() {
        bail!("{} already exists; pass --force to overwrite it", args.output.display());
    }
    let registration = build_registration(args)?;
    let diagnostics = registration.check(&CheckOptions::new());
    let (errors, warnings): (Vec<&Diagnostic>, Vec<&Diagnostic>) =
        diagnostics.iter().partition(|d| d.is_error());
    for diagnostic in &warnings {
        println!("{diagnostic}");
    }
    if !errors.is_empty() {
        for diagnostic in &errors {
            println!("{diagnostic}");
        }
        bail!(
            "not writing {}: the registration has {} error(s)",
            args.output.display(),
            errors.len()
        );
    }
    let yaml = registration.to_yaml().context("cannot serialize the registration")?;
    write_private_file(&args.output, yaml.as_bytes(), args.force)?;
    println!(
        "wrote {} (mode 0600, {} warning(s)); it contains secrets, keep it private",
        args.output.display(),
        warnings.len()
    );
    Ok(())
}

/// Writes `contents` to `path`, readable and writable by the owner only.
///
/// Refuses to replace an existing file unless `force`. The permissions are set before anything is
/// written, and also when an existing file (which keeps its old mode on open) is overwritten.
pub(crate) fn write_private_file(path: &Path, contents: &[u8], force: bool) -> Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).mode(0o600);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = options.open(path).map_err(|err| {
        if err.kind() == ErrorKind::AlreadyExists {
            anyhow!("{} already exists; pass --force to overwrite it", path.display())
        } else {
            anyhow!(err).context(format!("cannot create {}", path.display()))
        }
    })?;
    file.set_permissions(Permissions::from_mode(0o600))
        .with_context(|| format!("cannot set mode 0600 on {}", path.display()))?;
    file.write_all(contents).with_context(|| format!("cannot write {}", path.display()))?;
    file.sync_all().with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// The token alphabet: `[A-Za-z0-9]`.
const TOKEN_ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// Length of a generated token: 64 symbols of log2(62) ≈ 5.95 bits, about 381 bits.
pub(crate) const TOKEN_LEN: usize = 64;
/// Random bytes at or above this value are rejected: 248 = 4 × 62, so `byte % 62` is uniform.
const REJECT_FROM: u8 = 248;

/// Appends to `token` the symbols encoded by `bytes` (rejection sampling), up to `TOKEN_LEN`.
fn push_symbols(token: &mut String, bytes: &[u8]) {
    for &byte in bytes {
        if token.len() == TOKEN_LEN {
            return;
        }
        if byte < REJECT_FROM {
            let index = usize::from(byte % 62);
            token.extend(TOKEN_ALPHABET.get(index).map(|&symbol| char::from(symbol)));
        }
    }
}

/// A fresh random token of [`TOKEN_LEN`] symbols from `[A-Za-z0-9]`, from the OS's CSPRNG.
pub(crate) fn generate_token() -> Result<String> {
    let mut token = String::with_capacity(TOKEN_LEN);
    let mut bytes = [0_u8; TOKEN_LEN];
    while token.len() < TOKEN_LEN {
        getrandom::fill(&mut bytes).map_err(|err| anyhow!("cannot get random bytes: {err}"))?;
        push_symbols(&mut token, &bytes);
    }
    Ok(token)
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
            CheckArgs { file: "reg.yaml".into(), server_name: Some("example.org".to_owned()) }
        );
        assert_eq!(
            parse_check_args(&strings(&["--server-name=example.org", "reg.yaml"])).unwrap(),
            CheckArgs { file: "reg.yaml".into(), server_name: Some("example.org".to_owned()) }
        );
        assert_eq!(
            parse_check_args(&strings(&["reg.yaml"])).unwrap(),
            CheckArgs { file: "reg.yaml".into(), server_name: None }
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

    #[test]
    fn token_has_length_and_alphabet() {
        for _ in 0..50 {
            let token = generate_token().unwrap();
            assert_eq!(token.len(), TOKEN_LEN);
            assert!(token.bytes().all(|b| b.is_ascii_alphanumeric()), "{token}");
        }
    }

    #[test]
    fn tokens_differ() {
        assert_ne!(generate_token().unwrap(), generate_token().unwrap());
    }

    #[test]
    fn rejection_sampling_drops_biased_bytes() {
        let mut token = String::new();
        push_symbols(&mut token, &[0, 61, 62, 247, 248, 255, 25, 26]);
        // 248 and 255 are rejected; the others map through `byte % 62`.
        assert_eq!(token, "A9A9Za");
        let mut full = String::new();
        push_symbols(&mut full, &[0; 100]);
        assert_eq!(full.len(), TOKEN_LEN);
    }

    #[test]
    fn alphabet_is_alphanumeric_without_repeats() {
        let mut symbols = TOKEN_ALPHABET.to_vec();
        symbols.sort_unstable();
        symbols.dedup();
        assert_eq!(symbols.len(), 62);
        assert!(symbols.iter().all(u8::is_ascii_alphanumeric));
    }
}
