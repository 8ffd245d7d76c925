//! `registration check|generate`: lint or create an appservice registration file.
//!
//! Both use `appservice-types` ([`Registration::parse`], [`Registration::check`],
//! [`appservice_types::generate`]), so they report exactly what a library user would see.
//! `generate` makes fresh `as_token` / `hs_token` values and writes the file with mode 0600; the
//! tokens only ever go into that file.

use std::process::ExitCode;

use appservice_types::{
    CheckOptions, Diagnostic, Registration,
    generate::{NewRegistration, WriteError, write_registration},
};

use crate::CliError;

mod args;

pub use self::args::{CheckArgs, GenerateArgs, Profiles};

/// The subcommands of `registration`.
#[derive(Clone, Debug, PartialEq, Eq, clap::Subcommand)]
#[non_exhaustive]
pub enum RegistrationCommand {
    /// Lint a registration file (YAML or JSON): print every problem, and fail on an error.
    ///
    /// Each namespace regex is compared between the homeserver profiles given (default: all),
    /// with a warning where they match different IDs.
    Check(CheckArgs),
    /// Write a new registration file with two fresh 64-character tokens (mode 0600), after
    /// checking it.
    ///
    /// All namespaces are exclusive unless `--non-exclusive` is given. `--prefix P` (with
    /// `--server-name NAME`) adds the user namespace `^@P.*:NAME$` and the alias namespace
    /// `(?i)^#P.*:NAME$`, which mean the same on every homeserver. An existing file is only
    /// overwritten with `--force`. The tokens are never printed.
    Generate(GenerateArgs),
}

/// Runs a `registration` subcommand; `check` fails (exit code 1) on an error in the file.
pub fn run(command: &RegistrationCommand) -> Result<ExitCode, CliError> {
    match command {
        RegistrationCommand::Check(args) => {
            let diagnostics = check_file(args)?;
            print_diagnostics(&diagnostics);
            let failed = diagnostics.iter().any(Diagnostic::is_error);
            Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
        }
        RegistrationCommand::Generate(args) => generate(args).map(|()| ExitCode::SUCCESS),
    }
}

/// Reads, parses and checks a registration file; a parse failure yields its diagnostics.
pub fn check_file(args: &CheckArgs) -> Result<Vec<Diagnostic>, CliError> {
    let input = std::fs::read_to_string(&args.file)
        .map_err(|source| CliError::Read { path: args.file.clone(), source })?;
    let mut options = CheckOptions::new();
    if let Some(server_name) = &args.server_name {
        options = options.server_name(server_name.clone());
    }
    let profiles = args.homeserver_profiles();
    if !profiles.is_empty() {
        options = options.homeserver_profiles(profiles);
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

/// The registration `args` describe, with fresh tokens (not checked).
pub fn build_registration(args: &GenerateArgs) -> Result<Registration, CliError> {
    let mut new = NewRegistration::new(args.id.clone(), args.url.clone(), &args.localpart);
    new.server_name.clone_from(&args.server_name);
    new.prefixes.clone_from(&args.prefixes);
    new.users.clone_from(&args.users);
    new.aliases.clone_from(&args.aliases);
    new.rooms.clone_from(&args.rooms);
    new.exclusive = !args.non_exclusive;
    let mut registration = new.build()?;
    registration.rate_limited = args.rate_limited;
    registration.receive_ephemeral = args.receive_ephemeral.then_some(true);
    if !args.protocols.is_empty() {
        registration.protocols = Some(args.protocols.clone());
    }
    Ok(registration)
}

/// `registration generate`: build, check (printing every diagnostic), then write with mode 0600.
pub fn generate(args: &GenerateArgs) -> Result<(), CliError> {
    // Early, friendlier refusal; `write_registration` is the race-free guard.
    if !args.force && args.output.exists() {
        return Err(CliError::Exists { path: args.output.clone() });
    }
    let registration = build_registration(args)?;
    let mut options = CheckOptions::new();
    if let Some(server_name) = &args.server_name {
        options = options.server_name(server_name.clone());
    }
    let diagnostics = registration.check(&options);
    let (errors, warnings): (Vec<&Diagnostic>, Vec<&Diagnostic>) =
        diagnostics.iter().partition(|d| d.is_error());
    for diagnostic in warnings.iter().chain(&errors) {
        println!("{diagnostic}");
    }
    if !errors.is_empty() {
        return Err(CliError::Invalid { path: args.output.clone(), errors: errors.len() });
    }
    write_registration(&args.output, &registration, args.force).map_err(|err| match err {
        WriteError::AlreadyExists { path } => CliError::Exists { path },
        other => CliError::Write(other),
    })?;
    println!(
        "wrote {} (mode 0600, {} warning(s)); it contains secrets, keep it private",
        args.output.display(),
        warnings.len()
    );
    Ok(())
}
