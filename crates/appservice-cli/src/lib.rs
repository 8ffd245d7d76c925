//! `appservice`: the command-line tool of appservice-rs for bridge authors, in any language.
//!
//! * `appservice registration generate …` writes a new registration file with two fresh
//!   64-character tokens, readable by its owner only (mode 0600), after checking it;
//! * `appservice registration check FILE [--homeserver-profile …]` prints every error and lint
//!   warning of a registration file (and exits 1 on an error), comparing how the homeserver
//!   families read each namespace regex;
//! * `appservice conformance --url URL --hs-token TOKEN [--registration FILE] …` runs the
//!   black-box conformance suite against a running appservice (exit code 1 on a failed
//!   must-level case); the cases are built into the binary.
//!
//! Install it with `cargo install --path crates/appservice-cli` from a checkout. This library is
//! what the binary runs: [`Cli`] is its command line, [`run`] runs it; `cargo xtask
//! registration` uses [`registration`] (without the default `conformance` feature, which brings
//! the HTTP stack).
//!
//! ```
//! use appservice_cli::{Cli, Command, registration::RegistrationCommand};
//! use clap::Parser as _;
//!
//! let dir = tempfile::tempdir()?;
//! let file = dir.path().join("registration.yaml");
//! let cli = Cli::try_parse_from([
//!     "appservice", "registration", "generate", "--id", "irc", "--url", "http://127.0.0.1:9000",
//!     "--localpart", "_irc_bot", "--server-name", "example.org", "--prefix", "_irc_",
//!     "--output", file.to_str().unwrap(),
//! ])?;
//! assert!(matches!(cli.command, Command::Registration { command: RegistrationCommand::Generate(_) }));
//! appservice_cli::run(&cli)?;
//! let yaml = std::fs::read_to_string(&file)?;
//! assert!(yaml.contains("^@_irc_.*:example\\.org$"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// A command-line tool: printing its report is its job.
#![allow(clippy::print_stdout)]

#[cfg(feature = "conformance")]
pub mod conformance;
mod error;
pub mod registration;

use std::process::ExitCode;

pub use self::error::CliError;
use self::registration::RegistrationCommand;

/// The command line of `appservice`.
#[derive(Debug, clap::Parser)]
#[command(name = "appservice", version, about, propagate_version = true)]
#[non_exhaustive]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands of `appservice`.
#[derive(Debug, clap::Subcommand)]
#[non_exhaustive]
pub enum Command {
    /// Generate or lint an appservice registration file.
    Registration {
        /// `check` or `generate`.
        #[command(subcommand)]
        command: RegistrationCommand,
    },
    /// Run the black-box conformance suite against a running appservice (any language).
    ///
    /// Every case (built into this binary) is sent as a homeserver would send it, once per
    /// homeserver profile; one line per case, then the spec checklist's coverage and the totals.
    /// Exit code 1 when a must-level case failed.
    #[cfg(feature = "conformance")]
    Conformance(conformance::ConformanceArgs),
}

/// Runs `cli`; the exit code is the command's verdict (1: the registration has an error, or a
/// must-level conformance case failed).
pub fn run(cli: &Cli) -> Result<ExitCode, CliError> {
    match &cli.command {
        Command::Registration { command } => registration::run(command),
        #[cfg(feature = "conformance")]
        Command::Conformance(args) => conformance::run(args),
    }
}
