//! `appservice`: see the library's documentation, or `appservice --help`.

use std::process::ExitCode;

use appservice_cli::Cli;
use clap::Parser as _;

fn main() -> ExitCode {
    match appservice_cli::run(&Cli::parse()) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
