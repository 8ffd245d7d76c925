//! `conformance`: the black-box suite of `appservice-conformance-runner` against any appservice.

use std::process::ExitCode;

use appservice_conformance_runner::{ExternalTarget, SuiteOptions};

use crate::CliError;

/// `conformance --url URL --hs-token TOKEN [--registration FILE] [--homeserver-profile …]`.
///
/// Every case of `fixtures/conformance/` (built into this binary) runs against the appservice
/// at URL as a homeserver would send it, once per homeserver profile; one line per case, then
/// the coverage of the spec's checklist and the totals.
#[derive(Clone, Debug, clap::Args)]
#[non_exhaustive]
pub struct ConformanceArgs {
    /// The appservice under test.
    #[command(flatten)]
    pub target: ExternalTarget,
    /// How the suite runs.
    #[command(flatten)]
    pub options: SuiteOptions,
}

/// Runs the suite on a new tokio runtime; exit code 1 when a must-level case failed.
pub fn run(args: &ConformanceArgs) -> Result<ExitCode, CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Conformance(format!("cannot start the runtime: {e}")))?;
    runtime
        .block_on(appservice_conformance_runner::run_external(&args.target, &args.options))
        .map_err(|e| CliError::Conformance(format!("{e:#}")))
}
