//! [`CliError`]: why a command failed.

use std::path::PathBuf;

use appservice_types::generate::{GenerateError, WriteError};

/// Why a command failed (printed as `error: …`, exit code 1).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// An input file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The output file exists and `--force` was not given.
    #[error("{} already exists; pass --force to overwrite it", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// A new registration has errors, so it was not written.
    #[error("not writing {}: the registration has {errors} error(s)", path.display())]
    Invalid {
        /// The file that was not written.
        path: PathBuf,
        /// How many errors (they were printed).
        errors: usize,
    },
    /// Tokens could not be made.
    #[error(transparent)]
    Generate(#[from] GenerateError),
    /// The registration could not be written.
    #[error(transparent)]
    Write(WriteError),
    /// The conformance suite could not run (not: a case failed, which is the exit code).
    #[cfg(feature = "conformance")]
    #[error("{0}")]
    Conformance(String),
}
