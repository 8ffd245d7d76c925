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
    path::Path,
    process::ExitCode,
};

mod args;

use anyhow::{Context as _, Result, anyhow, bail};
use appservice_types::{
    CheckOptions, Diagnostic, Namespace, NamespaceKind, Namespaces, Registration, RegistrationInit,
    Secret, homeserver::portable_regex,
};

pub(crate) use self::args::{
    CheckArgs, GenerateArgs, USAGE, parse_check_args, parse_generate_args,
};

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

/// Reads, parses and checks a registration file; a parse failure yields its diagnostics.
pub(crate) fn check_file(args: &CheckArgs) -> Result<Vec<Diagnostic>> {
    let input = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let mut options = CheckOptions::new();
    if let Some(server_name) = &args.server_name {
        options = options.server_name(server_name.clone());
    }
    if !args.profiles.is_empty() {
        options = options.homeserver_profiles(args.profiles.iter().copied());
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
    let namespaces = |kind: NamespaceKind, regexes: &[String]| -> Vec<Namespace> {
        let portable = args.server_name.iter().flat_map(|server| {
            args.prefixes.iter().map(move |prefix| portable_regex(kind, prefix, server))
        });
        let portable = portable.filter(|_| kind != NamespaceKind::Rooms);
        portable
            .chain(regexes.iter().cloned())
            .map(|regex| Namespace::new(args.exclusive, regex))
            .collect()
    };
    let mut all = Namespaces::new();
    all.users = namespaces(NamespaceKind::Users, &args.users);
    all.aliases = namespaces(NamespaceKind::Aliases, &args.aliases);
    all.rooms = namespaces(NamespaceKind::Rooms, &args.rooms);
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
    let mut options = CheckOptions::new();
    if let Some(server_name) = &args.server_name {
        options = options.server_name(server_name.clone());
    }
    let diagnostics = registration.check(&options);
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
    use appservice_types::HomeserverProfile;

    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|arg| (*arg).to_owned()).collect()
    }

    /// The promise: what `generate --prefix` writes passes the linter, on every
    /// homeserver profile, without a single warning.
    #[test]
    fn prefixed_namespaces_lint_clean_on_every_profile() {
        for (prefix, server) in
            [("_echo_", "example.org"), ("_a.b+c_", "my-server.example:8448"), ("_x_", "[::1]")]
        {
            let mut args = parse_generate_args(&strings(&[
                "--id=echo",
                "--url=http://127.0.0.1:8009",
                "--rate-limited=false",
                "--output=o",
                "--localpart=bot",
                "--server-name",
                server,
                "--prefix",
                prefix,
            ]))
            .unwrap();
            args.localpart = format!("{prefix}bot");
            let registration = build_registration(&args).unwrap();
            assert_eq!(registration.namespaces.users.len(), 1);
            assert_eq!(registration.namespaces.aliases.len(), 1);
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
