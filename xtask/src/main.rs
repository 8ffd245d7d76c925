//! `cargo xtask`: the single entry point for project automation.
//!
//! CI runs exactly the commands a developer runs locally:
//!
//! * `cargo xtask ci [JOB]...` runs the CI jobs (see [`ci`]).
//! * `cargo xtask deps` runs the dependency guards (see [`deps`]).
//! * `cargo xtask registration check|generate ...` lints or creates an appservice registration file
//!   (the `appservice registration` command of `appservice-cli`, same code).
//! * `cargo xtask conformance [ARGS]...` runs the conformance suite (see [`conformance`]).
//! * `cargo xtask bench [--quick] [--json FILE] ...` runs the load test (see [`bench`](mod@bench)).
//! * `cargo xtask interop` runs `echo-appservice` against a real Synapse (see [`interop`]).
//!
//! The command line is `clap`'s: `--help` works on every subcommand.

// xtask is a command-line tool: printing to stdout is its job.
#![allow(clippy::print_stdout)]

mod bench;
mod ci;
mod conformance;
mod deps;
mod interop;

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::{Context as _, Result};
use appservice_cli::registration::RegistrationCommand;
use clap::Parser;

/// Project automation for appservice-rs: what CI runs, runnable locally.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Run CI jobs (default: all, in the order fmt clippy deps wasm test conformance doc deny).
    Ci {
        /// The jobs to run, in this order.
        #[arg(value_name = "JOB")]
        jobs: Vec<ci::Job>,
    },
    /// Check that library crates do not depend on forbidden crates.
    Deps,
    /// Lint or create an appservice registration file (the `appservice registration` command).
    Registration {
        #[command(subcommand)]
        command: RegistrationCommand,
    },
    /// Build echo-appservice and the conformance runner, and run the suite against our stack;
    /// `--url URL --hs-token TOKEN` runs it against any appservice; `coverage [--update|--check]`
    /// checks the checklist coverage (docs/conformance.md). Every argument goes to the runner:
    /// `cargo xtask conformance --help` prints its flags.
    #[command(disable_help_flag = true)]
    Conformance {
        /// The runner's arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "ARGS")]
        args: Vec<String>,
    },
    /// Build appservice-bench in release mode and run the load test: our server against an HTTP
    /// floor and a parse floor, ratios of medians (docs/performance.md). Micro benchmarks:
    /// `cargo bench -p appservice-bench`.
    Bench(bench::BenchArgs),
    /// Install Synapse into a venv under target/ if missing (needs python3 and PyPI), run
    /// echo-appservice against it on 127.0.0.1 and check what a user sees
    /// (xtask/interop/scenarios.py). Logs: target/interop/run-*/.
    Interop,
}

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Ci { jobs } => ci::run(&jobs).map(|()| ExitCode::SUCCESS),
        Command::Deps => deps::run().map(|()| ExitCode::SUCCESS),
        Command::Registration { command } => Ok(appservice_cli::registration::run(&command)?),
        Command::Bench(args) => bench::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Interop => interop::run(),
        Command::Conformance { args } => {
            conformance::run(&args).map(|code| ExitCode::from(u8::try_from(code).unwrap_or(1)))
        }
    }
}

/// The workspace root: the parent of the directory holding xtask's `Cargo.toml`.
fn project_root() -> Result<PathBuf> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .context("xtask's CARGO_MANIFEST_DIR has no parent directory")
}

/// The cargo binary to call: `$CARGO` (set by `cargo run`), or `cargo` from `PATH`.
fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn arguments_parse_as_before() {
        let parse = |args: &[&str]| Cli::try_parse_from(["xtask"].iter().chain(args));
        let Command::Ci { jobs } = parse(&["ci", "test", "fmt"]).unwrap().command else {
            panic!("not ci");
        };
        assert_eq!(jobs, [ci::Job::Test, ci::Job::Fmt]);
        let Command::Conformance { args } =
            parse(&["conformance", "--url", "http://as", "--help"]).unwrap().command
        else {
            panic!("not conformance");
        };
        assert_eq!(args, ["--url", "http://as", "--help"]);
        assert!(matches!(
            parse(&["bench", "--quick", "--reps=2", "--json", "f"]).unwrap().command,
            Command::Bench(_)
        ));
        for bad in [
            &["ci", "lint"][..],
            &["deps", "extra"],
            &["bench", "--reps", "0"],
            &["bench", "--fast"],
            &["interop", "now"],
        ] {
            let err = parse(bad).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad:?}");
        }
    }
}
