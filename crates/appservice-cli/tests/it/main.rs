//! The `appservice` binary, run as a user runs it.

#[cfg(feature = "conformance")]
mod conformance;
mod help;
mod registration;

use std::process::{Command, Output};

/// Runs the binary with `args` from a directory outside the repository (it must need none of
/// the repository's files).
pub(crate) fn appservice<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_appservice"))
        .args(args)
        .current_dir(std::env::temp_dir())
        .output()
        .expect("cannot run appservice")
}

/// stdout and stderr together.
pub(crate) fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
