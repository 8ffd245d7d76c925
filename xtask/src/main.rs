//! `cargo xtask`: the single entry point for project automation.
//!
//! CI runs exactly the commands a developer runs locally:
//!
//! * `cargo xtask ci [JOB]...` runs the CI jobs (see [`ci`]).
//! * `cargo xtask deps` runs the dependency guards (see [`deps`]).
//! * `cargo xtask registration check|generate ...` lints or creates an appservice registration file
//!   (see [`registration`]).
//! * `cargo xtask conformance [ARGS]...` runs the conformance suite (see [`conformance`]).
//! * `cargo xtask bench [--quick] [--json FILE]` runs the load test (see [`bench`](mod@bench)).
//! * `cargo xtask interop` runs `echo-appservice` against a real Synapse (see [`interop`]).
//!
//! Argument parsing is hand-rolled on purpose, to keep this crate's dependency list short.

// xtask is a command-line tool: printing to stdout is its job.
#![allow(clippy::print_stdout)]

mod bench;
mod ci;
mod conformance;
mod deps;
mod interop;
mod registration;

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::{Context as _, Result, bail};

const USAGE: &str = "\
Usage: cargo xtask <COMMAND>

Commands:
  ci [JOB]...            Run CI jobs (default: all, in the order fmt clippy deps wasm test conformance doc deny).
                         Jobs: fmt, clippy, deps, wasm, test, conformance, doc, deny.
  deps                   Check that library crates do not depend on forbidden crates.
  registration check FILE [--server-name NAME]
                         Lint an appservice registration file (YAML or JSON).
  registration generate --id ID --url URL --localpart LOCALPART --output FILE
                        [--users REGEX]... [--aliases REGEX]... [--rooms REGEX]...
                        [--non-exclusive] [--receive-ephemeral] [--protocol P]...
                        [--rate-limited true|false] [--force]
                         Write a new registration file with fresh random tokens (mode 0600).
  conformance [ARGS]...  Build echo-appservice and the conformance runner, and run the suite against
                         our stack; `--url URL --hs-token TOKEN` runs it against any appservice;
                         `coverage [--update|--check]` checks the checklist coverage. See
                         docs/conformance.md (`cargo xtask conformance --help` for every flag).
  bench [--quick] [--reps N] [--json FILE] [--dir DIR] [--alt BIN]
                         Build appservice-bench in release mode and run the load test: our server
                         (memory and file store) against an HTTP floor and a parse floor, ratios
                         of medians (docs/performance.md). Micro benchmarks: cargo bench -p appservice-bench.
  interop                Install Synapse into a venv under target/ if missing (needs python3 and PyPI),
                         run echo-appservice against it on 127.0.0.1 and check what a user sees
                         (xtask/interop/scenarios.py). Logs: target/interop/run-*/.
  help                   Print this message.
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<ExitCode> {
    let Some((command, rest)) = args.split_first() else {
        print!("{USAGE}");
        return Ok(ExitCode::FAILURE);
    };
    match command.as_str() {
        "ci" => ci::run(rest).map(|()| ExitCode::SUCCESS),
        "deps" => {
            if let Some(extra) = rest.first() {
                bail!("`deps` takes no arguments, got `{extra}`\n\n{USAGE}");
            }
            deps::run().map(|()| ExitCode::SUCCESS)
        }
        "registration" => registration::run(rest),
        "bench" => bench::run(rest).map(|()| ExitCode::SUCCESS),
        "interop" => interop::run(rest),
        "conformance" => {
            conformance::run(rest).map(|code| ExitCode::from(u8::try_from(code).unwrap_or(1)))
        }
        "help" | "-h" | "--help" => {
            print!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        other => bail!("unknown command `{other}`\n\n{USAGE}"),
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
