//! `appservice-conformance`: the conformance suite for Matrix application services (see the
//! library's documentation and `docs/conformance.md`). Run it through `cargo xtask conformance`,
//! which builds this and `echo-appservice` first.

// A command-line program: printing is its job.
#![allow(clippy::print_stdout)]

use std::{path::PathBuf, process::ExitCode};

use anyhow::bail;
use appservice_conformance_runner::{ExternalTarget, SuiteOptions};
use clap::{CommandFactory as _, FromArgMatches as _, Parser};

/// The conformance suite for Matrix application services.
///
/// Without `--url`: our stack (the in-process cases, then the black-box cases against
/// echo-appservice). With `--url URL --hs-token TOKEN`: the black-box cases against any
/// appservice.
#[derive(Debug, Parser)]
#[command(name = "appservice-conformance", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// The appservice to test black-box (without it: our stack).
    #[command(flatten)]
    external: Option<ExternalTarget>,
    /// The echo-appservice binary (our stack; `cargo xtask conformance` passes it).
    #[arg(long, value_name = "PATH", conflicts_with = "url")]
    echo_bin: Option<PathBuf>,
    /// Rewrite a failing in-process case's handler calls from what was observed.
    #[arg(long, conflicts_with = "url")]
    bless: bool,
    /// Print the name of every case and stop.
    #[arg(long)]
    list: bool,
    #[command(flatten)]
    options: SuiteOptions,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Checklist coverage: fails if `fixtures/checklist.json` or the table in
    /// docs/conformance.md is stale, or a T/O item lacks a case and a reason.
    Coverage {
        /// Rewrite fixtures/checklist.json (from the checklist) and the table instead.
        #[arg(long)]
        update: bool,
        /// The checklist to read with `--update` (default: docs/spec/CHECKLIST.md).
        #[arg(long, value_name = "PATH", requires = "update")]
        checklist: Option<PathBuf>,
        /// Only check (the default without `--update`).
        #[arg(long, conflicts_with = "update")]
        check: bool,
    },
}

/// The command line: [`ExternalTarget`]'s `--url` and `--hs-token` (required by `appservice
/// conformance`) are optional here, since without them the suite runs against our stack; they
/// go together, and the target's other options need them.
fn command() -> clap::Command {
    let mut command = Cli::command()
        .mut_arg("url", |a| a.required(false).requires("hs_token"))
        .mut_arg("hs_token", |a| a.required(false).requires("url"));
    for id in ["registration", "server_name", "user", "alias", "cs_listen"] {
        command = command.mut_arg(id, |a| a.requires("url"));
    }
    command
}

/// Parses `args` (the program name first).
fn parse<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    Cli::from_arg_matches(&command().try_get_matches_from(args)?)
}

fn main() -> ExitCode {
    let cli = parse(std::env::args_os()).unwrap_or_else(|e| e.exit());
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Some(Command::Coverage { update, checklist, check: _ }) = &cli.command {
        appservice_conformance_runner::coverage(*update, checklist.as_deref())?;
        return Ok(ExitCode::SUCCESS);
    }
    if cli.list {
        appservice_conformance_runner::list()?;
        return Ok(ExitCode::SUCCESS);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match (&cli.external, &cli.echo_bin) {
        (Some(target), _) => {
            runtime.block_on(appservice_conformance_runner::run_external(target, &cli.options))
        }
        (None, Some(echo)) => runtime.block_on(appservice_conformance_runner::run_our_stack(
            echo,
            cli.bless,
            &cli.options,
        )),
        (None, None) => bail!(
            "no --echo-bin: run the suite with `cargo xtask conformance`, which builds echo-appservice"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn every_existing_form_parses() {
        let parse = |args: &[&str]| parse(["r"].iter().chain(args));
        let cli =
            parse(&["--echo-bin", "e", "--homeserver-profile", "all", "--filter", "auth"]).unwrap();
        assert!(cli.external.is_none() && cli.echo_bin.is_some());
        let cli = parse(&["--url", "http://as/", "--hs-token", "t", "--json", "r.json"]).unwrap();
        assert_eq!(cli.external.unwrap().url, "http://as");
        assert!(matches!(
            parse(&["coverage", "--update", "--checklist", "c.md"]).unwrap().command,
            Some(Command::Coverage { update: true, .. })
        ));
        assert!(parse(&["coverage", "--check"]).is_ok());
        assert!(parse(&["--list"]).unwrap().list);
        for help in [&["--help"][..], &["coverage", "--help"]] {
            assert_eq!(parse(help).unwrap_err().exit_code(), 0, "{help:?}");
        }
        for bad in [
            &["--url", "u"][..],
            &["--url", "u", "--hs-token", "t", "--echo-bin", "e"],
            &["--registration", "r"],
            &["--hs-token", "t"],
            &["coverage", "--checklist", "c.md"],
            &["--bogus"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
